"""``r``: the residual block; ``b``: its branch alone."""

from __future__ import annotations

from ..registry.limits import MAX_CHANNELS, MAX_KERNEL
from ..registry.specs import Token, Value

RESIDUAL_VALUES = (
    Value("channels", int, None, doc="C", min=1, max=MAX_CHANNELS),
    Value("kernel", int, 3, min=1, max=MAX_KERNEL),
    Value("stride", int, 1, min=1, max=MAX_KERNEL),
)


def branch_layers(ctx, channels, kernel, stride):
    """Conv2d -> norm_inside -> fun_inside -> drop_inside -> shift_inside -> Conv2d -> norm_block."""
    from torch import nn

    from ..layers.dropout import create_dropout
    from ..layers.shift import create_shift

    o = ctx.options
    out = channels or ctx.channels
    s1, s2 = (stride, 1) if o.stride_first else (1, stride)
    pad = (kernel - 1) // 2
    layers = [
        nn.Conv2d(ctx.channels, out, kernel, s1, pad, bias=o.bias),
        ctx.norm(o.norm_inside, out),
        ctx.activation(o.fun_inside, inplace=True),  # on the fresh conv/norm output
        create_dropout(o.drop_inside),
        create_shift(o.shift_inside),
        nn.Conv2d(out, out, kernel, s2, pad, bias=o.bias),
        ctx.norm(o.norm_block, out),
    ]
    return [layer for layer in layers if layer is not None], out


def build_branch(ctx, channels, kernel, stride):
    from torch import nn

    layers, out = branch_layers(ctx, channels, kernel, stride)
    return nn.Sequential(*layers), out


def check_odd_kernel(ctx, kernel: int) -> None:
    """Refuse an even kernel in a residual token: its branch would change the image
    size, so it could not be added to the skip (for plugins' residual tokens too)."""
    if kernel % 2 == 0:
        raise ctx.error(
            f"a residual block needs an odd kernel, not {kernel}: with an even kernel its branch "
            "changes the image size and cannot be added to the skip",
            hint=f"use kernel {kernel - 1} or {kernel + 1}",
        )


def build_residual(ctx, channels, kernel, stride):
    from torch import nn

    o = ctx.options
    check_odd_kernel(ctx, kernel)
    layers, out = branch_layers(ctx, channels, kernel, stride)
    if o.align == "pad" and out < ctx.channels:
        raise ctx.error(
            f"align='pad' cannot take {ctx.channels} channels down to {out}: zero padding only adds channels",
            hint=f"give at least {ctx.channels} channels, or use align='conv'",
        )
    before = ctx.before_layers()
    if o.preact and before:  # shared by the branch and the projection (He et al. 2016b)
        block, shared = nn.Sequential(*layers), nn.Sequential(*before)
    else:
        block, shared = nn.Sequential(*before, *layers), None
    return ctx.residual(block, out, stride, before=shared), out


TOKENS = [
    Token("r", RESIDUAL_VALUES, "residual block: align(x) + scale * block(x), then the after-layers "
          "(options align=pad: option A skip; preact: pre-activation)", build_residual),
    Token("b", RESIDUAL_VALUES, "the residual block's branch alone: Conv2d, norm, activation, Conv2d, norm", build_branch),
]
