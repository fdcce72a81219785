"""Run folders: what a run leaves in ``--out/<run>/``, and the comparison of runs.

A run folder holds ``history.json``/``history.csv`` (one row per epoch),
``last.pt``/``best.pt`` (checkpoints), ``curves.png``, ``blocks_<epoch>.png`` and
``summary.json``: the run's row of the document's comparison table,

    acc        time      pars      blocks
    0.9305     295s     1,608k     r32  m r r64  m r r128 m r r256  m

(best validation accuracy, training seconds per 10^6 examples, parameters, block
string) plus MACs. ``zoo runs DIR`` prints the table of every run in a folder.

>>> history = [{"epoch": 1, "val_acc": 0.5, "val_loss": 1.0, "train_acc": 0.4, "train_loss": 1.2,
...             "seconds": 2.0, "examples": 1000, "steps": 10},
...            {"epoch": 2, "val_acc": 0.7, "val_loss": 0.8, "train_acc": 0.6, "train_loss": 0.9,
...             "seconds": 2.0, "examples": 1000, "steps": 10}]
>>> stat = history_stat(history)
>>> stat["val_acc"]["best"], stat["seconds_per_1e6"], stat["seconds_per_1e3_steps"]
(0.7, 2000.0, 200.0)
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import TrainingError

__all__ = [
    "run_name",
    "new_run_folder",
    "latest_run_folder",
    "write_history",
    "read_history",
    "history_stat",
    "summary_row",
    "write_summary",
    "read_summaries",
    "earlier_runs",
    "plot_curves",
    "comparison_table",
    "stat_table",
    "HISTORY_KEYS",
]

HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_loss_ema", "val_acc_ema", "seconds",
                "val_seconds", "examples", "steps", "lr")


def run_name(text: str) -> str:
    """A folder name for a model: its text with anything but letters, digits, ``-`` and
    ``.`` turned into ``_``.

    >>> run_name("(cnf64 m) 2r r128_3_2")
    'cnf64_m_2r_r128_3_2'
    """
    name = re.sub(r"[^A-Za-z0-9.\-]+", "_", Path(text).stem if text.endswith((".yaml", ".yml", ".pt")) else text)
    return name.strip("_.")[:80] or "run"


def _numbered(out: Path, name: str) -> list[tuple[int, Path]]:
    found = []
    for path in out.glob(f"{name}*"):
        rest = path.name[len(name):]
        if rest == "":
            found.append((1, path))
        elif re.fullmatch(r"-\d+", rest):
            found.append((int(rest[1:]), path))
    return sorted(found)


def new_run_folder(out: Path, name: str) -> Path:
    """``out/name``, or ``out/name-2``, ``-3``... when it exists: a new run never
    overwrites an earlier one."""
    taken = _numbered(out, name)
    return out / name if not taken else out / f"{name}-{taken[-1][0] + 1}"


def latest_run_folder(out: Path, name: str) -> Path | None:
    """The latest run of ``name`` in ``out`` that has a ``last.pt`` (``--resume``)."""
    for _, path in reversed(_numbered(out, name)):
        if (path / "last.pt").is_file():
            return path
    return None


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_history(folder: Path, history: Sequence[dict[str, Any]]) -> None:
    """``history.json`` and ``history.csv`` of a run."""
    from ..files import write_text

    # the columns the rows have: the EMA's only with --ema
    keys = [k for k in HISTORY_KEYS if not k.endswith("_ema") or any(k in row for row in history)]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    try:  # each whole or not at all: a full disk keeps the history of the epoch before
        write_text(folder / "history.json",
                   json.dumps([{k: _clean(v) for k, v in row.items()} for row in history], indent=1) + "\n")
        write_text(folder / "history.csv", table.getvalue())
    except OSError as exc:
        raise TrainingError(f"cannot write the history in {folder}: {exc.strerror or exc}") from None


def read_history(folder: Path) -> list[dict[str, Any]]:
    """A run's history, or [] when ``history.json`` is missing or malformed (a row that
    is not a mapping with a whole-number ``epoch``, a value that is not a number)."""
    try:
        rows = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(rows, list) or not all(_history_row(row) for row in rows):
        return []
    return rows


def _history_row(row: Any) -> bool:
    if not isinstance(row, dict) or isinstance(row.get("epoch"), bool) or not isinstance(row.get("epoch"), int):
        return False
    return all(value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
               for key, value in row.items() if key in HISTORY_KEYS)


def history_stat(history: Sequence[dict[str, Any]], smooth: int = 5) -> dict[str, Any]:
    """Best / smoothed (mean of the last ``smooth`` epochs) / last of each loss and
    accuracy, and the training time per epoch, per 10^3 steps, per 10^6 examples."""
    stat: dict[str, Any] = {"epochs": len(history)}
    for key, best in (("train_loss", min), ("val_loss", min), ("train_acc", max), ("val_acc", max)):
        values = [row[key] for row in history if row.get(key) is not None]
        if values:
            tail = values[-smooth:]
            stat[key] = {"best": best(values), "smoothed": sum(tail) / len(tail), "last": values[-1]}
    seconds = sum(row.get("seconds", 0.0) for row in history)
    examples = sum(row.get("examples", 0) for row in history)
    steps = sum(row.get("steps", 0) for row in history)
    stat["seconds"] = seconds
    stat["examples"] = examples
    stat["seconds_per_epoch"] = seconds / len(history) if history else None
    stat["seconds_per_1e3_steps"] = seconds / steps * 1e3 if steps else None
    stat["seconds_per_1e6"] = seconds / examples * 1e6 if examples else None
    return stat


def summary_row(name: str, history: Sequence[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    """The run's row of the comparison table (``summary.json``)."""
    stat = history_stat(history)
    val = stat.get("val_acc") or stat.get("train_acc") or {}
    return {"run": name, "val_acc": val.get("best"), "last_val_acc": val.get("last"),
            "seconds_per_1e6": stat["seconds_per_1e6"], "epochs": stat["epochs"],
            "seconds": stat["seconds"], "examples": stat["examples"], **info}


def write_summary(folder: Path, row: dict[str, Any]) -> None:
    from ..files import write_text

    try:
        write_text(folder / "summary.json", json.dumps(row, indent=1) + "\n")
    except OSError as exc:
        raise TrainingError(f"cannot write {folder / 'summary.json'}: {exc.strerror or exc}") from None


def _is_run(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("summary.json", "history.json", "last.pt"))


def _changed(folder: Path) -> float:
    times = [(folder / name).stat().st_mtime for name in ("summary.json", "history.json", "last.pt")
             if (folder / name).is_file()]
    return max(times) if times else 0.0


def read_summaries(out: Path) -> list[dict[str, Any]]:
    """The summaries of the runs in ``out`` (a run folder itself, or a folder of them),
    oldest first. A run stopped before its end (Ctrl-C, a crash) has no ``summary.json``
    yet: its row comes from its ``history.json``, marked ``"stopped": True``. A run
    folder whose ``summary.json`` cannot be read or holds values of the wrong kind is
    skipped with a :class:`~zoo.errors.ZooWarning` naming it."""
    from ..errors import warn

    folders = [out] if _is_run(out) else sorted(
        (p for p in out.iterdir() if p.is_dir() and _is_run(p)), key=lambda p: (_changed(p), p.name))
    rows = []
    for folder in folders:
        if not (folder / "summary.json").is_file():
            row = {**summary_row(folder.name, read_history(folder), {}), "stopped": True}
            row["folder"] = str(folder)
            rows.append(row)
            continue
        try:
            row = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            problem = _summary_problem(row)
        except (OSError, ValueError) as exc:
            problem = f"not readable JSON ({getattr(exc, 'strerror', None) or str(exc).splitlines()[0]})"
        if problem:
            from ..format import plain

            warn(f"{plain(folder / 'summary.json')}: {plain(problem)}; run skipped")
            continue
        row["folder"] = str(folder)
        rows.append(row)
    return rows


_SUMMARY_TYPES = {"val_acc": (int, float), "seconds_per_1e6": (int, float), "params": (int,), "macs": (int,),
                  "epochs": (int,), "run": (str,), "model": (str,), "blocks": (str,)}


def _summary_problem(row: Any) -> str | None:
    if not isinstance(row, dict):
        return f"holds {type(row).__name__}, not a run's summary (a mapping)"
    for key, kinds in _SUMMARY_TYPES.items():
        value = row.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            return f"{key} is {type(value).__name__}, not {' or '.join(k.__name__ for k in kinds)}"
    return None


def earlier_runs(folder: Path | None) -> list[tuple[str, list[dict[str, Any]]]]:
    """``(name, history)`` of the other runs beside ``folder`` (same ``--out``), oldest
    first (by the time of their ``history.json``)."""
    if folder is None or not folder.parent.is_dir():
        return []
    others = []
    for other in folder.parent.iterdir():
        path = other / "history.json"
        if other != folder and path.is_file():
            others.append((path.stat().st_mtime, other))
    runs = []
    for _, other in sorted(others, key=lambda item: (item[0], item[1].name)):
        history = read_history(other)
        if history:
            runs.append((other.name, history))
    return runs


LABELLED_EARLIER = 4  # earlier runs drawn in colour and named; older ones faint grey
ZOOM_AFTER = 5  # with this many epochs or more, the axes leave the first epoch out of their range


def _zoomed(values: list[float], low_floor: float | None = None, high_cap: float | None = None
            ) -> tuple[float, float] | None:
    """Limits that show ``values`` with a margin (None without finite values)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    margin = max((high - low) * 0.08, 1e-3)
    low, high = low - margin, high + margin
    if low_floor is not None:
        low = max(low, low_floor)
    if high_cap is not None:
        high = min(high, high_cap)
    return low, high


def plot_curves(name: str, history: Sequence[dict[str, Any]],
                earlier: Sequence[tuple[str, Sequence[dict[str, Any]]]] = ()):
    """Loss and accuracy per epoch (training dashed, validation solid) as a matplotlib
    ``Figure``. The ``earlier`` runs (oldest first) beside it: the latest few in colour
    and named in the legend, older ones faint grey. The axes show whole epochs and are
    zoomed to the epochs after the first (when there are five or more), where runs
    differ; the legend stands beside the plots, never over them."""
    from ..extras import require

    Figure = require("matplotlib.figure", "the learning-curve plot").Figure  # noqa: N806 - the class
    Line2D = require("matplotlib.lines", "the learning-curve plot").Line2D  # noqa: N806 - the class
    MaxNLocator = require("matplotlib.ticker", "the learning-curve plot").MaxNLocator  # noqa: N806 - the class
    fig = Figure(figsize=(12, 4.2), dpi=100)
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.06, right=0.8, bottom=0.13, top=0.9, wspace=0.22)
    colors = ["tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"]
    faint = list(earlier[:-LABELLED_EARLIER]) if len(earlier) > LABELLED_EARLIER else []
    named = list(earlier[len(faint):])
    runs = [(other, rows, 0.15, "grey", 1.0) for other, rows in faint]
    runs += [(other, rows, 0.55, colors[i % len(colors)], 1.2) for i, (other, rows) in enumerate(named)]
    runs.append((name, history, 1.0, "tab:blue", 2.0))
    handles = [Line2D([], [], color="black", ls="--", label="training"),
               Line2D([], [], color="black", ls="-", label="validation")]
    for ax, what in zip(axes, ("loss", "acc")):
        shown: list[float] = []
        for _, rows, alpha, color, width in runs:
            epochs = [row["epoch"] for row in rows]
            for split, style in (("train", "--"), ("val", "-")):
                values = [row.get(f"{split}_{what}") for row in rows]
                if any(v is not None for v in values):
                    ax.plot(epochs, [v if v is not None else math.nan for v in values], style, color=color,
                            alpha=alpha, lw=width)
                    later = [v for e, v in zip(epochs, values) if e > 1] if len(rows) >= ZOOM_AFTER else values
                    shown += [v for v in later if v is not None]
        limits = _zoomed(shown, 0.0, 1.0 if what == "acc" else None)
        if limits:
            ax.set_ylim(*limits)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if what == "loss" else "accuracy")
        ax.grid(ls=":")
    handles += [Line2D([], [], color="tab:blue", lw=2.0, label=f"{name} (this run)")]
    handles += [Line2D([], [], color=colors[i % len(colors)], alpha=0.8, lw=1.2, label=other)
                for i, (other, _) in reversed(list(enumerate(named)))]
    if faint:
        handles.append(Line2D([], [], color="grey", alpha=0.4, label=f"{len(faint)} older run{'s' * (len(faint) > 1)}"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.81, 0.9), fontsize=9, frameon=False)
    if history:
        best = max((row.get("val_acc") or row.get("train_acc") or 0.0) for row in history)
        axes[1].set_title(f"{name}: best accuracy {best:.4f}", fontsize=10)
    return fig


def comparison_table(rows: Sequence[dict[str, Any]], title: str | None = None):
    """The document's table (accuracy, seconds of training per 10^6 examples,
    parameters, blocks) plus MACs and epochs, as a rich ``Table``.

    >>> from rich.console import Console
    >>> console = Console(width=80, color_system=None)
    >>> console.print(comparison_table([{"run": "r32m", "val_acc": 0.9305, "seconds_per_1e6": 295.2,
    ...     "params": 1607818, "macs": 43_000_000, "epochs": 300, "blocks": "r32 m r r64 m r r128 m r r256 m"}]))
    ┏━━━━━━━━┳━━━━━━┳━━━━━━━━┳━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
    ┃    acc ┃ time ┃   pars ┃  MACs ┃ epochs ┃ blocks                          ┃
    ┡━━━━━━━━╇━━━━━━╇━━━━━━━━╇━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
    │ 0.9305 │ 295s │ 1,608k │ 43.0M │    300 │ r32 m r r64 m r r128 m r r256 m │
    └────────┴──────┴────────┴───────┴────────┴─────────────────────────────────┘
    """
    from rich.table import Table
    from rich.text import Text

    from ..format import format_compact, format_fixed, format_thousands, plain

    table = Table(title=Text(plain(title)), caption="acc: best validation accuracy; time: training s per "
                  "10^6 examples", caption_justify="left") if title else Table()
    table.add_column("acc", justify="right")
    table.add_column("time", justify="right")
    table.add_column("pars", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("epochs", justify="right")
    table.add_column("blocks", overflow="fold", ratio=1)
    for row in rows:
        acc = f"{row['val_acc']:.4f}" if row.get("val_acc") is not None else "-"
        seconds = format_fixed(row.get("seconds_per_1e6"), suffix="s")
        blocks = row.get("blocks") or row.get("run", "")
        if row.get("blocks") and row.get("model") and row["model"] != row["blocks"]:
            blocks = f"{row['model']}: {row['blocks']}"
        epochs = str(row.get("epochs", "-")) + (" stopped" if row.get("stopped") else "")
        # text from a file: printed as it is, never as markup or terminal codes
        table.add_row(acc, seconds, format_thousands(row.get("params")), format_compact(row.get("macs")), epochs,
                      Text(plain(blocks)))
    return table


def stat_table(stat: dict[str, Any]):
    """:meth:`zoo.Trainer.stat` as a rich ``Table``."""
    from rich.table import Table

    table = Table(title=f"{stat['epochs']} epochs")
    for column in ("", "best", "smoothed", "last"):
        table.add_column(column, justify="right")
    for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
        if key in stat:
            table.add_row(key, *(f"{stat[key][k]:.4f}" for k in ("best", "smoothed", "last")))
    times = [f"{stat[k]:,.2f}s {label}" for k, label in (("seconds_per_epoch", "per epoch"),
                                                            ("seconds_per_1e3_steps", "per 10^3 steps"),
                                                            ("seconds_per_1e6", "per 10^6 examples"))
             if stat.get(k) is not None]
    table.caption = ", ".join(times)
    return table

