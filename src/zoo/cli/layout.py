"""Plain-text tables that read well at 80 columns and in a pipe (no torch, no rich).

A row is a few short cells (names, numbers) on one line; its long text (a
description, a list of tokens) goes in the last column when the whole line fits the
width, and otherwise on indented lines below the row, wrapped between words, never
inside a name.

>>> print("\\n".join(columns(["name", "size"], [["a", "1"]], aligns="<>", notes=[["a letter"]], width=40)))
name  size
────────────────────
a        1  a letter
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence

__all__ = ["columns", "terminal_width"]

INDENT = "    "


def terminal_width(default: int = 80) -> int:
    """The width to lay out for: ``COLUMNS`` when set to a number >= 20, else the
    terminal's, else 80 (a pipe)."""
    try:
        value = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        value = 0
    if value >= 20:
        return value
    try:
        return max(os.get_terminal_size().columns, 20)
    except OSError:  # not a terminal: a pipe or a file
        return default


def _wrap(text: str, width: int, indent: str) -> list[str]:
    return textwrap.wrap(text, width=max(width, len(indent) + 20), initial_indent=indent,
                         subsequent_indent=indent + "  ", break_long_words=False,
                         break_on_hyphens=False) or [indent.rstrip()]


def columns(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    aligns: str = "",
    notes: Sequence[Sequence[str]] = (),
    note_header: str = "",
    width: int | None = None,
    gap: int = 2,
) -> list[str]:
    """The lines of a table of ``rows`` under ``headers`` (``aligns``: one ``<`` or ``>``
    per column). ``notes[i]`` are the long texts of row i: one extra column headed
    ``note_header`` when every row's notes fit on its line within ``width``, else
    lines below the row, wrapped between words."""
    width = width or terminal_width()
    aligns = aligns or "<" * len(headers)
    sizes = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    pad = " " * gap

    def line(cells: Sequence[str]) -> str:
        return "".join(f"{c:{a}{s}}" + pad for c, a, s in zip(cells, aligns, sizes))

    notes = list(notes) or [[] for _ in rows]
    base = len(line(headers))
    inline = all(len(n) <= 1 for n in notes) and all(base + len(n[0] if n else "") <= width for n in notes)
    body: list[str] = []
    for row, texts in zip(rows, notes):
        if inline:
            body.append((line(row) + (texts[0] if texts else "")).rstrip())
            continue
        body.append(line(row).rstrip())
        for text in texts:
            body.extend(_wrap(text, width, INDENT))
    head = (line(headers) + (note_header if inline else "")).rstrip()
    rule = "─" * min(max(len(text) for text in (head, *body)), width)
    return [head, rule, *body]
