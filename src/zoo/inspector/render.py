"""Rich renderables of a :class:`~.report.Report`: title, module tree, cost table."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.control import strip_control_codes
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..errors import OptionError
from ..format import format_count, format_fixed

__all__ = ["render_report", "tree_table", "cost_table", "title", "to_text", "report_text", "Layout", "LAYOUTS",
           "terminal_width"]

GUIDE = "dim"
STYLES = {
    "token": "cyan",
    "name": "dim",
    "params": "green",
    "share": "dim green",
    "macs": "magenta",
    "shape": "blue",
    "failed": "bold red",
    "cpu": "yellow",
    "total": "bold",
}


def _once(report: Report, key: tuple, draw: Callable[[], Any]) -> Any:
    """``draw()`` once per report and key: choosing a layout, measuring the width and
    printing all ask for the same drawings of one report, kept beside its data (the
    key holds the sizes of what was drawn, so a report given more rows draws anew)."""
    cache = report.__dict__.setdefault("_tables", {})
    if key not in cache:
        cache[key] = draw()
    return cache[key]


def shape_text(shape: Any) -> str:
    if shape is None:
        return ""
    return str(shape)


def compact_shape(shape: Any, times: str = "×") -> str:
    """(1, 64, 16, 16) -> "64×16×16" (a batch of 1 left out): for narrow terminals
    (and ``zoo inspect --input`` takes it back as it is)."""
    if isinstance(shape, tuple) and shape and all(isinstance(d, int) for d in shape):
        dims = shape[1:] if len(shape) > 1 and shape[0] == 1 else shape
        return times.join(str(d) for d in dims)
    if isinstance(shape, list):
        return ", ".join(compact_shape(s, times) for s in shape)
    return shape_text(shape)


def _share(params: int, total: int) -> str:
    if not params or not total:
        return ""
    pct = 100 * params / total
    return f"~{pct:3.0f}%" if pct >= 0.5 else ""


if TYPE_CHECKING:  # the renderer reads reports; report.py imports it on use, so no import back
    from .report import ModuleRow, Report


def check_depth(depth: Any) -> int | None:
    """``depth`` of a tree view: None (the default) or a whole number >= 0.

    >>> check_depth("x")
    Traceback (most recent call last):
    ...
    zoo.errors.OptionError: depth='x': the depth of the tree must be a whole number >= 0 (the model is level 0)
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise OptionError(
            f"depth={depth!r}: the depth of the tree must be a whole number >= 0 (the model is level 0)"
        )
    return depth


def title(report: Report, compact: bool = False) -> Text:
    """``resnet18_cifar  (1, 3, 32, 32) -> (1, 10)  11,173,962 params  140.2 M MACs``;
    ``compact``: ``3×32×32 -> 10``, for narrow terminals."""
    return _styled(_title_spans(report, compact))


def _title_spans(report: Report, compact: bool = False) -> list[tuple[str, str | None]]:
    shape_of = compact_shape if compact else shape_text
    spans: list[tuple[str, str | None]] = [(report.name, "bold")]
    if report.ran:
        plain = report.inputs in ([], [shape_text(report.input)])  # one positional input of the model's dtype
        spans.append((f"  {shape_of(report.input) if plain else ', '.join(report.inputs)} -> ", None))
        if report.error:
            spans.append(("failed", STYLES["failed"]))
        else:
            spans.append((shape_of(report.output), None))
    spans += [("  ", None), (f"{report.params:,}", STYLES["params"]), (" params", None)]
    if report.ran and not report.error:
        spans += [("  ", None), (format_count(report.macs, missing="0"), STYLES["macs"]), (" MACs", None)]
    return spans


def _styled(spans: list[tuple[str, str | None]]) -> Text:
    text = Text()
    for part, style in spans:
        text.append(part, style=style)
    return text


def _joined(spans: list[tuple[str, str | None]]) -> str:
    """The plain text of :func:`_styled`."""
    return _plain("".join(part for part, _ in spans))


# -- the tree ---------------------------------------------------------------------------


def _signature(rows: list[ModuleRow], i: int, end: int) -> tuple:
    """What makes two sibling subtrees the same: descriptions, numbers and shapes."""
    base = rows[i].level
    return tuple(
        (r.level - base, r.name if not r.name.isdigit() else "", r.description, r.token, r.params,
         r.macs, _freeze(r.input), _freeze(r.output), r.same_as is not None, r.failed,
         tuple(r.shared_with.items()))
        for r in rows[i:end]
    )


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def _subtree_end(rows: list[ModuleRow], i: int) -> int:
    j = i + 1
    while j < len(rows) and rows[j].level > rows[i].level:
        j += 1
    return j


def visible_rows(rows: list[ModuleRow], depth: int, fold: bool = True) -> list[tuple[ModuleRow, int, bool, list[bool]]]:
    """The rows to draw: ``(row, copies, expanded, last-sibling flags of its line)``.

    A row is expanded when its level is at most ``depth``, or it is on the failing
    path. With ``fold``, consecutive identical siblings draw once, marked x N.
    """
    shown: list[tuple[ModuleRow, int, bool, list[bool]]] = []
    signatures: dict[int, tuple] = {}  # start of a subtree -> its _signature

    def same(a: int, a_end: int, b: int, b_end: int) -> bool:
        # subtrees of other sizes or other first modules differ: no signature needed
        if a_end - a != b_end - b or rows[a].description != rows[b].description:
            return False
        for start, stop in ((a, a_end), (b, b_end)):
            if start not in signatures:
                signatures[start] = _signature(rows, start, stop)
        return signatures[a] == signatures[b]

    def walk(i: int, end: int, lasts: list[bool]) -> None:
        row = rows[i]
        expanded = (row.level <= depth or row.failed) and row.same_as is None
        shown.append((row, copies.get(i, 1), expanded, lasts))
        if not expanded or i + 1 == end:  # folded, or nothing below it
            return
        kids = []
        j = i + 1
        while j < end:
            k = _subtree_end(rows, j)
            kids.append((j, k))
            j = k
        groups: list[tuple[int, int, int]] = []  # (start, end, copies)
        for start, stop in kids:
            if fold and groups:
                g_start, g_stop, n = groups[-1]
                if same(g_start, g_stop, start, stop):
                    groups[-1] = (g_start, g_stop, n + 1)
                    continue
            groups.append((start, stop, 1))
        for index, (start, stop, n) in enumerate(groups):
            copies[start] = n
            walk(start, stop, [*lasts, index == len(groups) - 1])

    copies: dict[int, int] = {}
    if rows:
        walk(0, len(rows), [])
    return shown


def _guides(lasts: list[bool]) -> str:
    if not lasts:
        return ""
    parts = ["   " if last else "│  " for last in lasts[:-1]]
    parts.append("└─ " if lasts[-1] else "├─ ")
    return "".join(parts)


@dataclass(frozen=True)
class Layout:
    """What the tree shows, from everything down to what 80 columns hold. The
    variants of :data:`LAYOUTS` drop, in this order: the batch and brackets of the
    shapes (``64×56×56``), the share column, the input shapes, the shapes, and at last
    the ends of long labels. Never the numbers, never a failure's marker."""

    compact: bool = False  # 64×56×56 for (1, 64, 56, 56)
    times: str = "×"  # the compact shapes' separator ("x" in the document's ModelState view)
    share: bool = True
    inputs: bool = True  # "input -> output"; False: the output alone
    shapes: bool = True
    cut_labels: bool = False  # long labels end in an ellipsis


LAYOUTS = (
    Layout(),
    Layout(compact=True),
    Layout(compact=True, share=False),
    Layout(compact=True, share=False, inputs=False),
    Layout(share=False, shapes=False),
    Layout(share=False, shapes=False, cut_labels=True),
)


# A cell: (text, style of the whole cell, [(text, style) appended]); drawn as a rich
# Text (:func:`_rich_cell`) or, where every line fits, as the plain string alone.
Cell = tuple[str, str, list[tuple[str, "str | None"]]]


def _plain_cell(cell: Cell) -> str:
    """The cell's text as rich holds it (control codes taken out of a Text; a cell of
    style None is a plain string, taken as it is)."""
    text, style, spans = cell
    if style is None:
        return text
    return _plain(text + "".join(part for part, _ in spans) if spans else text)


def _plain(text: str) -> str:
    return text if text.isascii() and text.isprintable() else strip_control_codes(text)


def _rich_cell(cell: Cell, **options: Any) -> Text:
    text, style, spans = cell
    out = Text(text, style=style, **options)
    for part, part_style in spans:
        out.append(part, style=part_style)
    return out


@dataclass
class _Grid:
    """A table's columns and cells, before rich: ``columns`` of (header, justify),
    ``rows`` of :data:`Cell`."""

    columns: list[tuple[str, str]]
    rows: list[list[Cell]]
    with_shapes: bool = False

    def widths(self) -> list[int]:
        """Each column's width: its widest cell or header."""
        found = [_cell_len(_plain(header)) for header, _ in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                size = _cell_len(_plain_cell(cell))
                if size > found[i]:
                    found[i] = size
        return found


# characters one cell wide that rich keeps as they are: printable ASCII, the tree's
# guides, the short shapes' separator
_NARROW = frozenset(map(chr, range(0x20, 0x7F))) | frozenset("├└│─×")


def _cell_len(text: str) -> int:
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


def _tree_grid(report: Report, depth: int | None, layout: Layout, document: bool, fold: bool = True) -> _Grid:
    """The cells of :func:`tree_table` (see there)."""
    depth = report.default_depth if check_depth(depth) is None else depth
    shown = _visible(report, depth, fold)
    if document and shown:  # the model's name heads the first column instead of a row
        shown = shown[1:]
    with_shapes = report.ran and layout.shapes
    with_macs = not document and report.ran
    shape_of = (lambda shape: compact_shape(shape, layout.times)) if layout.compact else shape_text
    inputs = [shape_of(r.input) if with_shapes and layout.inputs else "" for r, *_ in shown]
    in_width = max((len(text) for text, (r, *_) in zip(inputs, shown) if r.calls or r.failed), default=0)

    root = report.tree[0] if report.tree else None
    columns = [(root.description if document and root else "module", "left"), ("params", "right")]
    if layout.share:
        columns.append(("share" if not document else "", "right"))
    if with_macs:
        columns.append(("MACs", "right"))
    if with_shapes:
        header = "input -> output" if layout.inputs else "output"
        columns.append((header + (" shapes" if document else ""), "left"))

    rows = []
    innermost = _innermost_failure(report) if with_macs and not with_shapes else None
    for (row, copies, expanded, lasts), input_text in zip(shown, inputs):
        label = [(_guides(lasts), GUIDE)]
        if not document and row.name and not row.name.isdigit():
            label.append((f"{row.name}: ", STYLES["name"]))
        label.append((row.description, STYLES["failed"] if row.failed else None))
        if copies > 1:
            label.append((f" x {copies}", "bold"))
        if not document and row.token:
            label.append((f"  {row.token}", STYLES["token"]))
        if row.same_as is not None:
            label.append((f"  (same module as {row.same_as or 'the model'})", "dim"))
        for key, holder in row.shared_with.items():
            label.append((f"  ({key} shared with {holder})", "dim"))
        if row.needs_values:
            label.append(("  [real values]", STYLES["cpu"]))
        params = row.params if expanded else row.total_params
        cells: list[Cell] = [("", "", label), (f"{params:,}" if params else "", STYLES["params"], [])]
        if layout.share:
            cells.append((_share(params, report.params), STYLES["share"], []))
        if with_macs:
            if row.failed and not with_shapes and row.path == innermost:
                cells.append(("fails", STYLES["failed"], []))  # the marker, where the shapes were
            else:
                cells.append((format_count(row.macs or None, missing=""), STYLES["macs"], []))
        if with_shapes:
            start = input_text.ljust(in_width) + " -> " if layout.inputs else ""
            if row.calls:
                cells.append((start, STYLES["shape"], [(shape_of(row.output), STYLES["shape"])]))
            elif row.failed:
                cells.append((start, STYLES["shape"], [("fails", STYLES["failed"])]))
            else:
                cells.append(("", "", []))
        rows.append(cells)
    return _Grid(columns, rows, with_shapes)


def tree_table(
    report: Report,
    depth: int | None = None,
    *,
    document: bool = False,
    fold: bool = True,
    compact: bool = False,
    layout: Layout | None = None,
) -> Table:
    """The module tree as a table: description, params, share, (MACs,) shapes.

    ``document=True`` draws the layout of the document's ``ModelState.layers``: the
    model's name heads the first column, no attribute names, tokens or MACs.
    ``layout``: what to leave out in a narrow terminal (:class:`Layout`).
    """
    layout = layout or Layout(compact=compact)
    grid = _tree_grid(report, depth, layout, document, fold)
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold",
                  show_header=True)
    # cut_labels: the one column rich may narrow, its labels cut with an ellipsis, never wrapped
    (first, _), *others = grid.columns
    table.add_column(first, no_wrap=not layout.cut_labels, overflow="ellipsis")
    for header, justify in others:
        table.add_column(header, justify=justify, no_wrap=True)
    for cells in grid.rows:
        table.add_row(_rich_cell(cells[0], no_wrap=True, overflow="ellipsis"), *(_rich_cell(c) for c in cells[1:]))
    # the numbers are never cut: each column but the last (the shapes, or the labels
    # when they may end in an ellipsis) is as wide as its widest cell
    widths = grid.widths()
    keep = range(1, len(widths)) if layout.cut_labels else range(len(widths) - (1 if grid.with_shapes else 0))
    for i in keep:
        table.columns[i].min_width = widths[i]
    return table


def _innermost_failure(report: Report) -> str | None:
    failed = [r.path for r in report.tree if r.failed]
    return failed[-1] if failed else None


def folded(report: Report, depth: int | None = None) -> bool:
    """Whether the tree shows folded rows (``x N``)."""
    depth = report.default_depth if depth is None else depth
    return any(copies > 1 for _, copies, _, _ in _visible(report, depth, True))


def _visible(report: Report, depth: int, fold: bool) -> list:
    """:func:`visible_rows`, once per report, depth and folding (the layouts that are
    tried and the width measured all draw the same rows; comparing subtrees to fold
    them is the costly part)."""
    cache = report.__dict__.setdefault("_visible", {})
    key = (depth, fold, len(report.tree))
    if key not in cache:
        cache[key] = visible_rows(report.tree, depth, fold)
    return cache[key]


FOLD_NOTE = "x N: N identical modules in a row, numbers per copy"


# -- the cost table ---------------------------------------------------------------------


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    if 0 < value < 0.01:  # two significant digits: 0.00073
        return f"{value:.2g}"
    text = f"{value:.{2 if value < 10 else 1}f}".rstrip("0").rstrip(".")
    return text or "0"


_COST_COLUMNS = (  # header, justify, the column's style
    ("#", "right", "dim"), ("block", "left", STYLES["token"]), ("pars k", "right", STYLES["params"]),
    ("ops M", "right", STYLES["macs"]), ("w", "right", None), ("V0/V", "right", None),
    ("output", "left", STYLES["shape"]),
)


def _cost_grid(report: Report) -> _Grid:
    """The cells of :func:`cost_table`; a cell of style None is a plain string there.
    The last row is the total."""
    def plain(text: str) -> Cell:
        return (text, None, [])

    width = report.input[-1] if len(report.input) >= 3 else None
    rows = [[plain(""), ("input", "dim", []), plain(""), plain(""), plain(str(width or "-")), plain("1"),
             plain(shape_text(report.input))]]
    numbered = 0
    for block in report.blocks:  # the head and the model's own work (no path) go unnumbered
        if block.path:
            numbered += 1
        failed = block.failed
        rows.append([
            plain(str(numbered) if block.path else ""),
            (block.name, STYLES["failed"] if failed else STYLES["token"], []),
            plain(format_fixed(block.params or None, 1e3, 1)),  # in thousands; 0 as "-"
            plain("" if failed else format_fixed(block.macs or None, 1e6, 1)),  # in millions
            plain("" if failed else str(block.width) if block.width is not None else "-"),
            plain("" if failed else _ratio(block.v0_over_v)),
            ("fails", STYLES["failed"], []) if failed else plain(shape_text(block.shape)),
        ])
    rows.append([plain(""), ("total", STYLES["total"], []),
                 (format_fixed(report.params or None, 1e3, 1), "bold green", []),
                 (format_fixed(report.macs or None, 1e6, 1), "bold magenta", []), plain(""), plain(""), plain("")])
    return _Grid([(header, justify) for header, justify, _ in _COST_COLUMNS], rows)


def cost_table(report: Report) -> Table:
    """The document's cost table, one row per top-level block: pars (thousands),
    ops (millions of MACs), w (output width), V0/V (input volume / output volume)."""
    table = Table(box=_RULES, show_edge=False, pad_edge=False, header_style="bold",
                  show_footer=False, title=None)
    for header, justify, style in _COST_COLUMNS:
        table.add_column(header, justify=justify, style=style, no_wrap=header != "#")
    grid = _cost_grid(report)
    for i, cells in enumerate(grid.rows):
        if i == len(grid.rows) - 1:
            table.add_section()
        table.add_row(*(text if style is None else _rich_cell((text, style, spans)) for text, style, spans in cells))
    return table


# a header rule and a rule before the totals, nothing else
_RULES = box.Box(
    "    \n"
    "    \n"
    "────\n"
    "    \n"
    "────\n"
    "────\n"
    "    \n"
    "    \n"
)


def cost_lines(report: Report) -> tuple[list[Text], int]:
    """:func:`cost_table` as lines of text, as rich draws it where it fits (three
    spaces between columns, a rule under the header and before the totals), and its
    width: without rich's measuring and wrapping of every cell (once per report)."""
    return _once(report, ("costs", len(report.blocks)), lambda: _cost_lines(report))


def _cost_lines(report: Report) -> tuple[list[Text], int]:
    table = cost_table(report)
    columns = table.columns
    cells = [[_cell(t) for t in c.cells] for c in columns]
    widths = [max([Text(str(c.header)).cell_len] + [t.cell_len for t in column])
              for c, column in zip(columns, cells)]
    width = sum(widths) + 3 * (len(widths) - 1)

    def line(cells: list[Text], styles: list[str | None], base: str | None = None) -> Text:
        out = Text(style=base or "")
        for i, (cell, column, size, style) in enumerate(zip(cells, columns, widths, styles)):
            if i:
                out.append("   ")
            text = Text(style=style or "")
            text.append_text(cell)
            gap = " " * (size - cell.cell_len)
            if column.justify == "right":
                out.append(gap)
                out.append_text(text)
            else:
                out.append_text(text)
                out.append(gap)
        return out

    rule = Text("─" * width)
    header = line([Text(str(c.header)) for c in columns], [None] * len(columns), table.header_style)
    rows = [line([column[i] for column in cells], [c.style for c in columns]) for i in range(len(cells[0]))]
    return [header, rule, *rows[:-1], rule, rows[-1]], width


def _cell(value: Any) -> Text:
    return value if isinstance(value, Text) else Text(str(value))


class FittedCosts:
    """The cost table: as lines where it fits (the common case, drawn fast), else
    rich's table."""

    def __init__(self, report: Report):
        self.report = report
        self.width = len(_cost_plain(report)[1])

    def rich(self) -> FittedCosts:
        return self

    def plain(self, width: int) -> list[str] | None:
        return _cost_plain(self.report) if self.width <= width else None

    def choose(self, width: int) -> RenderableType:
        return Group(*cost_lines(self.report)[0]) if self.width <= width else cost_table(self.report)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.choose(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(self.width, options.max_width), min(self.width, options.max_width))


# -- the whole report -------------------------------------------------------------------


def summary(report: Report, short: bool = False) -> Text:
    """``11,173,962 parameters (11,173,962 trainable, 0 frozen), 140,186,624 MACs per
    image``; ``short``: ``(all trainable)`` where nothing is frozen, for 80 columns."""
    return _styled(_summary_spans(report, short))


def _summary_spans(report: Report, short: bool = False) -> list[tuple[str, str | None]]:
    spans: list[tuple[str, str | None]] = [(f"{report.params:,}", STYLES["params"]), (" parameters (", None)]
    if short and not report.frozen:
        spans.append(("all trainable", None))
    else:
        spans.append((f"{report.trainable:,} trainable, {report.frozen:,} frozen", None))
    spans.append((")", None))
    if report.ran and not report.error:
        spans += [(", ", None), (f"{report.macs:,}", STYLES["macs"])]
        spans.append((" MACs in all" if report.per == "forward" else
                      " MACs per image" if len(report.input) == 4 else " MACs per sample", None))
    return spans


def _fitted_plain(spans_of: Any, report: Report, width: int) -> str:
    """The plain text of the full line where it fits ``width``, else of the short one."""
    full = _full_plain(spans_of, report)
    return full if _cell_len(full) <= width else _joined(spans_of(report, True))


def _full_plain(spans_of: Any, report: Report) -> str:
    """The plain text of the full title or summary line (once per report: the width
    of a report's text and the text itself both ask)."""
    return _once(report, ("plain line", spans_of), lambda: _joined(spans_of(report)))


class FittedTitle:
    """The title line, with short shapes where the full ones would wrap."""

    def __init__(self, report: Report):
        self.report = report

    def rich(self) -> FittedTitle:
        return self

    def plain(self, width: int) -> list[str] | None:
        return _fitting(_fitted_plain(_title_spans, self.report, width), width)

    def choose(self, width: int) -> RenderableType:
        full = title(self.report)
        return full if full.cell_len <= width else title(self.report, compact=True)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.choose(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, title(self.report))


class FittedSummary:
    """The summary line, in its short form where the full one would wrap."""

    def __init__(self, report: Report):
        self.report = report

    def rich(self) -> FittedSummary:
        return self

    def plain(self, width: int) -> list[str] | None:
        return _fitting(_fitted_plain(_summary_spans, self.report, width), width)

    def choose(self, width: int) -> RenderableType:
        full = summary(self.report)
        return full if full.cell_len <= width else summary(self.report, short=True)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.choose(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, summary(self.report))


class FittedTree:
    """The tree table in the first of :data:`LAYOUTS` that fits the width: short
    shapes (``64×16×16``), then fewer columns, when the full table does not fit."""

    def __init__(self, report: Report, depth: int | None = None, times: str = "×", document: bool = False):
        self.report, self.depth, self.times, self.document = report, depth, times, document

    def pick(self, width: int) -> tuple[Table, bool]:
        """The table of the first layout that fits, and whether one does."""
        for layout in LAYOUTS:
            table = _tree_table(self.report, self.depth, self.with_times(layout), self.document)
            if table_width(table) <= width:
                return table, True
        return table, False

    def rich(self) -> FittedTree:
        return self

    def with_times(self, layout: Layout) -> Layout:
        """``layout`` with this tree's separator of short shapes."""
        return layout if layout.times == self.times else replace(layout, times=self.times)

    def plain(self, width: int) -> list[str] | None:
        """The plain lines of the first layout that fits, or None where none does."""
        for layout in LAYOUTS:
            lines, size = _tree_plain(self.report, self.depth, self.with_times(layout), self.document)
            if size <= width:
                return lines
        return None

    def choose(self, width: int) -> RenderableType:
        table, fits = self.pick(width)
        # it fits: each row is one line, drawn directly; else rich narrows the label column
        return table_lines(table) if fits else table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.choose(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        # as narrow as the narrowest layout, as wide as the full one: rich then gives
        # the tree no more than the width there is (a pipe's COLUMNS, a terminal's)
        widths = [_tree_plain(self.report, self.depth, self.with_times(layout), self.document)[1]
                  for layout in (LAYOUTS[0], LAYOUTS[-2])]
        return Measurement(min(widths[1], options.max_width), min(widths[0], options.max_width))


def _tree_table(report: Report, depth: int | None, layout: Layout, document: bool) -> Table:
    """:func:`tree_table`, once per report and view (choosing a layout and measuring
    the width draw the same tables)."""
    return _once(report, (depth, layout, document, len(report.tree)),
                 lambda: tree_table(report, depth, layout=layout, document=document))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = table_width(tree_table(self.report, self.depth))
        return Measurement(min(width, options.max_width), width)


def table_lines(table: Table) -> Group:
    """A table whose rows all fit, as lines of text: what rich draws for it (bold
    header, cells padded to their column, two spaces between), at a fraction of the
    cost (rich measures and wraps every cell of a long tree several times)."""
    columns = table.columns
    widths = [max([Text(str(c.header)).cell_len] + [t.cell_len for t in c.cells]) for c in columns]
    lines = []
    header = Text(style=table.header_style)
    for i, (column, width) in enumerate(zip(columns, widths)):
        cell = Text(str(column.header))
        header.append_text(_pad(cell, width, column.justify, i == len(columns) - 1))
    lines.append(header)
    for row in zip(*(c.cells for c in columns)):
        line = Text()
        for i, (cell, column, width) in enumerate(zip(row, columns, widths)):
            line.append_text(_pad(cell, width, column.justify, i == len(columns) - 1))
        lines.append(line)
    return Group(*lines)


def _pad(cell: Text, width: int, justify: str, last: bool) -> Text:
    gap = width - cell.cell_len
    padded = Text()
    if justify == "right":
        padded.append(" " * gap)
        padded.append_text(cell)
    else:
        padded.append_text(cell)
        padded.append(" " * gap)
    if not last:
        padded.append("  ")
    return padded


def table_width(table: Table) -> int:
    """The width a tree table takes unwrapped: its widest cells and the padding between
    columns (what rich measures, without measuring each cell again)."""
    widths = [max([Text(str(c.header)).cell_len] + [Text(t).cell_len if isinstance(t, str) else t.cell_len
                                                      for t in c.cells]) for c in table.columns]
    return sum(widths) + 2 * (len(widths) - 1)


def render_report(
    report: Report, depth: int | None = None, *, tree: bool = True, costs: bool = True, error: bool = True
) -> RenderableType:
    """Title, tree (down to ``depth``), cost table, totals and notes."""
    check_depth(depth)
    return Group(*(part.rich() for part in _report_parts(report, depth, tree, costs, error)))


class _Line:
    """A line of text of the report: ``Text(text, style=style)`` for rich."""

    __slots__ = ("text", "style")

    def __init__(self, text: str, style: str = ""):
        self.text, self.style = text, style

    def rich(self) -> Text:
        return Text(self.text, style=self.style)

    def plain(self, width: int) -> list[str] | None:
        """What :func:`_plain_lines` gives for its Text."""
        return _fitting(_plain(self.text), width)


def _fitting(plain: str, width: int) -> list[str] | None:
    return [plain] if "\n" not in plain and "\t" not in plain and _cell_len(plain) <= width else None


def _report_parts(report: Report, depth: int | None, tree: bool = True, costs: bool = True,
                  error: bool = True) -> list[Any]:
    """The parts of :func:`render_report`, each with ``rich()`` (its renderable) and
    ``plain(width)`` (its lines where they fit, else None)."""
    parts: list[Any] = [FittedTitle(report), _Line("")]
    if tree:
        parts.append(FittedTree(report, depth))
        if folded(report, depth):
            parts.append(_Line(FOLD_NOTE, style="dim"))
        parts.append(_Line(""))
    if costs and report.blocks and report.ran:
        parts += [FittedCosts(report), _Line("")]
    parts.append(FittedSummary(report))
    for note in report.notes:
        parts.append(_Line(f"note: {note}", style="yellow"))
    if report.error and error:
        parts.append(_Line(report.error, style=STYLES["failed"]))
    return parts


def report_text(report: Report) -> str:
    """``str(report)``: :func:`to_text` of :func:`render_report`, without making the
    rich objects of the parts whose lines all fit."""
    width = terminal_width(None, report)
    buffer = io.StringIO()
    console = None
    for part in _report_parts(report, None):
        lines = part.plain(width)
        if lines is None:  # what only rich can draw (a line to wrap, labels to cut)
            if console is None:
                console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                                  legacy_windows=False)
            console.print(part.rich())
        else:
            buffer.write("\n".join(lines) + "\n" if lines else "")
    return buffer.getvalue()


def terminal_width(renderable: RenderableType, report: Report | None = None) -> int:
    """The width ``print(report)`` draws at: the terminal's (``COLUMNS`` where set), or,
    printing to a file or a pipe, as wide as the report needs (never below 80)."""
    console = None if _surely_no_terminal() else Console(color_system=None)
    if console is not None and (console.is_terminal or os.environ.get("COLUMNS")):
        return console.width
    if report is not None:  # the widest line without measuring every cell again
        lines = [_full_plain(_title_spans, report), _full_plain(_summary_spans, report),
                 *(_plain(f"note: {n}") for n in report.notes)]
        widest = max(_cell_len(t) for t in lines)
        widest = max(widest, _tree_plain(report, None, LAYOUTS[0], False)[1], len(_cost_plain(report)[1]))
        return max(80, widest)
    console = console or Console(color_system=None)
    wide = console.options.update_width(1000)
    return max(80, console.measure(renderable, options=wide).maximum)


def _surely_no_terminal() -> bool:
    """Whether rich's Console would say it prints to no terminal and take no width from
    ``COLUMNS``, asked without making one (that costs more than a small report's text):
    standard output is no tty, and nothing in the environment gives a width or forces
    a terminal (rich reads ``FORCE_COLOR`` and ``TTY_COMPATIBLE``). Anything else: ask rich."""
    environ = os.environ
    if environ.get("COLUMNS") or "FORCE_COLOR" in environ or "TTY_COMPATIBLE" in environ:
        return False
    isatty = getattr(getattr(sys.stdout, "rich_proxied_file", sys.stdout), "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:  # a closed file (the end of a pytest run): no terminal
        return True


def to_text(renderable: RenderableType, width: int | None = None, report: Report | None = None) -> str:
    """Plain text of a renderable (no colour), e.g. for ``str(report)``; ``width``:
    the terminal's by default (:func:`terminal_width`)."""
    width = terminal_width(renderable, report) if width is None else width
    buffer = io.StringIO()
    console = None
    parts = renderable.renderables if isinstance(renderable, Group) else [renderable]
    for part in parts:
        lines = _plain_lines(part, width)
        if lines is None:  # what only rich can draw (a line to wrap, labels to cut)
            if console is None:
                console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                                  legacy_windows=False)
            console.print(part)
        else:  # what rich would print, without its measuring and wrapping of each line
            buffer.write("\n".join(lines) + "\n" if lines else "")
    return buffer.getvalue()


def _cost_plain(report: Report) -> list[str]:
    """:func:`cost_lines` as plain strings (once per report)."""
    def draw() -> list[str]:
        lines, _ = _grid_lines(_cost_grid(report), "   ")
        rule = "─" * cell_len(lines[0])
        return [lines[0], rule, *lines[1:-1], rule, lines[-1]]

    return _once(report, ("plain costs", len(report.blocks)), draw)


def _plain_columns(table: Table, gap: str) -> list[str]:
    """A table's header and rows as plain lines, each cell padded to its column (the
    last one too), ``gap`` between columns: what :func:`table_lines` and
    :func:`cost_lines` draw, as strings."""
    columns = [[str(c.header)] + [t.plain if isinstance(t, Text) else str(t) for t in c.cells] for c in table.columns]
    widths = [max(cell_len(t) for t in column) for column in columns]
    right = [c.justify == "right" for c in table.columns]
    lines = []
    for row in zip(*columns):
        parts = []
        for text, size, to_right in zip(row, widths, right):
            fill = " " * (size - cell_len(text))
            parts.append(fill + text if to_right else text + fill)
        lines.append(gap.join(parts))
    return lines


def _grid_lines(grid: _Grid, gap: str) -> tuple[list[str], list[int]]:
    """:func:`_plain_columns` of the table drawn from ``grid``, without drawing it; and
    the widths of its columns as :func:`table_width` measures them."""
    headers = [header for header, _ in grid.columns]
    right = [justify == "right" for _, justify in grid.columns]
    texts = [[text + "".join([part for part, _ in spans]) if spans else text for text, _, spans in row]
             for row in grid.rows]
    if _NARROW.issuperset("".join(headers + [text for row in texts for text in row])):
        # one cell per character, nothing for rich to take out: widths are lengths
        widths = [max(map(len, column)) for column in zip(headers, *texts)]
        line = gap.join(f"{{:{'>' if to_right else '<'}{width}}}" for width, to_right in zip(widths, right))
        return [line.format(*row) for row in [headers, *texts]], widths
    texts = [[_plain_cell(cell) for cell in row] for row in grid.rows]
    sizes = [[_cell_len(t) for t in row] for row in texts]
    head_sizes = [_cell_len(h) for h in headers]
    widths = [max(column) for column in zip(head_sizes, *sizes)]
    lines = []
    for row, row_sizes in zip([headers, *texts], [head_sizes, *sizes]):
        parts = [" " * (width - size) + text if to_right else text + " " * (width - size)
                 for text, size, width, to_right in zip(row, row_sizes, widths, right)]
        lines.append(gap.join(parts))
    measured = [max(width, _cell_len(_plain(header))) if not (header.isascii() and header.isprintable()) else width
                for width, header in zip(widths, headers)]
    return lines, measured


def _tree_plain(report: Report, depth: int | None, layout: Layout, document: bool) -> tuple[list[str], int]:
    """The tree of a layout as plain lines, and its :func:`table_width` (once per
    report and view: choosing a layout and measuring the width ask for the same)."""
    def draw() -> tuple[list[str], int]:
        lines, widths = _grid_lines(_tree_grid(report, depth, layout, document), "  ")
        return lines, sum(widths) + 2 * (len(widths) - 1)

    return _once(report, ("plain tree", depth, layout, document, len(report.tree)), draw)


def _plain_lines(renderable: RenderableType, width: int) -> list[str] | None:
    """The lines of a renderable made of one-line texts that fit ``width``, else None."""
    if isinstance(renderable, FittedTree):
        return renderable.plain(width)
    if isinstance(renderable, FittedCosts):
        return _cost_plain(renderable.report) if renderable.width <= width else None
    if isinstance(renderable, (FittedTitle, FittedSummary)):
        return renderable.plain(width)
    if isinstance(renderable, Text):
        plain = renderable.plain
        return [plain] if "\n" not in plain and "\t" not in plain and renderable.cell_len <= width else None
    if isinstance(renderable, Group):
        lines: list[str] = []
        for part in renderable.renderables:
            found = _plain_lines(part, width)
            if found is None:
                return None
            lines += found
        return lines
    return None


def document_view(report: Report, depth: int) -> RenderableType:
    """``ModelState.layers``: the document's title line and tree."""
    check_depth(depth)
    head = Text(f"{report.tree[0].description}:  " if report.tree else "")
    if report.ran:
        head.append(f"{shape_text(report.input)} -> ")
        head.append("failed" if report.error else shape_text(report.output),
                    style=STYLES["failed"] if report.error else None)
    parts: list[RenderableType] = [head, FittedTree(report, depth, times="x", document=True)]  # the document's 1x28x28
    footer = Text(f"params: {report.params:,}")
    if report.frozen:
        footer.append(f" ({report.trainable:,} trainable)")
    parts.append(footer)  # a failure's message comes with the ShapeError that ModelState raises
    return Group(*parts)
