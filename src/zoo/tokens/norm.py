"""``n``: a normalisation layer of the kind given, or of option ``norm``."""

from __future__ import annotations

from ..options import NORM_KINDS
from ..registry import Token, Value


def build_norm(ctx, kind):
    from ..layers import create_norm

    return create_norm(ctx.options.norm if kind is None else kind, ctx.channels)


TOKENS = [
    Token(
        "n",
        (Value("kind", int, None, doc="norm", choices=NORM_KINDS),),
        "norm: 1 BatchNorm2d, 2 LayerNormChannels, 3 InstanceNorm2d, 0 nothing",
        build_norm,
    ),
]
