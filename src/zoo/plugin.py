"""Everything a token plugin uses, in one import: ``from zoo import plugin``.

A plugin's hook module (imported by ``zoo tokens``, ``zoo list``: no torch) needs the
declarations; its build functions (imported when a network is built) need the layer
factories. Both come from here, so a plugin depends on this module alone and zoo may
move its internals without breaking it.

Declarations (torch-free):

- :func:`hookimpl` marks the hooks ``zoo_tokens()``, ``zoo_options()``, ``zoo_presets()``,
  ``zoo_activations()``, ``zoo_norms()``
- :class:`Token` (name, values, help, build), :class:`Value` (a token's positional
  value: name, type, default, doc, min, max, choices), :class:`Option` (a network
  option a plugin adds: name, default, help, choices): both make a
  :class:`zoo.registry.specs.Param`, the one parameter type
- :class:`Activation` (``fun="mish"`` and a token ``mish``), :class:`Norm` (a norm
  kind: ``norm=4`` and the token ``n4``), for the hooks ``zoo_activations()`` and
  ``zoo_norms()``
- limits: :data:`MAX_CHANNELS`, :data:`MAX_KERNEL`, :data:`MAX_REPEAT`

Building (torch is imported on first use of these names):

- :class:`BuildContext` (``ctx``: ``ctx.channels``, ``ctx.options``, ``ctx.error()``;
  ``ctx.norm(kind)``, ``ctx.activation(name)`` and ``ctx.residual(block, out, stride)``
  build from the tables of zoo's and the plugins' kinds that ``ctx`` carries;
  ``ctx.before_layers()`` opens a residual branch, or with option ``preact`` goes to
  ``ctx.residual(..., before=...)``, shared with the projection)
- :func:`create_dropout`, :class:`Residual`, :func:`check_odd_kernel` (a residual
  branch keeps the image size)

Testing: :func:`register_plugin`, :func:`isolated_registry` (see ``zoo.testing``).

>>> from zoo import plugin
>>> plugin.Token("shuffle", [plugin.Value("groups", int, 2, min=1)], help="channel shuffle",
...              build="zoo_shuffle.layers:build_shuffle").name
'shuffle'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from .registry.hooks import hookimpl
from .registry.limits import MAX_CHANNELS, MAX_KERNEL, MAX_REPEAT
from .registry.specs import Activation, Norm, Option, Token, Value
from .testing import isolated_registry, register_plugin
from .tokens.residual import check_odd_kernel

_LAZY = {  # torch-backed: imported when a build function first asks
    "BuildContext": "zoo.cnn",
    "create_dropout": "zoo.layers.dropout",
    "Residual": "zoo.layers.residual",
}

__all__ = [
    "hookimpl",
    "Token",
    "Value",
    "Option",
    "Activation",
    "Norm",
    "MAX_CHANNELS",
    "MAX_KERNEL",
    "MAX_REPEAT",
    "check_odd_kernel",
    "register_plugin",
    "isolated_registry",
    *_LAZY,
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


# for type checkers: the names of _LAZY ("as": re-exported)
if TYPE_CHECKING:
    from .cnn import BuildContext as BuildContext
    from .layers.dropout import create_dropout as create_dropout
    from .layers.residual import Residual as Residual
