"""``Change``: set dropout and drop-block probabilities after a model is built."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from .errors import OptionError, did_you_mean
from .layers.residual import Residual
from .layers.shift import ShiftFeatures

# weight initialisations of Change.init: name -> (function of the weight, what it is)
INITS = {
    "kaiming_normal": (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"), "He normal, fan_in, gain sqrt(2)"),
    "kaiming_uniform": (lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"), "He uniform, fan_in, gain sqrt(2)"),
    "xavier_normal": (nn.init.xavier_normal_, "Glorot normal"),
    "xavier_uniform": (nn.init.xavier_uniform_, "Glorot uniform"),
    "orthogonal": (nn.init.orthogonal_, "orthogonal rows"),
    "trunc_normal": (lambda w: nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04), "normal, std 0.02, cut at 2 std (ViT's)"),
}

# one import path per name: Change is zoo.Change
__all__: list[str] = []


def _per_layer(given: float | Sequence[float], layers: list, what: str, name: str,
               valid: Callable[[float], bool], rule: str) -> int:
    """Set attribute ``name`` of each layer to ``given`` (a number, or a list whose last
    value repeats for the remaining layers), each value checked by ``valid``; returns
    how many layers."""
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        values = [given]
    elif isinstance(given, Iterable) and not isinstance(given, (str, bytes)):
        values = list(given)
        if not values:
            raise OptionError(f"{what}: {name} is an empty list; give a number or a list of them")
    else:
        raise OptionError(f"{what}: {name} must be a number or a list of numbers, not {given!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not valid(value):
            raise OptionError(f"{what}: {name}={value!r} {rule}")
    values = [float(v) for v in values]
    for index, layer in enumerate(layers):
        setattr(layer, name, values[min(index, len(values) - 1)])
    return len(layers)


def _probability(value: float) -> bool:
    return 0 <= value < 1


def _amount(value: float) -> bool:
    return 0 <= value < math.inf


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
        return _per_layer(p, layers, "Change.dropout", "p", _probability, "is not a probability; it must satisfy 0 <= p < 1")

    @staticmethod
    def drop_block(model: nn.Module, p: float | Sequence[float]) -> int:
        """Set the drop-block probability of every residual block whose skip is the
        identity, in module order; returns how many. List semantics as ``dropout``."""
        blocks = [m for m in model.modules() if isinstance(m, Residual) and m.identity_align]
        return _per_layer(p, blocks, "Change.drop_block", "p", _probability,
                          "is not a probability; it must satisfy 0 <= p < 1")

    @staticmethod
    def shift(model: nn.Module, std: float | Sequence[float]) -> int:
        """Set ``std`` of every feature shift (token ``s``, options ``shift_inside`` and
        ``shift_after``), in module order; returns how many. List semantics as
        ``dropout``; 0 turns a shift off."""
        layers = [m for m in model.modules() if isinstance(m, ShiftFeatures)]
        return _per_layer(std, layers, "Change.shift", "std", _amount, "must be a finite number >= 0")

    @staticmethod
    def branch_noise(model: nn.Module, std: float | Sequence[float]) -> int:
        """Set the multiplicative noise of every residual branch (the original's
        ``set_block_drops(std=...)``): in training the branch is multiplied by
        ``1 + std * N(0, 1)``, one factor per image; returns how many blocks."""
        blocks = [m for m in model.modules() if isinstance(m, Residual)]
        return _per_layer(std, blocks, "Change.branch_noise", "noise", _amount, "must be a finite number >= 0")

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
