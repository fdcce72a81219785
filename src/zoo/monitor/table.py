"""The block statistics in the terminal: one row per residual block with a bar of dx/x."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from torch import nn

from .stats import block_stats

# one import path per name: BlockTable, block_table from zoo.monitor
__all__ = ["ratio_bar"]

_EIGHTHS = " ▏▎▍▌▋▊▉"


def ratio_bar(value: float | None, largest: float, width: int) -> str:
    """A bar of ``width * value / largest`` cells, drawn to an eighth of a cell.

    >>> ratio_bar(1.0, 2.0, 5)
    '██▌'
    """
    if value is None or largest <= 0 or math.isnan(value):
        return ""
    eighths = round(min(value / largest, 1.0) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class BlockTable:
    """A rich renderable of :func:`zoo.monitor.block_stats` rows: per residual block
    its token text, module path, dx/x as a number and a bar (the longest bar is the
    largest ratio), the scale, the scale's gradient and the drop-block ``p``.

    >>> from rich.console import Console
    >>> rows = [{"name": "r", "path": "blocks.1", "ratio": 0.5, "scale": 1.0,
    ...          "scale_grad": 0.031, "p": 0.0}]
    >>> console = Console(color_system=None, width=70)
    >>> console.print(BlockTable(rows, bar_width=8, title=None))  # doctest: +NORMALIZE_WHITESPACE
    <BLANKLINE>
      block   path        dx/x              scale   scale grad     p
     ────────────────────────────────────────────────────────────────
      r       blocks.1   0.500   ████████   1.000     3.10e-02   0.0
    <BLANKLINE>
    """

    def __init__(self, rows: Sequence[dict[str, Any]], *, bar_width: int = 24,
                 title: str | None = "dx/x per residual block", caption: str | None = None):
        self.rows = list(rows)
        self.bar_width = bar_width
        self.title = title
        self.caption = caption

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.rows:
            yield Text("no residual blocks: nothing to measure")
            return
        finite = [r["ratio"] for r in self.rows if r["ratio"] is not None and math.isfinite(r["ratio"])]
        largest = max(finite, default=0.0)
        cells = [
            (
                row["name"],
                row["path"],
                _number(row["ratio"], ".3f"),
                _number(row["scale"], ".3f"),
                _number(row["scale_grad"], ".2e"),
                _number(row["p"], ".1f") if row.get("p") is not None else "",
            )
            for row in self.rows
        ]
        headers = ("block", "path", "dx/x", "scale", "scale grad", "p")
        # the bar gives way first on a narrow console, so that no number is cut
        numbers = sum(max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers))
        room = options.max_width - numbers - (3 * (len(headers) + 1) + 1)
        width = max(1, min(self.bar_width, room))
        caption = self.caption
        skipped = max((row.get("skipped") or 0 for row in self.rows), default=0)
        if skipped:  # the numbers leave those batches out: say so beside them
            note = f"{skipped} batch{'es' if skipped > 1 else ''} with NaN or inf left out"
            caption = f"{caption}; {note}" if caption else note
        table = Table(title=self.title, caption=caption, box=box.SIMPLE_HEAD)
        table.add_column("block", no_wrap=True)
        table.add_column("path", no_wrap=True)
        table.add_column("dx/x", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True)
        table.add_column("scale", justify="right", no_wrap=True)
        table.add_column("scale grad", justify="right", no_wrap=True)
        table.add_column("p", justify="right", no_wrap=True)
        for row, (name, path, ratio, scale, grad, p) in zip(self.rows, cells):
            bar = Text(ratio_bar(row["ratio"], largest, width).ljust(width), style="blue")
            table.add_row(name, path, ratio, bar, scale, grad, p)
        yield table


def block_table(model: nn.Module, *, bar_width: int = 24, caption: str | None = None) -> BlockTable:
    """:class:`BlockTable` of ``model``'s residual blocks, ready for ``console.print``.

    >>> from zoo import CNN
    >>> table = block_table(CNN(blocks="c8 2r").debug(True))
    >>> [row["path"] for row in table.rows]
    ['blocks.1', 'blocks.2']
    """
    return BlockTable(block_stats(model), bar_width=bar_width, caption=caption)
