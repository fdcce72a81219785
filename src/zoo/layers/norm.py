"""Normalisation layers by kind (the table :data:`zoo.kinds.NORMS`)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import OptionError
from ..kinds import describe
from ..registry.specs import Norm


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


def BatchNorm2d(channels: int) -> nn.Module:  # noqa: N802 - the kind's name in zoo.kinds.NORMS
    return nn.BatchNorm2d(channels)


def InstanceNorm2d(channels: int) -> nn.Module:  # noqa: N802
    return nn.InstanceNorm2d(channels, affine=True)  # learnable (the document has none)


def create_norm(kind: int, channels: int, norms: Mapping[int, Norm]) -> nn.Module | None:
    """The norm layer of ``kind`` in ``norms``: zoo's (:data:`zoo.kinds.NORMS`: ``1``
    ``BatchNorm2d(C)``, ``2`` ``LayerNormChannels(C)``, ``3`` ``InstanceNorm2d(C,
    affine=True)``) and the plugins' (``zoo_norms``), as the registry passes them (a
    token: ``ctx.norm(kind)``); ``None`` for ``0``."""
    if kind == 0 and not isinstance(kind, bool):
        return None
    spec = norms.get(kind) if isinstance(kind, int) and not isinstance(kind, bool) else None
    if spec is None:
        known = {0: "nothing", **{k: n.name for k, n in norms.items()}}
        raise OptionError(f"norm kind {kind!r}: must be one of {describe(known)}")
    return spec.module(channels)
