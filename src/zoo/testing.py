"""Helpers for testing zoo plugins (and zoo itself) without installing anything.

``register_plugin`` adds a plugin object to the live registry for the duration of a
``with`` block, as pluggy's ``pm.register``/``pm.unregister`` pair or llm's test
helpers do; ``isolated_registry`` swaps in a fresh registry (built-in tokens only by
default) and puts the old one back afterwards.

    >>> import zoo
    >>> from zoo.testing import register_plugin
    >>> class Twice:
    ...     @zoo.hookimpl
    ...     def zoo_tokens(self):
    ...         return [zoo.Token("twice", help="x * 2", build=lambda ctx: None)]
    >>> with register_plugin(Twice(), name="twice-plugin") as info:
    ...     info.tokens
    ['twice']
    >>> "twice" in zoo.registry.get_registry().tokens
    False

Nothing here imports torch or pytest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import registry as _registry
from .registry import PluginInfo, Registry, get_registry

__all__ = ["register_plugin", "isolated_registry"]


@contextmanager
def register_plugin(plugin: object, name: str | None = None, version: str = "0.0.0") -> Iterator[PluginInfo]:
    """Register ``plugin`` (a module, class instance or class with ``@zoo.hookimpl``
    functions) for the duration of the ``with`` block; yields its :class:`PluginInfo`.

    Its tokens, options and presets are usable inside the block exactly as an
    installed plugin's would be, and are gone after it, even when the block raises.
    A plugin whose hook fails raises :class:`zoo.PluginError`, and one claiming a
    name another plugin has raises :class:`zoo.PluginClashError`, right here: a
    test wants to know.

    >>> import zoo
    >>> class Se:
    ...     @zoo.hookimpl
    ...     def zoo_tokens(self):
    ...         return [zoo.Token("sq", [("reduction", int, 16)], build="my_pkg.layers:build_sq")]
    >>> with register_plugin(Se(), name="my-pkg"):
    ...     zoo.parse_blocks("c32 sq8")[1].kwargs
    {'reduction': 8}
    """
    registry = get_registry()
    name = name or _plugin_name(plugin)
    info = registry.register(plugin, name=name, version=version)
    try:
        yield info
    finally:
        registry.unregister(name)


@contextmanager
def isolated_registry(autoload: bool = False) -> Iterator[Registry]:
    """A fresh registry for the duration of the ``with`` block, then the old one back.

    With ``autoload=False`` (the default) it holds the built-in tokens only, so a
    test does not depend on which plugins happen to be installed; ``autoload=True``
    loads the installed entry points as a new process would (``ZOO_DISABLE_PLUGINS``
    and ``ZOO_DISABLE_PLUGIN_AUTOLOAD`` apply).

    >>> with isolated_registry() as registry:
    ...     sorted(registry.plugins)
    ['zoo']
    """
    saved = _registry._registry
    fresh = Registry(autoload=autoload)
    _registry._registry = fresh
    try:
        yield fresh
    finally:
        _registry._registry = saved


def _plugin_name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return f"test-{name}"
