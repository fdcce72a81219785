"""``zoo runs [DIR]``: the comparison table of the runs ``zoo train`` left in a folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "runs",
        help="compare the runs in a folder (zoo train --out)",
        description="Print the document's comparison table of the runs in DIR (each a folder with the "
        "summary.json that zoo train writes; a run stopped before its end, by Ctrl-C or a crash, from its "
        "history, marked stopped): best validation accuracy, seconds of training per 10^6 "
        "examples, parameters, MACs, epochs, blocks.",
        epilog="example:\n  zoo runs runs/\n  zoo runs runs/ --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", nargs="?", default="runs", metavar="DIR", help="the --out of zoo train (runs/)")
    p.add_argument("--sort", choices=("time", "acc", "params"), default="time",
                   help="order: time (oldest first), acc (best first), params (smallest first)")
    p.add_argument("--pareto", metavar="acc,COST", help="mark the runs no other beats on accuracy and COST "
                   "(acc,params, acc,time or acc,macs), and write DIR/pareto.png")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..train.runs import comparison_table, read_summaries

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"zoo runs: error: no folder {str(folder)!r} (give the --out of zoo train, runs/ by default)",
              file=sys.stderr)
        return 2
    rows = read_summaries(folder)
    cost = None
    if args.pareto:
        from ..sweep.pareto import pareto_front, parse_pareto

        cost = parse_pareto(args.pareto)
        front = set(pareto_front(rows, cost))
        for i, row in enumerate(rows):
            row["pareto"] = i in front
    if args.sort == "acc":
        rows.sort(key=lambda r: -(r.get("val_acc") or 0.0))
    elif args.sort == "params":
        rows.sort(key=lambda r: r.get("params") or 0)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"zoo runs: no runs in {folder} (a run is a folder with summary.json, written by zoo train)",
              file=sys.stderr)
        return 1
    from rich.console import Console

    console = Console(highlight=False)
    console.print(comparison_table(rows, title=f"{len(rows)} run{'s' if len(rows) != 1 else ''} in {folder}"))
    if cost is not None:
        from ..sweep.pareto import front_table, write_pareto_plot

        front = [i for i, row in enumerate(rows) if row["pareto"]]
        front = sorted(front, key=lambda i: pareto_front(rows, cost).index(i))
        console.print(front_table(rows, front, cost))
        plot = write_pareto_plot(rows, front, cost, folder / "pareto.png")
        if plot is not None:
            print(plot)
    return 0
