"""``c``: Conv2d; ``cnf``: Conv2d -> norm -> activation."""

from __future__ import annotations

from ..registry import MAX_CHANNELS, MAX_KERNEL, Token, Value

CHANNELS = Value("channels", int, None, doc="C", min=1, max=MAX_CHANNELS)
KERNEL = Value("kernel", int, 3, min=1, max=MAX_KERNEL)
STRIDE = Value("stride", int, 1, min=1, max=MAX_KERNEL)
PADDING = Value("padding", int, None, doc="(kernel-1)//2", min=0, max=MAX_KERNEL)


def build_conv(ctx, channels, kernel, stride, padding):
    from torch import nn

    out = channels or ctx.channels
    padding = (kernel - 1) // 2 if padding is None else padding
    conv = nn.Conv2d(ctx.channels, out, kernel, stride, padding, bias=ctx.options.bias)
    return conv, out


def build_cnf(ctx, channels, kernel, stride, padding):
    from torch import nn

    from ..layers import create_activation, create_norm

    conv, out = build_conv(ctx, channels, kernel, stride, padding)
    # in place: the activation's input is the fresh output of the conv or norm just before
    layers = [conv, create_norm(ctx.options.norm, out), create_activation(ctx.options.fun, inplace=True)]
    return nn.Sequential(*(layer for layer in layers if layer is not None)), out


TOKENS = [
    Token("c", (CHANNELS, KERNEL, STRIDE, PADDING), "Conv2d(C, channels, kernel, stride, padding)", build_conv),
    Token("cnf", (CHANNELS, KERNEL, STRIDE, PADDING), "Conv2d, then the norm of `norm` and the activation of `fun`", build_cnf),
]
