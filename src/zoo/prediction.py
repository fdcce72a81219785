"""``zoo.predict``: classify images with a trained model, as it was trained to see them.

A checkpoint of ``zoo train`` carries its preprocessing
(:class:`zoo.checkpoint.Preprocessing`: the input size, the channels, the mean and
std of the training images, the class names), so ``predict`` needs nothing else:
each image is read (PIL), turned gray or RGB as the model's channels ask, resized to
the trained size where it differs (a note says so), scaled to 0..1, normalised with
the stored mean and std, and the model's softmax gives the top classes.

>>> import tempfile, pathlib, torch, zoo
>>> from zoo.checkpoint import Preprocessing, write_checkpoint
>>> from zoo.target import resolve_model
>>> spec = resolve_model("cnf8 m r16", num_classes=3, input=1)
>>> _ = torch.manual_seed(0)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.pt"
>>> _ = write_checkpoint(path, spec.build(), spec=spec, preprocessing=Preprocessing((1, 8, 8), (0.5,), (0.25,), ("a", "b", "c")))
>>> predictions = zoo.predict(path, torch.zeros(2, 1, 8, 8, dtype=torch.uint8), top_k=3)
>>> [p.source for p in predictions], sorted(c for c, _ in predictions[0].top), round(sum(q for _, q in predictions[0].top), 4)
(['0', '1'], ['a', 'b', 'c'], 1.0)
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataError, OptionError
from .extras import require

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .checkpoint import Preprocessing

# one import path per name: predict is zoo.predict
__all__ = ["Prediction", "image_paths", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


@dataclass
class Prediction:
    """The top classes of one image: ``top`` is ``[(class, probability), ...]``, best first."""

    source: str  # the image's path, or its index among tensors given
    top: list[tuple[str, float]]
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.top[0][0]

    @property
    def probability(self) -> float:
        return self.top[0][1]

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.source, "top": [{"class": c, "probability": p} for c, p in self.top]}


def image_paths(items: Iterable[str | os.PathLike]) -> list[Path]:
    """The image files that ``items`` name: a file, a folder (its images, sorted, not
    recursive), or a glob pattern (``"digits/*.png"``). Nothing found is a DataError."""
    found: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not images:
                raise DataError(f"{text}: a folder with no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
            found += images
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not matches:
                raise DataError(f"{text}: no file matches this pattern")
            found += matches
        else:
            raise DataError(f"{text}: no such image file or folder")
    return found


def predict(
    model: Any,
    images: Any,
    *,
    top_k: int = 5,
    batch: int = 64,
    preprocessing: Preprocessing | None = None,
    device: str | None = None,
    trust_code: bool = False,
) -> list[Prediction]:
    """Classify ``images`` with ``model``: one :class:`Prediction` per image, in order.

    ``model``: a checkpoint of ``zoo train`` (a path, or a :class:`zoo.checkpoint.Checkpoint`),
    whose preprocessing is used; or an ``nn.Module`` with ``preprocessing`` given (else
    the images go in as they are). ``images``: paths, folders or glob patterns (one or a
    list), or a tensor ``(N, C, H, W)`` (uint8 0..255 or float 0..1) of images already
    of the model's size. ``top_k``: classes per image (at most the number of classes);
    ``batch``: images per forward pass; ``trust_code``: as :func:`zoo.create`.
    """
    import torch

    for what, value in (("top_k", top_k), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise OptionError(f"{what}={value!r}: must be a whole number >= 1")
    net, preprocessing = _model(model, preprocessing, trust_code)
    net = net.to(device or "cpu").eval()
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise DataError(f"images as a tensor are (N, C, H, W), not of shape {tuple(images.shape)}")
        sources = [str(i) for i in range(images.shape[0])]
        loaded: Sequence[Any] = list(images)
        notes: list[list[str]] = [[] for _ in sources]
    else:
        paths = image_paths([images] if isinstance(images, (str, os.PathLike)) else images)
        sources = [str(p) for p in paths]
        pairs = [_read_image(p, preprocessing) for p in paths]
        loaded = [image for image, _ in pairs]
        notes = [note for _, note in pairs]
    names = preprocessing.class_names if preprocessing is not None else None
    results = []
    with torch.no_grad():
        for start in range(0, len(loaded), batch):
            x = torch.stack(list(loaded[start:start + batch])).to(device or "cpu")
            x = preprocessing.normalize(x) if preprocessing is not None else x.float()
            probabilities = net(x).float().softmax(dim=1)
            k = min(top_k, probabilities.shape[1])
            values, indices = probabilities.topk(k, dim=1)
            for row, (p_row, i_row) in enumerate(zip(values.tolist(), indices.tolist())):
                top = [(names[i] if names and i < len(names) else str(i), p) for p, i in zip(p_row, i_row)]
                results.append(Prediction(sources[start + row], top, notes[start + row]))
    return results


def _model(model: Any, preprocessing: Preprocessing | None, trust_code: bool) -> tuple[nn.Module, Preprocessing | None]:
    from torch import nn

    from .checkpoint import Checkpoint, read_checkpoint
    from .target import checkpoint_spec

    if isinstance(model, nn.Module):
        return model, preprocessing
    if isinstance(model, (str, os.PathLike)):
        model = read_checkpoint(model, trust_code=trust_code)
    if not isinstance(model, Checkpoint):
        raise OptionError(f"predict takes a checkpoint (a path) or an nn.Module, not {type(model).__name__}")
    # a checkpoint of zoo 0.1 stored no preprocessing: its images then go in as they are
    return checkpoint_spec(model).build(), preprocessing or model.preprocessing


def _read_image(path: Path, preprocessing: Preprocessing | None) -> tuple[torch.Tensor, list[str]]:
    import numpy as np
    import torch

    Image = require("PIL.Image", "reading images")  # noqa: N806 - the module, named as PIL names it
    notes = []
    try:
        with Image.open(path) as image:
            channels = preprocessing.channels if preprocessing is not None else len(image.getbands())
            image = image.convert("L" if channels == 1 else "RGB")
            if preprocessing is not None:
                _, h, w = preprocessing.input_size
                if image.size != (w, h):
                    notes.append(f"resized from {image.size[0]}x{image.size[1]} to {w}x{h}")
                    image = image.resize((w, h), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (Image.UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not an image zoo can read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    tensor = torch.from_numpy(array.copy())
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    return tensor, notes
