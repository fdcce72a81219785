"""The kinds of layer an option or token chooses by name or number: one table each.

Options check against these tables, tokens are listed from them, the layer factories
(``zoo.layers``) build from them, and error messages and help text are written from
them, so a kind is added in one place. No torch here: ``zoo tokens`` reads them.

>>> describe(NORMS)
'1 BatchNorm2d, 2 LayerNormChannels, 3 InstanceNorm2d, 0 nothing'
"""

from __future__ import annotations

from typing import Any

from .errors import OptionError, did_you_mean

__all__ = ["ACTIVATIONS", "NORMS", "DROPOUTS", "POOLS", "SCALES", "describe", "check_activation"]

# activation name (fun, fun_inside, fun_after, and a token each) -> torch.nn class
ACTIVATIONS: dict[str, str] = {
    "relu": "ReLU",
    "gelu": "GELU",
    "relu6": "ReLU6",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "swish": "SiLU",
    "hswish": "Hardswish",
    "hsigmoid": "Hardsigmoid",
}
# norm kind (norm, norm_inside, ..., the n token) -> the layer
NORMS: dict[int, str] = {0: "nothing", 1: "BatchNorm2d", 2: "LayerNormChannels", 3: "InstanceNorm2d"}
# dropout kind (drop, drop_inside, drop_after, the d token) -> the layer
DROPOUTS: dict[int, str] = {0: "nothing", 1: "Dropout", 2: "Dropout2d"}
# global pool kind (pool) -> the layer after the blocks
POOLS: dict[int, str] = {0: "nothing", 1: "AdaptiveAvgPool2d(1)", 2: "AdaptiveMaxPool2d(1)"}
# branch scale kind (mult) -> what multiplies a residual branch
SCALES: dict[int, str] = {0: "nothing", 1: "a trainable scalar", 2: "a trainable (1, C, 1, 1) vector"}


def describe(table: dict[int, str]) -> str:
    """``"1 BatchNorm2d, 2 LayerNormChannels, 0 nothing"``: the kinds first, none last."""
    kinds = sorted(table, key=lambda k: (k == 0, k))
    return ", ".join(f"{k} {table[k]}" for k in kinds)


def check_activation(what: str, value: Any) -> Any:
    """``value`` as an activation: a name of :data:`ACTIVATIONS` (``None`` and ``""``:
    none), or an ``nn.Module`` class or a function returning a module (``nn.Mish``); an
    :class:`OptionError` that starts with ``what`` otherwise. Options and preset heads
    both check with this."""
    if value is None:
        value = ""
    if callable(value) and not isinstance(value, str):  # nn.Mish, or a function returning a module
        return value
    if not isinstance(value, str) or (value and value not in ACTIVATIONS):
        raise OptionError(
            f"{what}: not an activation{did_you_mean(str(value), ACTIVATIONS)} "
            f"(use one of {', '.join(ACTIVATIONS)}, \"\" for none, or an nn.Module class such as nn.Mish)"
        )
    return value
