"""The torch modules that tokens build, each with its ``create_*`` factory."""

from .activation import create_activation
from .dropout import create_dropout
from .norm import LayerNormChannels, create_norm
from .pool import GLOBAL_POOLS, create_pool
from .residual import PadAlign, Residual, residual_from_options
from .shift import ShiftFeatures, create_shift

__all__ = [
    "create_activation",
    "create_dropout",
    "create_norm",
    "create_pool",
    "GLOBAL_POOLS",
    "LayerNormChannels",
    "PadAlign",
    "Residual",
    "residual_from_options",
    "ShiftFeatures",
    "create_shift",
]
