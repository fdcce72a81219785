"""Every variant checked before anything trains: it parses, its shapes fit the data,
its training fits in memory.

The memory estimate is a bound to catch mistakes (a width typed 10x too large), not a
measurement: weights, gradients and Adam's two moments (16 bytes a parameter), plus
each block's output kept for the backward pass three times (convolution, norm,
activation), in 4-byte floats, for a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ZooError
from .space import Variant

__all__ = ["CheckedVariant", "check_variant", "check_variants", "training_memory"]


@dataclass
class CheckedVariant:
    """A variant and what the checks found: the model fitted to the data, or the error."""

    variant: Variant
    fit: Any = None  # zoo.train.fitting.FittedModel
    spec: Any = None  # zoo.target.ModelSpec
    memory: int | None = None  # bytes, estimated
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def training_memory(report: Any, batch: int) -> int:
    """Bytes a training step needs, estimated from an inspector report (see the module)."""
    activations = sum(math.prod(row.shape[1:]) for row in report.blocks
                      if isinstance(row.shape, (tuple, list)) and row.shape and isinstance(row.shape[0], int))
    return 16 * report.params + 3 * 4 * batch * activations


def check_variant(variant: Variant, data: Any, batch: int, max_memory: int | None = None) -> CheckedVariant:
    """Parse, build on the meta device for the data's images, and estimate the memory:
    one inspection, as ``zoo train`` makes for a model (its message where it fails)."""
    from ..errors import ShapeError
    from ..inspector.inspection import inspect
    from ..target import resolve_model
    from ..train.fitting import FittedModel, fit_to_data

    try:
        spec = resolve_model(variant.blocks, **variant.options)
        fitted = spec.with_data(num_classes=data.num_classes, channels=data.channels)
        try:
            report = inspect(fitted, input_size=data.shape)
        except ShapeError:
            fit_to_data(spec, data)  # says it as zoo train does: the data, the block, what to change
            raise
        fit = FittedModel(fitted, report.params, report.macs, variant.blocks)
    except ZooError as exc:
        return CheckedVariant(variant, error=str(exc))
    memory = training_memory(report, batch)
    if max_memory is not None and memory > max_memory:
        return CheckedVariant(variant, fit, spec, memory, error=(
            f"needs about {memory / 2**30:.1f} GiB to train a batch of {batch} (limit {max_memory / 2**30:.1f} "
            "GiB): make it narrower or shallower, or give --max-memory"))
    return CheckedVariant(variant, fit, spec, memory)


def check_variants(variants: Sequence[Variant], data: Any, batch: int,
                   max_memory: int | None = None) -> list[CheckedVariant]:
    """:func:`check_variant` of each."""
    return [check_variant(variant, data, batch, max_memory) for variant in variants]
