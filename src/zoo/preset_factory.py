"""Building a preset: its checked overrides -> ``Config`` and head -> a ``Classifier``
(counted on meta first: the file's parameter count and the memory are checked). The
checks of a block string's options live here too."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import (
    BuildError,
    OptionError,
    PresetError,
    ShapeError,
    UnknownOptionError,
    did_you_mean,
)
from .format import format_count
from .options import DOCUMENT_NAMES, Config, declared_options

if TYPE_CHECKING:
    from .classifier import Classifier
    from .preset_schema import Preset


def _build(preset: Preset, cfg: Config, head: dict[str, Any]) -> Classifier:
    """Build on the meta device first (no memory, no initialisation): refuse a model
    whose count differs from its file's, and one that cannot fit in memory, before
    building it for real. Under ``torch.device("meta")`` (``zoo.inspect``) the meta
    model is the result: any size may be inspected."""
    import torch

    wanted_meta = torch.empty(()).device.type == "meta"
    with torch.device("meta"):
        model = _assemble(preset, cfg, head)
    params = sum(p.numel() for p in model.parameters())
    if preset.params is not None and params != preset.params and cfg == preset.config() and head == preset.head:
        raise PresetError(_count_mismatch(preset, params))
    if wanted_meta:
        return model
    size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    memory = _memory_bytes()
    if memory is not None and size > memory:
        raise BuildError(
            f"preset {preset.name!r}: the model needs about {format_count(size, 'B')} for its "
            f"{params:,} parameters, more than this machine's {format_count(memory, 'B')} of memory",
            hint="lower the channels, num_classes or head.hidden ('zoo inspect' shows the "
            "parameters without allocating them)",
        )
    return _assemble(preset, cfg, head)


def _memory_bytes() -> int | None:
    """The machine's physical memory, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _count_mismatch(preset: Preset, params: int) -> str:
    from .registry import BUILTIN, get_registry

    plugins = [f"{info.name} {info.version}".strip() for info in get_registry().plugins.values()
               if info.status == "ok" and info.name != BUILTIN]
    loaded = ", ".join(plugins) if plugins else "none"
    line = preset.lines.get("params")
    return (
        f"preset {preset.name!r} ({preset.path}{f', line {line}' if line else ''}): built with "
        f"{params:,} parameters, but its file says {preset.params:,}; the blocks "
        f"{preset.blocks!r} no longer mean what they meant when the file was written. Plugins "
        f"loaded: {loaded}. A plugin token may change how a block string reads: try again with "
        "ZOO_DISABLE_PLUGIN_AUTOLOAD=1, disable plugins with ZOO_DISABLE_PLUGINS=name, or correct "
        "params: in the file"
    )


def _assemble(preset: Preset, cfg: Config, head: dict[str, Any]) -> Classifier:
    from .classifier import Classifier
    from .cnn import CNN

    cnn = CNN(cfg)
    size = (cfg.input, *preset.input[1:])
    if cfg.pool:
        features = cnn.out_channels
    else:  # no global pool: the head sees every pixel, so run the network on meta
        try:
            features = _meta_features(cnn, size)
        except (RuntimeError, ValueError) as exc:  # torch's words for a shape that cannot work
            raise ShapeError(
                f"preset {preset.name!r} ({preset.path}): with pool=0 the head needs the size of "
                f"the last feature map, but the blocks cannot take a {size} input ({exc}); "
                "'zoo inspect' shows where it fails"
            ) from None
    return Classifier(
        cnn,
        head["num_classes"],
        in_features=features,
        hidden=head.get("hidden", ()),
        dropout=head.get("dropout", 0.0),
        fun=head.get("fun", "relu"),
        input_size=size,
        name=preset.name,
    )


def _meta_features(cnn: Any, size: tuple[int, ...]) -> int:
    """Features per image leaving ``cnn`` for one ``size`` input: the network runs in
    eval mode on meta stand-ins of its tensors (nothing copied, nothing built twice),
    then gets its training flags back."""
    import torch
    from torch.func import functional_call

    tensors = {name: torch.empty_like(t, device="meta")
               for name, t in (*cnn.named_parameters(), *cnn.named_buffers())}
    flags = [(m, m.training) for m in cnn.modules()]
    cnn.eval()
    try:
        out = functional_call(cnn, tensors, (torch.empty(1, *size, device="meta"),))
    finally:
        for module, training in flags:
            module.training = training
    return out.flatten(1).shape[1]


TIMM_NAMES = {  # timm's create_model keywords -> what zoo.create takes instead
    "in_chans": "input (input=1 for gray images)",
    "drop_rate": "the head's dropout (head={'dropout': 0.2})",
    "drop_path_rate": "drop-block (Change.drop_block(model, p) after create)",
    "global_pool": "pool (pool=1 average, pool=2 max)",
    "pretrained": "an argument of zoo.create (zoo.create(name, pretrained=True): timm's weights)",
}


def _check_overrides(options: dict[str, Any]) -> None:
    declared = declared_options()
    unknown = [k for k in options if k not in declared]
    if unknown:
        name = unknown[0]
        if name in DOCUMENT_NAMES:
            raise UnknownOptionError(f"unknown option {name!r}: {DOCUMENT_NAMES[name]}")
        if name in TIMM_NAMES:  # a timm user's word for something zoo names otherwise
            raise UnknownOptionError(
                f"unknown option {name!r}: timm's {name} is {TIMM_NAMES[name]} in zoo.create "
                "(a preset takes num_classes, input, head and the options of zoo.Config)"
            )
        candidates = [*declared, "num_classes", "input", "head"]
        raise UnknownOptionError(
            f"unknown option {name!r}{did_you_mean(name, candidates)} (a preset takes num_classes, "
            "input, head and the options of zoo.Config)"
        )


PRESET_OVERRIDES = ("num_classes", "head")  # taken by a preset, not by a block string


def check_cnn_options(options: Mapping[str, Any]) -> Config:
    """The options of a network built from a block string: those of ``zoo.Config``
    (``zoo.Config``), without ``blocks`` (the block string is the target) and without a
    preset's ``num_classes`` and ``head``.

    >>> check_cnn_options({"num_classes": 100})
    Traceback (most recent call last):
    ...
    zoo.errors.UnknownOptionError: num_classes is an override of a preset (as is head); a block string takes the options of zoo.Config only, e.g. fun=gelu
    """
    if "blocks" in options:
        raise OptionError(
            f"blocks={options['blocks']!r}: the block string is the target itself; give the "
            "blocks as the target (zoo.inspect(\"cnf32 m r64\"), zoo inspect \"cnf32 m r64\"), "
            "not as an option"
        )
    for name in PRESET_OVERRIDES:
        if name in options:
            others = ", ".join(n for n in PRESET_OVERRIDES if n != name)
            raise UnknownOptionError(
                f"{name} is an override of a preset (as is {others}); a block string takes the "
                "options of zoo.Config only, e.g. fun=gelu"
            )
    return Config(**options)
