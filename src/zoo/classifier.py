"""``Classifier``: a ``CNN`` and a head, the module ``zoo.create`` returns.

It follows timm's model contract (``num_classes``, ``num_features``,
``forward_features``, ``forward_head``, ``get_classifier``, ``reset_classifier``,
``pretrained_cfg``/``default_cfg``, ``feature_info``, ``forward_intermediates``,
``prune_intermediate_layers``), so a zoo model drops into timm's training scripts,
data helpers and feature extractors; ``zoo.register_timm()`` makes every preset a timm
model, and timm's own ``tests/test_models.py`` passes on them (tests/test_timm_models.py).
"""

# no `from __future__ import annotations`: FX copies forward's annotations into the code
# it generates, and torch.jit.script cannot read them as strings (timm's FX tests)
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .cnn import CNN
from .errors import OptionError
from .layers import create_activation
from .layers.pool import create_pool
from .registry.registry import get_registry

# one import path per name: Classifier is zoo.Classifier
__all__ = ["Head", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the document normalises CIFAR with these too
IMAGENET_STD = (0.229, 0.224, 0.225)

_POOLS = {"avg": 1, "max": 2}  # timm's global_pool names that are zoo's pool kinds
# timm's other names, pooled by timm's own SelectAdaptivePool2d ("": no pool, no flatten)
TIMM_POOLS = ("avg", "max", "avgmax", "catavgmax", "")


class Head(nn.Module):
    """Dropout -> Linear -> activation, once per hidden width, then dropout -> ``fc``.

    ``hidden`` holds everything before the last Linear (``None`` for a plain linear
    head); ``fc`` maps ``pre_logits_features`` to ``num_classes`` (``nn.Identity``
    when ``num_classes`` is 0, as in timm). Dropout layers exist only when
    ``dropout > 0``; ``Change.dropout`` reaches them like any other. ``flatten``:
    the pooled features are flattened first (False only with timm's
    ``global_pool=''``, which keeps the feature map: ``fc`` is then a 1x1 convolution).

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
        flatten: bool = True,
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
        self.in_features = in_features
        self.pre_logits_features = width  # features entering fc
        self.flatten = flatten
        self.fc = _classifier(width, num_classes, flatten)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # (B, F)
        if self.flatten:
            x = x.flatten(1)  # (B, F)
        if self.hidden is not None:
            x = self.hidden(x)  # (B, pre_logits_features)
        return x if pre_logits else self.fc(x)  # (B, num_classes)


def _classifier(width: int, num_classes: int, flatten: bool = True, **factory: Any) -> nn.Module:
    """The last layer of a head: a Linear on pooled features, a 1x1 convolution (logits per
    position, as timm's ``use_conv``) on a feature map, ``nn.Identity`` for 0 classes."""
    if num_classes <= 0:
        return nn.Identity()
    if flatten:
        return nn.Linear(width, num_classes, **factory)
    return nn.Conv2d(width, num_classes, 1, **factory)


def _per_channel(values: Sequence[float], channels: int) -> tuple[float, ...]:
    """The ImageNet statistics for ``channels`` inputs: as they are for 3, their mean
    repeated otherwise (a gray image is the average of its colours)."""
    if channels == len(values):
        return tuple(values)
    return (round(sum(values) / len(values), 4),) * channels


def feature_stages(cnn: CNN, size: Sequence[int]) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    """The stages of ``cnn`` for one ``size`` (C, H, W) image, as timm's ``feature_info``:
    for each reduction of the image (4, 8, 16, 32 for a ResNet), the last top-level
    block that reaches it (``num_chs``, ``reduction``, ``module``: its path in a
    ``Classifier``, ``block``: its place in ``cnn.blocks``); and the spatial size of the
    last feature map (timm's ``pool_size``). Followed on meta stand-ins of the weights:
    nothing is computed or copied.

    >>> from zoo import CNN
    >>> stages, pool_size = feature_stages(CNN(blocks="c8 m c16_3_2 r"), (3, 32, 32))
    >>> [(s["num_chs"], s["reduction"], s["module"]) for s in stages], pool_size
    ([(8, 2, 'cnn.blocks.1'), (16, 4, 'cnn.blocks.3')], (8, 8))
    """
    from torch.func import functional_call

    from .layers.meta_shapes import MetaShapeMode

    x = torch.empty(1, *size, device="meta")
    stages: dict[int, dict[str, Any]] = {}
    flags = [(m, m.training) for m in cnn.modules()]
    cnn.eval()
    try:
        for index in range(cnn.num_body):
            block = cnn.blocks[index]
            # torch.empty, not empty_like: under a device context empty_like takes torch's
            # Python reference path, which imports sympy and torch._dynamo (~1 s)
            tensors = {n: torch.empty(t.shape, dtype=t.dtype, device="meta")
                       for n, t in (*block.named_parameters(), *block.named_buffers())}
            with MetaShapeMode():  # zoo's shape rules: torch's Python meta kernels import sympy (~1 s)
                x = functional_call(block, tensors, (x,))
            reduction = size[-1] // x.shape[-1] if x.dim() == 4 and x.shape[-1] else 0
            if reduction > 1:
                stages[reduction] = {"num_chs": x.shape[1], "reduction": reduction,
                                     "module": f"cnn.blocks.{index}", "block": index}
    finally:
        for module, training in flags:
            module.training = training
    pool_size = tuple(x.shape[-2:]) if x.dim() == 4 else (1, 1)
    return [stages[r] for r in sorted(stages)], pool_size


class Classifier(nn.Module):
    """A ``CNN`` (``.cnn``) followed by a ``Head`` (``.head``).

    >>> import zoo
    >>> model = zoo.create("resnet18_cifar", num_classes=100)
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 100])
    >>> model.forward_features(torch.zeros(2, 3, 32, 32)).shape  # before the global pool
    torch.Size([2, 512, 2, 2])
    >>> [f.shape[1] for f in model.forward_intermediates(torch.zeros(1, 3, 32, 32), intermediates_only=True)]
    [64, 128, 256, 512]

    timm's contract: ``num_classes``, ``num_features`` (channels of
    ``forward_features``), ``head_hidden_size`` (features entering the last Linear),
    ``in_chans``, ``feature_info`` (:func:`feature_stages`), ``forward_features``,
    ``forward_head(x, pre_logits=False)``, ``forward_intermediates``,
    ``prune_intermediate_layers``, ``get_classifier()``,
    ``reset_classifier(num_classes, global_pool=None)``, ``set_grad_checkpointing`` and
    ``pretrained_cfg`` (also as ``default_cfg``) with ``first_conv``, ``classifier``
    and ``pool_size``. ``torch.jit.script`` takes it.
    """

    __jit_unused_properties__ = ["grad_checkpointing"]

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
        self.in_chans = cnn.cfg.input
        self.num_features = cnn.out_channels  # channels of forward_features, as in timm
        width = in_features if in_features is not None else cnn.out_channels
        self._head_args = (tuple(hidden), float(dropout), fun)  # to rebuild it for another pool
        self.head = Head(width, num_classes, hidden, dropout, fun)
        self.num_classes = num_classes
        self.head_hidden_size = self.head.pre_logits_features
        self.drop_rate = float(dropout)
        self.global_pool = {1: "avg", 2: "max"}.get(cnn.cfg.pool, "")
        self.name = name  # the preset's name, "" when built by hand
        first_conv = next((n for n, m in self.named_modules() if isinstance(m, nn.Conv2d)), "")
        size = tuple(input_size or (cnn.cfg.input, 224, 224))
        try:
            self.feature_info, pool_size = feature_stages(cnn, size)
        except (RuntimeError, ValueError):  # blocks that cannot take this size: no stages to offer
            self.feature_info, pool_size = [], None
        self.feature_blocks = [stage["block"] for stage in self.feature_info]  # List[int] for TorchScript
        self.pretrained_cfg: dict[str, Any] = {
            "architecture": f"zoo_{name}" if name else "zoo",
            "url": "",  # no weights of zoo's own: pretrained=True maps timm's (zoo.timm_bridge)
            "num_classes": num_classes,
            "input_size": size,
            "pool_size": pool_size,
            "crop_pct": 0.875 if min(size[1:]) >= 224 else 1.0,
            "interpolation": "bilinear",
            # one value per input channel, as timm's data helpers expect (in_chans=1: gray)
            "mean": _per_channel(IMAGENET_MEAN, size[0]),
            "std": _per_channel(IMAGENET_STD, size[0]),
            "first_conv": first_conv,
            "classifier": "head.fc",
        }
        # timm reads either name; one dict, as timm's build_model_with_cfg sets them (a
        # plain attribute, not a property: torch.jit.script compiles properties)
        self.default_cfg = self.pretrained_cfg

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before the global pool: ``(B, C, H', W')``."""
        return self.cnn.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pool (and flatten) of ``forward_features``'s output, then the head."""
        return self.head(self.cnn.forward_pool(x), pre_logits=pre_logits)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's feature getter: the feature map at the end of each stage
        (``feature_info``) chosen by ``indices`` (None: all; n: the last n; a list: those),
        and the final feature map unless ``intermediates_only``; ``stop_early`` runs no
        block past the last one asked for. zoo's networks have no final norm (``norm``
        changes nothing) and give ``"NCHW"`` only."""
        take, last = self._take_indices(indices)
        if output_fmt != "NCHW":
            raise OptionError(f"output_fmt={output_fmt!r}: zoo's feature maps are 'NCHW'")
        taps = {self.feature_blocks[i] for i in take}
        end = self.feature_blocks[last] + 1 if stop_early else self.cnn.num_body
        intermediates = []
        for index in range(end):
            x = self.cnn.run_block(index, x)
            if index in taps:
                intermediates.append(x)  # (B, C_i, H / r_i, W / r_i)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop what the stages ``indices`` do not need: the blocks after the last one
        asked for and (``prune_head``, or when blocks go) the head, leaving the feature map
        (timm's ``reset_classifier(0, '')``). Returns the indices kept, as timm's."""
        take, last = self._take_indices(indices)
        if last < len(self.feature_blocks) - 1:
            channels = self.feature_info[last]["num_chs"]
            self.cnn.keep_blocks(self.feature_blocks[last] + 1, channels)
            self.num_features = channels
            self._head_args = ((), self._head_args[1], self._head_args[2])
            self.reset_classifier(0, "")
        elif prune_head:
            self.reset_classifier(0, "")
        return take

    def _take_indices(self, indices: int | list[int] | None) -> tuple[list[int], int]:
        from timm.models._features import feature_take_indices

        count = len(self.feature_blocks)
        try:
            return feature_take_indices(count, indices)
        except (AssertionError, TypeError) as exc:
            raise OptionError(f"indices={indices!r}: this model has {count} feature stages ({exc})") from None

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

        ``global_pool``: timm's pool names, ``"avg"`` and ``"max"`` (zoo's pool=1 and 2),
        ``"avgmax"`` and ``"catavgmax"`` (timm's ``SelectAdaptivePool2d``), ``""`` (no
        pool, no flatten: the feature map, or logits per position from a 1x1
        convolution); ``None`` keeps the pool. A pool that changes the width entering the head
        (``catavgmax``: twice the channels) rebuilds the hidden layers too.
        """
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise OptionError(f"num_classes={num_classes!r}: must be a whole number >= 0")
        if global_pool is not None and global_pool not in TIMM_POOLS:
            raise OptionError(
                f"global_pool={global_pool!r}: zoo models pool with one of timm's "
                f"{', '.join(repr(p) for p in TIMM_POOLS)}"
            )
        # no pool, no flatten: asked for now, or kept from an earlier ''
        spatial = global_pool == "" or (global_pool is None and not self.head.flatten)
        if global_pool is not None:
            self._set_pool(global_pool)
        ref = next(self.parameters(), None)  # the new layers go where the model is
        factory = {"device": ref.device, "dtype": ref.dtype} if ref is not None else {}
        width = self._pooled_width()
        hidden, dropout, fun = self._head_args
        if spatial:  # logits per position (1x1 convolution), no hidden layers
            head = Head(self.num_features, num_classes, (), dropout, fun, flatten=False)
            self.head = head.to(**factory).train(self.training)
        elif width != self.head.in_features or not self.head.flatten:  # hidden layers anew too
            self.head = Head(width, num_classes, hidden, dropout, fun).to(**factory).train(self.training)
        else:
            self.head.fc = _classifier(self.head.pre_logits_features, num_classes, **factory).train(self.training)
        self.head_hidden_size = self.head.pre_logits_features
        self.num_classes = num_classes
        self.pretrained_cfg["num_classes"] = num_classes

    def set_global_pool(self, global_pool: str) -> None:
        """Swap the global pool for another of timm's kinds (see :meth:`reset_classifier`),
        keeping the classes."""
        self.reset_classifier(self.num_classes, global_pool)

    def _set_pool(self, pool: str) -> None:
        flat = self.cnn.cfg.flat
        if pool in _POOLS:
            if self.global_pool in _POOLS:
                self.cnn.set_pool(_POOLS[pool])  # zoo's own, recorded in the options
            else:
                self.cnn.set_tail(create_pool(_POOLS[pool]), flat, _POOLS[pool])
        elif pool:
            from timm.layers import SelectAdaptivePool2d

            self.cnn.set_tail(SelectAdaptivePool2d(pool_type=pool), flat)
        else:
            self.cnn.set_tail(None, False)
        self.global_pool = pool

    def _pooled_width(self) -> int:
        """Features per image leaving the global pool: channels, twice them for
        ``catavgmax``, and (with no pool) what the head was built for."""
        if self.global_pool == "catavgmax":
            return 2 * self.num_features
        if self.global_pool:
            return self.num_features
        # no pool: zoo's pool=0 flattens every pixel into the head it was built with
        return self.head.in_features if self.head.flatten else self.num_features
