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
    MissingExtraError,
    OptionError,
    PluginClashError,
    PluginError,
    PresetError,
    ShapeError,
    TokenValueError,
    UnknownArgumentError,
    UnknownModelError,
    UnknownOptionError,
    UnknownPresetError,
    UnknownTokenError,
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
    "BuildContext": "zoo.cnn",
    "Change": "zoo.change",
    "Residual": "zoo.layers",
    "LayerNormChannels": "zoo.layers",
    # presets: zoo.presets is torch-free, so list_models/get_preset stay instant
    "create": "zoo.target",  # any target: preset, YAML file, block string, checkpoint, timm:...
    "list_models": "zoo.presets",
    "get_preset": "zoo.presets",
    "Classifier": "zoo.classifier",
    "load_timm_weights": "zoo.timm_bridge",
    "register_timm": "zoo.timm_bridge",
    "save_for_hf": "zoo.safetensors_file",
    "BlockMonitor": "zoo.monitor",
    # the inspector (meta device): zoo.inspect(target) -> Report
    "inspect": "zoo.inspector",
    "ModelState": "zoo.inspector",
    "Report": "zoo.inspector",
    # training (zoo train): data, the loop, run folders
    "Trainer": "zoo.train",
    # using a trained model: zoo.predict(checkpoint, images) -> [Prediction]
    "predict": "zoo.prediction",
}

__all__ = [
    "BlockMonitor",
    "BlockSyntaxError",
    "BuildContext",
    "BuildError",
    "CNN",
    "Change",
    "Classifier",
    "Config",
    "LayerNormChannels",
    "MissingExtraError",
    "ModelState",
    "OptionError",
    "PluginClashError",
    "PluginError",
    "PresetError",
    "Report",
    "Residual",
    "ShapeError",
    "TokenValueError",
    "Trainer",
    "UnknownModelError",
    "UnknownArgumentError",
    "UnknownOptionError",
    "UnknownPresetError",
    "UnknownTokenError",
    "WeightsError",
    "ZooError",
    "ZooWarning",
    "create",
    "get_preset",
    "inspect",
    "predict",
    "list_models",
    "load_timm_weights",
    "parse_blocks",
    "register_timm",
    "save_for_hf",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


if TYPE_CHECKING:
    from .change import Change
    from .classifier import Classifier
    from .cnn import CNN, BuildContext
    from .inspector import ModelState, Report, inspect
    from .layers import LayerNormChannels, Residual
    from .monitor import BlockMonitor
    from .prediction import predict
    from .presets import get_preset, list_models
    from .safetensors_file import save_for_hf
    from .target import create
    from .timm_bridge import load_timm_weights, register_timm
    from .train import Trainer
