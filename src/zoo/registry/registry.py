"""The token registry: token specs contributed by plugins through pluggy.

A plugin is any object (usually a module) with functions marked ``@plugin.hookimpl``:

    @plugin.hookimpl
    def zoo_tokens():
        return [plugin.Token("se", values=[("reduction", int, 16)],
                          help="squeeze-and-excitation", build="my_pkg.se:build")]

The built-in tokens are such a plugin (``zoo.tokens``); third-party packages are
found through entry points in group ``zoo``, each loaded on its own so that one
broken plugin is reported by its distribution name and the rest of zoo keeps
working. zoo's own names always win; two plugins claiming one name is never a
silent precedence: neither gets it, and only a string that uses it fails. A plugin
never changes what an existing block string means (a token ``r1`` beside ``r``).

Nothing here imports torch: a token's metadata is readable without building it,
and ``build`` may be a ``"module:function"`` string resolved on first use.

Environment: ``ZOO_DISABLE_PLUGIN_AUTOLOAD=1`` loads the built-in tokens only;
``ZOO_DISABLE_PLUGINS=name1,name2`` skips the named distributions.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from .. import tokens as builtin
from ..errors import PluginClashError, PluginError, warn
from ..extras import DISTRIBUTION
from .hooks import PROJECT, ZooSpec
from .specs import Activation, Norm, Param, Token, plugin_code

__all__ = ["PluginInfo", "Registry", "get_registry", "BUILTIN", "HOOKS", "PRESET_SUFFIXES"]

BUILTIN = PROJECT  # the plugin name of the built-in tokens and options
HOOKS = ("zoo_tokens", "zoo_presets", "zoo_options", "zoo_activations", "zoo_norms")
PRESET_SUFFIXES = (".yaml", ".yml")


@dataclass
class PluginInfo:
    """What ``zoo plugins`` shows about one plugin (one distribution)."""

    name: str
    version: str = ""
    status: str = "ok"  # "ok", "failed" or "disabled"
    reason: str = ""
    tokens: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)  # preset names (YAML file stems)
    options: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "distribution": self.name,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "tokens": sorted(self.tokens),
            "presets": sorted(self.presets),
            "options": sorted(self.options),
        }


def normalize_name(name: str) -> str:
    """A distribution name as pip compares them: ``Zoo_Extra`` -> ``zoo-extra``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _env_names(variable: str) -> set[str]:
    return {normalize_name(part.strip()) for part in os.environ.get(variable, "").split(",") if part.strip()}


def autoload_disabled() -> bool:
    """True when ``ZOO_DISABLE_PLUGIN_AUTOLOAD`` asks for the built-in tokens only."""
    return os.environ.get("ZOO_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() in ("1", "true", "yes", "on")


def preset_files(path: Path) -> list[Path]:
    """The preset files a source holds, the one listing zoo uses: a folder's YAML files
    (``.yaml``/``.yml``, no dotfiles), sorted, or a file named on its own."""
    if path.is_dir():
        return sorted(p for p in path.iterdir()
                      if p.suffix in PRESET_SUFFIXES and not p.name.startswith(".") and p.is_file())
    return [path] if path.is_file() else []


def preset_names(path: Path) -> list[str]:
    """The preset names a source holds (its files' stems, as the catalog names them)."""
    return [p.stem for p in preset_files(path)]


@dataclass
class _Contribution:
    """What one plugin object's hooks returned, checked but not yet added."""

    tokens: list[Token]
    options: list[Param]
    presets: list[Path]
    activations: list[Activation] = field(default_factory=list)
    norms: list[Norm] = field(default_factory=list)


class Registry:
    """Tokens, preset folders and options gathered from every plugin.

    ``Registry()`` registers the built-in tokens and, unless autoload is off, every
    entry point of group ``zoo``. Each entry point is loaded on its own: a plugin that
    fails to import, or whose hook raises (``sys.exit`` included), or that claims one
    of zoo's names, is reported with a :class:`~zoo.ZooWarning` naming its
    distribution (``plugins[name].status == "failed"``) and the others keep working.
    A token or option name two plugins provide goes to neither: it is recorded in
    ``ambiguous``, and using it raises :class:`PluginClashError` naming both.

    >>> reg = Registry(autoload=False)
    >>> reg.tokens["r"].plugin
    'zoo'
    """

    def __init__(self, autoload: bool | None = None):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(ZooSpec)
        self.plugins: dict[str, PluginInfo] = {}
        self.tokens: dict[str, Token] = {}
        self.options: dict[str, Param] = {}  # zoo's own first, then the plugins'
        self.activations: dict[str, Activation] = {}  # fun="name": zoo's own, then the plugins'
        self.norms: dict[int, Norm] = {}  # norm=kind (0, none, is no entry)
        self.preset_paths: list[tuple[str, Path]] = []
        # names two plugins both provide: ("token" or "option", name) -> the message naming
        # both; neither plugin gets the name, and using it raises PluginClashError
        self.ambiguous: dict[tuple[str, str], str] = {}
        self._objects: dict[str, list[str]] = {}  # plugin name -> its names in the pluggy manager
        self.register(builtin, name=BUILTIN, version=_version(DISTRIBUTION))
        if autoload is None:
            autoload = not autoload_disabled()
        if autoload:
            self.load_entry_points()

    # -- plugins ----------------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Load every entry point in group ``zoo``, each on its own.

        Failures become warnings and ``status="failed"``; names two plugins share are
        collected in ``ambiguous``. Distributions named in ``ZOO_DISABLE_PLUGINS`` are listed with
        ``status="disabled"`` and not imported.
        """
        from importlib.metadata import entry_points

        disabled = _env_names("ZOO_DISABLE_PLUGINS")
        seen: set[tuple[str, str]] = set()
        for ep in sorted(entry_points(group=PROJECT), key=lambda e: (_dist_name(e), e.name)):
            dist, version = _dist_name(ep), _dist_version(ep)
            if (normalize_name(dist), ep.name) in seen:  # the same dist twice on sys.path
                continue
            seen.add((normalize_name(dist), ep.name))
            if normalize_name(dist) == BUILTIN:
                continue  # zoo's own tokens are already registered
            if normalize_name(dist) in disabled or normalize_name(ep.name) in disabled:
                if dist not in self.plugins:
                    self.plugins[dist] = PluginInfo(dist, version, "disabled", "named in ZOO_DISABLE_PLUGINS")
                continue
            info = self.plugins.get(dist)
            if info is not None and info.status != "ok":
                continue  # another entry point of this distribution already failed
            try:
                with plugin_code():
                    plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a broken plugin must not break zoo, even with sys.exit
                self._fail(dist, version, f"importing {ep.value!r} raised {type(exc).__name__}: {exc}")
                continue
            try:
                self._add(plugin, f"{dist}:{ep.name}", dist, version, lenient=True)
            except (PluginError, PluginClashError) as exc:  # zoo's own names win
                self._fail(dist, version, str(exc))

    def register(self, plugin: object, name: str | None = None, version: str = "") -> PluginInfo:
        """Register a plugin object and add what its hooks return; returns its info.

        Raises :class:`PluginError` when a hook fails or returns something unusable, and
        :class:`PluginClashError` when the plugin claims a name another plugin has;
        either way nothing of the plugin is kept.
        """
        name = name or self.pm.get_canonical_name(plugin)
        if name in self.plugins and self.plugins[name].status == "ok":
            raise PluginClashError(
                f"a plugin named {name!r} is already registered; give this one another name, "
                f"or unregister the first (registry.unregister({name!r}))"
            )
        self.plugins.pop(name, None)  # a failed or disabled entry of that name is replaced
        return self._add(plugin, name, name, version)

    def unregister(self, name: str) -> None:
        """Remove a plugin and everything it contributed (used by ``zoo.testing``)."""
        for object_name in self._objects.pop(name, [name]):
            plugin = self.pm.get_plugin(object_name)
            if plugin is not None:
                self.pm.unregister(plugin)
        self.tokens = {k: t for k, t in self.tokens.items() if t.plugin != name}
        self.options = {k: o for k, o in self.options.items() if o.plugin != name}
        self.activations = {k: a for k, a in self.activations.items() if a.plugin != name}
        self.norms = {k: n for k, n in self.norms.items() if n.plugin != name}
        self.preset_paths = [(p, path) for p, path in self.preset_paths if p != name]
        self.plugins.pop(name, None)

    def _add(self, plugin: object, object_name: str, name: str, version: str, lenient: bool = False) -> PluginInfo:
        """Register ``plugin`` with pluggy as ``object_name``, on behalf of plugin ``name``.

        ``lenient`` (autoloading): a token or option name that another plugin also
        provides is taken from both and recorded in ``ambiguous`` with a warning, so
        that only strings using it fail; otherwise any clash raises."""
        if self.pm.is_registered(plugin):
            known = self.pm.get_name(plugin)
            owner = next((p for p, names in self._objects.items() if known in names), known)
            raise PluginError(
                f"plugin {name!r} cannot be registered: the same object is already registered as "
                f"plugin {owner!r} (zoo.testing.isolated_registry() gives a registry without it)"
            )
        try:
            self.pm.register(plugin, name=object_name)
        except Exception as exc:  # pluggy: a hook with arguments zoo does not pass
            detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise PluginError(
                f"plugin {name!r} cannot be registered: {detail} (zoo's hooks take no arguments)"
            ) from exc
        try:
            contribution = self._collect(plugin, name)
            shared = self._check_clashes(contribution, name, lenient)
        except BaseException:
            self.pm.unregister(plugin)
            raise
        info = self.plugins.get(name) or PluginInfo(name, version)
        for what, key, message in shared:  # neither plugin keeps the name
            table = self.tokens if what == "token" else self.options
            owner = table.pop(key, None)
            if owner is not None and owner.plugin in self.plugins:
                first = self.plugins[owner.plugin]
                getattr(first, f"{what}s").remove(key)
                first.reason = "\n".join(filter(None, [first.reason, message]))
            info.reason = "\n".join(filter(None, [info.reason, message]))
            self.ambiguous[(what, key)] = message
            self._warn(message)
        contribution.tokens = [t for t in contribution.tokens if ("token", t.name) not in self.ambiguous]
        contribution.options = [o for o in contribution.options if ("option", o.name) not in self.ambiguous]
        for token in contribution.tokens:
            self.tokens[token.name] = token
            info.tokens.append(token.name)
        for option in contribution.options:
            self.options[option.name] = option
            info.options.append(option.name)
        for activation in contribution.activations:
            if ("token", activation.name) not in self.ambiguous:  # its token went to neither plugin
                self.activations[activation.name] = activation
        for norm in contribution.norms:
            self.norms[norm.kind] = norm
        for path in contribution.presets:
            self.preset_paths.append((name, path))
            info.presets.extend(preset_names(path))
        self.plugins[name] = info
        self._objects.setdefault(name, []).append(object_name)
        return info

    def _collect(self, plugin: object, name: str) -> _Contribution:
        callers = self.pm.get_hookcallers(plugin) or []
        unknown = sorted(c.name for c in callers if not c.has_spec())
        if unknown:
            raise PluginError(
                f"plugin {name!r} implements {', '.join(unknown)}, which zoo does not have; "
                f"the hooks are {', '.join(HOOKS)}"
            )
        if not callers:
            raise PluginError(
                f"plugin {name!r} implements none of zoo's hooks ({', '.join(HOOKS)}); mark them "
                "with @zoo.plugin.hookimpl, and check that the entry point names the right module"
            )
        tokens = [_check_kind(t, Token, name, "zoo_tokens") for t in self._call(plugin, name, "zoo_tokens")]
        options = [_check_kind(o, Param, name, "zoo_options") for o in self._call(plugin, name, "zoo_options")]
        presets = []
        for item in self._call(plugin, name, "zoo_presets"):
            if not isinstance(item, (str, os.PathLike)):
                raise PluginError(f"plugin {name!r}: its hook zoo_presets() returned {item!r}, not a path")
            path = Path(item)
            if not path.exists():
                raise PluginError(f"plugin {name!r}: its hook zoo_presets() returned {str(path)!r}, which does not exist")
            presets.append(path)
        activations = [dataclasses.replace(_check_kind(a, Activation, name, "zoo_activations"), plugin=name)
                       for a in self._call(plugin, name, "zoo_activations")]
        norms = [dataclasses.replace(_check_kind(n, Norm, name, "zoo_norms"), plugin=name)
                 for n in self._call(plugin, name, "zoo_norms")]
        tokens = [dataclasses.replace(t, plugin=name) for t in tokens] + [_activation_token(a) for a in activations]
        options = [dataclasses.replace(o, plugin=name) for o in options]
        return _Contribution(tokens, options, presets, activations, norms)

    def _call(self, plugin: object, name: str, hook: str) -> list:
        impls = [i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin is plugin]
        result: list = []
        for impl in impls:
            try:
                with plugin_code():
                    returned = impl.function()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # sys.exit and pytest.skip included
                raise PluginError(f"plugin {name!r}: its hook {hook}() raised {type(exc).__name__}: {exc}") from exc
            if returned is None:
                continue
            if isinstance(returned, (str, bytes)) or not isinstance(returned, Iterable):
                raise PluginError(f"plugin {name!r}: its hook {hook}() must return a list, not {type(returned).__name__}")
            result.extend(returned)
        return result

    def _check_clashes(
        self, contribution: _Contribution, name: str, lenient: bool = False
    ) -> list[tuple[str, str, str]]:
        """Raise :class:`PluginClashError` for a name zoo has, a token name that would
        change how an existing token reads, or (unless ``lenient``) a name another
        plugin has; returns the names shared with another plugin when ``lenient``."""
        problems = []
        shared: list[tuple[str, str, str]] = []
        seen: dict[tuple[str, str], str] = {}
        for what, table, items in (
            ("token", self.tokens, contribution.tokens),
            ("option", self.options, contribution.options),
        ):
            for item in items:
                if (what, item.name) in seen:
                    raise PluginError(f"plugin {name!r} declares the {what} {item.name!r} twice")
                seen[(what, item.name)] = name
                owner = table[item.name].plugin if item.name in table else None
                if owner == BUILTIN:  # zoo's own tokens and options are registered first
                    problems.append(_clash_message(what, item.name, BUILTIN, name))
                elif owner is None and (what, item.name) in self.ambiguous:  # a third plugin
                    message = f"{self.ambiguous[(what, item.name)]}; plugin {name!r} provides it too"
                    if not lenient:
                        problems.append(message)
                    else:
                        shared.append((what, item.name, message))
                elif owner is not None and lenient:
                    shared.append((what, item.name, _clash_message(what, item.name, owner, name)))
                elif owner is not None:
                    problems.append(_clash_message(what, item.name, owner, name))
                elif what == "token":
                    problems += [_shadow_message(t, item.name, name) for t in table.values()
                                 if _reads_as(t.name, item.name) or _reads_as(item.name, t.name)]
        for norm in contribution.norms:  # a kind is a number: no sharing, the first one keeps it
            if norm.kind in self.norms:
                owner = self.norms[norm.kind]
                problems.append(_clash_message("norm kind", str(norm.kind), owner.plugin, name))
        if problems:
            raise PluginClashError("\n".join(problems))
        return shared

    def _fail(self, name: str, version: str, reason: str) -> None:
        reason = reason.removeprefix(f"plugin {name!r}: ")  # the name is said once, in front
        self.plugins[name] = PluginInfo(name, version, "failed", reason)
        self._warn(
            f"plugin {name!r} failed to load and is skipped: {reason}\n"
            f"  (fix or uninstall it, or skip it with ZOO_DISABLE_PLUGINS={name})"
        )

    def _warn(self, message: str) -> None:
        warn(message)


def _clash_message(what: str, key: str, first: str, second: str) -> str:
    if first == BUILTIN:
        return (
            f"plugin {second!r} provides the {what} {key!r}, which zoo itself has. No plugin "
            f"overrides zoo: disable it with ZOO_DISABLE_PLUGINS={second} (or uninstall it), "
            "and ask its author to rename the " + what
        )
    return (
        f"two plugins provide the {what} {key!r}: {first!r} and {second!r}. Neither takes "
        f"precedence: disable one with ZOO_DISABLE_PLUGINS={first} or "
        f"ZOO_DISABLE_PLUGINS={second} (or uninstall it)"
    )


def _reads_as(name: str, other: str) -> bool:
    """True when ``other`` is ``name`` followed by digits: with both registered, a
    string such as ``r128`` could mean ``r`` with 128 or ``r1`` with 28."""
    return len(other) > len(name) and other.startswith(name) and other[len(name)] in "0123456789"


def _shadow_message(existing: Token, new: str, plugin: str) -> str:
    owner = "zoo's token" if existing.plugin == BUILTIN else f"the token of plugin {existing.plugin!r}"
    longer, shorter = (new, existing.name) if len(new) > len(existing.name) else (existing.name, new)
    example = f"{longer}28"
    return (
        f"plugin {plugin!r} provides the token {new!r}, which clashes with {owner} {existing.name!r}: "
        f"{example!r} would read as {longer!r} with the value 28 instead of {shorter!r} with "
        f"{example[len(shorter):]}, changing what existing block strings mean. Disable it with "
        f"ZOO_DISABLE_PLUGINS={plugin} (or uninstall it), and ask its author to rename the token"
    )


def _activation_token(activation: Activation) -> Token:
    """The token of a named activation (``mish`` in a block string), built by zoo."""
    from ..tokens.activation import build_named

    return Token(activation.name, (), f"activation {activation.help or activation.name}",
                 functools.partial(build_named, activation.name), plugin=activation.plugin)


def _check_kind(obj: Any, kind: type, plugin: str, hook: str) -> Any:
    if not isinstance(obj, kind):
        raise PluginError(
            f"plugin {plugin!r}: its hook {hook}() returned {obj!r}, which is not a zoo.plugin.{'Option' if hook == 'zoo_options' else kind.__name__}"
        )
    return obj


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def _dist_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return (dist.name if dist is not None else None) or ep.name


def _dist_version(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return (dist.version if dist is not None else "") or ""


_registry: Registry | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, built (and plugins loaded) on first use.

    >>> "r" in get_registry().tokens
    True
    """
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = Registry()
    return _registry
