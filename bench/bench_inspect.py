"""Benchmark of ``zoo inspect``: start-up against ``import torch``, a 2-billion-
parameter network in seconds and little memory (the meta device), and small timm
models against torchinfo (issue 14: at most torchinfo's time).

    pip install -e ".[bench]"
    python bench/bench_inspect.py [--repeats 5]

Prints, for each command, the median wall time of ``--repeats`` runs (the runs of
the commands are interleaved, so that a busy machine slows both alike) and the
peak resident memory (max RSS) of the command's process, and exits 1 when a
limit of issue 4 is not met:

- ``zoo inspect resnet18_cifar`` takes at most 1.3 x ``python -c "import torch"``;
- ``zoo inspect "r4096 6r" --input 3,64,64`` (1.96 billion parameters, 8 TMACs)
  finishes in seconds with a peak RSS under 1.5 GB;
- ``zoo.inspect(model)`` takes at most torchinfo's ``summary(model, verbose=0)`` on
  mobilenetv3_small_100, efficientnet_b0 and vit_tiny_patch16_224 (random weights,
  in one process, one thread, after imports and a first call of each, the two
  interleaved; the time with the text, ``str()`` of each, is shown too).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys

PY = sys.executable
BIG = "r4096 6r"  # seven residual blocks of 4096 channels: 1,963,180,032 parameters
# Each command runs under a small parent that reports the command's max RSS
# (RUSAGE_CHILDREN counts only the children of the process that asks).
PROBE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
    "t = time.perf_counter() - t; "
    "print(r.returncode, t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True); "
    "sys.stderr.write(r.stderr.decode())"
)

COMMANDS = {
    "import torch": [PY, "-c", "import torch"],
    "zoo inspect resnet18_cifar": [PY, "-m", "zoo", "inspect", "resnet18_cifar"],
    f'zoo inspect "{BIG}" --input 3,64,64': [PY, "-m", "zoo", "inspect", BIG, "--input", "3,64,64"],
}


SMALL = ("mobilenetv3_small_100", "efficientnet_b0", "vit_tiny_patch16_224")
# one process for all small models: imports once, one thread, interleaved runs
SMALL_PROBE = r"""
import json, statistics, sys, time
import torch, timm, torchinfo, zoo
torch.set_num_threads(1)
repeats, found = int(sys.argv[1]), {}
for name in sys.argv[2:]:
    model = timm.create_model(name)
    size = (1, *model.pretrained_cfg["input_size"])
    str(zoo.inspect(model)), str(torchinfo.summary(model, size, verbose=0))  # first calls
    runs = {"zoo": [], "zoo text": [], "torchinfo": [], "torchinfo text": []}
    for _ in range(repeats):
        t = time.perf_counter(); report = zoo.inspect(model); runs["zoo"].append(time.perf_counter() - t)
        str(report); runs["zoo text"].append(time.perf_counter() - t)
        t = time.perf_counter(); stats = torchinfo.summary(model, size, verbose=0)
        runs["torchinfo"].append(time.perf_counter() - t)
        str(stats); runs["torchinfo text"].append(time.perf_counter() - t)
    found[name] = {k: statistics.median(v) for k, v in runs.items()}
print(json.dumps(found))
"""


def small_models(repeats: int) -> dict[str, dict[str, float]]:
    out = subprocess.run([PY, "-c", SMALL_PROBE, str(repeats), *SMALL], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the small-model comparison failed (pip install -e '.[bench]'):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and max RSS (bytes) of one run of ``cmd``."""
    out = subprocess.run([PY, "-c", PROBE, *cmd], capture_output=True, text=True)
    first = out.stdout.split("\n", 1)[0].split()
    if not first or first[0] != "0":
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    return float(first[1]), int(first[2]) * 1024  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    for cmd in COMMANDS.values():  # warm the file cache once
        measure(cmd)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    rss: dict[str, int] = dict.fromkeys(COMMANDS, 0)
    for _ in range(args.repeats):
        for name, cmd in COMMANDS.items():
            seconds, peak = measure(cmd)
            times[name].append(seconds)
            rss[name] = max(rss[name], peak)

    report = subprocess.run([PY, "-m", "zoo", "inspect", BIG, "--input", "3,64,64", "--json"],
                            capture_output=True, text=True, check=True)
    big = json.loads(report.stdout)

    base = statistics.median(times["import torch"])
    r18 = statistics.median(times["zoo inspect resnet18_cifar"])
    big_name = f'zoo inspect "{BIG}" --input 3,64,64'
    big_time = statistics.median(times[big_name])
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"median of {args.repeats} interleaved runs")
    for name in COMMANDS:
        print(f"  {name:<44} {statistics.median(times[name]):6.2f} s   max RSS {rss[name] / 2**20:7.0f} MiB")
    ratio = r18 / base
    print(f"zoo inspect resnet18_cifar / import torch: {ratio:.2f} x (limit 1.3 x)")
    print(f"{BIG}: {big['params']:,} parameters, {big['macs']:,} MACs, {big_time:.2f} s, "
          f"max RSS {rss[big_name] / 2**30:.2f} GiB (limit 1.5 GB)")
    ok = ratio <= 1.3 and rss[big_name] < 1.5e9 and big_time < 10 and big["params"] > 1.9e9
    print(f"small models against torchinfo (median of {args.repeats}, one thread, in one process):")
    for name, t in small_models(args.repeats).items():
        rate = t["zoo"] / t["torchinfo"]
        print(f"  {name:<24} zoo {t['zoo'] * 1e3:5.0f} ms  torchinfo {t['torchinfo'] * 1e3:5.0f} ms  "
              f"ratio {rate:4.2f} x (limit 1.0 x)   with text: {t['zoo text'] * 1e3:4.0f} ms / "
              f"{t['torchinfo text'] * 1e3:4.0f} ms = {t['zoo text'] / t['torchinfo text']:4.2f} x")
        ok = ok and rate <= 1.0
    print("OK" if ok else "LIMIT EXCEEDED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
