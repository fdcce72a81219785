"""Activations by name: the one place a name from `fun` or a token becomes a module."""

from __future__ import annotations

from torch import nn

from ..errors import OptionError
from ..kinds import ACTIVATIONS


def create_activation(name) -> nn.Module | None:
    """``"gelu"`` -> ``nn.GELU()``; ``""`` -> ``None`` (no activation); an ``nn.Module``
    class or a function returning a module (``nn.Mish``) -> a new one of it. The names
    are those of :data:`zoo.kinds.ACTIVATIONS`.

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
    try:
        return getattr(nn, ACTIVATIONS[name])()
    except KeyError:
        raise OptionError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}") from None
