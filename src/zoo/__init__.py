"""zoo: convolutional networks from a compact block string.

    >>> import zoo
    >>> cnn = zoo.CNN(blocks="(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r")

``import zoo`` is light: torch loads on first use of a torch-backed name, and timm,
torchvision and matplotlib only inside the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from .errors import (
    BlockSyntaxError,
    BuildError,
    CheckpointError,
    DataError,
    DeviceError,
    DiskFullError,
    ExportError,
    MissingExtraError,
    OptionError,
    OutputPathError,
    OverrideError,
    PluginClashError,
    PluginError,
    PresetError,
    RunLockedError,
    ShapeError,
    SweepError,
    TokenValueError,
    TrainingError,
    UnknownArgumentError,
    UnknownDataError,
    UnknownModelError,
    UnknownOptionError,
    UnknownPresetError,
    UnknownTokenError,
    UntrustedCodeError,
    WeightsError,
    ZooError,
    ZooWarning,
)
from .language import parse_blocks
from .options import Config

__version__ = "0.1.0"

# Public names backed by torch, imported on first access (PEP 562).
_LAZY = {
    "CNN": "zoo.cnn",
    "Change": "zoo.change",
    "Residual": "zoo.layers.residual",
    "LayerNormChannels": "zoo.layers.norm",
    # presets: zoo.presets is torch-free, so list_models/get_preset stay instant
    "create": "zoo.target",  # any target: preset, YAML file, block string, checkpoint, timm:...
    "list_models": "zoo.presets.catalog",
    "get_preset": "zoo.presets.catalog",
    "Classifier": "zoo.classifier",
    "load_timm_weights": "zoo.timm_bridge",
    "register_timm": "zoo.timm_bridge",
    "save_for_hf": "zoo.safetensors_file",
    "BlockMonitor": "zoo.monitor.block_monitor",
    # the inspector (meta device): zoo.inspect(target) -> Report
    "inspect": "zoo.inspector.inspection",
    "ModelState": "zoo.inspector.model_state",
    "Report": "zoo.inspector.report",
    # training (zoo train): zoo.train has the rest (data, recipe, callbacks)
    "Trainer": "zoo.train.trainer",
    # using a trained model: zoo.predict(checkpoint, images) -> [Prediction]
    "predict": "zoo.prediction",
}

# Each public name has one import path (tests/test_imports.py checks): zoo's for users,
# zoo.plugin's for plugin authors, a subpackage's (zoo.train.load_data) for the rest.
__all__ = [
    # every exception and warning zoo raises (zoo.errors defines them)
    "BlockSyntaxError",
    "BuildError",
    "CheckpointError",
    "DataError",
    "DeviceError",
    "DiskFullError",
    "ExportError",
    "MissingExtraError",
    "OptionError",
    "OutputPathError",
    "OverrideError",
    "PluginClashError",
    "PluginError",
    "PresetError",
    "RunLockedError",
    "ShapeError",
    "SweepError",
    "TokenValueError",
    "TrainingError",
    "UnknownArgumentError",
    "UnknownDataError",
    "UnknownModelError",
    "UnknownOptionError",
    "UnknownPresetError",
    "UnknownTokenError",
    "UntrustedCodeError",
    "WeightsError",
    "ZooError",
    "ZooWarning",
    "Config",
    "parse_blocks",
    *_LAZY,
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


# for type checkers: the names of _LAZY ("as": re-exported)
if TYPE_CHECKING:
    from .change import Change as Change
    from .classifier import Classifier as Classifier
    from .cnn import CNN as CNN
    from .inspector.inspection import inspect as inspect
    from .inspector.model_state import ModelState as ModelState
    from .inspector.report import Report as Report
    from .layers.norm import LayerNormChannels as LayerNormChannels
    from .layers.residual import Residual as Residual
    from .monitor.block_monitor import BlockMonitor as BlockMonitor
    from .prediction import predict as predict
    from .presets.catalog import get_preset as get_preset
    from .presets.catalog import list_models as list_models
    from .safetensors_file import save_for_hf as save_for_hf
    from .target import create as create
    from .timm_bridge import load_timm_weights as load_timm_weights
    from .timm_bridge import register_timm as register_timm
    from .train.trainer import Trainer as Trainer
