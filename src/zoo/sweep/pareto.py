"""The Pareto front of runs: the ones no other run beats on both accuracy and cost.

A run is beaten when another is at least as accurate and at most as costly, and better
in one of the two. The cost is ``params`` (parameters), ``time`` (training seconds per
10^6 examples) or ``macs`` (per image). Runs a sweep pruned stopped early: their
accuracy is not comparable, so they are drawn but never on the front.

>>> rows = [{"run": "a", "val_acc": 0.90, "params": 1000}, {"run": "b", "val_acc": 0.95, "params": 5000},
...         {"run": "c", "val_acc": 0.89, "params": 3000}, {"run": "d", "val_acc": 0.97, "params": 5000}]
>>> [rows[i]["run"] for i in pareto_front(rows, "params")]
['a', 'd']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import OptionError
from ..format import format_fixed

__all__ = ["COSTS", "pareto_front", "front_table", "pareto_figure", "write_pareto_plot", "parse_pareto"]

COSTS = {"params": ("params", "parameters"), "time": ("seconds_per_1e6", "training s per 10^6 examples"),
         "macs": ("macs", "MACs per image")}


def parse_pareto(text: str) -> str:
    """``--pareto acc,params`` -> ``"params"``.

    >>> parse_pareto("acc,time")
    'time'
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or parts[0] != "acc" or parts[1] not in COSTS:
        raise OptionError(f"--pareto {text!r}: give acc,params, acc,time or acc,macs")
    return parts[1]


def _point(row: dict[str, Any], cost: str) -> tuple[float, float] | None:
    acc, value = row.get("val_acc"), row.get(COSTS[cost][0])
    if not isinstance(acc, (int, float)) or not isinstance(value, (int, float)) or row.get("pruned"):
        return None
    return float(acc), float(value)


def pareto_front(rows: Sequence[dict[str, Any]], cost: str) -> list[int]:
    """The indices of the rows on the front, cheapest first."""
    if cost not in COSTS:
        raise OptionError(f"cost {cost!r}: one of {', '.join(COSTS)}")
    points = {i: p for i, row in enumerate(rows) if (p := _point(row, cost)) is not None}
    front = [i for i, (acc, value) in points.items()
             if not any(a >= acc and v <= value and (a > acc or v < value) for j, (a, v) in points.items() if j != i)]
    return sorted(front, key=lambda i: (points[i][1], -points[i][0]))


def _label(row: dict[str, Any]) -> str:
    return row.get("label") or row.get("blocks") or row.get("run", "")


def front_table(rows: Sequence[dict[str, Any]], front: Sequence[int], cost: str):
    """The front as a rich ``Table``: accuracy, the cost, the block string.

    >>> from rich.console import Console
    >>> rows = [{"val_acc": 0.9, "params": 1200, "blocks": "cnf8 m r16"},
    ...         {"val_acc": 0.95, "params": 9000, "blocks": "cnf16 m r32 m r64"}]
    >>> Console(width=60, color_system=None).print(front_table(rows, [0, 1], "params"))  # doctest: +NORMALIZE_WHITESPACE
          Pareto front: 2 of 2 runs
    ┏━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
    ┃    acc ┃ params ┃ blocks            ┃
    ┡━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
    │ 0.9000 │  1,200 │ cnf8 m r16        │
    │ 0.9500 │  9,000 │ cnf16 m r32 m r64 │
    └────────┴────────┴───────────────────┘
    """
    from rich.table import Table

    key, _ = COSTS[cost]
    table = Table(title=f"Pareto front: {len(front)} of {len(rows)} runs")
    table.add_column("acc", justify="right")
    table.add_column(cost, justify="right")
    table.add_column("blocks", overflow="fold")
    for i in front:
        row = rows[i]
        value = row[key]
        shown = format_fixed(value, suffix="s") if cost == "time" else format_fixed(value) if cost == "params" \
            else format_fixed(value, 1e6, 2, "M")
        table.add_row(f"{row['val_acc']:.4f}", shown, _label(row))
    return table


def pareto_figure(rows: Sequence[dict[str, Any]], front: Sequence[int], cost: str):
    """Accuracy against cost, one point a run (area: its parameters), the front joined
    and labelled with the block strings where they do not overlap; a matplotlib ``Figure``."""
    from ..extras import require

    Figure = require("matplotlib.figure", "pareto.png").Figure  # noqa: N806 - the class
    key, axis = COSTS[cost]
    fig = Figure(figsize=(9, 5.5), dpi=110)
    require("matplotlib.backends.backend_agg", "pareto.png").FigureCanvasAgg(fig)  # measures the labels
    ax = fig.subplots()
    shown = [(i, row) for i, row in enumerate(rows)
             if isinstance(row.get("val_acc"), (int, float)) and isinstance(row.get(key), (int, float))]
    if not shown:
        ax.text(0.5, 0.5, "no runs with an accuracy and a cost", ha="center", va="center", transform=ax.transAxes)
        return fig
    largest = max(max(row.get("params") or 1 for _, row in shown), 1)

    def area(row: dict[str, Any]) -> float:
        return 30 + 400 * ((row.get("params") or 0) / largest) ** 0.5

    on_front = set(front)
    for pruned in (True, False):
        group = [(i, row) for i, row in shown if bool(row.get("pruned")) == pruned and i not in on_front]
        if group:
            ax.scatter([row[key] for _, row in group], [row["val_acc"] for _, row in group],
                       s=[area(row) for _, row in group], c="lightgray" if pruned else "tab:blue",
                       alpha=0.6, edgecolors="gray", linewidths=0.5,
                       label="pruned (stopped early)" if pruned else "beaten")
    if front:
        xs = [rows[i][key] for i in front]
        ys = [rows[i]["val_acc"] for i in front]
        ax.step(xs, ys, where="post", color="tab:red", lw=1.2, alpha=0.8)
        ax.scatter(xs, ys, s=[area(rows[i]) for i in front], c="tab:red", edgecolors="black", linewidths=0.6,
                   zorder=3, label="Pareto front")
    if cost != "time":
        ax.set_xscale("log")
    ax.margins(x=0.08, y=0.08)  # the largest points stay inside the axes
    ax.set_xlabel(axis + (" (log scale)" if cost != "time" else ""))
    ax.set_ylabel("best validation accuracy")
    ax.grid(ls=":", alpha=0.6)
    ax.legend(loc="lower right", fontsize=8, markerscale=0.5)
    ax.set_title(f"accuracy against {axis}: {len(front)} of {len(shown)} runs on the front (point area: parameters)",
                 fontsize=10)
    fig.tight_layout()
    _label_points(fig, ax, [(rows[i][key], rows[i]["val_acc"], _label(rows[i])) for i in front]
                  + [(row[key], row["val_acc"], _label(row)) for i, row in shown if i not in on_front])
    return fig


def _label_points(fig: Any, ax: Any, points: list[tuple[float, float, str]]) -> None:
    """Labels beside their points, the front's first; one that would overlap a label
    already placed (or leave the axes) is left out."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    placed = []
    for x, y, text in points:
        short = text if len(text) <= 34 else text[:33] + "…"
        for dx, dy, ha in ((8, 6, "left"), (8, -12, "left"), (-8, 6, "right"), (-8, -12, "right")):
            label = ax.annotate(short, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, ha=ha,
                                color="black")
            extent = label.get_window_extent(renderer)
            inside = box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1
            if inside and not any(extent.overlaps(other) for other in placed):
                placed.append(extent)
                break
            label.remove()


def write_pareto_plot(rows: Sequence[dict[str, Any]], front: Sequence[int], cost: str, path: str | Path) -> Path | None:
    """:func:`pareto_figure` saved to ``path``; ``None`` where matplotlib is not installed."""
    from ..errors import MissingExtraError

    try:
        fig = pareto_figure(rows, front, cost)
    except MissingExtraError:
        return None
    path = Path(path)
    fig.savefig(path)
    return path
