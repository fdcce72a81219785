"""Augmentation of whole batches on the training device, after the transfer.

The document augments each CIFAR batch on the GPU (``on_train_after_batch_transfer``)
with TrivialAugmentWide, a horizontal flip, a crop of 32 with padding 4, RandomErasing
(p=0.1), scaling to 0..1 and normalisation. Applied to a batch tensor, a
torchvision transform draws ONE set of parameters for the whole batch; zoo draws them
per image instead (flip, crop and erasing are vectorised here; TrivialAugmentWide,
from ``torchvision.transforms.v2``, gets its own operation for each group of
``group`` images), so a batch still sees many different images.

=========  ========================================================================
``aug``    training batches
=========  ========================================================================
document   TrivialAugmentWide, flip, crop with padding size/8, erasing 0.1, normalise
basic      flip, crop with padding size/8, normalise
none       normalise
=========  ========================================================================

Validation batches are only normalised.

>>> augment = BatchAugment("basic", mean=(0.5,), std=(0.5,))
>>> x = torch.full((4, 1, 8, 8), 255, dtype=torch.uint8)
>>> augment(x, train=False).unique().tolist()
[1.0]
>>> augment(x, train=True).shape
torch.Size([4, 1, 8, 8])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import OptionError, did_you_mean

# one import path per name: AUGMENTATIONS, BatchAugment from zoo.train
__all__ = ["random_flip", "random_crop", "random_erasing"]

AUGMENTATIONS = ("document", "basic", "none")


def random_flip(x: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """Each image flipped left-right with probability ``p``."""
    flip = torch.rand(x.shape[0], device=x.device) < p  # (B,)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Each image padded with zeros by ``padding`` and cropped back to its size at a
    random place of its own (torchvision's ``RandomCrop(size, padding)``, per image)."""
    if padding <= 0:
        return x
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    top = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    left = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]  # (B, C, H, W)


def random_erasing(x: torch.Tensor, p: float = 0.1, scale: tuple[float, float] = (0.02, 0.33),
                   ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """Each image, with probability ``p``, gets a rectangle of ``scale`` of its area and
    aspect ``ratio`` set to 0 (torchvision's ``RandomErasing``, per image)."""
    b, _, h, w = x.shape
    device = x.device
    area = h * w * torch.empty(b, device=device).uniform_(*scale)
    log_ratio = torch.empty(b, device=device).uniform_(torch.tensor(ratio[0]).log().item(),
                                                        torch.tensor(ratio[1]).log().item())
    aspect = log_ratio.exp()
    eh = (area * aspect).sqrt().round().clamp(1, h).long()
    ew = (area / aspect).sqrt().round().clamp(1, w).long()
    top = (torch.rand(b, device=device) * (h - eh + 1)).floor().long()
    left = (torch.rand(b, device=device) * (w - ew + 1)).floor().long()
    erase = torch.rand(b, device=device) < p
    r = torch.arange(h, device=device)[None, :]
    c = torch.arange(w, device=device)[None, :]
    in_rows = (r >= top[:, None]) & (r < (top + eh)[:, None])  # (B, H)
    in_cols = (c >= left[:, None]) & (c < (left + ew)[:, None])  # (B, W)
    mask = (in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None])[:, None]  # (B, 1, H, W)
    return x.masked_fill(mask, 0)


class BatchAugment:
    """Turns a batch of images as stored (uint8 0..255, or float 0..1) into the model's
    input: augmented (training only, per ``kind``), scaled to 0..1, normalised with
    ``mean`` and ``std`` per channel. Runs on whatever device the batch is on."""

    def __init__(self, kind: str = "none", mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 *, group: int = 8, erasing: float = 0.1):
        if kind not in AUGMENTATIONS:
            raise OptionError(f"unknown augmentation {kind!r}{did_you_mean(kind, AUGMENTATIONS)} "
                              f"(one of {', '.join(AUGMENTATIONS)})")
        self.kind = kind
        self.mean = tuple(mean) if mean is not None else None
        self.std = tuple(std) if std is not None else None
        self.group = group
        self.erasing = erasing
        self._trivial = None
        self._norm: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __repr__(self) -> str:
        return f"BatchAugment({self.kind!r}, mean={self.mean}, std={self.std})"

    def _trivial_augment(self, x: torch.Tensor) -> torch.Tensor:
        if self._trivial is None:
            from torchvision.transforms import InterpolationMode, v2

            self._trivial = v2.TrivialAugmentWide(interpolation=InterpolationMode.BILINEAR)
        if x.dtype != torch.uint8:
            x = (x * 255).round().to(torch.uint8)
        return torch.cat([self._trivial(part) for part in x.split(self.group)])

    def __call__(self, x: torch.Tensor, train: bool = True) -> torch.Tensor:
        if train and self.kind != "none":
            padding = max(1, x.shape[-1] // 8)
            if self.kind == "document" and x.shape[1] in (1, 3):
                x = self._trivial_augment(x)
            x = random_crop(random_flip(x), padding)
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        if train and self.kind == "document" and self.erasing > 0:
            x = random_erasing(x, self.erasing)
        if self.mean is not None and self.std is not None:
            stats = self._norm.get(x.device)
            if stats is None:
                mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
                std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
                stats = self._norm[x.device] = (mean, std)
            x = (x - stats[0]) / stats[1]
        return x
