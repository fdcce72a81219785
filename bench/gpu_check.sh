#!/usr/bin/env bash
# The checks that need a GPU, for the day one is lent: at most 7.5 minutes on one GPU.
#
#     bash bench/gpu_check.sh            # from the repository root, zoo installed
#
# Each check runs in its own subshell under `timeout`, so that a hang or a crash in
# one is reported and the next still runs; each prints one line, PASS or FAIL with
# its seconds (and, on FAIL, the last line it printed; the whole output is kept in
# $WORK/<check>.log). The exit status is the number of failed checks. Nothing in the
# test suite needs a GPU: these are the paths only a GPU takes (bf16 autocast,
# channels-last and torch.compile on CUDA, nccl, CUDA timing, a CUDA model exported).
set -u

WORK=${WORK:-$(mktemp -d -t zoo-gpu-check-XXXXXX)}
mkdir -p "$WORK" || exit 1
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu runs the same script without a GPU (a dry run of the script itself)
MODEL="cnf32 m r64_3_2 r r128_3_2"
failed=0
export PYTHONUNBUFFERED=1

check() {  # check NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    ( "$@" ) >"$WORK/$name.log" 2>&1 </dev/null &
    local pid=$!
    # timeout around wait: kill the check's subshell and its children when it runs over
    ( sleep "$limit"; kill -TERM -- "$pid" 2>/dev/null; sleep 5; kill -KILL -- "$pid" 2>/dev/null ) &
    local watchdog=$!
    wait "$pid"
    local rc=$?
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
    local took=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        printf 'PASS  %-10s %4ss\n' "$name" "$took"
    else
        local why
        why=$(grep -v '^\s*$' "$WORK/$name.log" 2>/dev/null | tail -n 1 | cut -c1-100)
        { [ "$rc" -eq 124 ] || [ "$took" -ge "$limit" ]; } && why="timed out ($took s); $why"
        printf 'FAIL  %-10s %4ss  exit %s: %s\n' "$name" "$took" "$rc" "$why"
        failed=$((failed + 1))
    fi
}

cuda() {
    [ "$DEVICE" = cpu ] && { echo "DEVICE=cpu: a dry run"; return 0; }
    "$PY" -c 'import torch, sys; ok = torch.cuda.is_available(); print(torch.cuda.get_device_name(0) if ok else "no CUDA device"); sys.exit(0 if ok else 1)'
}

train_fast() {  # bf16 + channels-last + compile on fake CIFAR-shaped data
    timeout 145 "$PY" -m zoo train "$MODEL" --data fake --limit 4000 --epochs 2 --batch 200 --device "$DEVICE" \
        --amp bf16 --channels-last --compile --out "$WORK/runs" --json >"$WORK/train.json" &&
        "$PY" - "$WORK/train.json" "$DEVICE" <<'EOF'
import json, math, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 1 and rows[0]["epochs"] == 2 and rows[0]["device"].startswith(sys.argv[2]), rows
assert math.isfinite(rows[0]["val_acc"]), rows
print("trained", rows[0]["epochs"], "epochs on", rows[0]["device"])
EOF
}

torchrun_nccl() {  # one process under torchrun: the nccl process group on CUDA
    timeout 95 "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m zoo train "$MODEL" \
        --data fake --limit 2000 --epochs 1 --batch 100 --out "$WORK/ddp" --json >"$WORK/ddp.json" &&
        "$PY" - "$WORK/ddp.json" "$DEVICE" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
assert rows[0]["world_size"] == 1 and rows[0]["device"].startswith(sys.argv[2]), rows
print("torchrun on", rows[0]["device"])
EOF
}

bench_timm() {
    timeout 85 "$PY" -m zoo bench resnet18 --vs timm:resnet18 --device "$DEVICE" --steps 5 --repeats 3 --warmup 2 --json \
        >"$WORK/bench.json" &&
        "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(type(d).__name__, "ok")' "$WORK/bench.json"
}

export_cuda() {  # a model on CUDA (bf16 weights, as after mixed-precision training) exported and checked
    timeout 55 "$PY" - "$WORK/model.onnx" "$DEVICE" <<'EOF'
import sys, torch, zoo
from zoo.export import export_model
model = zoo.create("resnet18_cifar", num_classes=10).to(sys.argv[2], torch.bfloat16)
result = export_model(model, sys.argv[1], input_size=(3, 32, 32))
assert result.ok and next(model.parameters()).device.type == torch.device(sys.argv[2]).type, result
print("exported", sys.argv[1])
EOF
}

echo "zoo GPU check: logs in $WORK"
# the limits add up to 7 minutes 20 seconds, within the 8 minutes a lent GPU allows
check cuda 30 cuda
check train 150 train_fast
check torchrun 100 torchrun_nccl
check bench 90 bench_timm
check export 60 export_cuda
echo "$failed failed"
exit "$failed"
