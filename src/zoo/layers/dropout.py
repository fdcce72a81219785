"""Dropout by kind: 1 ``Dropout``, 2 ``Dropout2d``; created with p=0, set by ``Change``."""

from __future__ import annotations

from torch import nn

from ..errors import OptionError


def create_dropout(kind: int, p: float = 0.0) -> nn.Module | None:
    """``1`` -> ``nn.Dropout(p)``, ``2`` -> ``nn.Dropout2d(p)``, ``0`` -> ``None``."""
    if kind == 0:
        return None
    if kind == 1:
        return nn.Dropout(p)
    if kind == 2:
        return nn.Dropout2d(p)
    raise OptionError(f"dropout kind {kind!r}: must be 0 (none), 1 (Dropout) or 2 (Dropout2d)")
