"""``zoo sweep TEMPLATE|SPACE.yaml``: train a family of block strings, stop the weak
ones early, print the Pareto front of accuracy against cost."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import whole_number

EXAMPLES = """examples:
  zoo sweep "cnf{w} m r{2*w} m r{4*w}" --grid w=8,16,32 --data digits --epochs 3
  zoo sweep "cnf16 m {d}r m r32" --grid d=1,2,3 fun=relu,gelu --pruner halving
  zoo sweep space.yaml --sampler tpe --trials 20 --out sweeps/widths
  zoo sweep space.yaml --out sweeps/widths --resume               # after Ctrl-C or a crash
  zoo sweep space.yaml --storage postgresql://db/zoo --study widths   # one worker of many
  zoo report sweeps/widths -o report.html
"""


def _bytes(text: str) -> int:
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    number, unit = text.strip().upper().rstrip("IB").rstrip("B"), ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size, e.g. 8G or 512M") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size > 0, e.g. 8G")
    return int(value)


def add_parser(sub) -> None:
    from ..sweep.study import PRUNERS, SAMPLERS
    from ..train.recipe import SCHEDULES
    from .train import AUGMENTATIONS, _positive

    p = sub.add_parser(
        "sweep",
        help="train a family of block strings, print the Pareto front",
        description="Train every variant of a block-string TEMPLATE ({...} fields filled from --grid) or of a "
        "search-space YAML file as one Optuna study: each variant is checked (parse, shapes, memory) before "
        "anything trains, each trial is a zoo train run folder in --out, weak variants are pruned after an "
        "epoch or two on their validation accuracy. Ends with the comparison table and the Pareto front of "
        "accuracy against parameters (pareto.png).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("space", metavar="TEMPLATE|SPACE.yaml", help="a block string with {...} fields, or a "
                   "search-space YAML file (blocks:, variables:, options:, budget:)")
    p.add_argument("--grid", nargs="+", default=[], metavar="NAME=V1,V2",
                   help="values of a variable: one in the template ({w}), else an option (fun=relu,gelu) or "
                   "lr/batch")
    p.add_argument("--trials", type=whole_number(1), metavar="N",
                   help="trials of the study in all workers (default: the grid's size, or the file's budget)")
    p.add_argument("--sampler", choices=SAMPLERS, help="grid (every variant; the default where there is a grid), "
                   "random, tpe")
    p.add_argument("--pruner", choices=PRUNERS, default="halving",
                   help="stop weak trials on validation accuracy per epoch (halving)")
    p.add_argument("--out", metavar="DIR", help="the sweep folder: run folders, study.journal, pareto.png "
                   "(default: sweeps/<study>)")
    p.add_argument("--resume", action="store_true", help="continue the study in --out (after Ctrl-C or a crash)")
    p.add_argument("--storage", metavar="URL", help="an Optuna storage shared by workers (sqlite:///f.db, "
                   "postgresql://host/db); default: a journal file in --out")
    p.add_argument("--study", metavar="NAME", help="the study's name in --storage (default: the --out folder's name)")
    p.add_argument("--pareto", default="acc,params", choices=("acc,params", "acc,time", "acc,macs"), metavar="acc,COST",
                   help="the cost of the front printed at the end (acc,params)")
    p.add_argument("--max-memory", type=_bytes, metavar="SIZE",
                   help="skip variants whose training would need more (estimated), e.g. 8G")
    p.add_argument("--data", default="digits", metavar="NAME", help="as zoo train's (digits)")
    p.add_argument("--root", metavar="DIR", help="as zoo train's")
    p.add_argument("--size", type=whole_number(1), default=32, metavar="PX", help="as zoo train's (32)")
    p.add_argument("--epochs", type=whole_number(1), default=3, metavar="N", help="epochs of a trial (3)")
    p.add_argument("--batch", type=whole_number(1), default=100, metavar="N", help="(100)")
    p.add_argument("--lr", type=_positive, default=1e-3, help="(1e-3)")
    p.add_argument("--optimizer", default="adam", metavar="NAME", help="as zoo train's (adam)")
    p.add_argument("--schedule", choices=SCHEDULES, default="none", metavar="NAME", help="as zoo train's (none)")
    p.add_argument("--aug", choices=AUGMENTATIONS)
    p.add_argument("--limit", type=whole_number(1), metavar="N", help="examples per epoch")
    p.add_argument("--device", metavar="DEV")
    p.add_argument("--seed", type=whole_number(0), default=0)
    p.add_argument("--workers", type=whole_number(0), default=0, help="DataLoader workers of a folder: data set (0)")
    p.add_argument("--json", action="store_true", help="print the trials as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..sweep.space import SearchSpace
    from ..sweep.study import run_sweep, settings_from_args

    text = args.space
    if text.endswith((".yaml", ".yml")):
        space = SearchSpace.from_file(text)
        if args.grid:
            from ..errors import SweepError

            raise SweepError(f"--grid: {text} gives the variables; change them in the file")
    else:
        space = SearchSpace.from_grid(text, args.grid)
    out = Path(args.out) if args.out else Path("sweeps") / (args.study or "sweep")
    stream = sys.stderr if args.json else sys.stdout  # --json: stdout holds the JSON only

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    try:
        result = run_sweep(space, settings_from_args(args), out, trials=args.trials, storage=args.storage,
                           study_name=args.study, resume=args.resume, say=say)
    except KeyboardInterrupt:
        print(f"zoo sweep: stopped; the trial under way keeps its last.pt: zoo sweep ... --out {out} --resume "
              "continues", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result.rows, indent=2, default=str))
        return 0
    from rich.console import Console

    from ..sweep.pareto import front_table, pareto_front, write_pareto_plot
    from ..train.runs import comparison_table

    trained = [{**row, "model": row.get("label"), "blocks": row.get("label") or row.get("blocks")} for row in result.rows
               if row.get("val_acc") is not None and not row.get("duplicate")]
    console = Console(highlight=False)
    console.print(comparison_table(trained, title=f"sweep {result.study_name}: {len(trained)} runs, "
                                   f"{result.pruned} pruned"))
    cost = args.pareto.split(",")[1]
    front = pareto_front(trained, cost)
    console.print(front_table(trained, front, cost))
    plot = write_pareto_plot(trained, front, cost, out / "pareto.png")
    if plot is not None:
        print(f"{plot}; zoo report {out} -o report.html")
    return 0
