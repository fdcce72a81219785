"""Which module of a model is its zoo network: one answer for the monitor, the
inspector's cost table and the timm bridge.

A zoo network is a module whose class says ``is_zoo_network = True`` (:class:`zoo.CNN`
does), so that this module needs no import of ``zoo.cnn`` and the modules that ask
(``zoo.monitor``, which ``zoo.cnn`` itself uses) form no import cycle.
"""

from __future__ import annotations

from typing import Any

__all__ = ["find_cnn", "is_network"]


def is_network(module: Any) -> bool:
    """True for a zoo network (:class:`zoo.CNN`, or a plugin's class that says so)."""
    return bool(getattr(type(module), "is_zoo_network", False))


def find_cnn(model: Any) -> Any:
    """The zoo network of ``model``: the model itself when it is a :class:`zoo.CNN`, else
    its ``.cnn`` (``zoo.create``), else the one CNN inside it; None when it holds no
    CNN, or several and none is its ``.cnn``. The inspector's cost table and the
    block monitor both show the blocks of this network.

    >>> import zoo
    >>> from torch import nn
    >>> model = zoo.create("r32m")
    >>> find_cnn(model) is model.cnn, find_cnn(nn.Sequential(model.cnn, nn.Linear(256, 10))) is model.cnn
    (True, True)
    >>> find_cnn(nn.Sequential(zoo.CNN(blocks="c8"), zoo.CNN(blocks="c8"))) is None
    True
    """
    if is_network(model):
        return model
    cnn = getattr(model, "cnn", None)
    if is_network(cnn):
        return cnn
    inside = [m for m in model.modules() if is_network(m)]
    return inside[0] if len(inside) == 1 else None
