"""The hook markers a plugin uses (``@hookimpl``) and the hooks it may implement
(:class:`ZooSpec`), through pluggy under the project name ``zoo``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from .specs import Activation, Norm, Param, Token

# one import path per name: hookimpl is zoo.plugin.hookimpl
__all__ = ["PROJECT", "hookspec", "ZooSpec"]

PROJECT = "zoo"  # the entry-point group, the hook prefix and the built-in plugin's name
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ZooSpec:
    """The hooks a zoo plugin may implement; each takes no arguments."""

    @hookspec
    def zoo_tokens(self) -> list[Token]:
        """Return the tokens this plugin adds to the block language."""

    @hookspec
    def zoo_presets(self) -> list[str | Path]:
        """Return YAML preset files or folders of them."""

    @hookspec
    def zoo_options(self) -> list[Param]:
        """Return options of ``Config`` that this plugin's tokens read."""

    @hookspec
    def zoo_activations(self) -> list[Activation]:
        """Return named activations (``fun="mish"``); each is also a token of its name."""

    @hookspec
    def zoo_norms(self) -> list[Norm]:
        """Return norm kinds (``norm=4``, the token ``n4``)."""
