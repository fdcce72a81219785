"""Activations by name: the one place a name from `fun` or a token becomes a module."""

from __future__ import annotations

import copy

from torch import nn

from ..errors import OptionError
from ..specs import current_registry

# Activations that may overwrite their input: their backward needs only their output.
_INPLACE = {"relu"}


def create_activation(name, inplace: bool = False) -> nn.Module | None:
    """``"gelu"`` -> ``nn.GELU()``; ``""`` -> ``None`` (no activation); an ``nn.Module``
    class or a function returning a module (``nn.Mish``) -> a new one of it; a module
    (``nn.Mish()``, the document's form) -> a copy of it, one per place it is used, so
    that no two layers share one (an ``nn.PReLU()`` gets its own weight in each). The
    names are zoo's (:data:`zoo.kinds.ACTIVATIONS`) and the plugins' (``zoo_activations``).

    ``inplace=True``: ReLU overwrites its input (``nn.ReLU(inplace=True)``, as timm and
    torchvision build it), saving an allocation and a pass over memory. Only for an input
    nobody else reads: the fresh output of a convolution, a norm or a sum inside a block
    (not a token's input, which may be the user's tensor). Other activations ignore it.

    >>> create_activation(nn.Mish), create_activation("swish"), create_activation(nn.Mish())
    (Mish(), SiLU(), Mish())
    >>> create_activation("relu", inplace=True), create_activation("gelu", inplace=True)
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
    activations = current_registry().activations  # zoo's (zoo.kinds.ACTIVATIONS) and the plugins'
    if name not in activations:
        raise OptionError(f"unknown activation {name!r}; use one of {', '.join(activations)}")
    if inplace and name in _INPLACE:
        return nn.ReLU(inplace=True)
    return activations[name].module()
