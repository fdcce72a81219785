"""The ``zoo`` terminal command: thin argument parsing around the library.

Each subcommand lives in its own module of this package, with ``add_parser(sub)``
(which sets ``run``) and a ``run(args) -> int``. Nothing here imports torch at
start-up: the listing commands must answer instantly.

Exit codes: 0 done, 1 the model, a file or the data is wrong (a message, no
traceback), 2 bad arguments (argparse's, and an ``OptionError``/``UnknownOptionError``
from the library: the mapping is here, by exception class, for every command), 130
interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from .. import __version__
from ..errors import (
    DeviceError,
    OptionError,
    OutputPathError,
    UnknownOptionError,
    ZooError,
    ZooWarning,
)

__all__ = ["main", "build_parser"]

# the exceptions that mean "a bad argument" (exit 2, like argparse's); any other ZooError is
# the model, a file or the data (exit 1): mapped here, by class, for every command
ARGUMENT_ERRORS = (OptionError, UnknownOptionError, DeviceError, OutputPathError)

COMMANDS = ("list", "inspect", "train", "runs", "sweep", "report", "predict", "tokens", "options", "plugins", "bench",
            "export")  # modules of zoo.cli, in the order `zoo --help` lists them


def build_parser() -> argparse.ArgumentParser:
    from .common import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="zoo",
        formatter_class=HelpFormatter,
        description="Build, list and inspect convolutional networks written as block strings.",
        epilog="Example: zoo inspect resnet18_cifar",
    )
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    for command in sub.choices.values():  # every --help wraps between words at any width
        command.formatter_class = HelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    columns = os.environ.get("COLUMNS")
    if columns is not None and not (columns.isdigit() and int(columns) > 0):
        del os.environ["COLUMNS"]  # rich would print 0 columns: nothing at all
    with warnings.catch_warnings():
        warnings.simplefilter("default", ZooWarning)  # each once, even under -W ignore
        warnings.showwarning = _show_warning
        return _main(argv)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A :class:`ZooWarning` as one ``zoo: warning: ...`` line (no source location)."""
    if issubclass(category, ZooWarning):
        print(f"zoo: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _main(argv: list[str] | None) -> int:
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
    except ARGUMENT_ERRORS as exc:  # an argument that does not fit: as argparse's
        _after_the_first_rank()
        print(f"zoo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ZooError as exc:  # the model, a file or the data is wrong
        _after_the_first_rank()
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `zoo tokens --json | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # rich's way of saying the same
            return 0
        raise


def _after_the_first_rank() -> None:
    """Under torchrun every process meets the same mistake: the others wait a moment, so
    that the first rank's one line comes first (torchrun ends them once it has failed)."""
    rank = os.environ.get("RANK", "0")
    if "WORLD_SIZE" in os.environ and rank.isdigit() and int(rank) > 0:
        import time

        time.sleep(3.0)


def entry() -> None:
    """The console script: ``sys.exit(main())``."""
    sys.exit(main())
