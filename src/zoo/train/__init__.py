"""Training: data sets, batch augmentation on the device, :class:`zoo.Trainer`, run folders.

``zoo train`` is a thin command over this package::

    >>> from zoo.train import load_data, BatchAugment
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
    "fit_to_data": "zoo.train.fitting",
}

# the Trainer itself is zoo.Trainer (one import path per name)
__all__ = [*_LAZY]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


# for type checkers: the names of _LAZY ("as": re-exported)
if TYPE_CHECKING:
    from .augment import AUGMENTATIONS as AUGMENTATIONS
    from .augment import BatchAugment as BatchAugment
    from .callbacks import Callback as Callback
    from .callbacks import Step as Step
    from .data import DATA_SETS as DATA_SETS
    from .data import DataSet as DataSet
    from .data import FolderSplit as FolderSplit
    from .data import TensorSplit as TensorSplit
    from .data import load_data as load_data
    from .distributed import Distributed as Distributed
    from .distributed import from_environment as from_environment
    from .fitting import fit_to_data as fit_to_data
    from .progress import Progress as Progress
    from .recipe import Recipe as Recipe
    from .trainer import Interrupted as Interrupted
