"""Normalisation layers by kind: 1 BatchNorm2d, 2 LayerNormChannels, 3 InstanceNorm2d."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import OptionError


class LayerNormChannels(nn.Module):
    """Normalise each pixel's C-vector to mean 0 and std 1 over the channel axis.

    Learnable ``weight`` (init 1) and ``bias`` (init 0) of shape ``(1, C, 1, 1)``.

    >>> LayerNormChannels(8)(torch.randn(2, 8, 4, 4)).shape
    torch.Size([2, 8, 4, 4])
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
        var = x.var(dim=1, keepdim=True, unbiased=False)  # (B, 1, H, W)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}"


def create_norm(kind: int, channels: int) -> nn.Module | None:
    """``1`` -> ``BatchNorm2d(C)``, ``2`` -> ``LayerNormChannels(C)``,
    ``3`` -> ``InstanceNorm2d(C, affine=True)``, ``0`` -> ``None``."""
    if kind == 0:
        return None
    if kind == 1:
        return nn.BatchNorm2d(channels)
    if kind == 2:
        return LayerNormChannels(channels)
    if kind == 3:
        return nn.InstanceNorm2d(channels, affine=True)
    raise OptionError(
        f"norm kind {kind!r}: must be 0 (none), 1 (BatchNorm2d), 2 (LayerNormChannels) "
        "or 3 (InstanceNorm2d)"
    )
