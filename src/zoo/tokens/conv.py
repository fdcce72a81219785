"""``c``: Conv2d; ``cnf``: Conv2d -> norm -> activation."""

from __future__ import annotations

from ..registry.limits import MAX_CHANNELS, MAX_KERNEL
from ..registry.specs import Token, Value

CHANNELS = Value("channels", int, None, doc="C", min=1, max=MAX_CHANNELS)
KERNEL = Value("kernel", int, 3, min=1, max=MAX_KERNEL)
STRIDE = Value("stride", int, 1, min=1, max=MAX_KERNEL)
PADDING = Value("padding", int, None, doc="dilation*(kernel-1)//2", min=0, max=MAX_KERNEL * MAX_KERNEL)
GROUPS = Value("groups", int, 1, min=1, max=MAX_CHANNELS)  # C: depthwise (MobileNet's c32_3_1_1_32)
DILATION = Value("dilation", int, 1, min=1, max=MAX_KERNEL)
VALUES = (CHANNELS, KERNEL, STRIDE, PADDING, GROUPS, DILATION)


def build_conv(ctx, channels, kernel, stride, padding, groups=1, dilation=1):
    from torch import nn

    out = channels or ctx.channels
    for side, count in (("incoming", ctx.channels), ("outgoing", out)):
        if count % groups:
            raise ctx.error(
                f"{groups} groups do not divide the {count} {side} channels",
                hint=f"use a number of groups that divides both {ctx.channels} and {out}",
            )
    padding = dilation * (kernel - 1) // 2 if padding is None else padding  # keeps the size at stride 1
    conv = nn.Conv2d(ctx.channels, out, kernel, stride, padding, dilation, groups, bias=ctx.options.bias)
    return conv, out


def build_cnf(ctx, channels, kernel, stride, padding, groups=1, dilation=1):
    from torch import nn

    conv, out = build_conv(ctx, channels, kernel, stride, padding, groups, dilation)
    # in place: the activation's input is the fresh output of the conv or norm just before
    layers = [conv, ctx.norm(ctx.options.norm, out), ctx.activation(ctx.options.fun, inplace=True)]
    return nn.Sequential(*(layer for layer in layers if layer is not None)), out


TOKENS = [
    Token("c", VALUES, "Conv2d(C, channels, kernel, stride, padding, dilation, groups)", build_conv),
    Token("cnf", VALUES, "Conv2d, then the norm of `norm` and the activation of `fun`", build_cnf),
]
