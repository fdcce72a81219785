"""``m``: MaxPool2d; ``a``: AvgPool2d."""

from __future__ import annotations

from ..registry.limits import MAX_KERNEL
from ..registry.specs import Token, Value

POOL_VALUES = (
    Value("kernel", int, 2, min=1, max=MAX_KERNEL),
    Value("stride", int, 2, min=1, max=MAX_KERNEL),
    Value("padding", int, 0, min=0, max=MAX_KERNEL),
)


def _check_padding(ctx, kernel, padding):
    if padding > kernel // 2:  # torch would only fail at the first forward
        raise ctx.error(
            f"padding {padding} is more than half the kernel {kernel}",
            hint=f"use a padding of at most {kernel // 2}, e.g. {ctx.token.name}{kernel}_2_{kernel // 2}",
        )


def build_max(ctx, kernel, stride, padding):
    from torch import nn

    _check_padding(ctx, kernel, padding)
    return nn.MaxPool2d(kernel, stride, padding)


def build_avg(ctx, kernel, stride, padding):
    from torch import nn

    _check_padding(ctx, kernel, padding)
    return nn.AvgPool2d(kernel, stride, padding)


TOKENS = [
    Token("m", POOL_VALUES, "MaxPool2d(kernel, stride, padding)", build_max),
    Token("a", POOL_VALUES, "AvgPool2d(kernel, stride, padding)", build_avg),
]
