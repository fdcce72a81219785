"""The bridge to timm: timm's ResNet weights into zoo models, zoo presets into timm.

``load_timm_weights(model, state_dict)`` maps a timm (or torchvision: the same
keys) ResNet state dict onto a zoo model through an explicit key map built from
the structure of both, and checks every key and shape before it copies anything:

    timm                            zoo
    conv1, bn1                      the Conv2d, BatchNorm2d before the first Residual
    layerS.B (in order)             the i-th Residual of the CNN, in module order
      conv1, bn1, conv2, bn2, ...     the Conv2d, BatchNorm2d of its ``block``, in order
      downsample.0, downsample.1      the Conv2d, BatchNorm2d of its ``align``
    fc                              the head's last Linear (``head.fc``)

So any block built on ``zoo.Residual`` maps, a plugin's bottleneck
(conv1..conv3) as well as ``r``. ``register_timm()`` makes each preset the timm
model ``zoo_<preset>`` (built through timm's ``build_model_with_cfg``: timm's
pretrained loading and feature extractors), and :func:`load_pretrained` gives a zoo
model timm's weights through timm's own loader (its hub download and cache). timm
itself is imported only inside functions.
"""

# no `from __future__ import annotations`: FeatureMaps is scripted by timm's tests

import re
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from .errors import (
    OptionError,
    PresetError,
    UnknownArgumentError,
    UnknownOptionError,
    WeightsError,
    warn,
)
from .network import find_cnn

# one import path per name: load_timm_weights, register_timm from zoo
__all__ = ["timm_key_map", "load_pretrained", "FeatureMaps"]

_BLOCK = re.compile(r"^layer(\d+)\.(\d+)\.(.+)$")
_INNER = re.compile(r"^(conv|bn)(\d+)$")


def _shape(t: Any) -> str:
    return "x".join(str(s) for s in t.shape) if hasattr(t, "shape") else type(t).__name__


def _zoo_parts(model: nn.Module) -> tuple[str, nn.Module, str, nn.Module | None]:
    """(prefix, cnn) and (prefix, head Linear or None) of a zoo model."""
    cnn = find_cnn(model)
    if cnn is None:
        raise WeightsError(
            f"load_timm_weights needs a zoo model (zoo.create(...) or a zoo.CNN), not "
            f"{type(model).__name__}"
        )
    if cnn is model:
        return "", model, "", None
    prefix = next(name for name, module in model.named_modules() if module is cnn) + "."
    head = getattr(model, "head", None)
    fc = getattr(head, "fc", None) if head is not None else None
    if fc is None and head is not None:
        linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
        fc = linears[-1] if linears else None
    fc_name = next((n for n, m in model.named_modules() if m is fc), "") if isinstance(fc, nn.Linear) else ""
    return prefix, cnn, fc_name, fc if isinstance(fc, nn.Linear) else None


def _zoo_structure(cnn: nn.Module, prefix: str) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, nn.Module]]]:
    """The stem layers (Conv2d/BatchNorm before the first Residual) and the top-level
    Residuals of ``cnn``, each as (qualified name, module), in module order."""
    from .layers.residual import Residual

    stem: list[tuple[str, nn.Module]] = []
    residuals: list[tuple[str, nn.Module]] = []
    inside: str | None = None
    for name, module in cnn.named_modules():
        if inside is not None and name.startswith(inside):
            continue  # a layer of the residual block already taken
        if isinstance(module, Residual):
            residuals.append((prefix + name, module))
            inside = name + "."
        elif not residuals and isinstance(module, (nn.Conv2d, _BatchNorm)):
            stem.append((prefix + name, module))
    return stem, residuals


def _layers(module: nn.Module | None, prefix: str) -> tuple[list[str], list[str]]:
    """Qualified names of the Conv2d and the BatchNorm layers inside ``module``, in order."""
    convs: list[str] = []
    norms: list[str] = []
    if module is None:
        return convs, norms
    for name, sub in module.named_modules():
        full = f"{prefix}.{name}" if name else prefix
        if isinstance(sub, nn.Conv2d):
            convs.append(full)
        elif isinstance(sub, _BatchNorm):
            norms.append(full)
    return convs, norms


def _timm_modules(keys: list[str]) -> tuple[list[str], dict[tuple[int, int], list[str]], bool]:
    """The module prefixes of a timm ResNet state dict: stem, blocks by (stage, index), fc."""
    stem: list[str] = []
    blocks: dict[tuple[int, int], list[str]] = {}
    has_fc = False
    for key in keys:
        module = key.rpartition(".")[0]
        if module in ("conv1", "bn1"):
            if module not in stem:
                stem.append(module)
            continue
        if module == "fc":
            has_fc = True
            continue
        match = _BLOCK.match(module)
        if match is None:
            raise WeightsError(
                f"the state dict has the key {key!r}, which is not part of a plain timm/torchvision "
                "ResNet (stem conv1/bn1, blocks layerN.M.convK/bnK/downsample, fc); zoo has no "
                "place for it"
            )
        inner = match.group(3)
        if not (_INNER.match(inner) or inner in ("downsample.0", "downsample.1")):
            raise WeightsError(
                f"the state dict has the key {key!r}: a block layer {inner!r} that zoo cannot "
                "place (a block maps convK/bnK and downsample.0/.1)"
            )
        names = blocks.setdefault((int(match.group(1)), int(match.group(2))), [])
        if inner not in names:
            names.append(inner)
    return stem, dict(sorted(blocks.items())), has_fc


def _ordered(names: list[str], kind: str) -> list[str]:
    found = sorted((int(m.group(2)), n) for n in names if (m := _INNER.match(n)) and m.group(1) == kind)
    return [n for _, n in found]


def timm_key_map(model: nn.Module, keys: list[str] | Mapping[str, Any]) -> dict[str, str]:
    """The explicit map timm key -> zoo key for ``model`` (module-level; no shapes checked).

    Every module named in ``keys`` maps with all its tensors, so the key list of a
    state dict (timm's ``model.state_dict()``) is all it needs:

    >>> from zoo import CNN
    >>> keys = ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.0.bn1.weight",
    ...         "layer1.0.conv2.weight", "layer1.0.bn2.weight"]
    >>> m = timm_key_map(CNN(blocks="(cnf8_7_2 m3_2_1) r"), keys)
    >>> m["conv1.weight"], m["layer1.0.conv2.weight"], m["layer1.0.bn2.running_var"]
    ('blocks.0.0.0.weight', 'blocks.1.block.3.weight', 'blocks.1.block.4.running_var')

    For a ``zoo.create`` model the zoo keys start with ``cnn.``, and ``fc`` maps to ``head.fc``.
    """
    keys = list(keys)
    prefix, cnn, fc_name, _ = _zoo_parts(model)
    stem, residuals = _zoo_structure(cnn, prefix)
    t_stem, t_blocks, t_fc = _timm_modules(keys)

    pairs: list[tuple[str, str]] = []  # (timm module, zoo module)
    z_convs = [n for n, m in stem if isinstance(m, nn.Conv2d)]
    z_norms = [n for n, m in stem if isinstance(m, _BatchNorm)]
    t_convs = [n for n in t_stem if n == "conv1"]
    t_norms = [n for n in t_stem if n == "bn1"]
    if (len(z_convs), len(z_norms)) != (len(t_convs), len(t_norms)):
        raise WeightsError(
            f"the stems differ: timm's has {len(t_convs)} Conv2d and {len(t_norms)} BatchNorm "
            f"(conv1, bn1), the zoo model's {len(z_convs)} and {len(z_norms)} before its first "
            "residual block"
        )
    pairs += list(zip(t_convs, z_convs, strict=True)) + list(zip(t_norms, z_norms, strict=True))

    if len(t_blocks) != len(residuals):
        raise WeightsError(
            f"the state dict has {len(t_blocks)} residual blocks (layerN.M), the zoo model "
            f"{len(residuals)}: is it the matching preset (resnet18 for resnet18, ...)?"
        )
    tokens = {prefix + path: text for path, text in cnn.token_texts.items()}
    for ((stage, index), inner), (zname, residual) in zip(t_blocks.items(), residuals, strict=True):
        tname = f"layer{stage}.{index}"
        z_bconvs, z_bnorms = _layers(residual.block, f"{zname}.block")
        t_bconvs, t_bnorms = _ordered(inner, "conv"), _ordered(inner, "bn")
        if (len(z_bconvs), len(z_bnorms)) != (len(t_bconvs), len(t_bnorms)):
            raise WeightsError(
                f"block {tname} has {len(t_bconvs)} Conv2d and {len(t_bnorms)} BatchNorm, its zoo "
                f"counterpart {zname} ({tokens.get(zname, '?')}) has "
                f"{len(z_bconvs)} and {len(z_bnorms)}"
            )
        pairs += [(f"{tname}.{t}", z) for t, z in zip(t_bconvs, z_bconvs, strict=True)]
        pairs += [(f"{tname}.{t}", z) for t, z in zip(t_bnorms, z_bnorms, strict=True)]
        t_down = [n for n in ("downsample.0", "downsample.1") if n in inner]
        align = None if residual.identity_align else residual.align
        z_aconvs, z_anorms = _layers(align, f"{zname}.align")
        z_down = z_aconvs + z_anorms
        if len(t_down) != len(z_down):
            raise WeightsError(
                f"block {tname} has {len(t_down)} downsample layers, its zoo counterpart {zname} "
                f"({tokens.get(zname, '?')}) has {len(z_down)} in its align"
            )
        pairs += [(f"{tname}.{t}", z) for t, z in zip(t_down, z_down, strict=True)]

    if t_fc:
        if not fc_name:
            raise WeightsError(
                "the state dict has a classifier (fc), the zoo model has no Linear head; "
                "drop the fc.* keys or load into zoo.create(...)"
            )
        pairs.append(("fc", fc_name))

    # parameter and buffer names per module, from the zoo side (weight, bias,
    # running_mean, running_var, num_batches_tracked)
    by_module: dict[str, list[str]] = {}
    for key in model.state_dict(keep_vars=True):
        module, _, local = key.rpartition(".")
        by_module.setdefault(module, []).append(local)
    return {f"{tmod}.{local}": f"{zmod}.{local}" for tmod, zmod in pairs for local in by_module.get(zmod, [])}


def load_timm_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor] | nn.Module) -> nn.Module:
    """Copy a timm/torchvision ResNet's weights into the matching zoo model.

    >>> import timm, zoo
    >>> theirs = timm.create_model("resnet18", pretrained=False)
    >>> ours = zoo.load_timm_weights(zoo.create("resnet18"), theirs.state_dict())

    Every key of both sides must be mapped, and every shape must agree: the first
    difference is a ``WeightsError`` that names both keys. A classifier for another
    number of classes (ImageNet's 1000 into ``num_classes=10``) is left out with a
    :class:`zoo.ZooWarning`, as timm's ``pretrained=True`` does. BatchNorm running
    statistics are copied too. Returns ``model``.
    """
    if isinstance(state_dict, nn.Module):
        state_dict = state_dict.state_dict()
    if not isinstance(state_dict, Mapping):
        raise WeightsError(f"load_timm_weights needs a state dict (a mapping), not {type(state_dict).__name__}")
    mapping = timm_key_map(model, list(state_dict))
    zoo_state = model.state_dict()
    counts = f"({len(state_dict)} keys in the state dict, {len(zoo_state)} in the zoo model)"
    for key in state_dict:
        if key not in mapping:
            raise WeightsError(f"the state dict's key {key!r} has no place in the zoo model {counts}")
    for tkey, zkey in mapping.items():
        if tkey not in state_dict:
            raise WeightsError(
                f"the zoo model's key {zkey!r} gets no weight: the state dict has no {tkey!r} {counts}"
            )
    mapped = set(mapping.values())
    for key in zoo_state:
        if key not in mapped:
            raise WeightsError(f"the zoo model's key {key!r} gets no weight from the state dict {counts}")
    if not len(mapping) == len(state_dict) == len(zoo_state):
        raise WeightsError(f"the key counts differ {counts}")
    new_state: dict[str, torch.Tensor] = {}
    skipped, note = _other_classes(mapping, state_dict, zoo_state)
    for tkey, zkey in mapping.items():
        if tkey in skipped:
            new_state[zkey] = zoo_state[zkey]  # the head keeps its own initialisation
            continue
        theirs, ours = state_dict[tkey], zoo_state[zkey]
        if not isinstance(theirs, torch.Tensor) or theirs.shape != ours.shape:
            raise WeightsError(
                f"shape mismatch: the state dict's {tkey!r} is {_shape(theirs)}, the zoo model's "
                f"{zkey!r} is {_shape(ours)}: is the state dict for this preset?"
            )
        new_state[zkey] = theirs
    model.load_state_dict(new_state, strict=True)
    if note:
        warn(note)
    return model


def _other_classes(
    mapping: dict[str, str], theirs: Mapping[str, Any], ours: Mapping[str, Any]
) -> tuple[set[str], str]:
    """The classifier keys to leave out because the state dict was made for another
    number of classes (1000-class weights into a 10-class model), as timm's
    ``pretrained=True`` with another ``num_classes`` does, and the warning to give."""
    weight = mapping.get("fc.weight")
    if weight is None or "fc.weight" not in theirs:
        return set(), ""
    t, z = theirs["fc.weight"], ours[weight]
    if not (hasattr(t, "shape") and len(t.shape) == 2 and len(z.shape) == 2) or t.shape[0] == z.shape[0]:
        return set(), ""
    if t.shape[1] != z.shape[1]:
        return set(), ""  # other features entering the head: a different network, said below
    note = (
        f"the state dict's classifier is for {t.shape[0]} classes, the model's for {z.shape[0]}: "
        f"{weight.rpartition('.')[0]} keeps its fresh initialisation (train it, or create the model "
        f"with num_classes={t.shape[0]} to load it too)"
    )
    return {key for key in mapping if key.startswith("fc.")}, note


# -- timm's weights through timm's loader ----------------------------------------------------


def zoo_state_dict(state_dict: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """``state_dict`` with zoo's keys for ``model``: a timm or torchvision ResNet's mapped by
    :func:`timm_key_map` (every key must have its place), zoo's own as it is. The
    ``filter_fn`` of timm's ``load_pretrained``; the shapes are checked when it loads."""
    own = model.state_dict()
    if all(key in own for key in state_dict):
        return dict(state_dict)
    mapping = timm_key_map(model, list(state_dict))
    for key in state_dict:
        if key not in mapping:
            raise WeightsError(f"the state dict's key {key!r} has no place in the zoo model")
    return {mapping[key]: value for key, value in state_dict.items()}


def _timm_weights_cfg(source: Any, model: nn.Module) -> dict[str, Any]:
    """The pretrained cfg that timm's ``load_pretrained`` reads for ``source``: True (the
    timm weights of the preset's own name), ``"timm:<name>.<tag>"``, or a file."""
    import os

    from timm.models import get_pretrained_cfg, is_model, load_state_dict

    if isinstance(source, (str, os.PathLike)) and not str(source).startswith("timm:"):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise WeightsError(f"pretrained={path!r}: no such file (a .safetensors, .pth or .bin state dict)")
        try:
            state = load_state_dict(path, weights_only=True)
        except Exception as exc:  # not a state dict torch or safetensors can read safely
            raise WeightsError(f"pretrained={path!r}: not a state dict ({type(exc).__name__}: {exc})") from None
        fc, conv = state.get("fc.weight", state.get("head.fc.weight")), zoo_state_dict(state, model)
        first = model.pretrained_cfg["first_conv"] + ".weight"
        channels = conv[first].shape[1] if first in conv else model.in_chans
        return {"state_dict": state, "num_classes": fc.shape[0] if fc is not None else 0,
                "input_size": (channels, *model.pretrained_cfg["input_size"][1:])}
    if source is True:
        name = getattr(model, "name", "")
        if not (name and is_model(name) and get_pretrained_cfg(name) is not None
                and get_pretrained_cfg(name).has_weights):
            raise PresetError(
                f"pretrained=True: {name or 'this model'} is not a timm architecture with weights (only "
                "presets named as one are: resnet18, resnet34, zoo-extra's resnet50); pass "
                "pretrained='timm:<model>.<tag>' or a state dict file"
            )
        cfg = get_pretrained_cfg(name)
    elif isinstance(source, str):
        name = source.split(":", 1)[1]
        try:
            cfg = get_pretrained_cfg(name) if is_model(name.partition(".")[0]) else None
        except RuntimeError:  # timm's word for a tag the architecture does not have
            cfg = None
        if cfg is None or not cfg.has_weights:
            raise WeightsError(f"pretrained={source!r}: timm has no weights of that name "
                               "(timm.list_pretrained() lists them)")
    else:
        raise WeightsError(f"pretrained={source!r}: give True, 'timm:<model>.<tag>' or a file path")
    return cfg.to_dict()


def load_pretrained(model: nn.Module, source: Any = True, cache_dir: str | None = None) -> nn.Module:
    """Load pretrained weights into a zoo ``Classifier`` with timm's own loader.

    ``source``: True (timm's weights of the architecture the preset is named after:
    resnet18, resnet34, zoo-extra's resnet50), ``"timm:resnet18.a1_in1k"`` (a timm model
    and tag), or the path of a state dict (``.safetensors``, ``.pth``, ``.bin``: a timm or
    torchvision ResNet's, or zoo's own). timm downloads and caches (Hugging Face hub),
    adapts the first convolution to ``in_chans`` and leaves out a classifier for
    another number of classes (with a :class:`zoo.ZooWarning`); :func:`zoo_state_dict`
    maps the keys. ``zoo.create("resnet18", pretrained=True)`` calls it.

    >>> import timm, safetensors.torch, tempfile, zoo
    >>> path = tempfile.mkdtemp() + "/resnet18.safetensors"
    >>> safetensors.torch.save_file(timm.create_model("resnet18").state_dict(), path)
    >>> model = zoo.create("resnet18", pretrained=path)
    """
    from timm.models import load_pretrained as timm_load_pretrained

    if not (hasattr(model, "pretrained_cfg") and hasattr(model, "num_classes") and find_cnn(model) is not None):
        raise WeightsError(f"pretrained weights go into a zoo preset's model (zoo.create), not {type(model).__name__}")
    cfg = _timm_weights_cfg(source, model)
    own = model.pretrained_cfg
    cfg.update(first_conv=own["first_conv"], classifier=own["classifier"])
    if cfg.get("num_classes") and cfg["num_classes"] != model.num_classes:
        warn(f"the weights' classifier is for {cfg['num_classes']} classes, the model's for "
             f"{model.num_classes}: head.fc keeps its fresh initialisation (train it, or create the model "
             f"with num_classes={cfg['num_classes']} to load it too)")
    try:
        timm_load_pretrained(model, pretrained_cfg=cfg, num_classes=model.num_classes, in_chans=model.in_chans,
                             filter_fn=zoo_state_dict, cache_dir=cache_dir)
    except OSError as exc:  # the hub or the site out of reach (timm's download raises these)
        first = (str(exc).strip().splitlines() or [""])[0]
        raise WeightsError(f"pretrained={source!r}: timm could not fetch the weights ({type(exc).__name__}: "
                           f"{first}); without a network, give a local state dict: pretrained=PATH") from None
    except RuntimeError as exc:  # torch's load_state_dict: a shape or a key that does not fit
        raise WeightsError(f"the weights do not fit {getattr(model, 'name', '') or 'the model'}: "
                           f"{str(exc).strip().splitlines()[-1].strip()}") from None
    return model


# -- zoo presets as timm models ------------------------------------------------------------


class FeatureMaps(nn.Module):
    """A zoo model as timm's ``features_only=True`` gives it: ``forward`` returns the
    feature maps at the end of each stage (``feature_info``), chosen by ``out_indices``
    (default: every stage); ``feature_info`` is timm's, so
    ``model.feature_info.channels()`` and ``.reduction()`` work. The blocks are the
    model's own (no copy); the head is dropped. ``set_grad_checkpointing`` and
    ``torch.jit.script`` work as on timm's feature extractors."""

    def __init__(self, model: nn.Module, out_indices: Any = None, output_fmt: str = "NCHW"):
        from timm.models._features import FeatureInfo

        super().__init__()
        levels = model.feature_info
        if out_indices is None:
            out_indices = tuple(range(len(levels)))
        if isinstance(out_indices, int):  # timm: an int n means the last n stages
            out_indices = tuple(range(len(levels) - out_indices, len(levels)))
        out_indices = tuple(out_indices)
        bad = [i for i in out_indices if isinstance(i, bool) or not isinstance(i, int)
               or not -len(levels) <= i < len(levels)]
        if bad or not out_indices:
            raise PresetError(
                f"out_indices={out_indices!r}: this model has {len(levels)} stages (reductions "
                f"{', '.join(str(level['reduction']) for level in levels)}), so indices go from 0 to "
                f"{len(levels) - 1}"
            )
        if output_fmt != "NCHW":
            raise OptionError(f"output_fmt={output_fmt!r}: zoo's feature maps are 'NCHW'")
        out_indices = tuple(i % len(levels) for i in out_indices)
        last = levels[max(out_indices)]["block"]
        self.blocks = nn.ModuleList(model.cnn.blocks[i] for i in range(last + 1))  # shared, not copied
        self.taps = sorted(levels[i]["block"] for i in out_indices)
        info = [{key: level[key] for key in ("num_chs", "reduction", "module")} for level in levels]
        self.feature_info = FeatureInfo(info, out_indices)
        self.pretrained_cfg = self.default_cfg = model.pretrained_cfg
        self.grad_checkpointing = False

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in backward instead of keeping its activations."""
        self.grad_checkpointing = bool(enable)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # (B, C, H, W)
        features: list[torch.Tensor] = []
        checkpointing = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        for index, block in enumerate(self.blocks):
            if checkpointing and not torch.jit.is_scripting():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
            if index in self.taps:
                features.append(x)  # (B, C_i, H / r_i, W / r_i)
        return features


default_cfgs: dict[str, Any] = {}  # timm reads the module's default_cfgs
_registered: dict[str, str] = {}  # timm name -> preset file it was registered from
# keys of a model's pretrained_cfg that its options decide (in_chans, num_classes), over a
# registered cfg written for the default options
_OWN_CFG_KEYS = ("num_classes", "input_size", "pool_size", "mean", "std", "first_conv", "classifier")


def _build_preset(preset_name: str, **kwargs: Any) -> nn.Module:
    """``zoo.create(preset, ...)`` with timm's keywords: the model class that timm's
    ``build_model_with_cfg`` instantiates."""
    from .change import Change
    from .presets import get_preset

    overrides: dict[str, Any] = {}
    if "in_chans" in kwargs:
        overrides["input"] = kwargs.pop("in_chans")
    if "num_classes" in kwargs:
        overrides["num_classes"] = kwargs.pop("num_classes")
    drop_rate = kwargs.pop("drop_rate", None)
    if drop_rate:
        overrides["head"] = {"dropout": drop_rate}
    global_pool = kwargs.pop("global_pool", None)
    drop_path_rate = kwargs.pop("drop_path_rate", None)
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    try:
        with torch.device(device) if device is not None else _no_context():
            model = get_preset(preset_name).create(**overrides, **kwargs)
    except UnknownOptionError as exc:  # timm's contract: an unknown keyword is a TypeError
        raise UnknownArgumentError(f"zoo_{preset_name}: {exc}") from None
    if global_pool is not None:
        model.reset_classifier(model.num_classes, global_pool)
    if drop_path_rate:
        Change.drop_block(model, drop_path_rate)
    if dtype is not None:
        model.to(dtype=dtype)
    return model


class _no_context:
    def __enter__(self):
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _entrypoint(preset_name: str):
    def create(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        from timm.models import build_model_with_cfg
        from timm.models._builder import pretrained_cfg_for_features

        name = f"zoo_{preset_name}"
        features = bool(kwargs.get("features_only"))
        feature_cfg = dict(kwargs.pop("feature_cfg", None) or {})
        out_indices = kwargs.pop("out_indices", feature_cfg.pop("out_indices", None))
        if features:
            feature_cls = kwargs.pop("feature_cls", feature_cfg.pop("feature_cls", "list"))
            # timm's FeatureListNet looks for top-level modules; zoo's stages are nested
            # (cnn.blocks.N), so the list of feature maps is zoo's FeatureMaps
            feature_cfg["feature_cls"] = FeatureMaps if feature_cls == "list" else feature_cls
        built: dict[str, nn.Module] = {}

        def build(**options: Any) -> nn.Module:
            model = built["model"] = _build_preset(preset_name, **options)
            built["cfg"] = dict(model.pretrained_cfg)
            if features:  # every stage unless asked: known once the model is built
                feature_cfg["out_indices"] = (tuple(range(len(model.feature_info))) if out_indices is None
                                              else out_indices)
            return model

        if pretrained and not _has_weights(name, kwargs):
            raise PresetError(
                f"{name}: no pretrained weights (presets named after a timm architecture have "
                "timm's: zoo_resnet18, zoo_resnet34); create it with pretrained=False, or load a "
                "state dict with zoo.load_timm_weights(model, state_dict)"
            )
        model = build_model_with_cfg(build, name, pretrained, feature_cfg=feature_cfg,
                                     pretrained_filter_fn=zoo_state_dict, **kwargs)
        inner = built["model"]
        cfg = {**inner.pretrained_cfg, **{key: built["cfg"][key] for key in _OWN_CFG_KEYS}}
        cfg["num_classes"] = inner.num_classes
        inner.pretrained_cfg = inner.default_cfg = cfg
        if model is not inner:
            model.pretrained_cfg = model.default_cfg = pretrained_cfg_for_features(cfg)
        return model

    create.__name__ = create.__qualname__ = f"zoo_{preset_name}"
    create.__module__ = __name__
    create.__doc__ = f"The zoo preset {preset_name!r} as a timm model (zoo.create({preset_name!r}))."
    return create


def _has_weights(name: str, kwargs: dict[str, Any]) -> bool:
    """Whether timm's cfg for this call (the registered one, a tag, an overlay with a
    file or url) points at weights: timm's own resolution of it."""
    from timm.models._builder import resolve_pretrained_cfg

    cfg = resolve_pretrained_cfg(name, pretrained_cfg=kwargs.get("pretrained_cfg"),
                                 pretrained_cfg_overlay=kwargs.get("pretrained_cfg_overlay"))
    return bool(cfg.has_weights or cfg.state_dict)


def _preset_cfgs(preset: Any) -> Any:
    """The timm ``DefaultCfg`` of a preset: zoo's own cfg (built on meta), and where the
    preset is named after a timm architecture with weights (resnet18), one cfg per tag
    of timm's (``zoo_resnet18.a1_in1k``), pointing at timm's weights."""
    from collections import deque

    from timm.models import get_pretrained_cfg, is_model, list_pretrained
    from timm.models._pretrained import DefaultCfg, PretrainedCfg

    with torch.device("meta"):  # the cfg names real modules (first_conv): build, for free
        cfg = dict(preset.create().pretrained_cfg)
    cfg.pop("architecture", None)
    cfg["description"] = preset.description
    default = get_pretrained_cfg(preset.name) if is_model(preset.name) else None
    if default is None or not default.has_weights:
        return DefaultCfg(tags=deque([""]), cfgs={"": PretrainedCfg(**cfg)})
    tags = [default.tag] + [name.partition(".")[2] for name in list_pretrained(f"{preset.name}.*")
                            if name.partition(".")[2] != default.tag]
    cfgs = {}
    for tag in tags:
        theirs = get_pretrained_cfg(f"{preset.name}.{tag}").to_dict()
        theirs.pop("architecture", None)
        theirs.pop("tag", None)
        theirs.update({key: cfg[key] for key in ("first_conv", "classifier", "pool_size", "description")})
        cfgs[tag] = PretrainedCfg(**theirs)
    return DefaultCfg(tags=deque(tags), cfgs=cfgs, is_pretrained=True)


def register_timm() -> list[str]:
    """Register every zoo preset as the timm model ``zoo_<preset>``; returns their names.

    >>> import timm, zoo
    >>> zoo.register_timm()[:3]
    ['zoo_mnist_cnn', 'zoo_preact_resnet18', 'zoo_r128m']
    >>> timm.create_model("zoo_resnet18_cifar", num_classes=7, in_chans=1).num_classes
    7

    Calling it again registers presets added since (plugins, ``ZOO_PRESET_PATH``).
    Presets named after a timm architecture get timm's pretrained tags
    (``timm.create_model("zoo_resnet18.a1_in1k", pretrained=True)``).
    """
    import sys

    from timm.models import register_model

    from .presets import list_presets

    names = []
    module = sys.modules[__name__]
    for preset in list_presets():
        name = f"zoo_{preset.name}"
        names.append(name)
        if _registered.get(name) == str(preset.path):
            continue
        fn = _entrypoint(preset.name)
        setattr(module, name, fn)  # timm lists its models in the module's __all__
        default_cfgs[name] = _preset_cfgs(preset)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # re-registering our own name after a change
            register_model(fn)
        _registered[name] = str(preset.path)
    return names
