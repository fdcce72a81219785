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


# Activations that may overwrite their input: their backward needs only their output.
_INPLACE = {"relu"}


def create_activation(name: str, inplace: bool = False) -> nn.Module | None:
    """``"gelu"`` -> ``nn.GELU()``; ``""`` -> ``None`` (no activation).

    ``inplace=True``: ReLU overwrites its input (``nn.ReLU(inplace=True)``, as timm and
    torchvision build it), saving an allocation and a pass over memory. Only for an input
    nobody else reads: the fresh output of a convolution, a norm or a sum inside a block
    (not a token's input, which may be the user's tensor). Other activations ignore it.

    >>> create_activation("relu", inplace=True), create_activation("gelu", inplace=True)
    (ReLU(inplace=True), GELU(approximate='none'))
    """
    if not name:
        return None
    try:
        kind = _ACTIVATIONS[name]
        return kind(inplace=True) if inplace and name in _INPLACE else kind()
    except KeyError:
        raise OptionError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}") from None
