"""Weights in safetensors files: zoo's own (the model spec and preprocessing in the
file's metadata) and the folder timm's ``hf-hub:``/``local-dir:`` loading reads.

A safetensors file holds tensors and a string-to-string metadata table, and nothing
that runs when it is read (no pickle). zoo's file keeps in that table:

=====================  ===========================================================
``format``             ``"zoo-safetensors/1"``
``zoo.spec``           the model spec as JSON (:meth:`zoo.target.ModelSpec.to_dict`:
                       a preset's whole definition, a block string, a timm name)
``zoo.preprocessing``  JSON: input size, channels, mean, std, interpolation, crop,
                       classes (and their names and data set when known)
=====================  ===========================================================

so ``zoo.create("model.safetensors")`` and ``zoo inspect model.safetensors`` rebuild
the model (:mod:`zoo.target`) and load its weights. A spec is data: one naming code
(``module:function``) is refused, as zoo's checkpoints refuse it.

>>> import tempfile, zoo
>>> path = tempfile.mkdtemp() + "/r32m.safetensors"
>>> spec = zoo.target.resolve_model("r32m", num_classes=5)
>>> write_safetensors(spec.build(), path, spec.to_dict())
>>> read_preprocessing(path)["input_size"], zoo.create(path).num_classes
([3, 32, 32], 5)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UnknownModelError, WeightsError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import nn

# one import path per name: save_for_hf is zoo.save_for_hf
__all__ = [
    "SAFETENSORS_FORMAT",
    "write_safetensors",
    "read_spec",
    "read_preprocessing",
    "read_weights",
]

SAFETENSORS_FORMAT = "zoo-safetensors/1"


def preprocessing(model: nn.Module) -> dict[str, Any]:
    """What an image needs before ``model`` sees it, from its ``pretrained_cfg`` (timm's
    and zoo's models): input size, channels, mean, std, classes."""
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    size = cfg.get("input_size")
    return {
        "input_size": list(size) if size else None,
        "channels": size[0] if size else None,
        "mean": list(cfg["mean"]) if cfg.get("mean") else None,
        "std": list(cfg["std"]) if cfg.get("std") else None,
        "interpolation": cfg.get("interpolation"),
        "crop_pct": cfg.get("crop_pct"),
        "num_classes": getattr(model, "num_classes", None),
        "class_names": cfg.get("label_names"),
        "dataset": None,
    }


def write_safetensors(model: nn.Module, path: str | os.PathLike, spec: Mapping[str, Any]) -> None:
    """Write ``model``'s weights to ``path`` with ``spec`` (``ModelSpec.to_dict()``) and the
    preprocessing in the metadata: written beside the target and moved over it once
    complete."""
    from safetensors.torch import save_file

    if spec.get("kind") == "factory":
        raise WeightsError(f"{spec.get('text')}: a model made by a function is code; a safetensors file "
                           "stores data only (export a preset, a block string or a timm model)")
    metadata = {"format": SAFETENSORS_FORMAT, "zoo.spec": json.dumps(dict(spec)),
                "zoo.preprocessing": json.dumps(preprocessing(model))}
    # contiguous copies that share no memory: safetensors refuses shared tensors
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    os.replace(partial, path)


def _metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as handle:
            return handle.metadata() or {}
    except FileNotFoundError:
        raise UnknownModelError(f"no safetensors file {os.fspath(path)!r}") from None
    except Exception as exc:  # a file that is not safetensors at all
        raise WeightsError(f"{os.fspath(path)}: not a safetensors file ({exc})") from None


def read_spec(path: str | os.PathLike) -> dict[str, Any]:
    """The model spec a zoo safetensors file stores, as ``ModelSpec.from_dict`` takes it
    (data only: a spec naming ``module:function`` is refused)."""
    metadata = _metadata(path)
    if metadata.get("format") != SAFETENSORS_FORMAT or "zoo.spec" not in metadata:
        raise WeightsError(
            f"{os.fspath(path)}: a safetensors file without zoo's metadata (format "
            f"{SAFETENSORS_FORMAT!r}); load a bare state dict with zoo.create(MODEL, pretrained=PATH)"
        )
    try:
        data = json.loads(metadata["zoo.spec"])
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{os.fspath(path)}: its zoo.spec is not JSON ({exc})") from None
    if isinstance(data, dict) and data.get("kind") == "factory":
        raise WeightsError(f"{os.fspath(path)}: its spec names code ({data.get('text')!r}); zoo does not "
                           "run code named in a file")
    if not isinstance(data, dict):
        raise WeightsError(f"{os.fspath(path)}: its zoo.spec is not a mapping")
    return data


def read_preprocessing(path: str | os.PathLike) -> dict[str, Any]:
    """The preprocessing a zoo safetensors file stores (input size, mean, std, ...)."""
    read_spec(path)  # the same checks
    return json.loads(_metadata(path).get("zoo.preprocessing") or "{}")


def read_weights(path: str | os.PathLike) -> dict[str, Any]:
    """The tensors of a safetensors file (no pickle, nothing runs)."""
    from safetensors.torch import load_file

    return load_file(os.fspath(path))


def save_for_hf(model: nn.Module, folder: str | os.PathLike) -> Path:
    """Write the folder timm's ``hf-hub:`` and ``local-dir:`` loading read
    (``config.json`` and ``model.safetensors``, through timm's ``save_for_hf``) for a zoo
    preset's model; ``timm.create_model("local-dir:FOLDER")`` builds it back once
    ``zoo.register_timm()`` has run (upload the folder to the hub for ``hf-hub:``).

    >>> import tempfile, timm, zoo
    >>> folder = zoo.save_for_hf(zoo.create("r32m", num_classes=5), tempfile.mkdtemp())
    >>> _ = zoo.register_timm()
    >>> timm.create_model(f"local-dir:{folder}", pretrained=True).num_classes
    5
    """
    from timm.models import save_for_hf as timm_save_for_hf

    from .presets import get_preset

    name = getattr(model, "name", "")
    if not (name and getattr(model, "pretrained_cfg", None) and find_preset_name(name)):
        raise WeightsError("save_for_hf writes a zoo preset's model (zoo.create('<preset>', ...)): timm "
                           "rebuilds it as the timm model zoo_<preset>")
    preset = get_preset(name)
    args = {"num_classes": model.num_classes, "in_chans": model.in_chans}
    changed = model.cnn.cfg.changed()
    preset_options = preset.options
    args.update({k: v for k, v in changed.items()
                 if k not in ("blocks", "input") and preset_options.get(k, None) != v})
    cfg = {**model.pretrained_cfg, "architecture": f"zoo_{name}"}
    original = model.pretrained_cfg
    model.pretrained_cfg = cfg
    try:
        timm_save_for_hf(model, os.fspath(folder), model_args=args, safe_serialization=True)
    finally:
        model.pretrained_cfg = original
    return Path(folder)


def find_preset_name(name: str) -> bool:
    from .errors import UnknownPresetError
    from .presets import get_preset

    try:
        get_preset(name)
    except UnknownPresetError:
        return False
    return True
