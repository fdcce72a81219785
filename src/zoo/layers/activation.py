"""Activations by name: the one place a name from `fun` or a token becomes a module."""

from __future__ import annotations

from torch import nn

from ..errors import OptionError
from ..specs import current_registry


def create_activation(name) -> nn.Module | None:
    """``"gelu"`` -> ``nn.GELU()``; ``""`` -> ``None`` (no activation); an ``nn.Module``
    class or a function returning a module (``nn.Mish``) -> a new one of it. The names
    are zoo's (:data:`zoo.kinds.ACTIVATIONS`) and the plugins' (``zoo_activations``).

    >>> create_activation(nn.Mish), create_activation("swish")
    (Mish(), SiLU())
    """
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
    return activations[name].module()
