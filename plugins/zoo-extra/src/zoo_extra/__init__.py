"""zoo-extra: squeeze-and-excitation, the ResNet-50 bottleneck, and a resnet50 preset.

zoo loads this module through the entry point ``[project.entry-points.zoo]
extra = "zoo_extra"``. It declares tokens, options and presets only; the torch code
lives in :mod:`zoo_extra.layers`, imported when a network is built, so that
``zoo tokens`` and ``zoo plugins`` never import torch.

Once installed, its tokens work in any block string:

    >>> import zoo
    >>> zoo.CNN(input=64, blocks="rb16 se 2rb").out_channels
    64
"""

from __future__ import annotations

from pathlib import Path

from zoo.plugin import MAX_CHANNELS, MAX_KERNEL, Option, Token, Value, hookimpl

__version__ = "0.1.0"
__all__ = ["zoo_tokens", "zoo_options", "zoo_presets"]


@hookimpl
def zoo_tokens() -> list[Token]:
    return [
        Token(
            "se",
            [Value("reduction", int, 16, min=1, max=MAX_CHANNELS)],
            "squeeze-and-excitation: scale each channel by a gate of the channel means (C // reduction hidden)",
            build="zoo_extra.layers:build_se",
        ),
        Token(
            "rb",
            [
                Value("channels", int, None, doc="C/4", min=1, max=MAX_CHANNELS),
                Value("kernel", int, 3, min=1, max=MAX_KERNEL),
                Value("stride", int, 1, min=1, max=MAX_KERNEL),
            ],
            "bottleneck residual block (ResNet-50): 1x1 -> kxk -> 1x1, output 4*channels; "
            "with stride_first=True (the default) the stride sits on the kxk convolution "
            "(ResNet v1.5, torchvision, timm), else on the first 1x1",
            build="zoo_extra.layers:build_bottleneck",
        ),
    ]


@hookimpl
def zoo_options() -> list[Option]:
    return [
        Option("se_gate", "sigmoid", "gate of the `se` token", choices=("sigmoid", "hsigmoid")),
        Option("rb_expansion", 4, "output channels of `rb` = expansion * channels", choices=(1, 2, 4, 8)),
    ]


@hookimpl
def zoo_presets() -> list[Path]:
    return [Path(__file__).parent / "presets"]
