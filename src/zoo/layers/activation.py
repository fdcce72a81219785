"""Activations by name: the one place a name from `fun` or a token becomes a module."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from torch import nn

from ..errors import OptionError
from ..registry.specs import Activation

# Activations that may overwrite their input: their backward needs only their output.
_INPLACE = {"relu"}


def create_activation(name, activations: Mapping[str, Activation], inplace: bool = False) -> nn.Module | None:
    """``"gelu"`` -> ``nn.GELU()``; ``""`` -> ``None`` (no activation); an ``nn.Module``
    class or a function returning a module (``nn.Mish``) -> a new one of it; a module
    (``nn.Mish()``, the document's form) -> a copy of it, one per place it is used, so
    that no two layers share one (an ``nn.PReLU()`` gets its own weight in each). The
    names are those of ``activations``: zoo's (:data:`zoo.kinds.ACTIVATIONS`) and the
    plugins' (``zoo_activations``), as the registry passes them (a token:
    ``ctx.activation(name)``).

    ``inplace=True``: ReLU overwrites its input (``nn.ReLU(inplace=True)``, as timm and
    torchvision build it), saving an allocation and a pass over memory. Only for an input
    nobody else reads: the fresh output of a convolution, a norm or a sum inside a block
    (not a token's input, which may be the user's tensor). Other activations ignore it.

    >>> from zoo.registry.registry import get_registry
    >>> table = get_registry().activations
    >>> create_activation(nn.Mish, table), create_activation("swish", table), create_activation(nn.Mish(), table)
    (Mish(), SiLU(), Mish())
    >>> create_activation("relu", table, inplace=True), create_activation("gelu", table, inplace=True)
    (ReLU(inplace=True), GELU(approximate='none'))
    """
    if isinstance(name, nn.Module):
        return copy.deepcopy(name)
    if callable(name) and not isinstance(name, str):
        module = name()
        if not isinstance(module, nn.Module):
            raise OptionError(f"activation {name!r} made {type(module).__name__}, not an nn.Module")
        return module
    if not name:
        return None
    if name not in activations:
        raise OptionError(f"unknown activation {name!r}; use one of {', '.join(activations)}")
    if inplace and name in _INPLACE:
        return nn.ReLU(inplace=True)
    return activations[name].module()
