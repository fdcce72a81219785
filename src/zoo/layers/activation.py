"""Activations by name: the one place a name from `fun` or a token becomes a module."""

from __future__ import annotations

from torch import nn

from ..errors import OptionError
from ..kinds import ACTIVATIONS


def create_activation(name: str) -> nn.Module | None:
    """``"gelu"`` -> ``nn.GELU()``; ``""`` -> ``None`` (no activation). The names are
    those of :data:`zoo.kinds.ACTIVATIONS`."""
    if not name:
        return None
    try:
        return getattr(nn, ACTIVATIONS[name])()
    except KeyError:
        raise OptionError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}") from None
