"""Checkpoints: the one place zoo reads, checks and writes them. A checkpoint is data.

A zoo checkpoint (``best.pt``, ``last.pt``) is a dict that ``torch.load(path,
weights_only=True)`` reads (no pickled objects: tensors, numbers, text, lists, dicts):

=================  ==============================================================
key                what
=================  ==============================================================
``format``         ``"zoo-checkpoint/2"`` (``/1``, without preprocessing, is read too)
``spec``           the model, as data (:meth:`zoo.target.ModelSpec.to_dict`)
``model``          the weights: a state dict of tensors
``preprocessing``  what using the model needs (:class:`Preprocessing`), or absent
``name``           the run's name (exports and reports are named after it)
others             a :class:`zoo.Trainer`'s state: optimizer, epoch, history...
=================  ==============================================================

**Reading one never runs code.** A stored spec may name a block string, a stored
preset definition (the whole YAML content, checked as a preset file is), ``timm:NAME``
or ``torchvision:NAME``; one naming Python code (``module:function``,
``file.py:function``) is refused with an :class:`~zoo.errors.UntrustedCodeError`
unless the caller opts in: ``read_checkpoint(path, trust_code=True)``,
``zoo.create(path, trust_code=True)``, ``--trust-code`` on the commands. Everything
else wrong with a file (empty, truncated, a pickle payload, a missing key, a value
of the wrong type, a bare state dict, a checkpoint written without a spec) is a
:class:`~zoo.errors.CheckpointError` naming the file and what is wrong.

**Writing one is atomic** (:func:`zoo.files.atomic_write`): a crash leaves the old
file or the new one.

The API: :func:`read_checkpoint` (``-> Checkpoint``: ``.spec``, the checked spec as
data, ``.state``, ``.preprocessing``, ``.name``, ``.input_size``, ``.data``; the model
itself comes from ``zoo.create(path)`` or :func:`zoo.target.checkpoint_spec`),
:func:`write_checkpoint`, :func:`checkpoint_dict` (the dict it writes) and
:class:`Preprocessing`, whose fields are ``input_size`` ``(C, H, W)``, ``mean`` and
``std`` (per channel, of images scaled to 0..1), ``class_names`` and ``dataset``
(``channels`` is ``input_size[0]``); :meth:`Preprocessing.to_dict` is JSON-able and
goes into other files as well (safetensors metadata).

>>> import tempfile, pathlib, torch
>>> path = pathlib.Path(tempfile.mkdtemp()) / "digits.pt"
>>> from zoo.target import resolve_model
>>> spec = resolve_model("cnf8 m r16", num_classes=10, input=1)
>>> pre = Preprocessing((1, 8, 8), mean=(0.3,), std=(0.4,), class_names=tuple("0123456789"), dataset="digits")
>>> _ = write_checkpoint(path, spec.build(), spec=spec, preprocessing=pre, name="digits")
>>> checkpoint = read_checkpoint(path)
>>> checkpoint.name, checkpoint.input_size, checkpoint.preprocessing.class_names[:3], checkpoint.spec["kind"]
('digits', (1, 8, 8), ('0', '1', '2'), 'blocks')
>>> import zoo
>>> zoo.create(path)(torch.zeros(2, 1, 8, 8)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, UnknownModelError, UntrustedCodeError, ZooError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "FORMAT",
    "FORMATS",
    "SUFFIXES",
    "Preprocessing",
    "Checkpoint",
    "read_checkpoint",
    "write_checkpoint",
    "checkpoint_dict",
]

FORMAT = "zoo-checkpoint/2"
FORMATS = ("zoo-checkpoint/1", FORMAT)  # what read_checkpoint accepts
SUFFIXES = (".pt", ".pth")  # the files read_checkpoint reads (zoo.target adds .safetensors)
DATA_KINDS = ("preset", "file", "blocks", "timm", "torchvision")  # specs that are data, not code
CODE_KINDS = ("factory",)  # zoo.target.KINDS, less "checkpoint", is the two together


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects of an image: ``input_size`` ``(C, H, W)``, and the
    normalisation ``(x / 255 - mean) / std`` per channel; the ``class_names`` of its
    outputs and the ``dataset`` it was trained on.

    >>> pre = Preprocessing((1, 8, 8), mean=(0.5,), std=(0.25,), class_names=("a", "b"))
    >>> Preprocessing.from_dict(pre.to_dict()) == pre, pre.channels
    (True, 1)
    """

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] | None = None
    dataset: str | None = None

    def __post_init__(self) -> None:
        size = self.input_size
        if not (isinstance(size, (tuple, list)) and len(size) == 3 and all(_whole(d) and d >= 1 for d in size)):
            raise ValueError(f"input_size must be (C, H, W), three whole numbers >= 1, not {size!r}")
        object.__setattr__(self, "input_size", tuple(int(d) for d in size))
        for what in ("mean", "std"):
            values = getattr(self, what)
            if not (isinstance(values, (tuple, list)) and len(values) == size[0]
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                            for v in values)):
                raise ValueError(f"{what} must be {size[0]} finite number(s), one per channel, not {values!r}")
            object.__setattr__(self, what, tuple(float(v) for v in values))
        if any(v <= 0 for v in self.std):
            raise ValueError(f"std must be > 0 per channel, not {self.std!r}")
        if self.class_names is not None:
            if not (isinstance(self.class_names, (tuple, list)) and all(isinstance(c, str) for c in self.class_names)):
                raise ValueError(f"class_names must be a list of text, not {self.class_names!r}")
            object.__setattr__(self, "class_names", tuple(self.class_names))
        if self.dataset is not None and not isinstance(self.dataset, str):
            raise ValueError(f"dataset must be text, not {self.dataset!r}")

    @property
    def channels(self) -> int:
        return self.input_size[0]

    @classmethod
    def from_data(cls, data: Any) -> Preprocessing:
        """The preprocessing of a :class:`zoo.train.DataSet` (shape, statistics, classes, name)."""
        return cls(tuple(data.shape), tuple(data.mean), tuple(data.std), tuple(str(c) for c in data.classes),
                   data.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (:meth:`from_dict` reads it back)."""
        return {"input_size": list(self.input_size), "channels": self.channels, "mean": list(self.mean),
                "std": list(self.std), "class_names": list(self.class_names) if self.class_names is not None else None,
                "dataset": self.dataset}

    @classmethod
    def from_dict(cls, data: Any) -> Preprocessing:
        """:meth:`to_dict`'s data back; anything else is a ``ValueError`` saying what."""
        if not isinstance(data, Mapping):
            raise ValueError(f"preprocessing must be a mapping, not {type(data).__name__}")
        missing = [k for k in ("input_size", "mean", "std") if k not in data]
        if missing:
            raise ValueError(f"preprocessing has no {', '.join(missing)}")
        return cls(data["input_size"], data["mean"], data["std"], data.get("class_names"), data.get("dataset"))

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` ``(N, C, H, W)``, uint8 0..255 (or float 0..1), as the model takes them."""
        import torch

        x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


@dataclass
class Checkpoint:
    """A checked checkpoint (:func:`read_checkpoint`): the model's ``spec`` (data:
    :meth:`zoo.target.ModelSpec.to_dict`'s), its weights (``state``), its
    ``preprocessing`` (None for a checkpoint of zoo 0.1), the run's ``name``, and the
    whole dict (``data``: a Trainer's state for resuming)."""

    path: Path
    spec: dict[str, Any] | None  # None only when read with need_spec=False
    state: dict[str, Any]
    preprocessing: Preprocessing | None
    name: str
    data: dict[str, Any] = field(repr=False)

    @property
    def input_size(self) -> tuple[int, int, int] | None:
        """``(C, H, W)`` the model was trained on (else what its spec declares)."""
        if self.preprocessing is not None:
            return self.preprocessing.input_size
        preset = self.spec.get("preset") if isinstance(self.spec, dict) else None
        if preset:  # a checkpoint of zoo 0.1: its preset's size, with the channels it was made for
            return (self.spec.get("channels") or preset["input"][0], *preset["input"][1:])
        return None


def read_checkpoint(path: str | os.PathLike, *, trust_code: bool = False, need_spec: bool = True) -> Checkpoint:
    """Read and check the checkpoint at ``path`` (see the module's notes); nothing in
    it is run, imported or built. ``trust_code``: accept a spec that names Python code
    (it runs when the model is built). ``need_spec=False``: for a caller that has the
    model already (:meth:`zoo.Trainer.load`): the spec is neither needed nor used."""
    import torch

    path = Path(path)
    where = os.fspath(path)
    if not path.is_file():
        raise UnknownModelError(f"no checkpoint file {where!r}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{where}: the file is empty (0 bytes), not a checkpoint")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, a pickle payload, not a torch file at all
        raise CheckpointError(f"{where}: not a checkpoint torch can read safely ({_load_problem(exc)})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: holds {type(data).__name__}, not a zoo checkpoint (a dict)")
    if "format" not in data:
        if data and all(isinstance(k, str) and _is_tensor(v) for k, v in data.items()):
            raise CheckpointError(f"{where}: a bare state dict ({len(data)} tensors), not a zoo checkpoint: it does "
                                  "not say which model it is for; build the model and call "
                                  "model.load_state_dict(torch.load(path))")
        raise CheckpointError(f"{where}: not a zoo checkpoint (no 'format' key; keys: {_keys(data)})")
    if data["format"] not in FORMATS:
        raise CheckpointError(f"{where}: format {_short(data['format'])} is not one this zoo reads "
                              f"({', '.join(FORMATS)}); a newer zoo may read it")
    spec = _read_spec(data.get("spec"), where, trust_code) if need_spec else data.get("spec")
    state = data.get("model")
    if not isinstance(state, dict) or not all(isinstance(k, str) and _is_tensor(v) for k, v in state.items()):
        raise CheckpointError(f"{where}: 'model' must be a state dict (names to tensors), "
                              f"not {type(state).__name__}")
    preprocessing = None
    if data.get("preprocessing") is not None:
        try:
            preprocessing = Preprocessing.from_dict(data["preprocessing"])
        except ValueError as exc:
            raise CheckpointError(f"{where}: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name:
        name = path.parent.name if path.stem in ("best", "last") and path.parent.name else path.stem
    from .format import plain

    name = plain(name)  # it names exports and heads reports: no terminal codes from a file
    return Checkpoint(path, spec, state, preprocessing, name, data)


def checkpoint_dict(model: nn.Module | Mapping[str, Any], *, spec: Any = None,
                    preprocessing: Preprocessing | None = None, name: str | None = None,
                    **extra: Any) -> dict[str, Any]:
    """The dict a checkpoint holds: ``spec`` a :class:`zoo.target.ModelSpec` (or its
    ``to_dict()``); ``extra``: a Trainer's state, kept as given."""
    from torch import nn

    state = model.state_dict() if isinstance(model, nn.Module) else model
    return {
        "format": FORMAT,
        "spec": spec.to_dict() if hasattr(spec, "to_dict") else spec,
        "model": {k: v.detach().cpu().clone() for k, v in state.items()},
        "preprocessing": preprocessing.to_dict() if preprocessing is not None else None,
        "name": name,
        **extra,
    }


def write_checkpoint(path: str | os.PathLike, model: nn.Module | Mapping[str, Any] | None = None, *,
                     data: Mapping[str, Any] | None = None, **fields: Any) -> Path:
    """Write a checkpoint atomically: ``model`` (a module or its state dict) with the
    :func:`checkpoint_dict` ``fields`` (``spec``, ``preprocessing``, ``name``, ...), or
    ``data``, a dict made by :func:`checkpoint_dict`. Returns the path."""
    import torch

    from .files import write_bytes

    if data is None:
        if model is None:
            raise TypeError("write_checkpoint needs the model (or data=checkpoint_dict(...))")
        data = checkpoint_dict(model, **fields)
    buffer = io.BytesIO()  # serialised first: a failure of the disk is then an OSError of one write
    torch.save(dict(data), buffer)
    path = Path(path)
    write_bytes(path, buffer.getvalue())
    return path


# -- checks ---------------------------------------------------------------------------------------


def _read_spec(stored: Any, where: str, trust_code: bool) -> dict[str, Any]:
    if stored is None:
        raise CheckpointError(f"{where}: has no model spec (a zoo.Trainer without spec= wrote it), so zoo cannot "
                              "tell which model its weights are for; build the model yourself and load "
                              "torch.load(path, weights_only=True)['model'] into it")
    if not isinstance(stored, dict):
        raise CheckpointError(f"{where}: 'spec' must be a mapping, not {type(stored).__name__}")
    kind, text = stored.get("kind"), stored.get("text")
    if not isinstance(text, str) or not text:
        raise CheckpointError(f"{where}: the spec's 'text' must be the model's name or block string, not {_short(text)}")
    if kind in CODE_KINDS:
        if not trust_code:
            raise UntrustedCodeError(
                f"{where}: its model is built by Python code ({_short(text)}), which zoo does not run from a "
                "checkpoint: a checkpoint is data. If you trust where the file comes from, allow it with "
                "--trust-code (trust_code=True in Python)")
    elif kind not in DATA_KINDS:
        raise CheckpointError(f"{where}: the spec's kind {_short(kind)} is not a model kind "
                              f"({', '.join(DATA_KINDS + CODE_KINDS)})")
    if kind in ("timm", "torchvision") and not (text.startswith(f"{kind}:") and text.split(":", 1)[1].isidentifier()):
        raise CheckpointError(f"{where}: a {kind} spec names {kind}:<model name>, not {_short(text)}")
    options = stored.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise CheckpointError(f"{where}: the spec's 'options' must be a mapping of names, not {_short(options)}")
    for key in ("num_classes", "channels"):
        value = stored.get(key)
        if value is not None and not (_whole(value) and value >= 1):
            raise CheckpointError(f"{where}: the spec's {key!r} must be a whole number >= 1, not {_short(value)}")
    if kind in ("preset", "file") and not isinstance(stored.get("preset"), dict):
        raise CheckpointError(f"{where}: a {kind} spec must hold the preset's definition ('preset' mapping)")
    try:
        if kind == "blocks":
            from .language import parse_blocks

            parse_blocks(text)
        if stored.get("preset") is not None:
            _check_preset(stored["preset"])
    except ZooError as exc:
        raise CheckpointError(f"{where}: its model spec is broken: {exc}") from None
    return stored


def _check_preset(stored: Any) -> None:
    """A stored preset definition, checked as a preset file is (a PresetError if not)."""
    from .errors import PresetError
    from .presets.schema import KEYS, _parse

    if not isinstance(stored, Mapping):
        raise PresetError(f"the stored preset must be a mapping, not {type(stored).__name__}")
    _parse({k: v for k, v in stored.items() if k in KEYS}, {}, "the stored preset", Path("."), "")


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _keys(data: dict) -> str:
    keys = [str(k) for k in list(data)[:5]]
    return ", ".join(keys) + (", ..." if len(data) > 5 else "") if keys else "none"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _load_problem(exc: BaseException) -> str:
    text = str(exc)
    if "Weights only load failed" in text or "Unsupported global" in text or "UnpicklingError" in type(exc).__name__:
        return "it holds pickled Python objects, which torch.load(weights_only=True) refuses to run"
    if isinstance(exc, EOFError) or "central directory" in text or "failed finding" in text or "truncated" in text:
        return "the file is cut short or damaged"
    return _first_line(exc)[:200]

