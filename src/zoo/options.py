"""The options object shared by ``CNN(...)``, ``Config(...)`` and presets.

No torch here: options are validated before anything is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import OptionError, PluginClashError, UnknownOptionError, did_you_mean
from .registry.limits import MAX_CHANNELS, MAX_SIDE
from .registry.registry import get_registry
from .registry.specs import Param

# one import path per name: Config is zoo.Config
__all__ = ["declared_options", "check_cnn_options"]


def declared_options() -> dict[str, Param]:
    """Every option a network takes, name -> :class:`zoo.registry.specs.Param`: zoo's own
    (declared by the built-in plugin, ``zoo.tokens.options``) first, then the plugins'."""
    return get_registry().options


# names the document (or its code) uses for what zoo calls otherwise -> what to write
DOCUMENT_NAMES = {
    "res": "the document's res is zoo's mult (res=2 -> mult=2, a trainable scale per channel; "
    "mult=1 a trainable scalar), with scale= its initial value",
}


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


def _refuse_ambiguous(name: str) -> None:
    message = get_registry().ambiguous.get(("option", name))
    if message is not None:
        raise PluginClashError(f"option {name!r} is ambiguous: {message}")


class Config(Mapping[str, Any]):
    """Options of a network: ``Config(input=1, fun="gelu", blocks="cnf32 m d cnf64 m d")``.

    Every option has a default (``zoo options`` lists them: zoo's own and the
    plugins', all declared as :class:`zoo.registry.specs.Param` through the ``zoo_options``
    hook). Values are checked on creation with each option's own check; an unknown
    name is an error that suggests the nearest known one. Read options as attributes
    (``cfg.norm``) or as a mapping (every option, the plugins' included, is in it);
    ``cfg.replace(**changes)`` returns a changed copy.

    A Config remembers which options were set (:meth:`given`). ``Config(cfg1, cfg2,
    **kw)`` merges left to right and takes from each Config only those, as the
    document's does: ``cfg2``'s defaults do not undo ``cfg1``'s settings. A plain dict
    sets every key it holds (so ``Config(dict(cfg))`` sets every option).

    >>> cfg = Config(fun="gelu")
    >>> cfg.fun, "norm" in cfg, len(cfg) == len(dict(cfg))
    ('gelu', True, True)
    >>> Config(Config(input=1, fun="gelu"), Config(blocks="c8 f r")).given()
    {'input': 1, 'fun': 'gelu', 'blocks': 'c8 f r'}
    """

    __slots__ = ("_values", "_given")

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
            # a Config gives only what was set in it; its defaults must not undo a setting
            given.update(base.given() if isinstance(base, Config) else base)
        given.update(options)
        for name in given:
            if not isinstance(name, str):
                raise OptionError(
                    f"option names are text, not {type(name).__name__} {name!r}: write e.g. "
                    "Config(fun=\"gelu\") or Config({\"fun\": \"gelu\"})"
                )
        registry = get_registry()
        declared = registry.options
        values = {name: param.default for name, param in declared.items()}
        for name, value in given.items():
            if name in declared:
                values[name] = declared[name].check(value, tables=registry)
            elif name in DOCUMENT_NAMES:
                raise UnknownOptionError(f"unknown option {name!r}: {DOCUMENT_NAMES[name]}")
            else:
                _refuse_ambiguous(name)
                raise UnknownOptionError(
                    f"unknown option {name!r}{did_you_mean(name, declared)} (known options: {', '.join(declared)})"
                )
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_given", tuple(given))  # names, in the order they were set

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
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
        return (Config, (self.given(),))

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied and checked (they count as set)."""
        return Config(self, **changes)

    def given(self) -> dict[str, Any]:
        """The options that were set (by keyword, a dict's keys, or a merged Config's
        own settings), with their checked values: what merging this Config into another
        takes. ``dict(cfg)`` gives every option instead.

        >>> Config(norm=1, fun="gelu").given()
        {'norm': 1, 'fun': 'gelu'}
        """
        return {name: self._values[name] for name in self._given}

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults (a plugin option's default is its own)."""
        declared = declared_options()
        return {k: v for k, v in self._values.items() if k not in declared or declared[k].default != v}

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.changed().items())
        return f"Config({inner})"


PRESET_OVERRIDES = ("num_classes", "head")  # taken by a preset, not by a block string


def check_cnn_options(options: Mapping[str, Any]) -> Config:
    """The options of a network built from a block string: those of ``zoo.Config``
    (``zoo.Config``), without ``blocks`` (the block string is the target) and without a
    preset's ``num_classes`` and ``head``.

    >>> check_cnn_options({"num_classes": 100})
    Traceback (most recent call last):
    ...
    zoo.errors.UnknownOptionError: num_classes is an override of a preset (as is head); a block string takes the options of zoo.Config only, e.g. fun=gelu
    """
    if "blocks" in options:
        raise OptionError(
            f"blocks={options['blocks']!r}: the block string is the target itself; give the "
            "blocks as the target (zoo.inspect(\"cnf32 m r64\"), zoo inspect \"cnf32 m r64\"), "
            "not as an option"
        )
    for name in PRESET_OVERRIDES:
        if name in options:
            others = ", ".join(n for n in PRESET_OVERRIDES if n != name)
            raise UnknownOptionError(
                f"{name} is an override of a preset (as is {others}); a block string takes the "
                "options of zoo.Config only, e.g. fun=gelu"
            )
    return Config(**options)
