"""Helpers for testing zoo plugins (and zoo itself) without installing anything.

``register_plugin`` adds a plugin object to the live registry for the duration of a
``with`` block, as pluggy's ``pm.register``/``pm.unregister`` pair or llm's test
helpers do; ``isolated_registry`` swaps in a fresh registry (built-in tokens only by
default) and puts the old one back afterwards.

    >>> from zoo import plugin
    >>> from zoo.registry.registry import get_registry
    >>> from zoo.testing import register_plugin
    >>> class Twice:
    ...     @plugin.hookimpl
    ...     def zoo_tokens(self):
    ...         return [plugin.Token("twice", help="x * 2", build=lambda ctx: None)]
    >>> with register_plugin(Twice(), name="twice-plugin") as info:
    ...     info.tokens
    ['twice']
    >>> "twice" in get_registry().tokens
    False

Nothing here imports torch or pytest.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .registry import registry as _registry
from .registry.registry import PluginInfo, Registry, get_registry

# one import path per name: register_plugin, isolated_registry from zoo.plugin
__all__ = ["install_distribution"]


@contextmanager
def register_plugin(plugin: object, name: str | None = None, version: str = "0.0.0") -> Iterator[PluginInfo]:
    """Register ``plugin`` (a module, class instance or class with ``@zoo.plugin.hookimpl``
    functions) for the duration of the ``with`` block; yields its :class:`PluginInfo`.

    Its tokens, options and presets are usable inside the block exactly as an
    installed plugin's would be, and are gone after it, even when the block raises.
    A plugin whose hook fails raises :class:`zoo.PluginError`, and one claiming a
    name another plugin has raises :class:`zoo.PluginClashError`, right here: a
    test wants to know.

    >>> import zoo.plugin
    >>> class Se:
    ...     @zoo.plugin.hookimpl
    ...     def zoo_tokens(self):
    ...         return [zoo.plugin.Token("sq", [("reduction", int, 16)], build="my_pkg.layers:build_sq")]
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


def install_distribution(
    site: str | os.PathLike,
    dist: str,
    files: Mapping[str, bytes | str],
    entry_points: Mapping[str, str],
    version: str = "1.0.0",
) -> None:
    """Lay out distribution ``dist`` in folder ``site`` exactly as pip installs a wheel:
    ``files`` (path -> content, e.g. ``{"zoo_se.py": "..."}``) plus
    ``<dist>-<version>.dist-info`` with METADATA, ``entry_points`` in group ``zoo``
    (name -> module), INSTALLER, WHEEL and RECORD. With ``site`` on ``PYTHONPATH``, a
    new process sees an installed plugin: the way to test discovery itself.
    """
    site = Path(site)
    data = {path: content.encode() if isinstance(content, str) else content for path, content in files.items()}
    info = f"{dist.replace('-', '_')}-{version}.dist-info"
    lines = "".join(f"{name} = {module}\n" for name, module in entry_points.items())
    data.update({
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nSummary: zoo test fixture\n".encode(),
        f"{info}/entry_points.txt": f"[{_registry.PROJECT}]\n{lines}".encode(),
        f"{info}/INSTALLER": b"pip\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: zoo-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    })
    record = [_record_line(path, content) for path, content in data.items()] + [f"{info}/RECORD,,"]
    data[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    for path, content in data.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(content)


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"
