"""``Change``: set dropout and drop-block probabilities after a model is built."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from .errors import OptionError, did_you_mean
from .layers import Residual, ShiftFeatures

# weight initialisations of Change.init: name -> (function of the weight, what it is)
INITS = {
    "kaiming_normal": (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"), "He normal, fan_in, gain sqrt(2)"),
    "kaiming_uniform": (lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"), "He uniform, fan_in, gain sqrt(2)"),
    "xavier_normal": (nn.init.xavier_normal_, "Glorot normal"),
    "xavier_uniform": (nn.init.xavier_uniform_, "Glorot uniform"),
    "orthogonal": (nn.init.orthogonal_, "orthogonal rows"),
    "trunc_normal": (lambda w: nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04), "normal, std 0.02, cut at 2 std (ViT's)"),
}

__all__ = ["Change"]


def _probabilities(p: float | Sequence[float], count: int, what: str) -> list[float]:
    """``p`` for each of ``count`` layers; a list repeats its last value."""
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        values = [float(p)]
    elif isinstance(p, Iterable) and not isinstance(p, (str, bytes)):
        values = list(p)
        if not values:
            raise OptionError(f"{what}: p is an empty list; give a probability or a list of them")
    else:
        raise OptionError(f"{what}: p must be a number or a list of numbers, not {p!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise OptionError(f"{what}: p={value!r} is not a probability; it must satisfy 0 <= p < 1")
    values = [float(v) for v in values]
    return values[:count] + [values[-1]] * max(0, count - len(values))


def _amounts(std: float | Sequence[float], count: int, what: str) -> list[float]:
    """``std`` for each of ``count`` layers, each a finite number >= 0; a list repeats its last."""
    values = [std] if isinstance(std, (int, float)) and not isinstance(std, bool) else std
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable) or not (values := list(values)):
        raise OptionError(f"{what}: std must be a number or a non-empty list of numbers, not {std!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise OptionError(f"{what}: std={value!r} must be a finite number >= 0")
    values = [float(v) for v in values]
    return values[:count] + [values[-1]] * max(0, count - len(values))


class Change:
    """Change a built model in place.

    >>> from zoo import CNN
    >>> m = CNN(blocks="cnf32 m d cnf64 m d")
    >>> Change.dropout(m, [0.1, 0.2])
    2
    """

    @staticmethod
    def dropout(model: nn.Module, p: float | Sequence[float]) -> int:
        """Set ``p`` of every ``Dropout*`` layer, in module order; returns how many.

        A list gives the first layers its values and repeats its last for the rest.
        """
        layers = [m for m in model.modules() if isinstance(m, _DropoutNd)]
        for layer, value in zip(layers, _probabilities(p, len(layers), "Change.dropout")):
            layer.p = value
        return len(layers)

    @staticmethod
    def drop_block(model: nn.Module, p: float | Sequence[float]) -> int:
        """Set the drop-block probability of every residual block whose skip is the
        identity, in module order; returns how many. List semantics as ``dropout``."""
        blocks = [m for m in model.modules() if isinstance(m, Residual) and m.identity_align]
        for block, value in zip(blocks, _probabilities(p, len(blocks), "Change.drop_block")):
            block.p = value
        return len(blocks)

    @staticmethod
    def shift(model: nn.Module, std: float | Sequence[float]) -> int:
        """Set ``std`` of every feature shift (token ``s``, options ``shift_inside`` and
        ``shift_after``), in module order; returns how many. List semantics as
        ``dropout``; 0 turns a shift off."""
        layers = [m for m in model.modules() if isinstance(m, ShiftFeatures)]
        for layer, value in zip(layers, _amounts(std, len(layers), "Change.shift")):
            layer.std = value
        return len(layers)

    @staticmethod
    def branch_noise(model: nn.Module, std: float | Sequence[float]) -> int:
        """Set the multiplicative noise of every residual branch (the original's
        ``set_block_drops(std=...)``): in training the branch is multiplied by
        ``1 + std * N(0, 1)``, one factor per image; returns how many blocks."""
        blocks = [m for m in model.modules() if isinstance(m, Residual)]
        for block, value in zip(blocks, _amounts(std, len(blocks), "Change.branch_noise")):
            block.noise = value
        return len(blocks)

    @staticmethod
    def init(model: nn.Module, kind: str = "kaiming_normal") -> int:
        """Re-initialise the weight of every ``Conv*`` and ``Linear`` with ``kind`` (one of
        :data:`INITS`) and set their biases to zero; returns how many layers. Norm
        layers, scales and everything else keep their values.

        >>> from zoo import CNN
        >>> Change.init(CNN(blocks="cnf8 r16_3_2"), "xavier_uniform")
        4
        """
        if kind not in INITS:
            raise OptionError(f"Change.init: unknown kind {kind!r}{did_you_mean(str(kind), INITS)} "
                              f"(one of {', '.join(INITS)})")
        initialise = INITS[kind][0]
        layers = [m for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
        with torch.no_grad():
            for layer in layers:
                initialise(layer.weight)
                if layer.bias is not None:
                    layer.bias.zero_()
        return len(layers)

    @staticmethod
    def linear(model: nn.Module) -> int:
        """The document's re-initialisation: Kaiming-normal weights (fan_in, ReLU gain) and
        zero biases for every convolution and Linear; returns how many layers."""
        return Change.init(model, "kaiming_normal")
