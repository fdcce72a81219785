"""Feature noise: the original's ``ShiftFeatures``, a random shift of each channel."""

from __future__ import annotations

import math

import torch
from torch import nn


class ShiftFeatures(nn.Module):
    """In training, add to each image a random per-channel shift
    ``std / sqrt(C) * N(0, 1)`` of shape ``(B, C, 1, 1)``; the identity in eval and while
    ``std`` is 0. ``Change.shift`` sets ``std`` of every such layer.

    >>> layer = ShiftFeatures(0.5)
    >>> x = torch.zeros(2, 4, 3, 3)
    >>> bool((layer.eval()(x) == 0).all()), layer.train()(x)[0, :, 0, 0].shape
    (True, torch.Size([4]))
    """

    def __init__(self, std: float = 0.0):
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        if not self.training or self.std == 0.0:
            return x
        shift = torch.randn(x.shape[0], x.shape[1], *(1,) * (x.dim() - 2), dtype=x.dtype, device=x.device)
        return x + shift * (self.std / math.sqrt(x.shape[1]))  # (B, C, 1, 1) broadcast

    def extra_repr(self) -> str:
        return f"std={self.std:g}"


def create_shift(std: float) -> ShiftFeatures | None:
    """A :class:`ShiftFeatures` of ``std``, or ``None`` for 0 (an option left off)."""
    return ShiftFeatures(std) if std else None
