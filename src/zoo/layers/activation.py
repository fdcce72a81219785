"""Activations by name: the one place a name from `fun` or a token becomes a module."""

from __future__ import annotations

from torch import nn

from ..errors import OptionError
from ..options import ACTIVATIONS

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "relu6": nn.ReLU6,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "swish": nn.SiLU,
    "hswish": nn.Hardswish,
    "hsigmoid": nn.Hardsigmoid,
}
assert tuple(_ACTIVATIONS) == ACTIVATIONS  # one list of names, torch-free in options.py


def create_activation(name: str) -> nn.Module | None:
    """``"gelu"`` -> ``nn.GELU()``; ``""`` -> ``None`` (no activation)."""
    if not name:
        return None
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise OptionError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}") from None
