"""The rich rendering of a :class:`zoo.benchmark.timing.BenchReport`, readable at 80 columns."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..format import format_fixed

__all__ = ["render_report"]

_MODE = {"train": "training (forward, backward, SGD step)", "infer": "inference (forward)"}


def _macs(value: int) -> str:
    """The GMACs column; a model under 0.01 G in millions, marked M, so that it does not read as 0.00."""
    return format_fixed(value, 1e9, 2) if value >= 1e7 else format_fixed(value, 1e6, 2, "M")


def _label(label: str) -> str:
    """A long ``target@variants`` label breaks before the ``@``, not inside a word."""
    target, at, variants = label.rpartition("@")
    return f"{target}\n @{variants}" if at and target and len(label) > 18 else label


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_report(report) -> Group:
    """Settings line, one row per model, and what the columns mean."""
    amp = f", autocast {report.amp}" if report.amp else ""
    head = [
        f"{_MODE[report.mode]}, batch {report.batch}{amp}",
        f"{report.device_name} ({report.device}, {_plural(report.threads, 'thread')}), "
        f"torch {report.torch_version}",
        f"{_plural(report.repeats, 'repeat')} of {_plural(report.steps, 'step')}, models alternating, "
        f"after {_plural(report.warmup, 'warm-up step')} each",
    ]
    if report.peak_gflops:
        head.append(f"peak {report.peak_gflops:,.1f} GFLOP/s ({report.peak_what}, same run)")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
    unit = "s/10⁶"
    table.add_column("model", overflow="fold", ratio=1, min_width=14)
    for title in ("img/s ±", unit, "mem MB", "GMACs", "GFLOP/s", "peak", "ratio"):
        table.add_column(title, justify="right", no_wrap=True)
    for r in report.results:
        fraction = "-" if r.fraction_of_peak is None else f"{r.fraction_of_peak:.0%}"
        speed = f"{r.median:,.1f} {r.spread:>3.0%}"
        table.add_row(_label(r.label), speed, f"{r.seconds_per_million:,.0f}", format_fixed(r.peak_memory, 2**20), _macs(r.macs),
                      f"{r.gflops:,.1f}", fraction, f"{r.ratio:.2f}")
    flops = "6×MACs (forward + backward)" if report.mode == "train" else "2×MACs"
    memory = "CUDA max allocated" if report.device.startswith("cuda") else "process RSS"
    notes = Text(
        f"img/s: median of the repeats ± half their range. {unit}: seconds per million "
        f"{'training examples' if report.mode == 'train' else 'images'}. mem: the model's tensors "
        f"+ the rise of the {memory} in a step. "
        f"GMACs: forward, one image. GFLOP/s at {flops} per image; peak: its share of the "
        "measured peak. ratio: img/s over the first model's, repeat by repeat, median.",
        style="dim",
    )
    return Group(Text("\n".join(head)), table, notes)
