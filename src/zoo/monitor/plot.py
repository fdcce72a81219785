"""The block plot: dx/x per top-level block as bars, the scale and its gradient as lines.

matplotlib is optional (``pip install 'zoo-cnn[plot]'``) and imported only here, inside
:func:`plot_blocks`. The figure is a bare ``matplotlib.figure.Figure``: no pyplot,
no global state, no window; the caller saves it (``fig.savefig("blocks.png")``) or
shows it (a notebook displays a returned Figure).
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ..extras import require
from .stats import block_stats, top_level

# one import path per name: plot_blocks is zoo.monitor.plot_blocks
__all__ = ["bar_positions"]

SLOT_WIDTH = 0.75  # the bars of one top-level block share this much of its slot


def _matplotlib():
    purpose = "the block plot (print it in the terminal instead: zoo.monitor.block_table(cnn))"
    Figure = require("matplotlib.figure", purpose).Figure
    FormatStrFormatter = require("matplotlib.ticker", purpose).FormatStrFormatter
    return Figure, FormatStrFormatter


def bar_positions(rows: list[dict[str, Any]], width: float = SLOT_WIDTH) -> list[tuple[float, float]]:
    """``(x, bar width)`` of each residual block: its top-level block's slot, split
    evenly when a group holds several residual blocks.

    >>> bar_positions([{"top": 2}, {"top": 3}, {"top": 3}])
    [(2.0, 0.75), (2.8125, 0.375), (3.1875, 0.375)]
    """
    per_slot: dict[int, int] = {}
    for row in rows:
        per_slot[row["top"]] = per_slot.get(row["top"], 0) + 1
    seen: dict[int, int] = {}
    positions = []
    for row in rows:
        top, k = row["top"], per_slot[row["top"]]
        j = seen.get(top, 0)
        seen[top] = j + 1
        positions.append((top - width / 2 + (j + 0.5) * width / k, width / k))
    return positions


def plot_blocks(
    model: nn.Module,
    *,
    figsize: tuple[float, float] = (12, 3),
    dpi: float = 100,
    title: str | None = None,
    color: str = "tab:blue",
):
    """The document's block plot as a matplotlib ``Figure`` (needs ``zoo-cnn[plot]``).

    One slot per top-level block, labelled by its token text; a bar of dx/x
    (``sqrt(ema_branch / ema_align)``) for each residual block (a group holding
    several splits its slot; blocks without statistics get no bar); the scale as a
    solid line with markers on the second axis and its gradient as a dotted line on
    the third, logarithmic, axis (``mult > 0`` after ``update()``). Under each bar
    stands the std of the block's branch noise (``Change.branch_noise``; the document's
    ``std`` row) and above it the drop-block probability ``p`` (blocks with an
    identity skip).

    >>> import torch
    >>> from zoo import CNN
    >>> cnn = CNN(blocks="(cnf16 m) r r32_3_2", mult=1).debug(True)
    >>> _ = cnn(torch.randn(2, 3, 16, 16))
    >>> fig = plot_blocks(cnn)
    >>> fig.savefig("blocks.png")  # doctest: +SKIP
    """
    Figure, FormatStrFormatter = _matplotlib()
    _, slots = top_level(model)
    rows = block_stats(model)
    positions = bar_positions(rows)

    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot()
    width, height = fig.get_size_inches()
    # margins in inches, so that the two outer axes' labels fit at any figsize (savefig cuts nothing)
    labels = [label for label, _, _ in slots]
    crowded = max(len(label) for label in labels) * 0.09 * len(labels) > 0.9 * width * 0.7 if labels else False
    left, right = min(0.3, 0.8 / width), max(0.5, 1 - 1.75 / width)
    axes_top = max(0.5, 1 - 0.42 / height)
    fig.subplots_adjust(left=left, right=right, bottom=min(0.45, (1.0 if crowded else 0.55) / height),
                        top=axes_top)
    if title:  # at the left of the band above the plot; the legend takes its right
        ax.set_title(title, fontsize=11, loc="left")
    ax.grid(ls=":")
    ax.set_xticks(range(len(slots)), labels, fontsize=9 if crowded else 10, rotation=40 if crowded else 0,
                  ha="right" if crowded else "center", rotation_mode="anchor")
    ax.set_xlim(-0.6, len(slots) - 0.4)
    ax.set_ylabel("dx/x", fontsize=10)
    ax.yaxis.set_major_formatter(FormatStrFormatter("%0.3f"))

    note = _empty_note(model, rows)
    if note and not rows:  # a clear sentence, not an empty chart
        ax.set_yticks([])
        ax.set_ylabel("")
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", fontsize=11, wrap=True)
        return fig
    if note:  # residual blocks without statistics: their numbers below, the sentence over the empty bars
        box = ax.get_position()
        fig.text((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, note, ha="center", va="center", fontsize=10,
                 linespacing=1.4, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9})

    bars = [(x, w, row["ratio"]) for (x, w), row in zip(positions, rows) if row["ratio"] is not None]
    finite = [r for _, _, r in bars if math.isfinite(r)]
    top = 1.1 * max(finite) if finite and max(finite) > 0 else 1.0
    ax.set_ylim(0, top)
    handles = []
    if bars:
        heights = [min(r, top) for _, _, r in bars]  # an infinite ratio fills the axis
        handles.append(ax.bar([x for x, _, _ in bars], heights, width=[w for _, w, _ in bars],
                              color=color, edgecolor="grey", alpha=0.5, label="dx/x (bars)"))

    # the document's small numbers along the bottom: each block's noise std, as in its
    # image, and above it the drop-block p of the blocks that have one
    if rows:
        with_p = any(row["p"] is not None for row in rows)
        ax.text(0.003, 0.02, "p\nstd" if with_p else "std", transform=ax.transAxes, fontsize=6, family="monospace")
        for (x, _), row in zip(positions, rows):
            p_line = f"{row['p']:.1f}\n" if row["p"] is not None else ""
            ax.text(x, top * 0.02, f"{p_line}{row['noise']:.1f}", ha="center", fontsize=6, family="monospace")

    scale_ax = ax.twinx()
    scale_ax.set_ylabel("scale", fontsize=10)
    scales = [(x, row["scale"]) for (x, _), row in zip(positions, rows) if row["scale"] is not None]
    if scales:
        handles += scale_ax.plot([x for x, _ in scales], [s for _, s in scales], "-", marker=".", color=color,
                                 label="scale (solid)")
        scale_ax.set_ylim(0, 1.1 * max(s for _, s in scales) or 1.0)

    grad_ax = ax.twinx()
    grad_ax.spines["right"].set_position(("outward", 55))
    grad_ax.set_yscale("log")
    grad_ax.set_ylabel("scale grad", fontsize=10)
    grads = [(x, row["scale_grad"]) for (x, _), row in zip(positions, rows) if row["scale_grad"]]  # log: > 0
    if grads:
        handles += grad_ax.plot([x for x, _ in grads], [g for _, g in grads], ":", marker=".", color=color,
                                label="scale grad (dotted, log)")
    if not scales:  # mult=0: no scale to draw; empty axes would read as zeros
        scale_ax.set_visible(False)
    if not grads:
        grad_ax.set_visible(False)
    if handles:
        fig.legend(handles=handles, loc="lower right", ncol=len(handles), fontsize=9 if width >= 9 else 7.5,
                   frameon=False,
                   bbox_to_anchor=(right if width >= 9 else 0.99, axes_top), bbox_transform=fig.transFigure, borderaxespad=0.1)
    return fig


def _empty_note(model: nn.Module, rows: list[dict[str, Any]]) -> str | None:
    """Why the plot would be empty, or None: no residual blocks, or no statistics."""
    if not rows:
        return ("no residual blocks in this network: the block plot shows dx/x and the scale of residual "
                "blocks (r tokens) only")
    if all(row["ratio"] is None for row in rows):
        if not any(row["debug"] for row in rows):
            return ("no statistics: debug mode is off.\nTurn it on before training (cnn.debug(True),\n"
                    "or zoo.BlockMonitor(model)), then run forward passes")
        return "no statistics yet: run a forward pass in debug mode first"
    return None
