"""Building a preset: its checked overrides -> ``Config`` and head -> a ``Classifier``
(counted on meta first: the file's parameter count and the memory are checked)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import (
    BuildError,
    PresetError,
    ShapeError,
)
from ..format import format_count
from ..options import Config

if TYPE_CHECKING:
    from ..classifier import Classifier
    from .schema import Preset


def build_preset(preset: Preset, cfg: Config, head: dict[str, Any]) -> Classifier:
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
    from ..registry.registry import BUILTIN, get_registry

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
    from ..classifier import Classifier
    from ..cnn import CNN

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
