"""``zoo report DIR -o report.html``: one self-contained page of the runs in a folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="one HTML page of the runs in a folder (table, Pareto plot, curves)",
        description="Write one self-contained HTML file (images inlined, no network) of the runs in DIR "
        "(a zoo train --out or a zoo sweep folder): the sortable comparison table, the Pareto plot, each "
        "run's curves and block plots, and each model's cost table from zoo inspect.",
        epilog="example:\n  zoo report sweeps/widths -o report.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", metavar="DIR", help="a folder of runs")
    p.add_argument("-o", "--output", default="report.html", metavar="FILE", help="the page (report.html)")
    p.add_argument("--pareto", default="acc,params", help="acc,params (default), acc,time or acc,macs")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..sweep.pareto import parse_pareto
    from ..sweep.report import write_report

    path = write_report(Path(args.folder), Path(args.output), parse_pareto(args.pareto))
    print(f"{path}")
    return 0
