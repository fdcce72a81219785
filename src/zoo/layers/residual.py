"""The residual block: ``out = after(align(x) + drop_path(scale * block(x)))``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import OptionError
from ..registry.specs import Tables
from .activation import create_activation
from .dropout import create_dropout
from .norm import create_norm
from .shift import create_shift


class Residual(nn.Module):
    """A skip connection around a branch, with optional scale, stochastic depth and
    after-layers.

    ``block`` is the branch (for token ``r``: norm_before, Conv2d, norm, activation,
    dropout, Conv2d, norm_block); ``align`` maps the input to the branch's shape
    (``None``: the identity). Plugins build their own residual tokens from this class
    (a bottleneck is just another ``block``) and get drop-block and the debug
    statistics for free.

    Drop-block (stochastic depth) exists only when ``align`` is the identity: in
    training, each sample's branch is dropped with probability ``p`` and kept
    branches are scaled by ``1/(1-p)``; in eval it does nothing.

    ``before`` (the pre-activation block of He et al. 2016b, option ``preact``) runs
    on the input first; the branch and a projecting ``align`` both take its output,
    while an identity skip keeps ``x`` itself.

    >>> from torch import nn
    >>> r = Residual(nn.Conv2d(8, 8, 3, padding=1), channels=8, mult=1)
    >>> r(torch.randn(2, 8, 4, 4)).shape
    torch.Size([2, 8, 4, 4])
    """

    def __init__(
        self,
        block: nn.Module,
        align: nn.Module | None = None,
        *,
        channels: int,
        mult: int = 0,
        scale: float = 1.0,
        after: nn.Module | None = None,
        noise: float = 0.0,
        before: nn.Module | None = None,
    ):
        super().__init__()
        self.before = before  # registered first: its weights come first, as they run first
        self.block = block
        self.align = align if align is not None else nn.Identity()
        if mult == 0:
            self.scale = None
        elif mult == 1:
            self.scale = nn.Parameter(torch.full((), float(scale)))  # trainable scalar
        elif mult == 2:
            self.scale = nn.Parameter(torch.full((1, channels, 1, 1), float(scale)))  # per output channel
        else:
            raise OptionError(
                f"mult={mult!r}: must be 0 (no scale), 1 (a trainable scalar) or 2 (a trainable "
                "vector of one value per output channel)"
            )
        self.after = after
        # add the skip into the branch's own output (no new tensor) when the branch ends in
        # a layer whose backward does not read its output: a conv, a linear or a norm
        self.sum_in_place = _output_unread(block)
        self.p = 0.0  # drop-block probability, set by Change.drop_block
        self.noise = float(noise)  # std of the branch's multiplicative noise in training (Change.branch_noise)
        # debug statistics (zoo.monitor.BlockStats) while debug is on, else None: the
        # forward's only debug cost when off is this one check
        self.stats = None

    @property
    def identity_align(self) -> bool:
        """True when the skip is ``x`` itself, the only case with drop-block."""
        return isinstance(self.align, nn.Identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W)
        if self.before is None:
            skip = self.align(x)  # (B, C, H', W')
            branch = self.block(x)  # (B, C, H', W')
        else:
            pre = self.before(x)  # (B, C_in, H, W)
            skip = self.align(x if self.identity_align else pre)
            branch = self.block(pre)
        if self.scale is not None:
            branch = branch * self.scale
        if self.stats is not None and self.training:  # the block's own share, before the noise (as the original)
            self.stats.observe(skip, branch)
        if self.noise > 0.0 and self.training:  # the original's set_block_drops(std=...)
            factor = torch.randn((branch.shape[0],) + (1,) * (branch.dim() - 1), dtype=branch.dtype, device=branch.device)
            branch = branch * (1.0 + self.noise * factor)  # (B, 1, 1, 1): one factor per image
        if self.p > 0.0 and self.training:
            keep = torch.empty((branch.shape[0],) + (1,) * (branch.dim() - 1), dtype=branch.dtype, device=branch.device)
            keep.bernoulli_(1.0 - self.p).div_(1.0 - self.p)  # (B, 1, 1, 1): 0 or 1/(1-p)
            branch = branch * keep
        out = branch.add_(skip) if self.sum_in_place and branch is not skip else skip + branch
        if self.after is not None:
            out = self.after(out)
        return out

    def extra_repr(self) -> str:
        parts = [f"p={self.p:g}"] if self.identity_align else []
        if self.noise:
            parts.append(f"noise={self.noise:g}")
        return ", ".join(parts)


class PadAlign(nn.Module):
    """The skip of He et al. 2016's option A: keep every ``stride``-th pixel and add
    zero channels up to ``out_channels``. No parameters and no multiply-accumulates
    (option ``align="pad"``).

    >>> PadAlign(16, 32, 2)(torch.ones(1, 16, 8, 8)).shape
    torch.Size([1, 32, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise OptionError(
                f"align='pad' cannot take {in_channels} channels down to {out_channels}: zero "
                "padding only adds channels; use align='conv' for this block"
            )
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W)
        if self.stride != 1:
            # the branch's odd kernel with padding (k-1)//2 gives ceil(H/stride) rows: so does this
            x = x[:, :, :: self.stride, :: self.stride]  # (B, C_in, H', W')
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))  # (B, C_out, H', W')

    def extra_repr(self) -> str:
        return f"{self.in_channels}->{self.out_channels}, s:{self.stride}"


_UNREAD_OUTPUT = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.InstanceNorm2d)


def _output_unread(block: nn.Module) -> bool:
    """Whether ``block``'s last layer is one whose backward never reads its output (so
    the output may be overwritten): a convolution, linear layer or norm."""
    from .norm import LayerNormChannels

    last = block
    while isinstance(last, nn.Sequential) and len(last):
        last = last[-1]
    return isinstance(last, (*_UNREAD_OUTPUT, LayerNormChannels))


def residual_from_options(
    block: nn.Module, in_channels: int, out_channels: int, stride: int, options, tables: Tables,
    before: nn.Module | None = None,
) -> Residual:
    """A :class:`Residual` around ``block`` with the skip, scale and after-layers that
    the options ask for: the one place these are chosen, for ``r`` and for
    plugins' residual tokens alike.

    The skip is the identity when the shape is kept, else (``align="conv"``)
    ``Conv2d(1x1, stride)`` and the norm of ``norm_align``, or (``align="pad"``, He et
    al.'s option A) every stride-th pixel with zero channels added; then
    ``mult``/``scale``; after the sum the norm of ``norm_after``, the activation
    ``fun_after`` and the dropout ``drop_after``, their kinds looked up in ``tables`` (a
    token: ``ctx.residual(block, out, stride)``). ``before`` (the layers of
    ``ctx.before_layers()``, with option ``preact``) runs first, for the branch and a
    projecting skip alike.

    >>> from zoo import Config
    >>> from zoo.registry.registry import get_registry
    >>> r = residual_from_options(nn.Conv2d(8, 16, 3, 2, 1), 8, 16, 2, Config(mult=1), get_registry())
    >>> r(torch.randn(2, 8, 8, 8)).shape
    torch.Size([2, 16, 4, 4])
    """
    align = None
    if (out_channels != in_channels or stride != 1) and options.align == "pad":
        align = PadAlign(in_channels, out_channels, stride)
    elif out_channels != in_channels or stride != 1:
        norm = create_norm(options.norm_align, out_channels, tables.norms)
        conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)
        align = nn.Sequential(conv, *([norm] if norm is not None else []))
    after = [
        create_norm(options.norm_after, out_channels, tables.norms),
        create_activation(options.fun_after, tables.activations, inplace=True),  # on the fresh sum (or its norm)
        create_dropout(options.drop_after),
        create_shift(options.shift_after),
    ]
    after = [layer for layer in after if layer is not None]
    return Residual(
        block, align, channels=out_channels, mult=options.mult, scale=options.scale,
        after=nn.Sequential(*after) if after else None, noise=options.branch_noise, before=before,
    )
