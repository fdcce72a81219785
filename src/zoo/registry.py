"""The token registry: token specs contributed by plugins through pluggy.

A plugin is any object (usually a module) with functions marked ``@zoo.hookimpl``:

    @zoo.hookimpl
    def zoo_tokens():
        return [zoo.Token("se", values=[("reduction", int, 16)],
                          help="squeeze-and-excitation", build="my_pkg.se:build")]

The built-in tokens are such a plugin (``zoo.tokens``); third-party packages are
found through entry points in group ``zoo``. Nothing here imports torch: a
token's metadata is readable without building it, and ``build`` may be a
``"module:function"`` string resolved on first use.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from .errors import PluginClashError, PluginError

__all__ = [
    "hookimpl",
    "hookspec",
    "Value",
    "Token",
    "Option",
    "PluginInfo",
    "Registry",
    "get_registry",
    "reset_registry",
    "MAX_CHANNELS",
    "MAX_KERNEL",
    "MAX_REPEAT",
]

PROJECT = "zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# Sizes past these are refused before anything is allocated.
MAX_CHANNELS = 65_536
MAX_KERNEL = 63
MAX_REPEAT = 1_000

_TYPE_NAMES = {int: "a whole number", float: "a number", str: "text"}


@dataclass(frozen=True)
class Value:
    """One positional value a token takes, e.g. ``Value("kernel", int, 3)``.

    ``default=None`` means the builder derives it (from the incoming channels or an
    option); ``doc`` then says how, for listings (``"C"``, ``"norm"``).
    """

    name: str
    type: type = int
    default: Any = None
    doc: str = ""  # how a derived default is chosen, shown in `zoo tokens`
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPE_NAMES:
            raise PluginError(f"value {self.name!r}: type must be int, float or str, not {self.type!r}")

    @property
    def default_text(self) -> str:
        return self.doc or ("" if self.default is None else str(self.default))

    def describe(self) -> str:
        """``kernel=3``, ``channels=C``, ``kind=norm (0, 1, 2, 3)``."""
        text = f"{self.name}={self.default_text}" if self.default_text else self.name
        if self.choices:
            text += " (" + "|".join(str(c) for c in self.choices) + ")"
        return text

    def convert(self, raw: str) -> Any:
        """Turn the text of a value into its type; ``ValueError`` says what was expected."""
        try:
            if self.type is int:
                if not raw.lstrip("-").isdigit():
                    raise ValueError
                value = int(raw)
            elif self.type is float:
                value = float(raw)
            else:
                value = raw
        except ValueError:
            raise ValueError(f"{self.name} must be {_TYPE_NAMES[self.type]}, not {raw!r}") from None
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise ValueError(f"{self.name} must be one of {allowed}, not {raw}")
        if self.min is not None and value < self.min:
            raise ValueError(f"{self.name} must be at least {self.min:g}, not {raw}")
        if self.max is not None and value > self.max:
            raise ValueError(f"{self.name} must be at most {self.max:g}, not {raw}")
        return value


def _as_value(spec: Value | Sequence) -> Value:
    if isinstance(spec, Value):
        return spec
    if isinstance(spec, str):
        return Value(spec)
    return Value(*spec)


@dataclass(frozen=True)
class Token:
    """A token of the block language, as a plugin declares it.

    ``build(ctx, **values)`` returns the module, or ``(module, out_channels)`` when
    the token changes the number of channels; ``ctx`` is a
    :class:`zoo.cnn.BuildContext` (incoming ``channels``, ``options``, the token).
    ``build`` may be a ``"package.module:function"`` string, imported on first use.
    """

    name: str
    values: Sequence[Value | tuple] = ()
    help: str = ""
    build: Callable[..., Any] | str | None = None
    plugin: str = ""  # set by the registry: the distribution that provides it

    def __post_init__(self) -> None:
        if not (self.name[:1].isalpha() and self.name.replace("_", "").isalnum()) or "_" in self.name:
            raise PluginError(
                f"token name {self.name!r} is not valid: it must start with a letter and hold "
                "only letters and digits"
            )
        object.__setattr__(self, "values", tuple(_as_value(v) for v in self.values))
        if self.build is None:
            raise PluginError(f"token {self.name!r} has no build function")

    def signature(self) -> str:
        """``r[channels=C]_[kernel=3]_[stride=1]``, for listings and error hints."""
        return self.name + "_".join(f"[{v.describe()}]" for v in self.values)

    def builder(self) -> Callable[..., Any]:
        """The build function, importing it first if it was given as a string."""
        if callable(self.build):
            return self.build
        module_name, _, attr = str(self.build).partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"token {self.name!r} of plugin {self.plugin or '?'}: cannot import its build "
                f"function {self.build!r} ({exc})"
            ) from exc


@dataclass(frozen=True)
class Option:
    """An option of ``Config`` declared by a plugin (built-ins live in ``zoo.options``)."""

    name: str
    default: Any
    help: str = ""
    choices: tuple | None = None
    plugin: str = ""


@dataclass
class PluginInfo:
    """What ``zoo plugins`` shows about one plugin."""

    name: str
    version: str = ""
    status: str = "ok"  # "ok" or "failed"
    reason: str = ""
    tokens: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


class ZooSpec:
    """The hooks a zoo plugin may implement."""

    @hookspec
    def zoo_tokens(self) -> list[Token]:
        """Return the tokens this plugin adds to the block language."""

    @hookspec
    def zoo_presets(self) -> list[str | Path]:
        """Return YAML preset files or folders of them."""

    @hookspec
    def zoo_options(self) -> list[Option]:
        """Return options of ``Config`` that this plugin's tokens read."""


def _env_list(name: str) -> set[str]:
    return {part.strip() for part in os.environ.get(name, "").split(",") if part.strip()}


class Registry:
    """Tokens, preset folders and options gathered from every plugin.

    Each plugin's hooks are called on their own, so that a plugin that fails is
    reported by name and the others keep working.
    """

    def __init__(self, autoload: bool | None = None):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(ZooSpec)
        self.plugins: dict[str, PluginInfo] = {}
        self.tokens: dict[str, Token] = {}
        self.options: dict[str, Option] = {}
        self.preset_paths: list[tuple[str, Path]] = []
        from . import tokens as builtin

        self.register(builtin, name=PROJECT, version=_version(PROJECT))
        if autoload is None:
            autoload = os.environ.get("ZOO_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true", "yes")
        if autoload:
            self.load_entry_points()

    # -- plugins ----------------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Load every entry point in group ``zoo``, each on its own."""
        from importlib.metadata import entry_points

        disabled = _env_list("ZOO_DISABLE_PLUGINS")
        seen: set[tuple[str, str]] = set()
        for ep in entry_points(group=PROJECT):
            dist = ep.dist.name if ep.dist is not None else ep.name
            if (dist, ep.value) in seen:  # the same dist on sys.path twice
                continue
            seen.add((dist, ep.value))
            if dist in disabled or ep.name in disabled:
                self.plugins[dist] = PluginInfo(dist, _dist_version(ep), "disabled", "ZOO_DISABLE_PLUGINS")
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not break zoo
                self._fail(dist, _dist_version(ep), f"import of {ep.value!r} failed: {exc!r}")
                continue
            self.register(plugin, name=dist, version=_dist_version(ep))

    def register(self, plugin: object, name: str, version: str = "") -> None:
        """Register a plugin object and collect what its hooks return."""
        if name in self.plugins and self.plugins[name].status == "ok":
            raise PluginClashError(
                f"two plugins are named {name!r}; uninstall one or disable it with "
                f"ZOO_DISABLE_PLUGINS={name}"
            )
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._fail(name, version, f"could not register: {exc}")
            return
        info = PluginInfo(name, version)
        try:
            tokens = self._call(plugin, "zoo_tokens")
            options = self._call(plugin, "zoo_options")
            presets = self._call(plugin, "zoo_presets")
            tokens = [_check_kind(t, Token, name, "zoo_tokens") for t in tokens]
            options = [_check_kind(o, Option, name, "zoo_options") for o in options]
        except Exception as exc:
            self.pm.unregister(plugin)
            self._fail(name, version, f"{exc}")
            return
        for token in tokens:
            self._claim(self.tokens, token.name, "token", name)
            object.__setattr__(token, "plugin", name)
            self.tokens[token.name] = token
            info.tokens.append(token.name)
        for option in options:
            self._claim(self.options, option.name, "option", name)
            object.__setattr__(option, "plugin", name)
            self.options[option.name] = option
            info.options.append(option.name)
        for path in presets:
            self.preset_paths.append((name, Path(path)))
        self.plugins[name] = info

    def unregister(self, name: str) -> None:
        """Remove a plugin and everything it contributed (used by ``zoo.testing``)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.tokens = {k: t for k, t in self.tokens.items() if t.plugin != name}
        self.options = {k: o for k, o in self.options.items() if o.plugin != name}
        self.preset_paths = [(p, path) for p, path in self.preset_paths if p != name]
        self.plugins.pop(name, None)

    def _call(self, plugin: object, hook: str) -> list:
        impl = next((i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin is plugin), None)
        if impl is None:
            return []
        try:
            result = impl.function()
        except Exception as exc:
            raise PluginError(f"its hook {hook}() raised {exc!r}") from exc
        if result is None:
            return []
        if isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
            raise PluginError(f"its hook {hook}() must return a list, not {type(result).__name__}")
        return list(result)

    def _claim(self, table: dict, key: str, what: str, plugin: str) -> None:
        if key in table:
            other = table[key].plugin
            raise PluginClashError(
                f"two plugins provide the {what} {key!r}: {other!r} and {plugin!r}. "
                f"Uninstall one, or disable it with ZOO_DISABLE_PLUGINS={plugin}"
            )
        if what == "option":
            from .options import BUILTIN_OPTIONS

            if key in BUILTIN_OPTIONS:
                raise PluginClashError(
                    f"plugin {plugin!r} declares the option {key!r}, which zoo itself has. "
                    f"Rename it, or disable the plugin with ZOO_DISABLE_PLUGINS={plugin}"
                )

    def _fail(self, name: str, version: str, reason: str) -> None:
        self.plugins[name] = PluginInfo(name, version, "failed", reason)
        print(f"zoo: warning: plugin {name!r} failed to load and is skipped: {reason}", file=sys.stderr)

    # -- look-ups -------------------------------------------------------------------
    def token(self, name: str) -> Token:
        return self.tokens[name]


def _check_kind(obj: Any, kind: type, plugin: str, hook: str) -> Any:
    if not isinstance(obj, kind):
        raise PluginError(f"its hook {hook}() returned {obj!r}, which is not a zoo.{kind.__name__}")
    return obj


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def _dist_version(ep: Any) -> str:
    return ep.dist.version if getattr(ep, "dist", None) is not None else ""


_registry: Registry | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, built (and plugins loaded) on first use."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = Registry()
    return _registry


def reset_registry() -> None:
    """Forget the registry; the next use reloads every plugin (tests, env changes)."""
    global _registry
    _registry = None
