"""Does a model fit the data? Decided before any training step, with the numbers.

zoo adapts what a model can change without changing what it computes on an image:
the number of classes (a new head) and the number of input channels (a new first
convolution: a preset declared for 3x32x32 CIFAR images trains on 1-channel digits
with a printed note). It never resizes images: a network whose strides and pools
shrink the data's images below 1x1 is a :class:`zoo.DataError` naming the block, the
model's declared input and the data's size, and what to change.

>>> from zoo.target import resolve_model
>>> from zoo.train.data import load_data
>>> fitted = fit_to_data(resolve_model("r32m"), load_data("digits"))
Traceback (most recent call last):
...
zoo.errors.DataError: r32m cannot take the images of digits (1x8x8): it declares 3x32x32 images, and zoo changes channels and classes, never the image size.
block 'm' (blocks.10, 11 of 11) cannot take its input (1, 256, 1, 1)
...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError, OptionError, ShapeError

# one import path per name: fit_to_data is zoo.train.fit_to_data
__all__ = ["FittedModel"]


@dataclass
class FittedModel:
    """A model spec adapted to a data set, the inspector's counts, and notes to print."""

    spec: Any  # zoo.target.ModelSpec, for checkpoints
    params: int
    macs: int
    blocks: str
    notes: list[str] = field(default_factory=list)
    weights: str | None = None  # a checkpoint to start from
    weights_from: Any = field(default=None, repr=False)  # its ModelSpec (kind checkpoint), read

    @property
    def name(self) -> str:
        """The model's short name (a checkpoint's: the model it holds)."""
        return self.spec.name

    def build(self):
        """The model, with the weights of the checkpoint it starts from, if any."""
        if self.weights is not None:
            return self.weights_from.build()  # the checkpoint's ModelSpec: its model with its weights
        return self.spec.build()


def _chw(size) -> str:
    return "x".join(str(d) for d in size)


def fit_to_data(spec: Any, data: Any) -> FittedModel:
    """``spec`` (:class:`zoo.target.ModelSpec`) made for ``data`` (:class:`zoo.train.DataSet`):
    its classes and channels, checked on the meta device with the data's image size."""
    from ..inspector.inspection import inspect

    notes: list[str] = []
    c, h, w = data.shape
    if spec.kind == "checkpoint":
        if spec.stored is None:  # a ModelSpec made by hand: read (and checked) here
            from ..checkpoint import read_checkpoint
            from ..target import checkpoint_spec

            spec = checkpoint_spec(read_checkpoint(spec.text), spec.text)
        inner = spec.stored
        for what, have, want in (("classes", inner.num_classes, data.num_classes),
                                 ("input channels", inner.channels, c)):
            if have is not None and have != want:
                raise DataError(f"{spec.text} was trained for {have} {what}; {data.name} has {want}. A checkpoint's "
                                "weights fix them: train its preset or block string instead")
        fitted_spec = inner  # what the new checkpoints store: the model, not the file it came from
        declared = inner.input_size
        blocks_text = inner.preset.blocks if inner.preset is not None else inner.text
    else:
        declared = spec.input_size
        if "input" in spec.options and spec.options["input"] != c:
            raise OptionError(f"--set input={spec.options['input']}, but the images of {data.name} have {c} "
                              f"channel{'s' if c != 1 else ''}: leave input out (zoo takes the data's) or set input={c}")
        own = spec.default_channels
        if own is not None and own != c and spec.kind != "blocks":
            notes.append(f"{spec.name} declares {own} input channels; {data.name} has {c}: its first layer takes "
                         f"{c} (zoo adapts channels and classes, never the image size)")
        fitted_spec = spec.with_data(num_classes=data.num_classes, channels=c)
        blocks_text = spec.preset.blocks if spec.preset is not None else (spec.text if spec.kind == "blocks" else "")
    if declared is not None and tuple(declared[1:]) != (h, w):
        notes.append(f"{spec.name} is declared for {_chw(declared)} images; {data.name} has {c}x{h}x{w}: "
                     f"it trains on {h}x{w}")
    try:
        report = inspect(fitted_spec if spec.kind != "checkpoint" else spec, input_size=(c, h, w))
    except ShapeError as error:
        said = f"it declares {_chw(declared)} images, and zoo changes channels and classes, never the image size" \
            if declared is not None else "zoo never resizes images"
        raise DataError(
            f"{spec.name} cannot take the images of {data.name} ({c}x{h}x{w}): {said}.\n{error}\n"
            f"Fix: a model with fewer strides or pools for {h}x{w} images (zoo inspect MODEL --input {c},{h},{w} "
            "shows where the size runs out), or data of larger images"
        ) from None
    output = tuple(report.output) if report.output is not None else None
    if output is None or output[-1] != data.num_classes or len(output) != 2:
        raise DataError(f"{spec.name} gives an output of {output} for a {c}x{h}x{w} image; training on "
                        f"{data.name} needs ({1}, {data.num_classes}): one score per class "
                        "(a preset or block string gets a head of that size; a module:function should take num_classes)")
    weights = spec.text if spec.kind == "checkpoint" else None
    return FittedModel(fitted_spec, report.params, report.macs, blocks_text, notes, weights,
                       spec if spec.kind == "checkpoint" else None)
