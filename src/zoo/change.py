"""``Change``: set dropout and drop-block probabilities after a model is built."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from .errors import OptionError
from .layers import Residual

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
