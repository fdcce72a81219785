"""``s``: feature noise, a random per-channel shift of each image in training."""

from __future__ import annotations

from ..registry.specs import Token, Value


def build_shift(ctx, std):
    from ..layers import ShiftFeatures

    return ShiftFeatures(ctx.options.shift if std is None else std)


TOKENS = [
    Token(
        "s",
        (Value("std", float, None, doc="shift", min=0, max=100),),
        "feature noise: in training add std/sqrt(C) * N(0, 1) to each image's channels (set std with Change.shift)",
        build_shift,
    ),
]
