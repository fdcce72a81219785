"""The torch modules that tokens build, each with its ``create_*`` factory."""

from .activation import create_activation
from .norm import create_norm
from .pool import GLOBAL_POOLS, create_pool
from .residual import PadAlign, residual_from_options
from .shift import ShiftFeatures, create_shift

# one import path per name: Residual and LayerNormChannels are zoo's, create_dropout zoo.plugin's
__all__ = [
    "create_activation",
    "create_norm",
    "create_pool",
    "GLOBAL_POOLS",
    "PadAlign",
    "residual_from_options",
    "ShiftFeatures",
    "create_shift",
]
