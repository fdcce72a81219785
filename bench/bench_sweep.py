"""zoo sweep's overhead: a sweep against the same runs trained one after another.

    python bench/bench_sweep.py [--template "cnf{w} m r{2*w}"] [--grid w=8,16,24,32]
                                [--epochs 2] [--repeats 3] [--data digits]

Both sides train the same variants for the same epochs into run folders, in one
process, one thread: the sweep through ``run_sweep`` (checks of every variant, the
Optuna study in its journal file, one epoch at a time with the pruner asked, no
pruning so that both train the same), the baseline as ``zoo train`` does, a
``Trainer.fit(epochs)`` per variant. Repeats alternate which goes first; the ratio
sweep / baseline of the median wall times, after one untimed run of each (imports), is
reported (target <= 1.05), with the median of the repeats' own ratios and the
ratio of the best repeats.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """The machine's fp32 peak on this run's thread count: the best of a few n x n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def baseline(space, settings, out: Path) -> float:
    from zoo.target import resolve_model
    from zoo.train.augment import BatchAugment
    from zoo.train.data import load_data
    from zoo.train.fitting import fit_to_data
    from zoo.train.runs import run_name, summary_row, write_summary
    from zoo.train.trainer import Trainer

    start = time.perf_counter()
    data = load_data(settings.data, seed=settings.seed)
    for variant in space.grid():
        fit = fit_to_data(resolve_model(variant.blocks, **variant.options), data)
        torch.manual_seed(settings.seed)
        folder = out / run_name(variant.label)
        folder.mkdir(parents=True)
        trainer = Trainer(fit.build(), data.train, data.val, lr=settings.lr, batch_size=settings.batch,
                          augment=BatchAugment("none", data.mean, data.std), device="cpu", seed=settings.seed,
                          out=folder, spec=fit.spec, name=folder.name, progress="none")
        trainer.fit(settings.epochs)
        write_summary(folder, summary_row(folder.name, trainer.history, {"blocks": variant.blocks}))
    return time.perf_counter() - start


def sweep(space, settings, out: Path) -> float:
    from zoo.sweep.study import run_sweep

    start = time.perf_counter()
    run_sweep(space, settings, out, say=lambda _: None)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="cnf{w} m r{2*w}")
    parser.add_argument("--grid", nargs="+", default=["w=8,16,24,32"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default="digits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from zoo.sweep.space import SearchSpace
    from zoo.sweep.study import SweepSettings

    space = SearchSpace.from_grid(args.template, args.grid)
    settings = SweepSettings(data=args.data, epochs=args.epochs, device="cpu", pruner="none", sampler="grid")
    for warm in (sweep, baseline):  # imports (optuna, scikit-learn, matplotlib) and the data, untimed
        out = Path(tempfile.mkdtemp(prefix="bench-sweep-warm-"))
        warm(SearchSpace.from_grid(args.template, [args.grid[0].split(",")[0]] + args.grid[1:]),
             SweepSettings(**{**settings.__dict__, "epochs": 1}), out)
        shutil.rmtree(out, ignore_errors=True)
    peaks = [matmul_gflops()]
    times: dict[str, list[float]] = {"sweep": [], "baseline": []}
    for repeat in range(args.repeats):
        order = ("sweep", "baseline") if repeat % 2 == 0 else ("baseline", "sweep")
        for name in order:
            out = Path(tempfile.mkdtemp(prefix=f"bench-sweep-{name}-"))
            try:
                times[name].append((sweep if name == "sweep" else baseline)(space, settings, out))
            finally:
                shutil.rmtree(out, ignore_errors=True)
        peaks.append(matmul_gflops())
        print(f"repeat {repeat + 1}: sweep {times['sweep'][-1]:.2f} s, one after another {times['baseline'][-1]:.2f} s",
              flush=True)
    s, b = statistics.median(times["sweep"]), statistics.median(times["baseline"])
    print(f"{len(space.grid())} variants x {args.epochs} epochs on {args.data}, {platform.machine()}, "
          f"torch {torch.__version__}, 1 thread; fp32 matmul peak on that thread {min(peaks):.0f}-{max(peaks):.0f} "
          f"GFLOP/s (measured before and after each repeat: a steady peak says the machine was quiet)")
    print(f"median: sweep {s:.2f} s, one after another {b:.2f} s, sweep / one after another {s / b:.3f} "
          f"(best repeats {min(times['sweep']) / min(times['baseline']):.3f}, median of the paired repeats "
          f"{statistics.median(a / b for a, b in zip(times['sweep'], times['baseline'])):.3f})")


if __name__ == "__main__":
    main()
