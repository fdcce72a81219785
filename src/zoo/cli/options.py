"""``zoo options [NAME ...] [--json]``: every option of a network, the plugins' too.

Each option with its type, default, allowed values, meaning and the plugin that adds
it, from the same declarations that ``zoo.Config`` checks against. No torch.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UnknownOptionError, did_you_mean
from .layout import columns


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "options",
        help="list the options of a network: type, default, allowed values, meaning",
        description="List the options of zoo.Config (CNN(...), --set, a preset's options:), the "
        "plugins' options included.",
        epilog="Example: zoo options norm fun --json",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show only these options")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def option_rows(names: list[str] | None = None) -> list[dict[str, Any]]:
    """One dict per option (name, type, default, choices, minimum, maximum, help,
    plugin), zoo's own in their order, then the plugins'.

    >>> row = option_rows(["norm"])[0]
    >>> row["default"], row["choices"][:4], row["plugin"]  # plugins may add norm kinds
    (1, [0, 1, 2, 3], 'zoo')
    """
    from ..options import declared_options
    from ..registry.registry import get_registry
    from ..tokens.options import check_blocks

    registry = get_registry()

    rows = []
    params = list(declared_options().values())
    ours = [p for p in params if p.plugin == "zoo"]  # in their declared order
    for param in ours + sorted((p for p in params if p.plugin != "zoo"), key=lambda p: p.name):
        activation = param.table == "activations"
        choices = (["", *registry.activations] if activation
                   else [0, *registry.norms] if param.table == "norms"
                   else list(param.choices) if param.choices is not None else None)
        kind = "activation" if activation else "blocks" if param.validate is check_blocks else param.type.__name__
        rows.append({"name": param.name, "type": kind, "default": param.default, "choices": choices,
                     "minimum": param.min, "maximum": param.max, "help": param.help, "plugin": param.plugin})
    if names:
        known = {row["name"]: row for row in rows}
        for name in names:
            if name not in known:
                raise UnknownOptionError(f"unknown option {name!r}{did_you_mean(name, known)} ('zoo options' lists them)")
        rows = [known[name] for name in names]
    return rows


def _allowed(row: dict[str, Any]) -> str:
    if row["type"] == "activation":
        return "a name, ''"  # the names go in the meaning: too many for the column
    if row["choices"] is not None:
        return "|".join(repr(c) if c == "" else str(c) for c in row["choices"])
    bounds = [f">= {row['minimum']:g}" if row["minimum"] is not None else "",
              f"<= {row['maximum']:,g}" if row["maximum"] is not None else ""]
    return ", ".join(b for b in bounds if b)


def option_lines(rows: list[dict[str, Any]], width: int | None = None) -> list[str]:
    """The table of ``zoo options``: name, type, default, allowed values; the meaning
    (and a plugin's name) after them, or below when the line does not fit."""
    table = [[row["name"], row["type"], repr(row["default"]) if isinstance(row["default"], str) else str(row["default"]),
              _allowed(row)] for row in rows]
    notes = [[row["help"] + (f" ({' '.join(c for c in row['choices'] if c)}; '' none)" if row["type"] == "activation" else "")
              + ("" if row["plugin"] == "zoo" else f" [{row['plugin']}]")] for row in rows]
    return columns(["option", "type", "default", "allowed"], table, notes=notes, note_header="meaning", width=width)


def run(args: argparse.Namespace) -> int:
    rows = option_rows(args.names)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("\n".join(option_lines(rows)))
    return 0
