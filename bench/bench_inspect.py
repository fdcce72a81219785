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
  interleaved; the time with the text, ``str()`` of each, is shown too);
- on small models of the kinds torchinfo's own test corpus holds (issue 21: a
  digit CNN, an MLP, a Linear shared under four names, children called past their
  container, a sequence-first LSTM, attention, a scripted part), ``str(zoo.inspect(...))``
  takes at most ``str(torchinfo.summary(...))`` on the geometric mean (one thread);
- with ``--detector``: torchvision's Faster R-CNN (random weights, one 320x320 image as
  ``input_data``) in at most 3 passes and under 2 x torchinfo's time (one run each, after a first).
"""

from __future__ import annotations

import argparse
import json
import math
import os
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


def corpus_models() -> dict:
    """Small models of the kinds torchinfo's test corpus holds: name -> (model, zoo's
    arguments, torchinfo's arguments)."""
    import warnings

    import torch
    import torch.nn.functional as F
    from torch import nn

    class Digits(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 12, 5)
            self.fc1, self.fc2 = nn.Linear(192, 32), nn.Linear(32, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(x.flatten(1))))

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(10, 10)
            self.model = nn.Sequential(*[m for _ in range(3) for m in (self.linear, nn.ReLU())])

        def forward(self, x):
            return self.model(x)

    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq, self.between = nn.Sequential(nn.Linear(5, 5), nn.Linear(5, 5)), nn.Linear(5, 5)

        def forward(self, x):
            out = self.between(self.seq(x))
            for layer in self.seq:
                out = layer(out)
            return out

    class Container(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(5, 5), Inner(), nn.Linear(5, 5)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.out = nn.Linear(16, 48), nn.Linear(16, 16)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(x).view(b, t, 3, 2, 8).permute(2, 0, 3, 1, 4)
            return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, 16))

    partly_scripted = Digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        partly_scripted.fc1 = torch.jit.script(partly_scripted.fc1)
    mlp = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))
    return {
        "digits": (Digits(), {"input_size": (1, 1, 28, 28)}, {"input_size": (1, 1, 28, 28)}),
        "mlp": (mlp, {"input_size": "[1,128]"}, {"input_size": (1, 128)}),
        "shared linear": (Shared(), {"input_size": "[2,10]"}, {"input_size": (2, 10)}),
        "container": (Container(), {"input_size": "[1,5]"}, {"input_size": (1, 5)}),
        "lstm (T,B,F)": (nn.LSTM(8, 16, 2), {"input_size": "[10,2,8]"}, {"input_size": (10, 2, 8)}),
        "attention": (Attention(), {"input_size": "[1,10,16]"}, {"input_size": (1, 10, 16)}),
        "partly scripted": (partly_scripted, {"input_size": (1, 1, 28, 28)}, {"input_size": (1, 1, 28, 28)}),
    }


def corpus_probe(repeats: int) -> None:
    """In this process: zoo against torchinfo on :func:`corpus_models`, one thread,
    interleaved, medians (prints JSON)."""
    import time

    import torch
    import torchinfo

    import zoo

    torch.set_num_threads(1)
    found = {}
    for name, (model, ours, theirs) in corpus_models().items():
        str(zoo.inspect(model, **ours)), str(torchinfo.summary(model, verbose=0, **theirs))  # first calls
        runs = {"zoo": [], "zoo text": [], "torchinfo": [], "torchinfo text": []}
        for _ in range(repeats):
            t = time.perf_counter()
            report = zoo.inspect(model, **ours)
            runs["zoo"].append(time.perf_counter() - t)
            str(report)
            runs["zoo text"].append(time.perf_counter() - t)
            t = time.perf_counter()
            stats = torchinfo.summary(model, verbose=0, **theirs)
            runs["torchinfo"].append(time.perf_counter() - t)
            str(stats)
            runs["torchinfo text"].append(time.perf_counter() - t)
        found[name] = {k: statistics.median(v) for k, v in runs.items()}
    print(json.dumps(found))


def detector_probe() -> None:
    """In this process: Faster R-CNN, zoo then torchinfo, one timed run each after an
    untimed one (prints JSON)."""
    import time

    import torch
    import torchinfo
    import torchvision

    import zoo

    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()
    images = [torch.rand(3, 320, 320)]
    # a first call of each, untimed: the first convolutions pay the kernels' set-up
    zoo.inspect(model, input_data=(images,)), torchinfo.summary(model, input_data=(images,), verbose=0)
    t = time.perf_counter()
    report = zoo.inspect(model, input_data=(images,))
    ours = time.perf_counter() - t
    t = time.perf_counter()
    stats = torchinfo.summary(model, input_data=(images,), verbose=0)
    theirs = time.perf_counter() - t
    print(json.dumps({"zoo": ours, "torchinfo": theirs, "passes": report.passes, "macs": report.macs,
                      "torchinfo macs": stats.total_mult_adds}))


def _probe(*args: str) -> dict:
    out = subprocess.run([PY, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed (pip install -e '.[bench]'):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--detector", action="store_true", help="also Faster R-CNN against torchinfo (minutes)")
    parser.add_argument("--only-corpus", action="store_true", help="only the corpus's small models (and --detector)")
    parser.add_argument("--corpus-probe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--detector-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.corpus_probe:
        corpus_probe(args.corpus_probe)
        return 0
    if args.detector_probe:
        detector_probe()
        return 0
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start")
    ok = True
    if not args.only_corpus:
        ok = main_commands(args)
    ok = corpus(args.repeats) and ok
    if args.detector:
        ok = detector() and ok
    print("OK" if ok else "LIMIT EXCEEDED")
    return 0 if ok else 1


def corpus(repeats: int) -> bool:
    found = _probe("--corpus-probe", str(repeats))
    print(f"small models of torchinfo's corpus (median of {repeats}, one thread, in one process, with the text):")
    ratios = []
    for name, t in found.items():
        rate = t["zoo text"] / t["torchinfo text"]
        ratios.append(rate)
        print(f"  {name:<16} zoo {t['zoo'] * 1e3:5.1f} ms, with text {t['zoo text'] * 1e3:5.1f} ms   "
              f"torchinfo {t['torchinfo'] * 1e3:5.1f} / {t['torchinfo text'] * 1e3:5.1f} ms   {rate:4.2f} x")
    mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"  geometric mean, text included: {mean:.2f} x torchinfo (limit 1.0 x)")
    return mean <= 1.0


def detector() -> bool:
    t = _probe("--detector-probe")
    rate = t["zoo"] / t["torchinfo"]
    print(f"Faster R-CNN (one 320x320 image): zoo {t['zoo']:.1f} s in {t['passes']} passes, "
          f"torchinfo {t['torchinfo']:.1f} s: {rate:.2f} x (limit 2 x, 3 passes); "
          f"MACs {t['macs'] / 1e9:.2f} G, torchinfo {t['torchinfo macs'] / 1e9:.2f} G")
    return rate < 2 and t["passes"] <= 3


def main_commands(args: argparse.Namespace) -> bool:
    """The commands' times and memory, and the small timm models against torchinfo."""
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
    print(f"median of {args.repeats} interleaved runs")
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
    return ok


if __name__ == "__main__":
    sys.exit(main())
