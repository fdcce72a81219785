"""The ``zoo`` terminal command: thin argument parsing around the library.

Each subcommand lives in its own module of this package, with ``add_parser(sub)``
(which sets ``run``) and a ``run(args) -> int``. Nothing here imports torch at
start-up: the listing commands must answer instantly.

Exit codes: 0 done, 1 the model or file is wrong (a message, no traceback),
2 bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import ZooError

__all__ = ["main", "build_parser"]

COMMANDS = ("list", "inspect", "tokens", "plugins", "bench", "export")  # modules of zoo.cli, in the order `zoo --help` lists them


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="Build, list and inspect convolutional networks written as block strings.",
        epilog="Example: zoo inspect resnet18_cifar",
    )
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help and --version exit 0, bad arguments 2
        return int(exc.code or 0)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `zoo tokens --json | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


def entry() -> None:
    """The console script: ``sys.exit(main())``."""
    sys.exit(main())
