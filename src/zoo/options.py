"""The options object shared by ``CNN(...)``, ``Config(...)`` and presets.

No torch here: options are validated before anything is built.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import kinds
from .errors import OptionError, PluginClashError, UnknownOptionError, did_you_mean
from .registry import MAX_CHANNELS, MAX_SIDE

__all__ = ["Config", "BUILTIN_OPTIONS", "ACTIVATIONS", "NORM_KINDS", "DROP_KINDS"]

# the names and numbers the options take: derived from the one table of each kind
ACTIVATIONS = tuple(kinds.ACTIVATIONS)
NORM_KINDS = tuple(kinds.NORMS)
DROP_KINDS = tuple(kinds.DROPOUTS)
POOL_KINDS = tuple(kinds.POOLS)
MULT_KINDS = tuple(kinds.SCALES)
_NORMS = kinds.describe(kinds.NORMS)


@dataclass(frozen=True)
class _Spec:
    default: Any
    kind: str  # "int", "bool", "float", "str", "choice", "fun", "blocks"
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None


def _o(default: Any, kind: str, help: str, choices: tuple = (), low: float | None = None,
       high: float | None = None) -> _Spec:
    return _Spec(default, kind, help, choices, low, high)


BUILTIN_OPTIONS: dict[str, _Spec] = {
    "input": _o(3, "int", "channels of the input image", low=1, high=MAX_CHANNELS),
    "blocks": _o("", "blocks", "the block string"),
    "bias": _o(False, "bool", "Conv2d layers get a bias"),
    "norm": _o(1, "choice", f"norm kind of `n` and `cnf`: {_NORMS}", NORM_KINDS),
    "drop": _o(2, "choice", f"dropout kind of `d`: {kinds.describe(kinds.DROPOUTS)}", DROP_KINDS),
    "fun": _o("relu", "fun", "activation of `f` and `cnf`"),
    "stride_first": _o(True, "bool", "residual blocks stride in their first Conv2d (else the second)"),
    "drop_inside": _o(0, "choice", "dropout kind between a residual block's convolutions (0 none)", DROP_KINDS),
    "fun_inside": _o("relu", "fun", "activation between a residual block's convolutions"),
    "norm_before": _o(0, "choice", "norm kind before a residual block's branch", NORM_KINDS),
    "norm_inside": _o(1, "choice", "norm kind between a residual block's convolutions", NORM_KINDS),
    "norm_block": _o(1, "choice", "norm kind at the end of a residual block's branch", NORM_KINDS),
    "norm_align": _o(1, "choice", "norm kind after the 1x1 convolution of the skip", NORM_KINDS),
    "mult": _o(0, "choice", f"scale of the branch: {kinds.describe(kinds.SCALES)}", MULT_KINDS),
    "scale": _o(1.0, "float", "initial value of the scale (mult > 0)"),
    "norm_after": _o(0, "choice", "norm kind after the sum of a residual block", NORM_KINDS),
    "fun_after": _o("", "fun", "activation after the sum of a residual block (\"\" none)"),
    "drop_after": _o(2, "choice", "dropout kind after the sum of a residual block (0 none)", DROP_KINDS),
    "shift": _o(0.0, "float", "std of the `s` token's feature shift when it gives none (0: set later by Change.shift)", low=0),
    "shift_inside": _o(0.0, "float", "std of a feature shift between a residual block's convolutions (0 none)", low=0),
    "shift_after": _o(0.0, "float", "std of a feature shift after the sum of a residual block (0 none)", low=0),
    "branch_noise": _o(0.0, "float", "std of the multiplicative noise on each residual branch in training (0 none)", low=0),
    "pool": _o(1, "choice", f"after the blocks: {kinds.describe(kinds.POOLS)}", POOL_KINDS),
    "flat": _o(True, "bool", "Flatten() after the pool"),
}


# names the document (or its code) uses for what zoo calls otherwise -> what to write
DOCUMENT_NAMES = {
    "res": "the document's res is zoo's mult (res=2 -> mult=2, a trainable scale per channel; "
    "mult=1 a trainable scalar), with scale= its initial value",
}


def _plugin_options() -> dict[str, Any]:
    from .registry import get_registry

    return get_registry().options


def check_activation(what: str, value: Any) -> str:
    """``value`` as an activation name (``None`` and ``""``: none); an :class:`OptionError`
    that starts with ``what`` otherwise. Options and preset heads both check with this."""
    if value is None:
        value = ""
    if callable(value) and not isinstance(value, str):  # nn.Mish, or a function returning a module
        return value
    if not isinstance(value, str) or (value and value not in ACTIVATIONS):
        raise OptionError(
            f"{what}: not an activation{did_you_mean(str(value), ACTIVATIONS)} "
            f"(use one of {', '.join(ACTIVATIONS)}, \"\" for none, or an nn.Module class such as nn.Mish)"
        )
    return value


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


def input_size_problem(size: tuple[int, ...]) -> str | None:
    """What is too big in an input size ``(C, H, W)`` or ``(B, C, H, W)`` of whole
    numbers, or None: channels up to ``MAX_CHANNELS``, batch, height and width up to
    ``MAX_SIDE``, so that no shape overflows before anything is built.

    >>> input_size_problem((3, 10**9, 10**9))
    'a height or width of 1000000000 is beyond the limit of 65,536'
    """
    *batch, channels, height, width = size if len(size) >= 3 else (1, 1, 1)
    if channels > MAX_CHANNELS:
        return f"{channels} channels are beyond the limit of {MAX_CHANNELS:,}"
    for side in (height, width):
        if side > MAX_SIDE:
            return f"a height or width of {side} is beyond the limit of {MAX_SIDE:,}"
    if batch and batch[0] > MAX_SIDE:
        return f"a batch of {batch[0]} is beyond the limit of {MAX_SIDE:,}"
    return None


def in_choices(value: Any, choices: tuple) -> bool:
    """``value`` is one of ``choices`` and of the same kind: ``True`` is not ``1`` and
    ``4.0`` is not ``4``, although Python compares them equal."""
    return any(type(value) is type(choice) and value == choice for choice in choices)


def _check(name: str, spec: _Spec, value: Any) -> Any:
    kind = spec.kind
    if kind == "bool":
        if _is_bool(value):
            return bool(value)
        if as_whole(value) in (0, 1):
            return bool(value)
        raise OptionError(f"option {name}={value!r}: must be True or False")
    if kind in ("int", "choice"):
        whole = as_whole(value)
        if whole is None:
            raise OptionError(f"option {name}={value!r}: must be a whole number ({spec.help})")
        value = whole
        if kind == "choice" and value not in spec.choices:
            allowed = ", ".join(str(c) for c in spec.choices)
            raise OptionError(f"option {name}={value!r}: must be one of {allowed} ({spec.help})")
        if spec.low is not None and value < spec.low:
            raise OptionError(f"option {name}={value!r}: must be at least {spec.low:g} ({spec.help})")
        if spec.high is not None and value > spec.high:
            raise OptionError(f"option {name}={value!r}: must be at most {spec.high:,g} ({spec.help})")
        return value
    if kind == "float":
        if _is_bool(value) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise OptionError(f"option {name}={value!r}: must be a finite number ({spec.help})")
        if spec.low is not None and value < spec.low:
            raise OptionError(f"option {name}={value!r}: must be at least {spec.low:g} ({spec.help})")
        return float(value)
    if kind == "fun":
        return check_activation(f"option {name}={value!r}", value)
    if kind == "blocks":
        if not isinstance(value, str):
            raise OptionError(f"option blocks={value!r}: must be a block string, e.g. \"cnf32 m r64\"")
        return value
    return value


def _refuse_ambiguous(name: str) -> None:
    from .registry import get_registry

    message = get_registry().ambiguous.get(("option", name))
    if message is not None:
        raise PluginClashError(f"option {name!r} is ambiguous: {message}")


class Config(Mapping[str, Any]):
    """Options of a network: ``Config(input=1, fun="gelu", blocks="cnf32 m d cnf64 m d")``.

    Every option has a default (see ``zoo.options.BUILTIN_OPTIONS``; plugins may
    declare more). Values are checked on creation; an unknown name is an error that
    suggests the nearest known one. Read options as attributes (``cfg.norm``) or as
    a mapping; ``cfg.replace(**changes)`` returns a changed copy.
    """

    __slots__ = ("_values",)

    def __init__(self, *bases: Config | Mapping[str, Any] | None, **options: Any):
        given: dict[str, Any] = {}
        for base in bases:  # merged left to right, then the keywords (the document's CNN(cfg1, cfg2))
            if base is None:
                continue
            if not isinstance(base, Mapping):
                hint = f" (a block string goes in blocks=: CNN(blocks={base!r}))" if isinstance(base, str) else ""
                raise OptionError(
                    f"Config(...) takes Configs or dicts of options, not {type(base).__name__}{hint}"
                )
            given.update(base)
        given.update(options)
        for name in given:
            if not isinstance(name, str):
                raise OptionError(
                    f"option names are text, not {type(name).__name__} {name!r}: write e.g. "
                    "Config(fun=\"gelu\") or Config({\"fun\": \"gelu\"})"
                )
        plugin_options = _plugin_options() if any(k not in BUILTIN_OPTIONS for k in given) else {}
        values = {name: spec.default for name, spec in BUILTIN_OPTIONS.items()}
        for name, value in given.items():
            if name in BUILTIN_OPTIONS:
                values[name] = _check(name, BUILTIN_OPTIONS[name], value)
            elif name in plugin_options:
                option = plugin_options[name]
                if option.choices is not None and not in_choices(value, option.choices):
                    allowed = ", ".join(repr(c) for c in option.choices)
                    raise OptionError(f"option {name}={value!r}: must be one of {allowed} ({option.help})")
                values[name] = value
            elif name in DOCUMENT_NAMES:
                raise UnknownOptionError(f"unknown option {name!r}: {DOCUMENT_NAMES[name]}")
            else:
                _refuse_ambiguous(name)
                known = list(BUILTIN_OPTIONS) + list(_plugin_options())
                raise UnknownOptionError(
                    f"unknown option {name!r}{did_you_mean(name, known)} (known options: {', '.join(known)})"
                )
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        plugin_options = _plugin_options()
        if name in plugin_options:  # a plugin option left at its default
            return plugin_options[name].default
        raise AttributeError(f"Config has no option {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Config is immutable; use cfg.replace(**changes)")

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def __reduce__(self):  # copy, deepcopy and pickle (torch.save of a whole model)
        return (Config, (self._values,))

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied and checked."""
        return Config(self._values, **changes)

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults (a plugin option's default is its own)."""
        defaults = {name: spec.default for name, spec in BUILTIN_OPTIONS.items()}
        if any(k not in defaults for k in self._values):  # only then load the plugins
            defaults.update({name: option.default for name, option in _plugin_options().items()})
        return {k: v for k, v in self._values.items() if k not in defaults or defaults[k] != v}

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.changed().items())
        return f"Config({inner})"
