"""Training: data sets, batch augmentation on the device, :class:`Trainer`, run folders.

``zoo train`` is a thin command over this package::

    >>> from zoo.train import Trainer, load_data, BatchAugment
    >>> data = load_data("digits")
    >>> data.shape, data.num_classes
    ((1, 8, 8), 10)

scikit-learn (``--data digits``), torchvision (``--data cifar10`` ...) and matplotlib
(the plots) are imported only where they are needed (``pip install 'zoo-cnn[train]'``).
"""

from .augment import AUGMENTATIONS, BatchAugment
from .data import DATA_SETS, DataSet, FolderSplit, TensorSplit, load_data
from .distributed import Distributed, from_environment
from .trainer import Interrupted, Trainer

__all__ = [
    "AUGMENTATIONS",
    "BatchAugment",
    "DATA_SETS",
    "DataSet",
    "Distributed",
    "FolderSplit",
    "Interrupted",
    "TensorSplit",
    "Trainer",
    "from_environment",
    "load_data",
]
