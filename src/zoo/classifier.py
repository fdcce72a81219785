"""``Classifier``: a ``CNN`` and a head, the module ``zoo.create`` returns.

It follows timm's model contract (``num_classes``, ``num_features``,
``forward_features``, ``forward_head``, ``get_classifier``, ``reset_classifier``,
``pretrained_cfg``/``default_cfg``), so a zoo model drops into timm's training
scripts and data helpers; ``zoo.register_timm()`` makes every preset a timm model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .cnn import CNN
from .errors import OptionError
from .layers import create_activation
from .registry.registry import get_registry

__all__ = ["Classifier", "Head", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the document normalises CIFAR with these too
IMAGENET_STD = (0.229, 0.224, 0.225)

_POOLS = {"avg": 1, "max": 2}  # timm's global_pool names -> zoo's pool kinds


class Head(nn.Module):
    """Dropout -> Linear -> activation, once per hidden width, then dropout -> ``fc``.

    ``hidden`` holds everything before the last Linear (``None`` for a plain linear
    head); ``fc`` maps ``pre_logits_features`` to ``num_classes`` (``nn.Identity``
    when ``num_classes`` is 0, as in timm). Dropout layers exist only when
    ``dropout > 0``; ``Change.dropout`` reaches them like any other.

    >>> Head(512, 10, hidden=[256], dropout=0.2)(torch.zeros(2, 512)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = (),
        dropout: float = 0.0,
        fun: str = "relu",
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(width, size))
            act = create_activation(fun, get_registry().activations)
            if act is not None:
                layers.append(act)
            width = size
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        # None for a plain linear head, so that reports show no empty layer
        self.hidden = nn.Sequential(*layers) if layers else None
        self.pre_logits_features = width  # features entering fc
        self.fc: nn.Module = nn.Linear(width, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # (B, F)
        x = x.flatten(1)  # (B, F)
        if self.hidden is not None:
            x = self.hidden(x)  # (B, pre_logits_features)
        return x if pre_logits else self.fc(x)  # (B, num_classes)


def _per_channel(values: Sequence[float], channels: int) -> tuple[float, ...]:
    """The ImageNet statistics for ``channels`` inputs: as they are for 3, their mean
    repeated otherwise (a gray image is the average of its colours)."""
    if channels == len(values):
        return tuple(values)
    return (round(sum(values) / len(values), 4),) * channels


class Classifier(nn.Module):
    """A ``CNN`` (``.cnn``) followed by a ``Head`` (``.head``).

    >>> import zoo
    >>> model = zoo.create("resnet18_cifar", num_classes=100)
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 100])
    >>> model.forward_features(torch.zeros(2, 3, 32, 32)).shape  # before the global pool
    torch.Size([2, 512, 2, 2])

    timm's contract: ``num_classes``, ``num_features`` (features after the global
    pool), ``head_hidden_size`` (features entering the last Linear),
    ``forward_features``, ``forward_head(x, pre_logits=False)``,
    ``get_classifier()``, ``reset_classifier(num_classes, global_pool=None)`` and
    ``pretrained_cfg`` (also as ``default_cfg``) with ``first_conv`` and ``classifier``.
    """

    def __init__(
        self,
        cnn: CNN,
        num_classes: int,
        *,
        in_features: int | None = None,
        hidden: Sequence[int] = (),
        dropout: float = 0.0,
        fun: str = "relu",
        input_size: tuple[int, int, int] | None = None,
        name: str = "",
    ):
        super().__init__()
        self.cnn = cnn
        self.num_features = in_features if in_features is not None else cnn.out_channels
        self.head = Head(self.num_features, num_classes, hidden, dropout, fun)
        self.num_classes = num_classes
        self.head_hidden_size = self.head.pre_logits_features
        self.drop_rate = float(dropout)
        self.name = name  # the preset's name, "" when built by hand
        first_conv = next((n for n, m in self.named_modules() if isinstance(m, nn.Conv2d)), "")
        size = input_size or (cnn.cfg.input, 224, 224)
        self.pretrained_cfg: dict[str, Any] = {
            "architecture": f"zoo_{name}" if name else "zoo",
            "url": "",  # zoo ships no weights: zoo.load_timm_weights maps timm's
            "num_classes": num_classes,
            "input_size": tuple(size),
            "crop_pct": 0.875 if min(size[1:]) >= 224 else 1.0,
            "interpolation": "bilinear",
            # one value per input channel, as timm's data helpers expect (in_chans=1: gray)
            "mean": _per_channel(IMAGENET_MEAN, size[0]),
            "std": _per_channel(IMAGENET_STD, size[0]),
            "first_conv": first_conv,
            "classifier": "head.fc",
        }

    # timm reads either name
    @property
    def default_cfg(self) -> dict[str, Any]:
        return self.pretrained_cfg

    @default_cfg.setter
    def default_cfg(self, value: dict[str, Any]) -> None:
        self.pretrained_cfg = value

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before the global pool: ``(B, C, H', W')``."""
        return self.cnn.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pool (and flatten) of ``forward_features``'s output, then the head."""
        return self.head(self.cnn.forward_pool(x), pre_logits=pre_logits)

    @property
    def grad_checkpointing(self) -> bool:
        return self.cnn.grad_checkpointing

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """timm's switch: recompute each top-level block in backward instead of keeping
        its activations (less memory, about a third more compute); training only."""
        self.cnn.grad_checkpointing = bool(enable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        return self.forward_head(self.forward_features(x))  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        """The last Linear of the head (``nn.Identity`` with ``num_classes=0``)."""
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new, freshly initialised last Linear for ``num_classes`` (0: none).

        ``global_pool`` ``"avg"`` or ``"max"`` swaps the CNN's global pool; ``None``
        keeps it.
        """
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise OptionError(f"num_classes={num_classes!r}: must be a whole number >= 0")
        if global_pool is not None:
            self.set_global_pool(global_pool)
        ref = next(self.parameters(), None)  # the new layer goes where the model is
        factory = {"device": ref.device, "dtype": ref.dtype} if ref is not None else {}
        width = self.head.pre_logits_features
        self.head.fc = nn.Linear(width, num_classes, **factory) if num_classes > 0 else nn.Identity()
        self.num_classes = num_classes
        self.pretrained_cfg = {**self.pretrained_cfg, "num_classes": num_classes}

    def set_global_pool(self, global_pool: str) -> None:
        """timm's names for the CNN's global pool: ``"avg"`` (pool=1) or ``"max"`` (pool=2)."""
        if global_pool not in _POOLS:
            raise OptionError(
                f"global_pool={global_pool!r}: zoo models pool with 'avg' or 'max' "
                "(the option pool=1 or pool=2)"
            )
        self.cnn.set_pool(_POOLS[global_pool])
