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

# one import path per name: DATA_SETS, DataSet, TensorSplit, FolderSplit, load_data from zoo.train
__all__ = [
    "as_split",
    "DatasetSplit",
    "LoaderSplit",
    "default_root",
    "scan_folder",
    "FolderScan",
    "ImageFiles",
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
        self.channels = 1 if getattr(dataset, "mode", "RGB") == "L" else 3

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def batches(self, indices: Sequence[int] | torch.Tensor, batch: int, *, device: Any = None,
                workers: int = 2) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        cuda = device is not None and torch.device(device).type == "cuda"
        loader = DataLoader(self.dataset, batch_size=batch, sampler=[int(i) for i in indices],
                            num_workers=workers, pin_memory=cuda, persistent_workers=False)
        try:
            for x, y in _iterate(loader):
                if device is not None:
                    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                yield x, y
        except DataError as exc:  # from a worker: torch wraps it in the worker's traceback; keep its line
            last = str(exc).strip().splitlines()[-1]
            raise DataError(last.removeprefix(f"{DataError.__module__}.{DataError.__name__}: ")) from None


@dataclass
class DataSet:
    """A training and a validation split, their classes and image shape, the mean and
    standard deviation of the training images (per channel, in 0..1), and the
    augmentation that suits them when none is asked for."""

    name: str
    train: TensorSplit | FolderSplit | DatasetSplit | LoaderSplit
    val: TensorSplit | FolderSplit | DatasetSplit | LoaderSplit
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


def _iterate(loader: Any) -> Iterator[Any]:
    """``iter(loader)`` without the draw from torch's random numbers that a DataLoader
    makes when it starts (the seed of its workers): a run resumed within an epoch
    starts a loader where the first run did not, and must draw the same augmentation."""
    state = torch.get_rng_state()
    iterator = iter(loader)
    torch.set_rng_state(state)
    return iterator


class DatasetSplit:
    """A torch ``Dataset`` of ``(image tensor, label)`` pairs as it is, read by a
    ``DataLoader`` over the trainer's indices (nothing copied into memory): the order of
    an epoch is the trainer's, so a run resumes exactly, even within an epoch."""

    resumable = True

    def __init__(self, dataset: Any):
        self.dataset = dataset
        try:
            first = dataset[0]
            image = torch.as_tensor(first[0])
            int(first[1])
        except (TypeError, ValueError, IndexError, KeyError, RuntimeError) as exc:
            raise DataError(f"a Dataset for zoo.Trainer yields (image tensor, label) pairs: its first item "
                            f"cannot be read as one ({exc})") from None
        if image.dim() != 3:
            raise DataError(f"a Dataset for zoo.Trainer yields images of (C, H, W); its first is "
                            f"{tuple(image.shape)}")
        self._shape: tuple[int, int, int] = tuple(image.shape)  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    def batches(self, indices: Sequence[int] | torch.Tensor, batch: int, *, device: Any = None,
                workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        cuda = device is not None and torch.device(device).type == "cuda"
        loader = DataLoader(self.dataset, batch_size=batch, sampler=[int(i) for i in indices],
                            num_workers=workers, pin_memory=cuda)
        for x, y in _iterate(loader):
            if device is not None:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            yield x, y


class LoaderSplit:
    """A torch ``DataLoader`` as it is: its batches, workers, sampler and collation. The
    trainer takes its batch size from it (times the processes under torchrun).

    Resuming within an epoch needs the epoch's order again: a loader whose sampler is
    sequential, or has ``set_epoch`` (``DistributedSampler``: the trainer calls it each
    epoch), replays it, and the batches already done are skipped by index (no image is
    loaded for them). Any other order (a ``RandomSampler``, an ``IterableDataset``) cannot
    be replayed: ``resumable`` is False, and an interrupted epoch is trained again from
    its start (:class:`zoo.Trainer` says so).
    """

    def __init__(self, loader: Any):
        from torch.utils.data import IterableDataset, SequentialSampler

        self.loader = loader
        if loader.batch_size is None:
            raise DataError("a DataLoader for zoo.Trainer has a batch_size (zoo counts examples and steps by it); "
                            "this one has a batch_sampler")
        try:
            self._length = len(loader.dataset)
            len(loader)
        except TypeError:
            raise DataError("a DataLoader for zoo.Trainer has a length (an IterableDataset with __len__): zoo plans "
                            "the epoch's steps, the schedule and the progress by it") from None
        self.batch_size = int(loader.batch_size)
        sampler = loader.sampler
        self.resumable = not isinstance(loader.dataset, IterableDataset) and (
            isinstance(sampler, SequentialSampler) or hasattr(sampler, "set_epoch"))
        self._start: tuple[int, int] | None = None
        self._shape: tuple[int, int, int] | None = None

    def __len__(self) -> int:
        return self._length

    @property
    def shape(self) -> tuple[int, int, int]:
        if self._shape is None:
            x, _ = next(iter(self.loader))
            self._shape = tuple(x.shape[1:])  # type: ignore[assignment]
        return self._shape  # type: ignore[return-value]

    def start_epoch(self, epoch: int, step: int) -> None:
        """The next :meth:`batches` is epoch ``epoch`` (1-based) from step ``step`` (0-based)."""
        self._start = (epoch, step)

    def _from_step(self, step: int):
        """The loader again, without the first ``step`` batches (skipped by index)."""
        import itertools

        from torch.utils.data import DataLoader

        if step == 0:
            return self.loader
        loader = self.loader
        options = {key: getattr(loader, key) for key in ("num_workers", "collate_fn", "pin_memory", "timeout",
                                                          "worker_init_fn", "generator", "persistent_workers")}
        if loader.num_workers > 0:
            options["prefetch_factor"] = loader.prefetch_factor
            options["multiprocessing_context"] = loader.multiprocessing_context
        rest = list(itertools.islice(iter(loader.batch_sampler), step, None))
        return DataLoader(loader.dataset, batch_sampler=rest, **options)

    def batches(self, indices: Sequence[int] | torch.Tensor, batch: int, *, device: Any = None,
                workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Training (after :meth:`start_epoch`): as many batches as ``indices`` fill, from
        the step the epoch is at; validation: every batch of the loader."""
        count, loader = None, self.loader
        if self._start is not None:
            epoch, step = self._start
            self._start = None
            if hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            count = -(-len(indices) // batch)
            loader = self._from_step(step) if self.resumable else loader
        for i, (x, y) in enumerate(_iterate(loader)):
            if count is not None and i >= count:
                break
            if device is not None:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            yield x, y


def as_split(data: Any) -> TensorSplit | FolderSplit | DatasetSplit | LoaderSplit:
    """What :class:`zoo.Trainer` accepts as data: a split, a ``(images, labels)`` pair
    of tensors, a torch ``Dataset`` of ``(image tensor, label)`` pairs or a
    ``DataLoader`` of such batches (both used as they are, nothing copied)."""
    from torch.utils.data import DataLoader

    if isinstance(data, (TensorSplit, FolderSplit, DatasetSplit, LoaderSplit)):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return TensorSplit(data[0], data[1])
    if isinstance(data, DataLoader):
        return LoaderSplit(data)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return DatasetSplit(data)
    raise DataError(
        f"zoo.Trainer takes data as (images, labels) tensors, a torch Dataset or DataLoader, or "
        f"zoo.train.load_data(...).train; got {type(data).__name__}"
    )


def _stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images[:10000].float() / 255.0
    return (tuple(round(v, 4) for v in x.mean(dim=(0, 2, 3)).tolist()),
            tuple(round(max(v, 1e-3), 4) for v in x.std(dim=(0, 2, 3)).tolist()))


def _from_tensors(name: str, train: TensorSplit, val: TensorSplit, classes: list[str], aug: str) -> DataSet:
    mean, std = _stats(train.images)
    return DataSet(name, train, val, classes, mean, std, aug)


def load_data(name: str, root: str | os.PathLike | None = None, *, size: int | None = None, seed: int = 0,
              download: bool = False) -> DataSet:
    """The data set ``name`` (see the module's table). ``root``: where the files of a
    torchvision data set are (default :func:`default_root`). Nothing is downloaded
    unless ``download=True`` (torchvision's own download, with its checksums, into
    ``root``): a missing file is a :class:`zoo.DataError` saying which files to put
    where. ``size``: the image size of a ``folder:`` tree (default: the images' own
    size when they all have one, else 32); its images are checked before anything
    trains (see :func:`scan_folder`).

    >>> load_data("cifar11")
    Traceback (most recent call last):
    ...
    zoo.errors.UnknownDataError: unknown data set 'cifar11'; did you mean 'cifar10', 'cifar100'? (zoo knows digits, fake, cifar10, cifar100, mnist, fashion-mnist, folder:PATH)
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownDataError(f"a data set is one of {', '.join(DATA_SETS)}; got {name!r}")
    name = name.strip()
    root = Path(root) if root is not None else default_root()
    key = name.lower().replace("_", "-")
    if download and key not in _FILES and (key in _LOADERS or name.startswith("folder:")):
        raise DataError(f"--download: {name} has nothing to download; only {', '.join(_FILES)} are downloaded")
    if name.startswith("folder:"):
        return _folder(Path(name[len("folder:"):]), size)
    loader = _LOADERS.get(key)
    if loader is None:
        if Path(name).is_dir():
            raise UnknownDataError(f"unknown data set {name!r}: for an ImageFolder tree write folder:{name}")
        known = [n for n in DATA_SETS if ":" not in n] + ["folder"]
        raise UnknownDataError(
            f"unknown data set {name!r}{did_you_mean(key, known)} (zoo knows {', '.join(DATA_SETS)})"
        )
    if key in _FILES:
        return loader(root, seed, download)
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
    def load(root: Path, seed: int, download: bool = False) -> DataSet:
        datasets = require("torchvision.datasets", f"--data {key}")
        cls_name, folder, files, archive, url = _FILES[key]
        cls = getattr(datasets, cls_name)
        where = root / folder
        present = where.is_dir() and all((where / f).exists() for f in files if f != "...")
        if not present:
            if download:
                _download(key, cls, root)
            else:
                _unpack(key, cls, root)
        try:
            train = cls(str(root), train=True, download=False)
            val = cls(str(root), train=False, download=False)
        except Exception as exc:  # a damaged file
            raise DataError(f"{key}: the files under {root} cannot be read ({exc}); put fresh copies there"
                            " or delete them and add --download") from None
        splits = []
        for ds in (train, val):
            images = torch.as_tensor(ds.data)
            images = images.permute(0, 3, 1, 2).contiguous() if images.dim() == 4 else images.unsqueeze(1)
            splits.append(TensorSplit(images, torch.as_tensor(ds.targets)))
        aug = "document" if key.startswith("cifar") else "none"
        return _from_tensors(key, splits[0], splits[1], list(train.classes), aug)

    return load


def _missing(key: str, root: Path) -> DataError:
    _, folder, files, archive, url = _FILES[key]
    where = root / folder
    packed = root / archive if archive.endswith(".tar.gz") else where / "*.gz"
    return DataError(
        f"{key}: no data under {root.resolve()} (zoo downloads only with --download). Put the files there:\n"
        f"  {where}/: {', '.join(files)}\n"
        f"  or {packed} ({archive}), from {url}\n"
        f"then run again (or give the folder that holds them with --root DIR), or add --download"
    )


def _archives(cls: Any, root: Path) -> list[tuple[Path, str, Path]]:
    """``(archive, its MD5, where it unpacks)`` of a torchvision data set class, read
    from the class itself (its ``filename``/``tgz_md5``, or MNIST's ``resources``)."""
    if hasattr(cls, "tgz_md5"):  # CIFAR-10, CIFAR-100: one .tar.gz
        return [(root / cls.filename, cls.tgz_md5, root)]
    raw = root / cls.__name__ / "raw"  # MNIST and kin: one .gz per file
    return [(raw / name, md5, raw) for name, md5 in cls.resources]


def _unpack(key: str, cls: Any, root: Path) -> None:
    """Unpack the archives under ``root`` after checking their checksums; nothing is
    downloaded: a missing archive says where to put it, a damaged one says so (torchvision,
    asked to ``download``, would replace a damaged archive from the network)."""
    from torchvision.datasets.utils import check_integrity, extract_archive

    for archive, md5, into in _archives(cls, root):
        if archive.suffix == ".gz" and archive.with_suffix("").is_file():
            continue  # already unpacked
        if not archive.is_file():
            raise _missing(key, root)
        if not check_integrity(str(archive), md5):
            raise DataError(f"{key}: {archive} is damaged (its MD5 is not {md5}, torchvision's); nothing was "
                            "downloaded. Put a fresh copy there, or delete it and add --download")
        try:
            extract_archive(str(archive), str(into))
        except (OSError, EOFError, ValueError) as exc:
            raise DataError(f"{key}: cannot unpack {archive} ({exc}); put a fresh copy there") from None


def _download(key: str, cls: Any, root: Path) -> None:
    """torchvision's own download (its mirrors, its checksums) into ``root``; its
    messages go to stderr, so that ``--json`` keeps stdout for the result."""
    import contextlib
    import sys
    from urllib.error import URLError

    print(f"{key}: downloading into {root} (torchvision's download, its checksums checked)", file=sys.stderr,
          flush=True)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(sys.stderr):
            cls(str(root), train=True, download=True)
            cls(str(root), train=False, download=True)
    except (URLError, RuntimeError, OSError) as exc:
        reason = " ".join(str(getattr(exc, "reason", None) or exc).split())[:300]
        raise DataError(f"{key}: the download into {root} failed ({reason}); check the network, or put the "
                        "files there by hand (run without --download to see which)") from None


_LOADERS = {"digits": _digits, "fake": _fake, **{k: _torchvision(k) for k in _FILES}}


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".tif", ".tiff", ".webp", ".gif")
GRAY_MODES = ("1", "L", "I", "I;16", "F")
DEFAULT_SIZE = 32
MAX_PROBLEMS_SHOWN = 10


@dataclass
class FolderScan:
    """What :func:`scan_folder` found in one split of an ``ImageFolder`` tree: the
    classes, ``(path, class index)`` of each image, the ``(width, height)`` and PIL
    mode of each, what was skipped (not a regular file, a folder seen before through a
    link) and the images that cannot be opened, each with the reason."""

    classes: list[str]
    samples: list[tuple[str, int]]
    sizes: list[tuple[int, int]]
    modes: list[str]
    skipped: list[tuple[Path, str]]
    problems: list[tuple[Path, str]]


def scan_folder(folder: Path) -> FolderScan:
    """Every image of ``folder/<class>/...``, its header opened (no pixels decoded).

    Folders are followed through links once each (a link back up the tree is skipped,
    not walked forty times); FIFOs, sockets and broken links are skipped (reading a
    FIFO named ``x.png`` would wait forever); a zero-byte file, a file that is not an
    image, and an image too large to decode safely (PIL's decompression-bomb limit)
    are problems, named with their path.
    """
    import stat
    import warnings

    from PIL import Image, UnidentifiedImageError

    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    scan = FolderScan(classes, [], [], [], [], [])
    seen: set[tuple[int, int]] = set()
    for index, name in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(folder / name, followlinks=True):
            try:
                info = os.stat(dirpath)
            except OSError:
                continue
            if (info.st_dev, info.st_ino) in seen:  # a link to a folder already walked: a loop
                scan.skipped.append((Path(dirpath), "a folder already read (a link loop)"))
                dirnames[:] = []
                continue
            seen.add((info.st_dev, info.st_ino))
            dirnames.sort()
            for filename in sorted(filenames):
                if not filename.lower().endswith(IMAGE_SUFFIXES):
                    continue
                path = Path(dirpath) / filename
                try:
                    mode = os.stat(path).st_mode
                except OSError:
                    scan.skipped.append((path, "a broken link"))
                    continue
                if not stat.S_ISREG(mode):
                    scan.skipped.append((path, "not a regular file (a FIFO, a socket or a device)"))
                    continue
                try:
                    if os.path.getsize(path) == 0:
                        raise OSError("an empty file (0 bytes)")
                    with warnings.catch_warnings():
                        warnings.simplefilter("error", Image.DecompressionBombWarning)
                        with Image.open(path) as image:
                            size, image_mode = image.size, image.mode
                except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                    reason = str(exc).split(", could be")[0]
                    scan.problems.append((path, f"too large to decode safely (a decompression bomb?): {reason}"))
                    continue
                except UnidentifiedImageError:
                    scan.problems.append((path, "not an image PIL can read (damaged, or another kind of file)"))
                    continue
                except (OSError, ValueError, SyntaxError) as exc:
                    scan.problems.append((path, str(exc) or type(exc).__name__))
                    continue
                scan.samples.append((str(path), index))
                scan.sizes.append(size)
                scan.modes.append(image_mode)
    return scan


class ImageFiles:
    """The images of a :class:`FolderScan` as a torch ``Dataset`` of ``(uint8 tensor,
    class)``: converted to gray (``channels=1``) or RGB, resized (shorter side) and
    centre-cropped to ``size``. A file that cannot be decoded is a
    :class:`zoo.DataError` naming it."""

    def __init__(self, scan: FolderScan, size: int, channels: int):
        self.samples = scan.samples
        self.targets = [label for _, label in scan.samples]
        self.classes = scan.classes
        self.size = size
        self.mode = "L" if channels == 1 else "RGB"

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image
        from torchvision.transforms import functional

        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                image = image.convert(self.mode)
        except (OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"{path}: cannot be decoded ({exc}); remove it or put a good copy there") from None
        if image.size != (self.size, self.size):
            image = functional.center_crop(functional.resize(image, self.size), self.size)
        return functional.pil_to_tensor(image), label


def _folder(path: Path, size: int | None) -> DataSet:
    if not path.is_dir():
        raise DataError(f"folder:{path}: no such folder; give an ImageFolder tree with train/ and val/ inside")
    missing = [part for part in ("train", "val") if not (path / part).is_dir()]
    if missing:
        raise DataError(
            f"folder:{path} has no {' or '.join(p + '/' for p in missing)}; an ImageFolder tree is "
            f"{path}/train/<class>/<image> and {path}/val/<class>/<image>"
        )
    require("torchvision.datasets", "--data folder")
    scans = {part: scan_folder(path / part) for part in ("train", "val")}
    problems = [item for scan in scans.values() for item in scan.problems]
    if problems:
        shown = "\n".join(f"  {p}: {why}" for p, why in problems[:MAX_PROBLEMS_SHOWN])
        more = f"\n  and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        raise DataError(f"folder:{path}: {len(problems)} of the files cannot be read as images:\n{shown}{more}\n"
                        "remove them (or put good copies there), then run again")
    for part, scan in scans.items():
        if not scan.samples:
            raise DataError(
                f"folder:{path}/{part} has no classes with images; put the images of each class in "
                f"a folder of its own: {path}/{part}/<class>/<image>.png"
            )
    train, val = scans["train"], scans["val"]
    if train.classes != val.classes:
        raise DataError(f"folder:{path}: train/ has the classes {train.classes}, val/ has {val.classes}; "
                        "they must be the same")
    name = f"folder:{path.name}"
    notes = []
    skipped = train.skipped + val.skipped
    if skipped:
        notes.append(f"{name}: skipped {len(skipped)}: " + "; ".join(f"{p} ({why})" for p, why in skipped[:3])
                     + (" ..." if len(skipped) > 3 else ""))
    sizes = set(train.sizes + val.sizes)
    if size is not None:
        notes.append(f"{name}: images resized to {size}x{size} (--size {size})")
    elif len(sizes) == 1:
        (w, h), = sizes
        size = min(w, h)
        crop = "" if w == h else f", the centre {size}x{size} of each {w}x{h}"
        notes.append(f"{name}: every image is {w}x{h}: size {size}{crop} (--size to change)")
    else:
        size = DEFAULT_SIZE
        small, large = min(sizes, key=lambda s: s[0] * s[1]), max(sizes, key=lambda s: s[0] * s[1])
        notes.append(f"{name}: images from {small[0]}x{small[1]} to {large[0]}x{large[1]}: resized to "
                     f"{size}x{size} (--size to change)")
    modes = train.modes + val.modes
    gray = sum(mode in GRAY_MODES for mode in modes)
    channels = 1 if gray == len(modes) else 3
    if channels == 1:
        notes.append(f"{name}: every image is gray: 1 channel")
    elif gray:
        notes.append(f"{name}: {gray:,} of {len(modes):,} images are gray: converted to RGB, 3 channels")
    aug = "document" if channels == 3 and size >= 32 else "none"
    why = "RGB images of 32 px or more" if aug == "document" else (
        "gray images" if channels == 1 else "images under 32 px")
    notes.append(f"{name}: augmentation {aug} for {why} (--aug to choose)")
    datasets = [ImageFiles(scan, size, channels) for scan in (train, val)]
    if channels == 3:
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as the document uses
    else:
        sample = [datasets[0][i][0] for i in range(0, len(datasets[0]), max(1, len(datasets[0]) // 256))]
        mean, std = _stats(torch.stack(sample))
    data = DataSet(name, FolderSplit(datasets[0], size), FolderSplit(datasets[1], size),
                   list(train.classes), mean, std, aug)
    data.notes.extend(notes)
    return data
