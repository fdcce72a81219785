"""Dropout by kind (:data:`zoo.kinds.DROPOUTS`); created with p=0, set by ``Change``."""

from __future__ import annotations

from torch import nn

from ..errors import OptionError
from ..kinds import DROPOUTS, describe


def create_dropout(kind: int, p: float = 0.0) -> nn.Module | None:
    """``1`` -> ``nn.Dropout(p)``, ``2`` -> ``nn.Dropout2d(p)``, ``0`` -> ``None``."""
    name = DROPOUTS.get(kind) if isinstance(kind, int) and not isinstance(kind, bool) else None
    if name is None:
        raise OptionError(f"dropout kind {kind!r}: must be one of {describe(DROPOUTS)}")
    return getattr(nn, name)(p) if kind else None
