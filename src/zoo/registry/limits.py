"""Sizes past these are refused before anything is allocated (the parser, the options,
the presets, the inspector and the plugins' values all check against them)."""

from __future__ import annotations

# one import path per name: MAX_CHANNELS, MAX_KERNEL, MAX_REPEAT from zoo.plugin
__all__ = ["MAX_DEPTH", "MAX_SIDE", "MAX_WIDTH"]

MAX_CHANNELS = 65_536
MAX_KERNEL = 63
MAX_REPEAT = 1_000
MAX_DEPTH = 64  # nested groups: the parser, the build, the inspector and deepcopy all take this
MAX_SIDE = 65_536  # height or width of an input image
MAX_WIDTH = 1_048_576  # a head's num_classes or hidden width
