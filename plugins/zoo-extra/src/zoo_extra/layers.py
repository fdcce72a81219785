"""The torch side of zoo-extra: the modules and the build functions of its tokens."""

from __future__ import annotations

import torch
from torch import nn

from zoo.plugin import MAX_CHANNELS, Residual, check_odd_kernel, create_dropout

__all__ = ["SqueezeExcite", "build_se", "build_bottleneck", "group_norm"]


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): rescale each channel by a gate
    computed from the image's mean channel vector. Keeps the shape.

    The layer names (``fc1``, ``fc2``) and biases match timm's ``SEModule``. ``gate``:
    the module that turns the scores into factors (``nn.Sigmoid()`` when not given).

    >>> SqueezeExcite(32, 8)(torch.randn(2, 32, 5, 5)).shape
    torch.Size([2, 32, 5, 5])
    """

    def __init__(self, channels: int, hidden: int, gate: nn.Module | None = None):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, bias=True)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, bias=True)
        self.gate = gate if gate is not None else nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        s = self.fc2(self.act(self.fc1(s)))  # (B, C, 1, 1)
        return x * self.gate(s)


def build_se(ctx, reduction: int) -> nn.Module:
    """``se[reduction]``: :class:`SqueezeExcite` with ``max(1, C // reduction)`` hidden channels."""
    return SqueezeExcite(ctx.channels, max(1, ctx.channels // reduction), gate=ctx.activation(ctx.options.se_gate))


def build_bottleneck(ctx, channels: int | None, kernel: int, stride: int) -> tuple[Residual, int]:
    """``rb[channels]_[kernel]_[stride]``: the ResNet-50 bottleneck as a ``Residual``.

    block = [norm_before, fun_before] conv1 1x1 -> norm_inside -> fun_inside -> [drop_inside]
            -> conv2 kxk -> norm_inside -> fun_inside -> [drop_inside]
            -> conv3 1x1 (expansion * channels) -> norm_block
    align = Conv2d 1x1 (stride) -> norm_align when the shape changes, else the identity
    (or as the options ``align`` and ``preact`` say, as for ``r``).

    With the default options the Conv2d/BatchNorm2d layers of ``block`` are, in
    module order, timm's conv1, bn1, conv2, bn2, conv3, bn3, and ``align`` is its
    ``downsample``: weights map one to one.
    """
    o = ctx.options
    expansion = o.rb_expansion
    c_in = ctx.channels
    check_odd_kernel(ctx, kernel)
    width = channels if channels is not None else c_in // expansion
    if width < 1:
        raise ctx.error(
            f"the default width is C/{expansion} = {c_in}/{expansion}, less than 1 channel",
            hint=f"give the width, e.g. {ctx.token.name}64",
        )
    out = width * expansion
    if out > MAX_CHANNELS:
        raise ctx.error(
            f"the output has {expansion} x {width} = {out:,} channels, beyond the limit of {MAX_CHANNELS:,}",
            hint="use a smaller width",
        )
    # stride_first: the stride sits on the kxk convolution (ResNet v1.5, torchvision and
    # timm); otherwise on the first 1x1 convolution (the original ResNet v1).
    s1, s2 = (1, stride) if o.stride_first else (stride, 1)
    pad = (kernel - 1) // 2
    before = ctx.before_layers()
    shared = nn.Sequential(*before) if o.preact and before else None  # pre-activation: the projection's too
    layers = [
        *(before if shared is None else []),
        nn.Conv2d(c_in, width, 1, s1, 0, bias=o.bias),
        ctx.norm(o.norm_inside, width),
        ctx.activation(o.fun_inside, inplace=True),  # on the fresh conv/norm output
        create_dropout(o.drop_inside),
        nn.Conv2d(width, width, kernel, s2, pad, bias=o.bias),
        ctx.norm(o.norm_inside, width),
        ctx.activation(o.fun_inside, inplace=True),  # on the fresh conv/norm output
        create_dropout(o.drop_inside),
        nn.Conv2d(width, out, 1, 1, 0, bias=o.bias),
        ctx.norm(o.norm_block, out),
    ]
    block = nn.Sequential(*(layer for layer in layers if layer is not None))
    module = ctx.residual(block, out, stride, before=shared)
    return module, out


def group_norm(channels: int) -> nn.GroupNorm:
    """Norm kind 4: ``GroupNorm`` of the largest divisor of ``channels`` up to 32 groups.

    >>> group_norm(64).num_groups, group_norm(48).num_groups
    (32, 24)
    """
    groups = max(g for g in range(1, min(32, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)
