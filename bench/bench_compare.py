"""zoo inspect against torchinfo, the README's comparison table: MACs of a ViT (its
attention products), a model with tied weights, and a 2-billion-parameter network
(time and peak memory).

    pip install -e ".[bench]"
    python bench/bench_compare.py [--timeout 300]

Prints a Markdown table. Each tool runs in a process of its own (imports counted,
as a user runs them), one thread; memory is the process's peak RSS. The truth
column is counted by hand in this file, not by either tool.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

PY = sys.executable
BIG, BIG_SIZE = "r4096 6r", (3, 32, 32)  # 1,963,180,032 parameters

# -- each probe prints one JSON line -------------------------------------------------------

COMMON = r"""
import json, resource, sys, time
import torch
from torch import nn
torch.set_num_threads(1)

class Tied(nn.Module):
    '''A language model's embedding tied to its output projection (as GPT-2's).'''
    def __init__(self, vocab=32000, dim=512):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab, bias=False)
        self.out.weight = self.embed.weight
    def forward(self, ids):
        return self.out(self.mix(self.embed(ids)))

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""

ZOO_VIT = COMMON + r"""
import zoo
r = zoo.inspect("timm:vit_tiny_patch16_224")
print(json.dumps({"macs": r.macs}))
"""
TORCHINFO_VIT = COMMON + r"""
import timm, torchinfo
s = torchinfo.summary(timm.create_model("vit_tiny_patch16_224"), (1, 3, 224, 224), verbose=0)
print(json.dumps({"macs": s.total_mult_adds}))
"""
ZOO_TIED = COMMON + r"""
import zoo
r = zoo.inspect(Tied(), input_size="int64[1,128]")
print(json.dumps({"params": r.params, "macs": r.macs}))
"""
TORCHINFO_TIED = COMMON + r"""
import torchinfo
s = torchinfo.summary(Tied(), input_size=(1, 128), dtypes=[torch.long], verbose=0)
print(json.dumps({"params": s.total_params, "macs": s.total_mult_adds}))
"""
ZOO_BIG = COMMON + f"""
t = time.perf_counter()
import zoo
r = zoo.inspect({BIG!r}, input_size={BIG_SIZE!r})
print(json.dumps({{"params": r.params, "macs": r.macs, "seconds": time.perf_counter() - t, "rss": rss()}}))
"""
TORCHINFO_BIG = COMMON + f"""
t = time.perf_counter()
import torchinfo, zoo
model = zoo.CNN(blocks={BIG!r})  # the same network, with its weights: what torchinfo needs
s = torchinfo.summary(model, (1, *{BIG_SIZE!r}), verbose=0)
print(json.dumps({{"params": s.total_params, "macs": s.total_mult_adds, "seconds": time.perf_counter() - t,
                  "rss": rss()}}))
"""


def run(code: str, timeout: float) -> dict:
    start = time.perf_counter()
    try:
        out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": True, "seconds": time.perf_counter() - start}
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def vit_truth() -> int:
    """vit_tiny_patch16_224 by hand: patch embedding, 12 blocks (qkv, q @ k^T,
    weights @ v, projection, MLP), head."""
    tokens, dim, hidden = 197, 192, 768
    patch = 196 * 3 * 16 * 16 * dim
    block = tokens * dim * 3 * dim + 2 * tokens * tokens * dim + tokens * dim * dim + 2 * tokens * dim * hidden
    return patch + 12 * block + dim * 1000


def tied_truth() -> tuple[int, int]:
    vocab, dim, tokens = 32000, 512, 128
    return vocab * dim + dim * dim + dim, tokens * (dim * dim + dim * vocab)


def count(n: float) -> str:
    """1.25 G, 16.6 M, 2.01 T: three digits and a unit."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:g}"


g = m = count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=300, help="seconds for each tool on the big network")
    args = parser.parse_args()

    rows = []
    zoo_vit, ti_vit = run(ZOO_VIT, 120), run(TORCHINFO_VIT, 120)
    rows.append(("MACs of vit_tiny_patch16_224", g(vit_truth()), g(zoo_vit["macs"]), g(ti_vit["macs"])))
    params, macs = tied_truth()
    zoo_tied, ti_tied = run(ZOO_TIED, 120), run(TORCHINFO_TIED, 120)
    rows.append(("parameters, embedding tied to the output", m(params), m(zoo_tied["params"]), m(ti_tied["params"])))
    rows.append(("MACs, embedding tied to the output", m(macs), m(zoo_tied["macs"]), m(ti_tied["macs"])))
    zoo_big, ti_big = run(ZOO_BIG, args.timeout), run(TORCHINFO_BIG, args.timeout)

    def seconds(found: dict) -> str:
        if found.get("timeout"):
            return f"> {args.timeout:.0f} s (stopped)"
        return f"{found['seconds']:.1f} s" if "seconds" in found else found.get("error", "?")

    def memory(found: dict) -> str:
        return f"{found['rss'] / 2**30:.2f} GiB" if "rss" in found else "-"

    size = "×".join(str(d) for d in BIG_SIZE)
    rows.append((f'zoo.CNN("{BIG}") on {size} (1.96 B parameters): time', "", seconds(zoo_big), seconds(ti_big)))
    rows.append((f'"{BIG}" on {size}: peak memory', "", memory(zoo_big), memory(ti_big)))
    if "macs" in zoo_big:
        rows.append((f'"{BIG}" on {size}: MACs', "", g(zoo_big["macs"]), g(ti_big["macs"]) if "macs" in ti_big else "-"))

    print("| | by hand | zoo inspect | torchinfo |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n(one thread; time from after `import torch` to the numbers, memory the process's peak RSS; "
          f"python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
