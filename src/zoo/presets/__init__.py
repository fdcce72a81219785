"""Presets: named models in YAML files, and ``create`` / ``list_models``.

A preset file holds one model::

    name: resnet18_cifar
    description: ResNet-18 for CIFAR-10 ...
    tags: [cifar, document]                 # optional: zoo list --tag cifar
    input: [3, 32, 32]                      # C, H, W
    blocks: "(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r"
    options: {}                             # any option of zoo.Config except input/blocks
    head: {num_classes: 10}                 # optional: hidden: [256], dropout: 0.2, fun: relu
    params: 11173962                        # written in, checked by the tests
    macs: 140186624                         # multiply-accumulates, one image

Presets come from the ``presets/`` folder shipped with zoo, from every plugin's
``zoo_presets()`` hook and from the folders in ``ZOO_PRESET_PATH``. Files are read
with ``yaml.safe_load`` only (plain data: a preset cannot run code) and checked
key by key; every error names the file and line. Nothing here imports torch:
listing presets is instant, only ``create`` builds modules.

    >>> import zoo
    >>> zoo.list_models("resnet18*")
    ['resnet18', 'resnet18_cifar', 'resnet18_cifar_nopool', 'resnet18_cifar_v2', 'resnet18_cifar_v3']
    >>> model = zoo.create("resnet18_cifar", num_classes=100, fun="gelu")
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# one module each, in the manner of timm's _registry / _factory / _builder:
from .catalog import (  # where presets come from, by name
    find_preset,
    get_preset,
    list_presets,
    list_tags,
    looks_like_path,
    preset_dirs,
)
from .schema import (  # one file -> one Preset
    ENV_PATH,
    HEAD_KEYS,
    MAX_FILE_BYTES,
    TIMM_NAMES,
    Preset,
    load_preset_file,
    write_counts,
)

if TYPE_CHECKING:
    from ..classifier import Classifier

# one import path per name: get_preset is zoo.get_preset, list_models is zoo.list_models
__all__ = [
    "Preset",
    "find_preset",
    "list_presets",
    "list_tags",
    "create",
    "load_preset_file",
    "looks_like_path",
    "preset_dirs",
    "ENV_PATH",
    "HEAD_KEYS",
    "MAX_FILE_BYTES",
    "TIMM_NAMES",
    "write_counts",
]


def create(name_or_path: str | os.PathLike, **overrides: Any) -> Classifier:
    """Build a preset by name or path: a ``Classifier`` with ``.cnn`` and ``.head``.

    >>> model = create("resnet18_cifar", num_classes=100, fun="gelu")
    >>> model.head.fc.out_features, model.cnn.cfg.fun
    (100, 'gelu')

    Overrides: ``num_classes``, ``input`` (channels), ``head`` (a dict of head keys)
    and any option of ``zoo.Config``.
    """
    return get_preset(name_or_path).create(**overrides)
