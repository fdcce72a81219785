"""What debug mode costs a training step: resnet18_cifar (mult=1) with debug off and on.

    python bench/bench_debug.py [--repeats 9] [--steps 4] [--batch 32] [--size 32]

One network, trained in turns with debug on (each step also calls cnn.update())
and off, plus a copy of it on which debug was never turned on; the modes are
interleaved, in a rotating order, so that the machine's noise hits them alike.
Reported: the median step time of each mode, the ratios on/off and off/never
(1.00: no cost), and the cost of the statistics alone (observe() on one batch's
real tensors and update(), timed by themselves) as a share of a step.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch
from torch import nn

from zoo import CNN, Residual

BLOCKS = "(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r"


def time_steps(model: nn.Module, cnn: CNN, x, y, steps: int, update: bool) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        if update:
            cnn.update()
        opt.step()
    return (time.perf_counter() - start) / steps


def statistics_alone(model: nn.Module, cnn: CNN, x, repeats: int = 50) -> float:
    """Seconds per training step spent in observe() (8 blocks) and update()."""
    seen = []
    hooks = [
        block.register_forward_hook(lambda m, i, o: seen.append((m, m.align(i[0]), m.block(i[0]))))
        for block in cnn.modules() if isinstance(block, Residual)
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    pairs = [(m.stats, skip, branch * m.scale if m.scale is not None else branch) for m, skip, branch in seen]
    start = time.perf_counter()
    for _ in range(repeats):
        for stats, skip, branch in pairs:
            stats.observe(skip, branch)
        cnn.update()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 10, (args.batch,))
    cnn = CNN(blocks=BLOCKS, mult=1)
    model = nn.Sequential(cnn, nn.Linear(512, 10))
    never = copy.deepcopy(model)  # the same network, debug never turned on
    never_cnn = never[0]

    def run(mode: str) -> float:
        if mode == "never":
            return time_steps(never, never_cnn, x, y, args.steps, update=False)
        cnn.debug(mode == "on")
        return time_steps(model, cnn, x, y, args.steps, update=mode == "on")

    modes = ["never", "off", "on"]
    for mode in modes:  # warm-up: allocator, oneDNN primitives
        run(mode)
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for i in range(args.repeats):
        for mode in modes[i % 3:] + modes[: i % 3]:
            times[mode].append(run(mode))

    cnn.debug(True)
    alone = statistics_alone(model, cnn, x)
    med = {mode: statistics.median(t) for mode, t in times.items()}
    best = {mode: min(t) for mode, t in times.items()}
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    print(f"resnet18_cifar mult=1 + Linear(512, 10), batch {args.batch} of 3x{args.size}x{args.size}, "
          f"Adam, {args.repeats} repeats x {args.steps} steps per mode")
    print(f"{'step (ms)':16}{'median':>10}{'best':>10}")
    for mode, label in (("never", "debug never on"), ("off", "debug off"), ("on", "debug on")):
        print(f"{label:16}{med[mode] * 1e3:10.1f}{best[mode] * 1e3:10.1f}")
    print(f"{'on / off':16}{med['on'] / med['off']:10.3f}{best['on'] / best['off']:10.3f}")
    print(f"{'off / never':16}{med['off'] / med['never']:10.3f}{best['off'] / best['never']:10.3f}")
    print(f"statistics alone: {alone * 1e3:.2f} ms per step (observe x 8 + update) = "
          f"{alone / med['off'] * 100:.2f} % of a step")


if __name__ == "__main__":
    main()
