"""``zoo train MODEL [MODEL ...]``: train and compare, the way the document does.

Each MODEL is trained on the same data with the same seed, one after another, into a
run folder of ``--out`` (history, checkpoints, curves, block plots, summary); the
command ends with the document's comparison table. Under ``torchrun`` every process
runs this same command: rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..registry.limits import MAX_SIDE
from .common import add_model_arguments, resolve_model_argument, whole_number

EXAMPLES = """examples:
  zoo train "cnf32 m r64_3_2 r" --data digits --epochs 10
  zoo train r32m r64m --data cifar10 --root ~/data --epochs 300 --schedule cosine
  zoo train "r32 m r r64 m" "r32_3_2 r r64_3_2" --data fake --limit 5000 --epochs 2
  zoo train r32m --data cifar10 --epochs 300 --resume          # continue runs/r32m/last.pt
  zoo train r32m --data cifar10 --epochs 100 --optimizer adamw --lr 2e-3 --wd 0.05 \\
      --schedule cosine --warmup 5 --label-smoothing 0.1 --ema 0.999 --log tensorboard
  torchrun --nproc_per_node=4 -m zoo train r64m --data cifar10 --batch 256 --sync-bn
  zoo runs runs/                                                # the table again
"""

MAX_BATCH = MAX_SIDE  # as zoo inspect --input's batch
MAX_SEED = 2**32 - 1  # numpy's range, well inside torch's
MAX_WORKERS = 256
AUGMENTATIONS = ("document", "basic", "none")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number > 0, e.g. 1e-3")
    return value


def _fraction(text: str) -> float:
    """A number in [0, 1) (label smoothing, an EMA's decay)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number from 0 to below 1, e.g. 0.1")
    return value


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number >= 0, e.g. 0.05")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train models on a data set and compare them",
        description="Train each MODEL on the same data with the same seed, one after another, and print "
        "the document's comparison table: best validation accuracy, seconds of training per 10^6 "
        "examples, parameters, MACs, blocks. Each run leaves history.json/.csv, last.pt, best.pt, "
        "curves.png, blocks_<epoch>.png (every epoch; --plot-every K) and summary.json in --out/<run>/.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(p, many=True)
    p.add_argument("--data", default="digits", metavar="NAME",
                   help="digits (scikit-learn, no download), fake, cifar10, cifar100, mnist, fashion-mnist, "
                   "or folder:PATH (PATH/train, PATH/val) (default: digits)")
    p.add_argument("--root", metavar="DIR", help="where the files of cifar10/cifar100/mnist/fashion-mnist are "
                   "(default: $ZOO_DATA or ./data)")
    p.add_argument("--download", action="store_true", help="download cifar10/cifar100/mnist/fashion-mnist into "
                   "--root when the files are not there (torchvision's download, with its checksums); without "
                   "it nothing is downloaded")
    p.add_argument("--size", type=whole_number(1, maximum=MAX_SIDE), metavar="PX", help="image size of a folder: data set "
                   "(default: the images' own size when they all have one, else 32)")
    p.add_argument("--epochs", type=whole_number(1), default=10, metavar="N", help="epochs in all (10)")
    p.add_argument("--batch", type=whole_number(1, maximum=MAX_BATCH), default=100, metavar="N",
                   help="examples per step, over all processes (100)")
    p.add_argument("--lr", type=_positive, default=1e-3, help="learning rate (1e-3)")
    p.add_argument("--optimizer", default="adam", metavar="NAME", help="any optimizer of timm by name: adam "
                   "(the document's), adamw, sgd (Nesterov), momentum, lamb, lion... (default: adam)")
    from ..train.recipe import SCHEDULES

    p.add_argument("--schedule", choices=SCHEDULES, default="none", metavar="NAME",
                   help=f"timm's learning-rate schedule, per update: {', '.join(SCHEDULES)} (none)")
    p.add_argument("--wd", type=_not_negative, default=0.0, metavar="X",
                   help="weight decay, never on norms, biases and branch scales (0)")
    p.add_argument("--warmup", default="0", metavar="N", help="linear warm-up from 1e-5: N epochs (2, 0.5) "
                   "or Nsteps optimizer updates (300steps) (0)")
    p.add_argument("--label-smoothing", type=_fraction, default=0.0, metavar="X", help="label smoothing (0)")
    p.add_argument("--clip-grad", type=_positive, metavar="NORM", help="clip the gradients' L2 norm")
    p.add_argument("--accum", type=whole_number(1), default=1, metavar="K",
                   help="add up the gradients of K steps per update (effective batch K x --batch) (1)")
    p.add_argument("--ema", type=_fraction, metavar="DECAY", help="keep an EMA of the weights (e.g. 0.999), "
                   "validated too; best.pt takes the better")
    p.add_argument("--mixup", type=_not_negative, default=0.0, metavar="ALPHA", help="mixup's alpha (0: off)")
    p.add_argument("--cutmix", type=_not_negative, default=0.0, metavar="ALPHA", help="cutmix's alpha (0: off)")
    p.add_argument("--log", action="append", default=[], metavar="NAME",
                   help="also log to tensorboard (<run>/tensorboard) or mlflow; repeat or comma-separate")
    p.add_argument("--mlflow-uri", metavar="URI", help="MLflow tracking server or store (default: "
                   "$MLFLOW_TRACKING_URI, else <out>/mlflow.db)")
    p.add_argument("--aug", choices=AUGMENTATIONS, help="augmentation on the device: document (the seed's "
                   "recipe), basic (flip, crop), none (default: document for cifar and folders, else none)")
    p.add_argument("--limit", type=whole_number(1), metavar="N", help="examples per epoch (for quick runs)")
    p.add_argument("--device", metavar="DEV", help="cpu, cuda, cuda:1, mps (default: cuda when there is one)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision")
    p.add_argument("--seed", type=whole_number(0, maximum=MAX_SEED), default=0, help="random seed (0): same data order and weights")
    p.add_argument("--workers", type=whole_number(0, maximum=MAX_WORKERS), default=2, help="DataLoader workers of a folder: data set (2)")
    p.add_argument("--pretrained", nargs="?", const=True, metavar="SOURCE",
                   help="start from pretrained weights: alone, timm's for a preset named after a timm "
                        "architecture (resnet18); timm:<model>.<tag>; or a .safetensors/.pth/.bin state dict "
                        "(a head for other classes starts fresh)")
    p.add_argument("--out", default="runs", metavar="DIR", help="where run folders go (runs/)")
    p.add_argument("--resume", action="store_true", help="continue the latest run of each MODEL in --out from "
                   "its last.pt, up to --epochs")
    p.add_argument("--plot-every", type=whole_number(0), metavar="K",
                   help="save the block plot (blocks_<epoch>.png, debug statistics on) and the curves every K "
                   "epochs (default 1: every epoch; 0: no block plots, the curves at the end)")
    p.add_argument("--sync-bn", action="store_true", help="under torchrun: BatchNorm statistics over all processes")
    p.add_argument("--json", action="store_true", help="print the results as JSON (no progress)")
    p.set_defaults(run=run)


def _error(message: str) -> int:
    print(f"zoo train: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from ..errors import (
        MissingExtraError,
        OptionError,
        TrainingError,
        UnknownDataError,
        UnknownOptionError,
    )

    if args.size is not None and not args.data.strip().startswith("folder:"):
        return _error(f"--size {args.size}: only the images of a folder: data set are resized; {args.data}'s "
                      "have their own size")
    specs = []
    for target in args.target:
        try:
            specs.append(resolve_model_argument(target, args.options, trust_code=args.trust_code))
        except (OptionError, UnknownOptionError) as exc:
            return _error(f"--set: {exc}")
    if args.device:
        from ..devices import check_device

        check_device(args.device, "zoo train")  # before anything is made: a DeviceError, exit 2
    out = Path(args.out)
    try:
        _check_out(out)
    except TrainingError as exc:
        return _error(str(exc))
    from ..train.loggers import check_loggers

    try:
        args.log = check_loggers(args.log)  # unknown or not installed: said now, not after the data loads
    except OptionError as exc:
        return _error(str(exc))
    try:
        args.recipe = recipe_from_args(args)
    except OptionError as exc:
        return _error(str(exc))

    from ..train.data import load_data
    from ..train.distributed import from_environment

    try:
        distributed, device = from_environment(args.device)
    except OptionError as exc:
        return _error(str(exc))
    main = distributed.main
    say = _Say(main and not args.json, main and args.json)
    from ..extras import check_installed

    plots = True
    try:
        check_installed("matplotlib", "--plot-every (the block plots)" if args.plot_every else "curves.png")
    except MissingExtraError as exc:
        if args.plot_every:
            raise
        plots = False
        say(f"note: {exc.problem}: training without curves.png and block plots ({exc.hint})")
    args.plots = plots
    if args.plot_every is None:  # the default: block plots and curves every epoch, where matplotlib is
        args.plot_every = 1 if plots else 0
    try:
        try:
            data = _load_data(args, distributed, load_data)
        except UnknownDataError as exc:
            return _error(f"--data: {exc}")
        say(data.describe())
        for note in data.notes:
            say(note)
        fitted = []
        from ..train.fitting import fit_to_data

        for spec in specs:
            try:
                fitted.append(fit_to_data(spec, data))
            except OptionError as exc:
                return _error(str(exc))
        from ..train.session import train_run

        rows = []
        for spec, fit in zip(specs, fitted):
            rows.append(train_run(args, spec, fit, data, distributed, device, out, say))
    except OptionError as exc:
        return _error(str(exc))
    finally:
        distributed.close()
    if not main:
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console

    from ..train.runs import comparison_table

    epochs = max(row["epochs"] for row in rows)
    Console(highlight=False).print(
        comparison_table(rows, title=f"{data.name}, {epochs} epochs, batch {args.batch}, lr {args.lr:g}"))
    return 0


def _load_data(args: argparse.Namespace, distributed, load_data):
    """The data set; with ``--download`` under torchrun the first process downloads
    while the others wait, then all read the files."""
    if args.download and distributed.active:
        try:
            if distributed.main:
                load_data(args.data, args.root, size=args.size, seed=args.seed, download=True)
        finally:
            distributed.barrier()
    return load_data(args.data, args.root, size=args.size, seed=args.seed, download=args.download)


class _Say:
    """Notes: to stdout normally, to stderr in --json mode, nowhere on other ranks."""

    def __init__(self, out: bool, err: bool):
        self.out, self.err = out, err

    def __call__(self, text: str) -> None:
        if self.out:
            print(text, flush=True)
        elif self.err:
            print(text, file=sys.stderr, flush=True)


def _check_out(out: Path) -> None:
    from ..errors import TrainingError
    from ..files import unwritable

    exc = unwritable(out)
    if exc is not None:
        raise TrainingError(f"--out {out}: cannot write there ({exc.strerror or exc}); give a folder you can "
                            "write to")


def recipe_from_args(args: argparse.Namespace):
    """The :class:`zoo.train.Recipe` of the command's flags."""
    from ..train.recipe import Recipe

    return Recipe(batch_size=args.batch, optimizer=args.optimizer, lr=args.lr, wd=args.wd, schedule=args.schedule,
                  warmup=args.warmup, label_smoothing=args.label_smoothing, clip_grad=args.clip_grad,
                  accum=args.accum, ema=args.ema, mixup=args.mixup, cutmix=args.cutmix, amp=args.amp,
                  seed=args.seed, limit=args.limit)

