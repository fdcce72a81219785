"""``zoo list [PATTERN] [--json]``: the presets, read from their YAML files (no torch)."""

from __future__ import annotations

import argparse
import json
import sys

from ..format import format_count


def add_parser(sub) -> None:
    p = sub.add_parser(
        "list",
        help="list the presets (named models)",
        description="List the presets: zoo's own, the plugins', and those in ZOO_PRESET_PATH.",
        epilog="Example: zoo list 'resnet18*'",
    )
    p.add_argument("pattern", nargs="?", default="*", metavar="PATTERN",
                   help="shell-style wildcard on the names, e.g. 'r*m' (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..presets import list_presets

    presets = list_presets(args.pattern)
    if args.json:
        print(json.dumps([p.to_dict() for p in presets], indent=2))
        return 0
    if not presets:
        print(f"no preset matches {args.pattern!r} ('zoo list' shows them all)", file=sys.stderr)
        return 0
    from rich.console import Console
    from rich.table import Table

    show_source = any(p.source != "zoo" for p in presets)
    table = Table(title="zoo presets", title_justify="left")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("input", no_wrap=True)
    table.add_column("parameters", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    if show_source:
        table.add_column("from", no_wrap=True)
    table.add_column("description")
    for p in presets:
        row = [
            p.name,
            "×".join(str(v) for v in p.input),
            f"{p.params:,}" if p.params is not None else "?",
            format_count(p.macs),
        ]
        if show_source:
            row.append(p.source)
        row.append(p.description)
        table.add_row(*row)
    Console().print(table)
    return 0
