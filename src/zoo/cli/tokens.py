"""``zoo tokens [--json]``: every token of the block language, with its plugin."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("tokens", help="list the tokens of the block language")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def token_rows() -> list[dict]:
    from ..registry import get_registry

    rows = []
    for token in sorted(get_registry().tokens.values(), key=lambda t: t.name):
        rows.append(
            {
                "name": token.name,
                "values": [
                    {"name": v.name, "type": v.type.__name__, "default": v.default, "doc": v.default_text}
                    for v in token.values
                ],
                "signature": token.signature(),
                "help": token.help,
                "plugin": token.plugin,
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    rows = token_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="zoo tokens", title_justify="left")
    for column in ("token", "values", "help", "plugin"):
        table.add_column(column)
    for row in rows:
        values = " ".join(f"{v['name']}={v['doc']}" if v["doc"] else v["name"] for v in row["values"])
        table.add_row(row["name"], values, row["help"], row["plugin"])
    Console().print(table)
    return 0
