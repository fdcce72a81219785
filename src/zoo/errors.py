"""zoo's exceptions.

Every mistake a user can make gets one of these. Each is a ``ValueError`` or a
``LookupError`` as well as a :class:`ZooError`, so ``except ValueError`` keeps
working for code that does not know zoo, and ``except zoo.ZooError`` catches all.
"""

from __future__ import annotations

import difflib
import os
import sys
import unicodedata
import warnings
from collections.abc import Iterable

# the exceptions and ZooWarning are exported as zoo.ZooError, ...: one import path per name
__all__ = [
    "warn",
    "nearest",
    "did_you_mean",
]


class ZooError(Exception):
    """Base class of every exception zoo raises for bad input."""


def nearest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to ``name``, best first (for "did you mean" hints)."""
    candidates = sorted(set(candidates))
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not found:
        found = [c for c in candidates if c.startswith(name[:1])][:n]
    return found


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """``"; did you mean 'norm'?"`` for the closest candidates, ``""`` when none is close:
    the one way every zoo message suggests a name (``f"unknown option {x!r}{hint}"``)."""
    close = nearest(name, candidates, n)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class _Located:
    """Mixin: an error at a column of a block string, shown with a caret under it.

    A string of several lines (a YAML ``blocks: |`` preset) is reported by line and
    column, showing only that line; tabs show as one space and wide characters take
    two caret columns, so that the caret stands under the culprit in a terminal.
    """

    def _locate(self, problem: str, text: str, column: int, width: int, hint: str) -> str:
        self.problem = problem
        self.text = text
        self.column = column  # 1-based offset in ``text``, like Python's SyntaxError.offset
        self.hint = hint
        start = text.rfind("\n", 0, max(column - 1, 0)) + 1  # the line holding the column
        end = text.find("\n", start)
        line_text = text[start:] if end < 0 else text[start:end]
        self.line = text.count("\n", 0, start) + 1
        self.line_column = column - start  # 1-based column within that line
        before = line_text[: self.line_column - 1]
        under = line_text[self.line_column - 1 : self.line_column - 1 + max(width, 1)]
        caret = " " * _display_width(before) + "^" * max(_display_width(under), 1)
        shown = "".join(" " if c == "\t" else c for c in line_text)
        where = f"line {self.line}, column {self.line_column}" if "\n" in text else f"column {column}"
        lines = [f"{problem} ({where})", f"    {shown}", f"    {caret}"]
        if hint:
            lines.append(hint)
        return "\n".join(lines)


def _display_width(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide characters take two, combining
    marks none (enough to put a caret under the right character)."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


class BlockSyntaxError(_Located, ZooError, ValueError):
    """The block string is malformed at ``column`` (1-based)."""

    def __init__(self, problem: str, text: str, column: int, width: int = 1, hint: str = ""):
        super().__init__(self._locate(problem, text, column, width, hint))


class TokenValueError(BlockSyntaxError):
    """A token got a value it cannot take (wrong type, out of range, too many)."""


class UnknownTokenError(_Located, ZooError, LookupError):
    """No registered token matches the text at ``column``."""

    def __init__(self, problem: str, text: str, column: int, width: int = 1, hint: str = ""):
        super().__init__(self._locate(problem, text, column, width, hint))

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return self.args[0]


class OptionError(ZooError, ValueError):
    """An option has a value of the wrong type or out of its range."""


class UnknownOptionError(ZooError, LookupError):
    """An option name that neither zoo nor a plugin declares."""

    def __str__(self) -> str:
        return self.args[0]


class UnknownArgumentError(UnknownOptionError, TypeError):
    """An unknown keyword argument of ``timm.create_model("zoo_...")``: a
    ``TypeError`` too, as timm's contract has it for every model."""


class BuildError(_Located, ZooError, ValueError):
    """A token's module could not be built from its values and options.

    Raised with the block string and the token's column when they are known.
    """

    def __init__(self, problem: str, text: str | None = None, column: int = 1, width: int = 1, hint: str = ""):
        if text is None:
            self.problem, self.text, self.column, self.hint = problem, None, None, hint
            super().__init__(problem + (f"\n{hint}" if hint else ""))
        else:
            super().__init__(self._locate(problem, text, column, width, hint))


class ShapeError(ZooError, ValueError):
    """A block cannot take the shape that reaches it.

    From the inspector it carries, set when it is made: ``block`` (the block's token
    text), ``input_shape`` (what reached it), ``where`` (its module path) and ``report``
    (the :class:`zoo.Report` with the tree up to that block)."""

    def __init__(self, message: str, *, block: str | None = None, input_shape: tuple | None = None,
                 where: str | None = None, report=None):
        super().__init__(message)
        self.block, self.input_shape, self.where, self.report = block, input_shape, where, report


class PresetError(ZooError, ValueError):
    """A preset file is malformed: YAML syntax, unknown key, wrong type, bad blocks."""


class OverrideError(PresetError, OptionError):
    """An override given to a preset (``zoo.create(name, **overrides)``, ``--set``) does
    not fit it; the file itself is fine. Both a preset's and an option's error."""


class UnknownModelError(ZooError, LookupError):
    """A MODEL names nothing that exists: no checkpoint file, module, function, timm or
    torchvision model (a preset name that is none: :class:`UnknownPresetError`)."""

    def __str__(self) -> str:
        return self.args[0]


class UnknownPresetError(UnknownModelError):
    """No preset has that name."""


class PluginError(ZooError, LookupError):
    """A plugin could not be loaded or returned something zoo cannot use."""

    def __str__(self) -> str:
        return self.args[0]


class PluginClashError(ZooError, ValueError):
    """Two plugins claim the same token, preset or option name."""


class WeightsError(ZooError, ValueError):
    """A state dict does not fit a model: a key without a place, a missing key, a shape."""


class MissingExtraError(ZooError, ImportError):
    """An optional dependency is not installed; the message names the zoo extra
    that brings it (e.g. ``pip install 'zoo[plot]'`` for matplotlib)."""

    def __init__(self, problem: str, hint: str = ""):
        self.problem, self.hint = problem, hint
        super().__init__(problem + (f"\n{hint}" if hint else ""))


class DataError(ZooError, ValueError):
    """A data set cannot be used: its files are missing (and cannot be downloaded), a
    folder has no classes, or the model does not fit its images."""


class UnknownDataError(ZooError, LookupError):
    """No data set has that name (the message lists the nearest names)."""

    def __str__(self) -> str:
        return self.args[0]


class TrainingError(ZooError, ValueError):
    """Training cannot go on: the loss is not finite, the output folder cannot be
    written, a run to resume does not match its arguments."""


class SweepError(OptionError):
    """A family of block strings that cannot be read: a template's ``{...}`` expression,
    a ``--grid`` value, a search-space file (the message says which and where)."""


class ZooWarning(UserWarning):
    """Something zoo skipped and went on without: a broken preset file, a missing
    folder in ``ZOO_PRESET_PATH``, a plugin that failed to load or clashes. Filter it
    with ``warnings.filterwarnings("ignore", category=zoo.ZooWarning)``."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def warn(message: str) -> None:
    """Issue a :class:`ZooWarning`, attributed to the first caller outside zoo (so that
    Python's "once per place" filter and the location shown make sense to a user)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, ZooWarning, stacklevel=level)
class ExportError(ZooError, ValueError):
    """A model cannot be exported (the message names the op and the layer that stop it),
    or its exported file does not compute what the model computes (the difference)."""


class DeviceError(ZooError, ValueError):
    """A device that this machine or this torch build does not have (``--device cuda``
    without a GPU)."""


class OutputPathError(ZooError, ValueError):
    """A file cannot be written where asked (no such folder, no permission)."""


class CheckpointError(WeightsError):
    """A file is not a checkpoint zoo can use: unreadable, truncated, not zoo's, a key
    missing or of the wrong type (the message names the file and what is wrong)."""


class UntrustedCodeError(CheckpointError):
    """A checkpoint's model spec names Python code to run (``module:function``,
    ``file.py:function``): refused unless the caller opts in with ``trust_code=True``
    (``--trust-code``)."""


class DiskFullError(ZooError, ValueError):
    """A file could not be written for want of space (or over the file-size limit);
    the file that was there before is kept."""


class RunLockedError(TrainingError):
    """A run folder is in use by another process (the message names it: pid and host)."""
