"""What every command that takes a MODEL shares: the argument itself, ``--set``,
``--input``, and turning them into a :class:`zoo.target.ModelSpec` once.

``zoo inspect``, ``zoo train``, ``zoo bench`` and ``zoo export`` call
:func:`add_model_arguments` and :func:`resolve_model_argument`; none imports torch here.
"""

from __future__ import annotations

import argparse
import re
import textwrap
from typing import Any

from ..target import MODEL_KINDS

SET_HELP = (
    "change an option, e.g. --set fun=gelu (repeatable); a preset also takes num_classes=N, "
    "input=C and head='{hidden: [256], dropout: 0.2}'; timm:, torchvision: and module:function "
    "models take their keyword arguments"
)
_SIZE_SEPARATORS = re.compile(r"\s*[,x×X*]\s*")


def whole_number(minimum: int = 0, what: str = ""):
    """An argparse type: a whole number >= ``minimum`` (``what`` names it in the message).

    >>> whole_number(1)("3"), whole_number(0, "a depth")("0")
    (3, 0)
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            named = f" is not {what}" if what else ""
            raise argparse.ArgumentTypeError(f"{text!r}{named}: give a whole number >= {minimum}")
        return value

    return parse


def model_target(text: str) -> str:
    """argparse type of a MODEL: any non-blank text (what it names is decided later)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"an empty model name; give {MODEL_KINDS}")
    return text


def input_size(text: str) -> tuple[int, ...]:
    """``--input``: ``C,H,W`` or ``B,C,H,W``; ``x`` and ``×`` separate too, so that any
    size zoo prints (``3×64×64``) can be pasted back."""
    parts = [p for p in _SIZE_SEPARATORS.split(text.strip()) if p]
    try:
        size = tuple(int(part) for part in parts)
    except ValueError:
        size = ()
    if len(size) not in (3, 4) or min(size) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an input size: give C,H,W (e.g. 3,32,32 or 3x32x32) or B,C,H,W "
            "with whole numbers >= 1"
        )
    from ..options import input_size_problem

    problem = input_size_problem(size)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return size


def model_inputs(text: str) -> list:
    """``--input`` of ``zoo inspect``: one input or several (:mod:`zoo.inputs`): ``C,H,W``,
    ``B,C,H,W``, ``[2,10,8]`` (the whole shape), ``ids:int64[1,128]``, ``...; mask:bool[1,128]``."""
    from ..errors import ShapeError
    from ..inputs import parse_inputs

    try:
        return parse_inputs(text)
    except ShapeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _value(text: str) -> Any:
    """The value of ``--set option=value``: bool, int, float, or the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def option(text: str) -> tuple[str, Any]:
    """argparse type of ``--set name=value``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write an option as name=value, e.g. --set fun=gelu")
    return name.strip(), _value(value)


def add_model_arguments(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """MODEL (or MODEL ... with ``many``) and ``--set``."""
    parser.add_argument("target", metavar="MODEL", type=model_target, nargs="+" if many else None,
                        help=MODEL_KINDS)
    parser.add_argument("--set", dest="options", type=option, action="append", default=[],
                        metavar="OPTION=VALUE", help=SET_HELP)
    parser.add_argument("--trust-code", action="store_true",
                        help="allow a checkpoint whose model is built by Python code (module:function): "
                        "that code runs; only for files from a source you trust")


def resolve_model_argument(target: str, options: list[tuple[str, Any]], *, trust_code: bool = False):
    """The :class:`~zoo.target.ModelSpec` of a MODEL argument and its ``--set`` options.
    A mistake in the options is an ``OptionError``/``UnknownOptionError`` (the command
    exits 2), in the target a zoo error of its own (exit 1)."""
    from ..errors import OptionError, UnknownOptionError
    from ..target import resolve_model

    try:
        return resolve_model(target, trust_code=trust_code, **dict(options))
    except (OptionError, UnknownOptionError) as exc:  # said of the --set that caused it
        if not options:
            raise
        raise type(exc)(f"--set: {exc}") from None


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` at any width: a description's paragraphs are wrapped between words to
    the terminal; a paragraph whose lines are indented (examples) is kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if lines and any(line.startswith("  ") for line in lines[1:] or lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                                                subsequent_indent=indent, break_long_words=False,
                                                break_on_hyphens=False))
        return "\n\n".join(paragraphs)
