"""Training: data sets, batch augmentation on the device, :class:`Trainer`, run folders.

``zoo train`` is a thin command over this package::

    >>> from zoo.train import Trainer, load_data, BatchAugment
    >>> data = load_data("digits")
    >>> data.shape, data.num_classes
    ((1, 8, 8), 10)

Importing ``zoo.train`` (or ``zoo.train.runs``, which ``zoo runs`` uses) imports no
torch: the names below load on first use. scikit-learn (``--data digits``),
torchvision (``--data cifar10`` ...) and matplotlib (the plots) are imported only
where they are needed (``pip install 'zoo-cnn[train]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "AUGMENTATIONS": "zoo.train.augment",
    "BatchAugment": "zoo.train.augment",
    "Callback": "zoo.train.callbacks",
    "Step": "zoo.train.callbacks",
    "Recipe": "zoo.train.recipe",
    "Progress": "zoo.train.progress",
    "DATA_SETS": "zoo.train.data",
    "DataSet": "zoo.train.data",
    "FolderSplit": "zoo.train.data",
    "TensorSplit": "zoo.train.data",
    "load_data": "zoo.train.data",
    "Distributed": "zoo.train.distributed",
    "from_environment": "zoo.train.distributed",
    "Interrupted": "zoo.train.trainer",
    "Trainer": "zoo.train.trainer",
    "fit_to_data": "zoo.train.fitting",
}

__all__ = [
    "AUGMENTATIONS",
    "BatchAugment",
    "Callback",
    "DATA_SETS",
    "DataSet",
    "Distributed",
    "FolderSplit",
    "Interrupted",
    "Progress",
    "Recipe",
    "Step",
    "TensorSplit",
    "Trainer",
    "fit_to_data",
    "from_environment",
    "load_data",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


if TYPE_CHECKING:
    from .augment import AUGMENTATIONS, BatchAugment
    from .callbacks import Callback, Step
    from .data import DATA_SETS, DataSet, FolderSplit, TensorSplit, load_data
    from .distributed import Distributed, from_environment
    from .fitting import fit_to_data
    from .progress import Progress
    from .recipe import Recipe
    from .trainer import Interrupted, Trainer
