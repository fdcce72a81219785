"""Data sets for ``zoo train``: images as uint8 tensors, batches straight from memory.

Every data set zoo knows is held as one uint8 tensor ``(N, C, H, W)`` per split (all
of CIFAR-10 is 150 MB), so a batch is an index into memory: no per-image Python, no
decoding, no worker processes. Augmentation then runs on whole batches on the
training device (:mod:`zoo.train.augment`). Only an ``ImageFolder`` tree, whose
images may be of any size and number, goes through a ``DataLoader`` with workers.

===============  ==========================================  =========================
``--data``       what                                        needs
===============  ==========================================  =========================
digits           scikit-learn's 1,797 8x8 handwritten        scikit-learn (bundled,
                 digits, 1x8x8, 10 classes                   no download)
fake             random 3x32x32 images, 10 random classes    nothing (speed runs)
cifar10          CIFAR-10, 3x32x32, 10 classes               torchvision + files
cifar100         CIFAR-100, 3x32x32, 100 classes             torchvision + files
mnist            MNIST, 1x28x28, 10 classes                  torchvision + files
fashion-mnist    Fashion-MNIST, 1x28x28, 10 classes          torchvision + files
folder:PATH      an ImageFolder tree PATH/train, PATH/val    torchvision
===============  ==========================================  =========================

>>> data = load_data("digits")
>>> data.name, data.shape, data.num_classes, len(data.train), len(data.val)
('digits', (1, 8, 8), 10, 1437, 360)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError, UnknownDataError, did_you_mean
from ..extras import require

__all__ = [
    "DATA_SETS",
    "DataSet",
    "TensorSplit",
    "FolderSplit",
    "load_data",
    "as_split",
    "default_root",
]

DATA_SETS = ("digits", "fake", "cifar10", "cifar100", "mnist", "fashion-mnist", "folder:PATH")


def default_root() -> Path:
    """Where torchvision data sets are looked for: ``$ZOO_DATA``, else ``./data``."""
    return Path(os.environ.get("ZOO_DATA", "data"))


class TensorSplit:
    """One split held in memory: ``images`` uint8 (or float) ``(N, C, H, W)``, ``labels``
    int64 ``(N,)``. Batches are gathered by index, on the device the tensors are on.

    >>> split = TensorSplit(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.arange(10))
    >>> [y.tolist() for _, y in split.batches([3, 1, 4, 5], 3)]
    [[3, 1, 4], [5]]
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if images.dim() == 3:
            images = images.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
        if images.dim() != 4 or labels.dim() != 1 or len(images) != len(labels):
            raise DataError(
                f"images must be (N, C, H, W) and labels (N,); got {tuple(images.shape)} and {tuple(labels.shape)}"
            )
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> TensorSplit:
        """The split on ``device`` (a GPU holds a small data set whole: no transfers)."""
        return TensorSplit(self.images.to(device), self.labels.to(device))

    def batches(self, indices: Sequence[int] | torch.Tensor, batch: int, *, device: Any = None,
                workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(images, labels)`` of ``indices`` in order, ``batch`` at a time, on ``device``."""
        index = torch.as_tensor(indices, dtype=torch.long)
        if index.device != self.images.device:
            index = index.to(self.images.device)
        pin = device is not None and torch.device(device).type == "cuda" and self.images.device.type == "cpu"
        for start in range(0, len(index), batch):
            chunk = index[start:start + batch]
            x, y = self.images[chunk], self.labels[chunk]
            if device is not None and x.device != torch.device(device):
                if pin:
                    x, y = x.pin_memory(), y.pin_memory()
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            yield x, y


class FolderSplit:
    """One split of an ``ImageFolder`` tree: images decoded by ``DataLoader`` workers,
    resized to ``size`` (shorter side, then a centre crop), as uint8 tensors."""

    def __init__(self, dataset: Any, size: int):
        self.dataset = dataset
        self.size = size
        self.labels = torch.as_tensor(dataset.targets, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def batches(self, indices: Sequence[int] | torch.Tensor, batch: int, *, device: Any = None,
                workers: int = 2) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        cuda = device is not None and torch.device(device).type == "cuda"
        loader = DataLoader(self.dataset, batch_size=batch, sampler=[int(i) for i in indices],
                            num_workers=workers, pin_memory=cuda, persistent_workers=False)
        for x, y in loader:
            if device is not None:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            yield x, y


@dataclass
class DataSet:
    """A training and a validation split, their classes and image shape, the mean and
    standard deviation of the training images (per channel, in 0..1), and the
    augmentation that suits them when none is asked for."""

    name: str
    train: TensorSplit | FolderSplit
    val: TensorSplit | FolderSplit
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    default_aug: str = "none"
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return self.train.shape

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        c, h, w = self.shape
        return (f"{self.name}: {len(self.train):,} training and {len(self.val):,} validation images "
                f"of {c}x{h}x{w}, {self.num_classes} classes")


def as_split(data: Any) -> TensorSplit | FolderSplit:
    """What :class:`zoo.Trainer` accepts as data: a split, a ``(images, labels)`` pair
    of tensors, or a torch ``Dataset`` of ``(image tensor, label)`` pairs (stacked into
    memory once)."""
    if isinstance(data, (TensorSplit, FolderSplit)):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return TensorSplit(data[0], data[1])
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        items = [data[i] for i in range(len(data))]
        try:
            images = torch.stack([torch.as_tensor(x) for x, _ in items])
            labels = torch.as_tensor([int(y) for _, y in items])
        except (TypeError, ValueError, RuntimeError) as exc:
            raise DataError(f"a Dataset for zoo.Trainer yields (image tensor, label) pairs of one shape: {exc}") from None
        return TensorSplit(images, labels)
    raise DataError(
        f"zoo.Trainer takes data as (images, labels) tensors, a torch Dataset, or zoo.train.load_data(...).train; "
        f"got {type(data).__name__}"
    )


def _stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images[:10000].float() / 255.0
    return (tuple(round(v, 4) for v in x.mean(dim=(0, 2, 3)).tolist()),
            tuple(round(max(v, 1e-3), 4) for v in x.std(dim=(0, 2, 3)).tolist()))


def _from_tensors(name: str, train: TensorSplit, val: TensorSplit, classes: list[str], aug: str) -> DataSet:
    mean, std = _stats(train.images)
    return DataSet(name, train, val, classes, mean, std, aug)


def load_data(name: str, root: str | os.PathLike | None = None, *, size: int = 32, seed: int = 0) -> DataSet:
    """The data set ``name`` (see the module's table). ``root``: where the files of a
    torchvision data set are (default :func:`default_root`); nothing is downloaded: a
    missing file is a :class:`zoo.DataError` saying which files to put where.
    ``size``: the image size of a ``folder:`` tree.

    >>> load_data("cifar11")
    Traceback (most recent call last):
    ...
    zoo.errors.UnknownDataError: unknown data set 'cifar11'; did you mean 'cifar10', 'cifar100'? (zoo knows digits, fake, cifar10, cifar100, mnist, fashion-mnist, folder:PATH)
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownDataError(f"a data set is one of {', '.join(DATA_SETS)}; got {name!r}")
    name = name.strip()
    root = Path(root) if root is not None else default_root()
    if name.startswith("folder:"):
        return _folder(Path(name[len("folder:"):]), size)
    key = name.lower().replace("_", "-")
    loader = _LOADERS.get(key)
    if loader is None:
        if Path(name).is_dir():
            raise UnknownDataError(f"unknown data set {name!r}: for an ImageFolder tree write folder:{name}")
        known = [n for n in DATA_SETS if ":" not in n] + ["folder"]
        raise UnknownDataError(
            f"unknown data set {name!r}{did_you_mean(key, known)} (zoo knows {', '.join(DATA_SETS)})"
        )
    return loader(root, seed)


def _digits(root: Path, seed: int) -> DataSet:
    from ..extras import require

    digits = require("sklearn.datasets", "--data digits").load_digits()
    images = torch.as_tensor(digits.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)  # (N,1,8,8)
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))  # one split, whatever --seed
    val, train = order[:360], order[360:]
    return _from_tensors("digits", TensorSplit(images[train], labels[train]), TensorSplit(images[val], labels[val]),
                         [str(d) for d in range(10)], "none")


def _fake(root: Path, seed: int, n_train: int = 10_000, n_val: int = 2_000) -> DataSet:
    generator = torch.Generator().manual_seed(1234)
    images = torch.randint(0, 256, (n_train + n_val, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (n_train + n_val,), generator=generator)
    data = _from_tensors("fake", TensorSplit(images[:n_train], labels[:n_train]),
                         TensorSplit(images[n_train:], labels[n_train:]), [str(d) for d in range(10)], "none")
    data.notes.append("fake: random images and labels (as torchvision's FakeData), for speed runs; accuracy means nothing")
    return data


# the files each torchvision data set needs under --root, and the archive that holds them
_FILES = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py", ["data_batch_1", "...", "data_batch_5", "test_batch", "batches.meta"],
                "cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": ("CIFAR100", "cifar-100-python", ["train", "test", "meta"],
                 "cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    "mnist": ("MNIST", "MNIST/raw", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"], "the same files .gz",
              "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST/raw", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
                      "the same files .gz", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
}


def _torchvision(key: str):
    def load(root: Path, seed: int) -> DataSet:
        datasets = require("torchvision.datasets", f"--data {key}")
        cls_name, folder, files, archive, url = _FILES[key]
        cls = getattr(datasets, cls_name)
        where = root / folder
        present = where.is_dir() and all((where / f).exists() for f in files if f != "...")
        packed = (root / archive).is_file() if archive.endswith(".tar.gz") else (
            where.is_dir() and all((where / f"{f}.gz").exists() for f in files))
        if not present and not packed:
            listing = ", ".join(files)
            raise DataError(
                f"{key}: no data under {root.resolve()} (zoo does not download). Put the files there:\n"
                f"  {where}/: {listing}\n"
                f"  or {root / archive if archive.endswith('.tar.gz') else where / '*.gz'} ({archive}), from {url}\n"
                f"then run again (or give the folder that holds them with --root DIR)"
            )
        try:
            # download=True with the archive present only unpacks it: torchvision skips a
            # download whose file is there with the right checksum
            train = cls(str(root), train=True, download=not present)
            val = cls(str(root), train=False, download=not present)
        except Exception as exc:  # a damaged file, or an archive with the wrong checksum
            raise DataError(f"{key}: the files under {root} cannot be read ({exc}); put fresh copies there") from None
        splits = []
        for ds in (train, val):
            images = torch.as_tensor(ds.data)
            images = images.permute(0, 3, 1, 2).contiguous() if images.dim() == 4 else images.unsqueeze(1)
            splits.append(TensorSplit(images, torch.as_tensor(ds.targets)))
        aug = "document" if key.startswith("cifar") else "none"
        return _from_tensors(key, splits[0], splits[1], list(train.classes), aug)

    return load


_LOADERS = {"digits": _digits, "fake": _fake, **{k: _torchvision(k) for k in _FILES}}


def _folder(path: Path, size: int) -> DataSet:
    if not path.is_dir():
        raise DataError(f"folder:{path}: no such folder; give an ImageFolder tree with train/ and val/ inside")
    missing = [part for part in ("train", "val") if not (path / part).is_dir()]
    if missing:
        raise DataError(
            f"folder:{path} has no {' or '.join(p + '/' for p in missing)}; an ImageFolder tree is "
            f"{path}/train/<class>/<image> and {path}/val/<class>/<image>"
        )
    datasets = require("torchvision.datasets", "--data folder")
    transforms = require("torchvision.transforms", "--data folder")
    transform = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size),
                                    transforms.PILToTensor()])
    splits = []
    for part in ("train", "val"):
        try:
            ds = datasets.ImageFolder(str(path / part), transform=transform,
                                      loader=_open_rgb)
        except (FileNotFoundError, RuntimeError) as exc:
            raise DataError(
                f"folder:{path}/{part} has no classes with images ({exc}); put the images of each class in "
                f"a folder of its own: {path}/{part}/<class>/<image>.png"
            ) from None
        splits.append(ds)
    if splits[0].classes != splits[1].classes:
        raise DataError(f"folder:{path}: train/ has the classes {splits[0].classes}, val/ has {splits[1].classes}; "
                        "they must be the same")
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as the document uses
    return DataSet(f"folder:{path.name}", FolderSplit(splits[0], size), FolderSplit(splits[1], size),
                   list(splits[0].classes), mean, std, "document")


def _open_rgb(path: str):
    from PIL import Image

    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")
