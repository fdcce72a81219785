"""``zoo tokens [NAME ...] [--plugin DIST] [--json]``: the tokens of the block language.

Reads the registry's metadata only (names, values, defaults, help, plugin): no
token is built and torch is never imported, so the listing answers at once.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import PluginError, UnknownTokenError, did_you_mean


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "tokens",
        help="list the tokens of the block language",
        description="List the tokens of the block language: values (with defaults), help, plugin.",
        epilog="Example: zoo tokens r rb --json",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show only these tokens")
    p.add_argument("--plugin", metavar="DIST", help="show only the tokens of this plugin (distribution)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def token_rows(names: list[str] | None = None, plugin: str | None = None) -> list[dict[str, Any]]:
    """One dict per token (``Token.to_dict()``), sorted by name.

    >>> [row["plugin"] for row in token_rows(["r"])]
    ['zoo']
    """
    from ..registry.registry import get_registry, normalize_name

    registry = get_registry()
    tokens = registry.tokens
    for name in names or ():
        if name not in tokens:
            close = did_you_mean(name, tokens).lstrip("; ")  # under the caret
            raise UnknownTokenError(
                f"unknown token {name!r}", name, 1, len(name),
                (close + " " if close else "") + "('zoo tokens' lists every token)",
            )
    if plugin is not None:
        known = {normalize_name(p): p for p in registry.plugins}
        if normalize_name(plugin) not in known:
            raise PluginError(
                f"no plugin is named {plugin!r}{did_you_mean(plugin, registry.plugins)} "
                "('zoo plugins' lists them)"
            )
        plugin = known[normalize_name(plugin)]
    rows = []
    for token in sorted(tokens.values(), key=lambda t: t.name):
        if names and token.name not in names:
            continue
        if plugin is not None and token.plugin != plugin:
            continue
        rows.append(token.to_dict())
    return rows


def values_text(row: dict[str, Any]) -> str:
    """``channels=C kernel=3 stride=1``; choices as ``kind=norm (0|1|2|3)``."""
    parts = []
    for value in row["values"]:
        text = f"{value['name']}={value['doc']}" if value["doc"] else value["name"]
        if value["choices"]:
            text += " (" + "|".join(str(c) for c in value["choices"]) + ")"
        parts.append(text)
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    rows = token_rows(args.names, args.plugin)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("token", no_wrap=True)
    table.add_column("values", max_width=30)  # wraps between values
    table.add_column("help", min_width=24, ratio=1)
    table.add_column("plugin", no_wrap=True)
    for row in rows:
        table.add_row(row["name"], values_text(row), row["help"], row["plugin"])
    Console(highlight=False).print(table)
    return 0
