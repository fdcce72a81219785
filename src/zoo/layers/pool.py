"""The global pool after the blocks, by kind (:data:`zoo.kinds.POOLS`)."""

from __future__ import annotations

from torch import nn

from ..errors import OptionError
from ..kinds import POOLS, describe

GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)  # kinds 1 and 2, in order


def create_pool(kind: int) -> nn.Module | None:
    """``1`` -> ``AdaptiveAvgPool2d(1)``, ``2`` -> ``AdaptiveMaxPool2d(1)``, ``0`` -> ``None``."""
    if not (isinstance(kind, int) and not isinstance(kind, bool) and kind in POOLS):
        raise OptionError(f"pool kind {kind!r}: must be one of {describe(POOLS)}")
    return GLOBAL_POOLS[kind - 1](1) if kind else None
