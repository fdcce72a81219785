"""What plugins declare: parameters (:class:`Param`), tokens (:class:`Token`),
activations and norm kinds, and the :class:`Tables` they fill. With
:mod:`zoo.registry.hooks` and :mod:`zoo.registry.limits` the lowest layer of zoo
besides ``errors`` and ``kinds``: no torch, and nothing of zoo that could import this
module back.

One parameter type serves everywhere a named, typed, defaulted value is checked: a
token's positional values (``Value``), the options of a network, zoo's own and the
plugins' alike (``Option``). :meth:`Param.check` is the one validator.

>>> Param("kernel", int, 3, min=1).convert("5")
5
>>> Option("rb_expansion", 4, "output = expansion * channels", choices=(1, 2, 4, 8)).check(4.0)
Traceback (most recent call last):
...
zoo.errors.OptionError: option rb_expansion=4.0: must be a whole number, one of 1, 2, 4, 8 (output = expansion * channels)
"""

from __future__ import annotations

import importlib
import math
import numbers
import operator
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import kinds
from ..errors import OptionError, PluginError, did_you_mean

# one import path per name: Value, Option, Token, Activation, Norm from zoo.plugin
__all__ = [
    "Param",
    "resolve",
    "Tables",
    "check_activation",
    "check_norm",
    "plugin_code",
    "as_whole",
    "in_choices",
]


_ASCII_INT = re.compile(r"-?[0-9]+")
_TYPE_NAMES = {int: "a whole number", float: "a finite number", str: "text", bool: "True or False"}


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")  # numpy's too


def as_whole(value: Any) -> int | None:
    """``value`` as a Python int when it is a whole number (an int or a numpy integer,
    never a bool or a float), else None.

    >>> as_whole(3), as_whole(True), as_whole(3.0)
    (3, None, None)
    """
    if _is_bool(value) or isinstance(value, float):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def in_choices(value: Any, choices: Iterable) -> bool:
    """``value`` is one of ``choices`` and of the same kind: ``True`` is not ``1`` and
    ``4.0`` is not ``4``, although Python compares them equal."""
    return any(type(value) is type(choice) and value == choice for choice in choices)


def _bound(limit: float) -> str:
    """A min or max as a message writes it: 1,048,576 (``:g`` would write 1.04858e+06), 0.5."""
    return f"{int(limit):,}" if float(limit).is_integer() else f"{limit:g}"


def _show(choice: Any) -> str:
    return repr(choice) if isinstance(choice, str) else str(choice)


@dataclass(frozen=True)
class Param:
    """A named, typed, defaulted parameter with its own check: a token's positional
    value, or an option of a network (zoo's or a plugin's).

    ``type`` is ``int``, ``float``, ``str`` or ``bool``; ``choices``, ``min`` and
    ``max`` bound it; ``table`` (``"activations"`` or ``"norms"``) makes it a name or
    kind of one of the tables the checker passes in (:class:`Tables`: zoo's and the
    plugins'); ``validate(value, where)`` replaces the type check for values that are
    more than a type (the block string). For a token
    value, ``default=None`` means the builder derives it, and ``doc`` says how
    (``"C"``, ``"norm"``) for listings.
    """

    name: str
    type: type = int
    default: Any = None
    doc: str = ""  # how a derived default is chosen, shown in `zoo tokens`
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    help: str = ""
    plugin: str = ""  # set by the registry: the distribution that declares it
    table: str = ""  # "activations" or "norms": checked against Tables passed in
    validate: Callable[[Any, str], Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise PluginError(f"parameter name {self.name!r} is not valid: it must be a Python identifier")
        if self.type not in _TYPE_NAMES:
            raise PluginError(f"parameter {self.name!r}: type must be int, float, str or bool, not {self.type!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.table not in ("", "activations", "norms"):
            raise PluginError(f"parameter {self.name!r}: table must be 'activations' or 'norms', not {self.table!r}")

    @property
    def default_text(self) -> str:
        return self.doc or ("" if self.default is None else str(self.default))

    def describe(self) -> str:
        """``kernel=3``, ``channels=C``, ``kind=norm (0|1|2|3)``."""
        text = f"{self.name}={self.default_text}" if self.default_text else self.name
        if self.choices:
            text += " (" + "|".join(str(c) for c in self.choices) + ")"
        return text

    def problem(self, value: Any) -> tuple[Any, str | None]:
        """``(value in its type, None)``, or ``(value, what is wrong)``: "must be at
        least 1". The one check behind options and token values."""
        one_of = f"must be one of {', '.join(_show(c) for c in self.choices)}" if self.choices is not None else ""
        if self.type is bool:
            if _is_bool(value) or as_whole(value) in (0, 1):
                return bool(value), None
            return value, "must be True or False"
        if self.type is int:
            whole = as_whole(value)
            if whole is None:
                return value, f"must be a whole number, {one_of.removeprefix('must be ')}" if one_of else "must be a whole number"
            value = whole
        elif self.type is float:
            if _is_bool(value) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                return value, one_of or "must be a finite number"
            value = float(value) if self.choices is None else value
        elif not isinstance(value, str):
            return value, one_of or "must be text"
        if self.choices is not None and not in_choices(value, self.choices):
            return value, one_of
        if self.min is not None and value < self.min:
            return value, f"must be at least {_bound(self.min)}"
        if self.max is not None and value > self.max:
            return value, f"must be at most {_bound(self.max)}"
        return value, None

    def check(self, value: Any, where: str = "option", tables: Tables | None = None) -> Any:
        """``value`` checked and in its type (a numpy integer becomes an int), or an
        :class:`OptionError` ``"option norm=7: must be one of 0, 1, 2, 3 (...)"``.
        ``where`` ending in a dot is the name's prefix (``"head."``: ``head.dropout=2``).
        ``tables``: the activations and norms a ``table`` parameter is checked against."""
        label = f"{where}{self.name}={value!r}" if where.endswith(".") else f"{where} {self.name}={value!r}"
        if self.table:
            return self._in_table(value, label, tables)
        if self.validate is not None:
            return self.validate(value, label)
        checked, problem = self.problem(value)
        if problem:
            meaning = f" ({self.help})" if self.help else ""
            raise OptionError(f"{label}: {problem}{meaning}")
        return checked

    def _in_table(self, value: Any, where: str, tables: Tables | None) -> Any:
        if tables is None:
            raise PluginError(f"parameter {self.name!r} names the table {self.table!r}: check it with tables=")
        if self.table == "activations":
            return check_activation(where, value, tables.activations)
        return check_norm(where, value, tables.norms)

    def convert(self, raw: str, tables: Tables | None = None) -> Any:
        """Turn the text of a token's value into its type; ``ValueError`` says what was
        expected (``"kernel must be at least 1, not 0"``)."""
        value: Any = raw
        if self.type is int:
            value = int(raw) if _ASCII_INT.fullmatch(raw) else None  # str.isdigit() takes '²'
        elif self.type is float:
            try:
                value = float(raw) if raw.isascii() else None
            except ValueError:
                value = None
        if value is None:
            raise ValueError(f"{self.name} must be {_TYPE_NAMES[self.type]}, not {raw!r}")
        checked, problem = self.problem(value)
        if problem:
            raise ValueError(f"{self.name} {problem}, not {raw}")
        if self.table:  # e.g. a norm kind: zoo's and the plugins'
            try:
                return self._in_table(checked, self.name, tables)
            except OptionError as exc:
                raise ValueError(f"{exc}, not {raw}") from None
        return checked

    def to_dict(self) -> dict[str, Any]:
        """The parameter's metadata as plain JSON-able data (``zoo tokens --json``)."""
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default if not callable(self.default) else repr(self.default),
            "doc": self.default_text,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices is not None else None,
        }


Value = Param  # a token's positional value: Value("kernel", int, 3, min=1)


def Option(  # noqa: N802 - reads as the class it makes
    name: str,
    default: Any,
    help: str = "",
    choices: Sequence | None = None,
    *,
    min: float | None = None,
    max: float | None = None,
    type: type | None = None,
    plugin: str = "",
) -> Param:
    """An option of a network that a plugin adds (zoo's own are declared the same way):
    a :class:`Param` whose type is its default's unless given.

    >>> Option("se_gate", "sigmoid", "gate of `se`", choices=("sigmoid", "hsigmoid")).type
    <class 'str'>
    """
    kind = type if type is not None else builtin_type(default)
    param = Param(name, kind, default, min=min, max=max, choices=choices, help=help, plugin=plugin)
    if choices is not None and not in_choices(default, param.choices):
        raise PluginError(f"option {name!r}: its default {default!r} is not one of its choices")
    return param


def builtin_type(value: Any) -> type:
    """The parameter type of a default: bool before int (``True`` is an int too)."""
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind
    raise PluginError(f"an option's default must be a bool, int, float or str, not {value!r}")


def _as_value(spec: Param | Sequence) -> Param:
    if isinstance(spec, Param):
        return spec
    if isinstance(spec, str):
        return Param(spec)
    try:
        return Param(*spec)
    except TypeError as exc:
        raise PluginError(
            f"value {spec!r}: give a zoo.plugin.Value or a tuple (name, type, default) ({exc})"
        ) from None


@dataclass(frozen=True)
class Token:
    """A token of the block language, as a plugin declares it.

    ``build(ctx, **values)`` returns the module, or ``(module, out_channels)`` when
    the token changes the number of channels; ``ctx`` is a
    :class:`zoo.plugin.BuildContext` (incoming ``channels``, ``options``, the token).
    ``build`` may be a ``"package.module:function"`` string, imported on first use,
    so that declaring (and listing) a token never imports torch.

    >>> Token("se", [("reduction", int, 16)], "squeeze-and-excitation",
    ...       build="zoo_extra.layers:build_se").signature()
    'se[reduction=16]'
    """

    name: str
    values: Sequence[Param | tuple] = ()
    help: str = ""
    build: Callable[..., Any] | str | None = None
    plugin: str = ""  # set by the registry: the distribution that provides it
    _resolved: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not (
            self.name[:1].isalpha() and self.name.isalnum() and self.name.isascii()
        ):
            raise PluginError(
                f"token name {self.name!r} is not valid: it must start with a letter and hold "
                "only ASCII letters and digits"
            )
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Iterable):
            raise PluginError(f"token {self.name!r}: values must be a list of zoo.plugin.Value")
        values = tuple(_as_value(v) for v in self.values)
        names = [v.name for v in values]
        if len(set(names)) != len(names):
            raise PluginError(f"token {self.name!r}: two values share a name in {names}")
        object.__setattr__(self, "values", values)
        if self.build is None:
            raise PluginError(f"token {self.name!r} has no build function")
        _check_reference(self.build, f"token {self.name!r}")

    def signature(self) -> str:
        """``r[channels=C]_[kernel=3]_[stride=1]``, for listings and error hints."""
        return self.name + "_".join(f"[{v.describe()}]" for v in self.values)

    def builder(self) -> Callable[..., Any]:
        """The build function, importing it first if it was given as a string."""
        if self._resolved is None:
            object.__setattr__(self, "_resolved", resolve(self.build, f"token {self.name!r} of plugin {self.plugin or '?'!r}"))
        return self._resolved

    def to_dict(self) -> dict[str, Any]:
        """The token's metadata as plain JSON-able data (``zoo tokens --json``)."""
        return {
            "name": self.name,
            "signature": self.signature(),
            "values": [v.to_dict() for v in self.values],
            "help": self.help,
            "plugin": self.plugin,
        }


def resolve(reference: Callable[..., Any] | str, what: str) -> Callable[..., Any]:
    """A function given as itself or as ``"package.module:function"`` (imported now, with
    the plugin's prints sent to stderr); a :class:`PluginError` naming ``what`` when it
    cannot be imported or is no function."""
    if callable(reference):
        return reference
    module_name, _, attr = str(reference).partition(":")
    try:
        with plugin_code():
            function = getattr(importlib.import_module(module_name), attr)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # ImportError, the module's own failure, even sys.exit
        raise PluginError(
            f"{what}: cannot import its build function {reference!r} ({type(exc).__name__}: {exc})"
        ) from exc
    if not callable(function):
        raise PluginError(f"{what}: {reference!r} is not a function")
    return function


def _check_reference(build: Any, what: str) -> None:
    if isinstance(build, str):
        module, _, attr = build.partition(":")
        if not module or not attr:
            raise PluginError(f"{what}: build={build!r} must be 'package.module:function'")
    elif not callable(build):
        raise PluginError(f"{what}: build must be a function, a class or a 'module:function' string")


@dataclass(frozen=True)
class Activation:
    """A named activation, usable as ``fun="mish"`` (and ``fun_inside``, ``fun_after``)
    and as a token of its own name. ``build`` makes the module: an ``nn.Module`` class,
    a function, or ``"package.module:function"`` (imported on first use: no torch to
    declare it).

    >>> Activation("mish", "torch.nn:Mish", "Mish").name
    'mish'
    """

    name: str
    build: Callable[[], Any] | str
    help: str = ""
    plugin: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not (self.name[:1].isalpha() and self.name.isalnum() and self.name.isascii()):
            raise PluginError(f"activation name {self.name!r} is not valid: ASCII letters and digits, a letter first")
        _check_reference(self.build, f"activation {self.name!r}")

    def module(self) -> Any:
        """A new module of this activation."""
        return resolve(self.build, f"activation {self.name!r} of plugin {self.plugin or '?'!r}")()


@dataclass(frozen=True)
class Norm:
    """A norm kind, usable as ``norm=KIND`` (and every ``norm_*`` option) and ``nKIND``.
    ``build(channels)`` makes the layer; a ``"package.module:function"`` string is
    imported on first use.

    >>> Norm(4, "GroupNorm", "zoo_extra.layers:group_norm").kind
    4
    """

    kind: int
    name: str
    build: Callable[[int], Any] | str
    help: str = ""
    plugin: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.kind, bool) or not isinstance(self.kind, int) or not 1 <= self.kind <= 99:
            raise PluginError(f"norm kind {self.kind!r} is not valid: a whole number from 1 to 99 (0 is none)")
        _check_reference(self.build, f"norm kind {self.kind}")

    def module(self, channels: int) -> Any:
        """A new layer of this kind for ``channels`` channels."""
        return resolve(self.build, f"norm kind {self.kind} ({self.name}) of plugin {self.plugin or '?'!r}")(channels)


class Tables(Protocol):
    """What a build or a check reads: every token, activation and norm kind by name or
    number, zoo's and the plugins' (a :class:`zoo.registry.registry.Registry` is one). Passed to
    whatever builds or checks, so that nothing below the registry reaches up to it."""

    tokens: Mapping[str, Token]
    activations: Mapping[str, Activation]
    norms: Mapping[int, Norm]


def check_activation(what: str, value: Any, activations: Mapping[str, Any]) -> Any:
    """``value`` as an activation: a name in ``activations`` (``None`` and ``""``: none),
    an ``nn.Module`` class or a function returning a module (``nn.Mish``), or a module
    (``nn.Mish()``: copied for each place it is used); an :class:`OptionError` that
    starts with ``what`` otherwise. Options and preset heads both check with this."""
    if value is None:
        value = ""
    if callable(value) and not isinstance(value, str):  # nn.Mish, nn.Mish(), a function returning a module
        return value
    if not isinstance(value, str) or (value and value not in activations):
        raise OptionError(
            f"{what}: not an activation{did_you_mean(str(value), activations)} "
            f"(use one of {', '.join(activations)}, \"\" for none, or an nn.Module such as nn.Mish or nn.Mish())"
        )
    return value


def check_norm(where: str, value: Any, norms: Mapping[int, Any]) -> int:
    """The check of ``norm``, every ``norm_*`` option and the ``n`` token's kind: 0
    (none), or a kind in ``norms`` (zoo's and the plugins' ``zoo_norms``)."""
    kind = as_whole(value)
    if kind is None or (kind != 0 and kind not in norms):
        known = {0: "nothing", **{k: n.name for k, n in norms.items()}}
        whole = "a whole number, " if kind is None else ""
        raise OptionError(f"{where}: must be {whole}one of {', '.join(str(k) for k in sorted(known))} "
                          f"(norm kinds: {kinds.describe(known)})")
    return kind


_stdout_lock = threading.RLock()  # sys.stdout is global: one swap at a time


@contextmanager
def plugin_code() -> Iterator[None]:
    """Import a plugin or call its hooks with ``print`` sent to stderr, so that a
    chatty plugin cannot corrupt ``zoo list --json`` on stdout. (Build functions run
    as they are: they are called often, from any thread.)"""
    with _stdout_lock, redirect_stdout(sys.stderr):
        yield
