"""What model does a MODEL argument name? One answer for every command and function.

``zoo inspect``, ``zoo train``, ``zoo bench``, ``zoo export``, ``zoo.inspect`` and
``zoo.create`` all take the same targets, and :func:`resolve_model` alone decides
which kind a target is, once, and checks its options for that kind:

============  ==========================================  ==========================
kind          written as                                  built with
============  ==========================================  ==========================
preset        a preset name (``zoo list``)                 ``Preset.create``
file          a YAML preset file (``.yaml``/``.yml``,      ``Preset.create``
              or a path with a separator)
blocks        a block string (``"cnf32 m r64_3_2"``)       ``CNN`` (+ a linear head)
checkpoint    a ``.pt``/``.pth`` file that ``zoo train``   the stored spec + weights
              wrote (``runs/r32m/best.pt``)
timm          ``timm:<name>``, random weights              ``timm.create_model``
torchvision   ``torchvision:<name>``, random weights       ``torchvision.models``
factory       ``package.module:function`` or               the function, called with
              ``path/file.py:function``                    the options
============  ==========================================  ==========================

Resolving imports no torch for zoo's own kinds: a command can report a bad target or
option (exit 2) before it pays for ``import torch``. A :class:`ModelSpec` is plain data:
:meth:`ModelSpec.to_dict` goes into checkpoints, so that a trained model is rebuilt
exactly (a preset's whole definition is stored, not only its name).

>>> spec = resolve_model("r32m", fun="gelu")
>>> spec.kind, spec.name, spec.input_size
('preset', 'r32m', (3, 32, 32))
>>> resolve_model("cnf32 m r64").kind
'blocks'
>>> resolve_model("r32m").with_data(num_classes=100, channels=1).input_size
(1, 32, 32)
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect as _inspect
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import SUFFIXES
from .errors import (
    BlockSyntaxError,
    BuildError,
    CheckpointError,
    OptionError,
    OverrideError,
    PresetError,
    UnknownModelError,
    UnknownOptionError,
    UnknownPresetError,
    UnknownTokenError,
    WeightsError,
    ZooError,
    did_you_mean,
)
from .extras import require

if TYPE_CHECKING:
    from torch import nn

    from .presets import Preset

# one import path per name: create is zoo.create
__all__ = [
    "ModelSpec",
    "resolve_model",
    "KINDS",
    "CHECKPOINT_SUFFIXES",
    "load_checkpoint",
    "checkpoint_spec",
]

KINDS = ("preset", "file", "blocks", "checkpoint", "timm", "torchvision", "factory")
CHECKPOINT_SUFFIXES = (*SUFFIXES, ".safetensors")  # zoo.checkpoint's files; zoo.safetensors_file's
_PREFIXES = {"timm": "timm", "torchvision": "torchvision", "tv": "torchvision"}
MODEL_KINDS = (  # what a MODEL may be: for messages and the commands' help
    "a preset name (zoo list), a YAML preset file, a block string (quoted), a checkpoint "
    "(.pt) from zoo train, timm:NAME, torchvision:NAME, or module:function"
)


@dataclass(frozen=True)
class ModelSpec:
    """A model named by a target, ready to build: its kind, the text as written, the
    checked options, and (after :meth:`with_data`) the classes and channels of the
    data it is for."""

    kind: str
    text: str
    options: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None  # a head of this many classes (None: the model's own)
    channels: int | None = None  # input channels (None: the model's own)
    preset: Preset | None = field(default=None, repr=False, compare=False)
    checkpoint: Any = field(default=None, repr=False, compare=False)  # a zoo.checkpoint.Checkpoint, read
    stored: ModelSpec | None = field(default=None, repr=False, compare=False)  # the model a checkpoint holds


    @property
    def name(self) -> str:
        """A short name for reports and run folders."""
        if self.preset is not None:
            return self.preset.name
        if self.kind in ("timm", "torchvision"):
            return self.text.split(":", 1)[1]
        if self.kind == "factory":
            return self.text.rsplit(":", 1)[1]
        if self.kind == "checkpoint":
            return self.checkpoint.name if self.checkpoint is not None else Path(self.text).stem
        return self.text

    @property
    def input_size(self) -> tuple[int, int, int] | None:
        """``(C, H, W)`` of one image as the model declares it (a preset's ``input``,
        with the channels of ``input=``/:meth:`with_data`), or None where the model
        takes any size (a block string) or declares it only once built (timm)."""
        if self.kind == "torchvision":
            return _torchvision_input_size(self.name, self.channels)
        if self.checkpoint is not None:
            return self.checkpoint.input_size or (self.stored.input_size if self.stored is not None else None)
        if self.preset is None:
            return None
        channels = self.channels or self.options.get("input") or self.preset.input[0]
        return (channels, *self.preset.input[1:])

    @property
    def default_channels(self) -> int | None:
        """The input channels the model takes when nothing says otherwise."""
        if self.channels is not None:
            return self.channels
        if "input" in self.options:
            return self.options["input"]
        if self.preset is not None:
            return self.preset.input[0]
        if self.stored is not None:
            size = self.checkpoint.input_size
            return size[0] if size is not None else self.stored.default_channels
        if self.kind == "blocks":
            return 3  # zoo.Config's default
        return None

    def with_data(self, num_classes: int | None = None, channels: int | None = None) -> ModelSpec:
        """The same model for data of ``num_classes`` classes and ``channels`` input
        channels: a new head (and first convolution) where they differ. A checkpoint
        keeps its own: its weights fix them (:func:`load_checkpoint` says so)."""
        for what, value in (("num_classes", num_classes), ("channels", channels)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise OptionError(f"{what}={value!r}: must be a whole number >= 1")
        # None keeps what the spec has: with_data(channels=1) keeps an earlier head
        return replace(self, num_classes=self.num_classes if num_classes is None else num_classes,
                       channels=self.channels if channels is None else channels)

    def build(self, *, weights: bool = True) -> nn.Module:
        """Build the model (on torch's current default device: ``with torch.device("meta")``
        builds it without memory). ``weights``: a checkpoint's weights are loaded."""
        builder = getattr(self, f"_build_{self.kind}")
        return builder(weights) if self.kind == "checkpoint" else builder()

    # -- one builder per kind -------------------------------------------------------------

    def _build_preset(self) -> nn.Module:
        extra = {k: v for k, v in (("num_classes", self.num_classes), ("input", self.channels)) if v}
        return self.preset.create(**{**self.options, **extra})

    _build_file = _build_preset

    def _build_blocks(self) -> nn.Module:
        from .cnn import CNN

        options = dict(self.options)
        if self.channels:
            options["input"] = self.channels
        cnn = CNN(blocks=self.text, **options)
        if self.num_classes is None:
            return cnn
        from .classifier import Classifier

        return Classifier(cnn, self.num_classes, name="")

    def _build_timm(self) -> nn.Module:
        timm = require("timm", "this model")
        extra = {k: v for k, v in (("num_classes", self.num_classes), ("in_chans", self.channels)) if v}
        try:
            return timm.create_model(self.name, pretrained=False, **{**self.options, **extra})
        except TypeError as exc:  # an option the model's constructor does not take
            raise OptionError(f"{self.text}: {exc} (options go to timm.create_model as keyword arguments)") from None

    def _build_torchvision(self) -> nn.Module:
        models = require("torchvision.models", "this model").__dict__
        get_model = models["get_model"]
        if self.channels not in (None, 3):
            raise OptionError(
                f"torchvision:{self.name} takes 3 input channels, not {self.channels}; "
                "use timm:<name> (in_chans) or a zoo preset (input=) for other channels"
            )
        extra = {"num_classes": self.num_classes} if self.num_classes else {}
        if "weights_backbone" in _accepted(models["get_model_builder"](self.name)):
            extra.setdefault("weights_backbone", None)  # random weights: no download of a backbone's
        try:
            with warnings.catch_warnings():  # inception_v3/googlenet: a note about a future default
                warnings.filterwarnings("ignore", "The default weight initialization", FutureWarning)
                return get_model(self.name, weights=None, **{**self.options, **extra})
        except TypeError as exc:
            raise OptionError(f"{self.text}: {exc} (options go to the model's function as keyword arguments)") from None

    def _build_factory(self) -> nn.Module:
        from torch import nn

        function = _load_factory(self.text)
        kwargs = dict(self.options)
        accepts = _accepted(function)
        for key, value in (("num_classes", self.num_classes), ("in_chans", self.channels)):
            if value and (key in accepts or "**" in accepts):
                kwargs[key] = value
        try:
            model = function(**kwargs)
        except TypeError as exc:
            raise OptionError(f"{self.text}: {exc} (options go to the function as keyword arguments)") from None
        if not isinstance(model, nn.Module):
            raise BuildError(f"{self.text} returned {type(model).__name__}, not a torch nn.Module",
                             hint="a factory returns the model, e.g. return nn.Sequential(...)")
        _refuse_lazy(self.text, model)
        return model

    def _build_checkpoint(self, weights: bool) -> nn.Module:
        if self.text.endswith(".safetensors"):  # weights and a spec in its metadata (zoo.safetensors_file)
            return _load_safetensors(self.text, weights=weights)
        if self.stored is None:  # a ModelSpec("checkpoint", path) made by hand: read (and check) it now
            from .checkpoint import read_checkpoint

            return checkpoint_spec(read_checkpoint(self.text), self.text).build(weights=weights)
        model = self.stored.build()
        if weights:
            try:
                model.load_state_dict(self.checkpoint.state)
            except (RuntimeError, KeyError, TypeError) as exc:
                raise WeightsError(f"{self.text}: the weights do not fit {self.stored.text!r}: "
                                   f"{_first_line(exc)}") from None
        return model

    # -- plain data, for checkpoints ---------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data that :meth:`from_dict` turns back into this spec (a preset's
        whole definition included, so the file may change or go)."""
        data: dict[str, Any] = {"kind": self.kind, "text": self.text, "options": dict(self.options),
                                "num_classes": self.num_classes, "channels": self.channels}
        if self.preset is not None:
            data["preset"] = {**self.preset.to_dict(), "plugin": self.preset.plugin}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """The spec :meth:`to_dict` wrote; a stored preset is checked as a preset file is
        (a :class:`~zoo.errors.PresetError` says what is wrong). Nothing is imported or
        run: a ``factory`` spec is only built when :meth:`build` is called (and
        :func:`zoo.checkpoint.read_checkpoint` refuses it unless told to trust code)."""
        from .presets.schema import KEYS, _parse

        kind = data.get("kind")
        if kind not in KINDS or kind == "checkpoint" or not isinstance(data.get("text"), str):
            raise WeightsError(f"not a zoo model spec: {dict(data)!r}")
        preset = None
        if data.get("preset"):
            stored = data["preset"]
            if not isinstance(stored, Mapping):
                raise PresetError(f"the stored preset must be a mapping, not {type(stored).__name__}")
            plugin, path = stored.get("plugin", ""), stored.get("path", "")
            preset = _parse({k: v for k, v in stored.items() if k in KEYS}, {}, "the stored preset",
                            Path(path if isinstance(path, str) else ""), plugin if isinstance(plugin, str) else "")
        return cls(kind, data["text"], dict(data.get("options") or {}), data.get("num_classes"),
                   data.get("channels"), preset)


def resolve_model(target: Any, *, trust_code: bool = False, **options: Any) -> ModelSpec:
    """Decide what ``target`` names and check ``options`` for it (see the module's table).

    ``options`` are a preset's overrides (``num_classes``, ``input``, ``head`` and the
    options of ``zoo.Config``), a block string's ``zoo.Config`` options, or keyword
    arguments of a timm, torchvision or factory model; a block string also takes
    ``num_classes`` (a classifier, as ``zoo train`` builds it). A checkpoint is read
    and checked now (:func:`zoo.checkpoint.read_checkpoint`; ``trust_code``: allow one
    whose model is built by Python code). Mistakes are zoo errors:
    ``UnknownPresetError`` (a name that is neither a preset nor a block string, with
    the nearest names), ``BlockSyntaxError``/``UnknownTokenError``, ``PresetError`` (a
    broken file), ``OptionError``/``UnknownOptionError`` (an option that does not fit).

    >>> resolve_model("r32m", nrom=2)
    Traceback (most recent call last):
    ...
    zoo.errors.UnknownOptionError: unknown option 'nrom'; did you mean 'norm', 'drop'? (a preset takes num_classes, input, head and the options of zoo.Config)
    """
    from .presets import find_preset, looks_like_path

    if isinstance(target, ModelSpec):
        return target
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
    if not isinstance(target, str) or not target.strip():
        raise UnknownModelError(f"a model is named by {MODEL_KINDS}; got {target!r}")
    text = target.strip()
    prefix, colon, rest = text.partition(":")
    if colon and not any(c.isspace() or c in "()" for c in text) and not (len(prefix) == 1 and prefix.isalpha()):
        if prefix in _PREFIXES:
            return _resolve_library(_PREFIXES[prefix], rest, options)
        return _resolve_factory(text, options)
    if text.endswith(CHECKPOINT_SUFFIXES):
        if options:
            raise OptionError(
                f"{text}: a checkpoint's weights fix its model; options ({', '.join(sorted(options))}) "
                "cannot change it (train again with them, or inspect the preset or block string)"
            )
        if text.endswith(".safetensors"):  # data only: its spec is checked when it is read
            if not Path(text).is_file():
                raise UnknownModelError(f"no checkpoint file {text!r}")
            return ModelSpec("checkpoint", text)
        from .checkpoint import read_checkpoint

        return checkpoint_spec(read_checkpoint(text, trust_code=trust_code), text)
    try:
        preset = find_preset(text)
    except UnknownPresetError as exc:  # one word that names no preset: perhaps a block string
        return _resolve_blocks(text, options, exc)
    if preset is None:
        return _resolve_blocks(text, options, None)
    options = _preset_options(preset, options)
    return ModelSpec("file" if looks_like_path(text) else "preset", text, options, preset=preset)


def create(target: Any, *, trust_code: bool = False, **overrides: Any) -> nn.Module:
    """Build what ``target`` names (any kind of the module's table) with ``overrides``:
    ``zoo.create``.

    >>> create("resnet18_cifar", num_classes=100, fun="gelu").head.fc.out_features
    100
    >>> type(create("cnf8 m r16")).__name__
    'CNN'
    >>> model = create("cnf8 m r16", num_classes=10, input=1)   # what zoo train builds
    >>> type(model).__name__, model.head.fc.out_features
    ('Classifier', 10)

    A checkpoint that ``zoo train`` wrote comes back with its weights
    (``zoo.create("runs/r32m/best.pt")``; ``trust_code=True`` for one whose model is
    built by Python code), as does a safetensors file that ``zoo export`` wrote; a
    preset is a ``Classifier`` with ``.cnn`` and ``.head``; a block string a ``CNN``, or
    with ``num_classes`` the ``Classifier`` zoo train builds.

    ``pretrained``: weights for a preset, through timm's loader
    (:func:`zoo.timm_bridge.load_pretrained`): True (timm's weights of the architecture
    the preset is named after: resnet18, resnet34), ``"timm:resnet18.a1_in1k"``, or a
    state dict file (``.safetensors``, ``.pth``, ``.bin``; timm's, torchvision's or zoo's).
    """
    pretrained = overrides.pop("pretrained", None)
    model = resolve_model(target, trust_code=trust_code, **overrides).build()
    if pretrained not in (None, False):
        from .timm_bridge import load_pretrained

        load_pretrained(model, pretrained)
    return model


def _preset_options(preset: Preset, options: dict[str, Any]) -> dict[str, Any]:
    """The overrides of ``preset`` checked as ``create`` checks them (no build, no torch);
    a mistake in them is an option error, the file itself being fine."""
    options = dict(options)
    if isinstance(options.get("head"), str):  # --set head='{hidden: [256], dropout: 0.2}'
        import yaml

        try:
            options["head"] = yaml.safe_load(options["head"])
        except yaml.YAMLError:
            raise OverrideError(
                f"head={options['head']!r} is not a YAML mapping; write e.g. head='{{hidden: [256]}}'"
            ) from None
    try:
        preset.resolve(**options)
    except OverrideError:
        raise
    except PresetError as exc:
        raise OverrideError(str(exc)) from None
    return options


def _resolve_blocks(text: str, options: dict[str, Any], preset_error: UnknownPresetError | None) -> ModelSpec:
    from .language import parse_blocks
    from .options import check_cnn_options

    try:
        parse_blocks(text)  # the target first: options only matter for a block string
    except (BlockSyntaxError, UnknownTokenError) as exc:
        if preset_error is not None and not (text[:1].isdigit() or text[:1] == "_"):
            as_blocks = str(exc).splitlines()[0]  # neither a preset nor a block string
            raise UnknownPresetError(f"{preset_error}\nNot a block string either: {as_blocks}") from exc
        raise
    options = dict(options)
    num_classes = options.pop("num_classes", None)
    if "head" in options:
        raise UnknownOptionError("head is an override of a preset; a block string takes num_classes (a "
                                 "classifier's head) and the options of zoo.Config, e.g. fun=gelu")
    check_cnn_options(options)  # option mistakes are the options' own errors
    return ModelSpec("blocks", text, options).with_data(num_classes=num_classes)


def _resolve_library(library: str, name: str, options: dict[str, Any]) -> ModelSpec:
    if not name:
        raise UnknownModelError(f"{library}: needs a model name, e.g. {library}:resnet18")
    if library == "timm":
        timm = require("timm", "this model")
        known = timm.list_models()
        found = name in known or timm.is_model(name)
    else:
        models = require("torchvision.models", "this model")
        known = models.list_models()
        found = name in known
    if not found:
        raise UnknownModelError(
            f"{library} has no model {name!r}{did_you_mean(name, known, n=5)}"
            f" ({library}.list_models() lists them)"
        )
    return ModelSpec(library, f"{library}:{name}", dict(options))


def _resolve_factory(text: str, options: dict[str, Any]) -> ModelSpec:
    function = _load_factory(text)  # now: a missing module or function is the target's error
    accepts = _accepted(function)
    if accepts and "**" not in accepts:  # a name the function does not take: an option's mistake
        for name in options:
            if name not in accepts:
                raise UnknownOptionError(
                    f"{text} takes no option {name!r}{did_you_mean(name, accepts)} "
                    f"(it takes {', '.join(sorted(accepts)) or 'no options'})"
                )
    return ModelSpec("factory", text, dict(options))


def _torchvision_input_size(name: str, channels: int | None) -> tuple[int, int, int] | None:
    """(C, H, W) of a torchvision classifier: the crop size of its weights' transforms
    (224 for most, 299 for inception_v3); None for detection, video, flow models."""
    import torchvision.models as models

    try:
        weights = next(iter(models.get_model_weights(name)))
    except (ValueError, StopIteration, KeyError):
        return None
    crop = getattr(weights.transforms, "keywords", {}).get("crop_size")
    if isinstance(crop, int) and getattr(weights.transforms, "func", None).__name__ == "ImageClassification":
        return (channels or 3, crop, crop)
    return None


def _load_factory(text: str):
    where, _, name = text.rpartition(":")
    if not where or not name.isidentifier():
        raise UnknownModelError(f"{text!r} is not module:function (e.g. mypkg.nets:build or nets.py:build)")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise UnknownModelError(f"{text}: no file {where!r}")
        module_name = f"_zoo_factory_{abs(hash(str(path.resolve())))}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # as uvicorn and gunicorn do: nets:build in the working folder
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            raise UnknownModelError(
                f"{text}: no module {exc.name!r} (give package.module:function on the Python path, "
                "or path/file.py:function)"
            ) from None
    function = getattr(module, name, None)
    if not callable(function):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise UnknownModelError(f"{where} has no function {name!r}{did_you_mean(name, names)}")
    return function


def _refuse_lazy(text: str, model: nn.Module) -> None:
    """A lazy module (``nn.LazyLinear``...) has parameters without a shape until its first
    forward; zoo counts, moves and checks a model before it runs, so say so up front."""
    from torch.nn.modules.lazy import LazyModuleMixin

    lazy = [f"layer {name!r} ({type(module).__name__})" if name else f"the model ({type(module).__name__})" for name, module in model.named_modules()
            if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params()]
    if lazy:
        more = f" and {len(lazy) - 3} more" if len(lazy) > 3 else ""
        raise BuildError(f"{text} returned a model with lazy modules, whose parameters have no shape before a "
                         f"first forward: {', '.join(lazy[:3])}{more}",
                         hint="give the layers their sizes (nn.Linear(in, out)), or run the model once on a "
                         "dummy batch in the function before returning it")


def _accepted(function) -> set[str]:
    try:
        parameters = _inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {"**" if p.kind is p.VAR_KEYWORD else p.name for p in parameters}


def load_checkpoint(path: str | os.PathLike, *, weights: bool = True, trust_code: bool = False
                    ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint that zoo wrote (``zoo train``'s ``best.pt`` and
    ``last.pt``) and load its weights: ``(model, checkpoint dict)``. Read and checked by
    :func:`zoo.checkpoint.read_checkpoint`, which says what a checkpoint holds."""
    from .checkpoint import read_checkpoint

    spec = checkpoint_spec(read_checkpoint(path, trust_code=trust_code), os.fspath(path))
    return spec.build(weights=weights), spec.checkpoint.data


def checkpoint_spec(checkpoint: Any, text: str | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of a checkpoint read by :func:`zoo.checkpoint.read_checkpoint`:
    kind ``checkpoint``, whose :meth:`~ModelSpec.build` is its model with its weights
    (``.stored``: the model's own spec)."""
    try:
        stored = ModelSpec.from_dict(checkpoint.spec)
    except ZooError as exc:
        raise CheckpointError(f"{checkpoint.path}: its model spec is broken: {exc}") from None
    return ModelSpec("checkpoint", text or os.fspath(checkpoint.path), checkpoint=checkpoint, stored=stored)


def _load_safetensors(path: str, *, weights: bool = True) -> nn.Module:
    """Rebuild the model a safetensors file from ``zoo export`` describes (its spec is in
    the metadata: :mod:`zoo.safetensors_file`) and load its weights."""
    from .safetensors_file import read_spec, read_weights

    spec = ModelSpec.from_dict(read_spec(path))
    model = spec.build()
    if weights:
        try:
            model.load_state_dict(read_weights(path))
        except RuntimeError as exc:
            raise WeightsError(f"{path}: the weights do not fit {spec.text!r}: {_first_line(exc)}") from None
    return model


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
