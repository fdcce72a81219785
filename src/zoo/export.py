"""Export a model to ONNX, ``torch.export`` (``.pt2``) or TorchScript, and prove the file.

Every export is checked before it is reported done: the file is loaded back
(onnxruntime for ONNX, ``torch.export.load`` for ``.pt2``, ``torch.jit.load`` for
TorchScript) and its outputs on random inputs of two batch sizes are compared with
the model's own. A difference above ``tolerance`` (1e-4 in float32) is an
:class:`~zoo.errors.ExportError` that carries the numbers.

=============  ================================================  =====================
format         written by                                        loaded back by
=============  ================================================  =====================
``onnx``       ``torch.export.export`` then ``torch.onnx.export``  ``onnxruntime``
``pt2``        ``torch.export.export`` + ``torch.export.save``   ``torch.export.load``
``torchscript``  ``torch.jit.trace`` (``torch.jit.script`` is     ``torch.jit.load``
               deprecated)
``safetensors``  the weights, with the model spec and the           ``zoo.create(FILE)``
               preprocessing in the metadata (no pickle)          (the model rebuilt)
=============  ================================================  =====================

A model that cannot be exported (data-dependent control flow, an op without an ONNX
translation) is an :class:`~zoo.errors.ExportError` naming the op and the layer.

>>> import tempfile, zoo
>>> folder = tempfile.mkdtemp()
>>> result = export_model("cnf8 m r16_3_2", f"{folder}/tiny.pt2", input_size=(3, 16, 16))
>>> result.format, result.batches, result.ok
('pt2', (1, 3), True)
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ExportError, OptionError, OutputPathError, WeightsError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .target import ModelSpec

__all__ = [
    "FORMATS",
    "TOLERANCE",
    "ExportResult",
    "export_model",
    "format_from_path",
    "check_output_path",
    "model_input_size",
    "prepare_model",
]

FORMATS = {"onnx": ".onnx", "pt2": ".pt2", "torchscript": ".pt",  # format -> usual suffix
           "safetensors": ".safetensors"}
_SUFFIXES = {".onnx": "onnx", ".pt2": "pt2", ".pt": "torchscript", ".ts": "torchscript",
             ".torchscript": "torchscript", ".safetensors": "safetensors"}
TOLERANCE = 1e-4  # max abs difference allowed between the file's outputs and the model's
EXAMPLE_BATCH = 2  # the batch torch.export traces with (a batch of 1 would fix the size)
DYNAMIC_CHECK_BATCHES = (1, 3)  # two sizes, neither the traced one


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how well the file matches the model."""

    path: Path
    format: str
    input_size: tuple[int, int, int]  # (C, H, W) of one image
    dynamic: bool  # the batch dimension is free (else fixed to batches[0])
    batches: tuple[int, ...]  # the batch sizes checked (a fixed batch: two inputs of it)
    max_diff: dict[int, float] = field(default_factory=dict)  # batch -> max |file - model|
    tolerance: float = TOLERANCE
    seconds: float = 0.0  # export and check, together
    opset: int | None = None  # ONNX only
    notes: list[str] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.max_diff.values(), default=math.nan)

    @property
    def ok(self) -> bool:
        return bool(self.max_diff) and all(d < self.tolerance for d in self.max_diff.values())

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "input_size": list(self.input_size),
                "dynamic": self.dynamic, "batches": list(self.batches),
                "max_diff": {str(b): d for b, d in self.max_diff.items()}, "tolerance": self.tolerance,
                "ok": self.ok, "seconds": round(self.seconds, 3), "opset": self.opset, "notes": self.notes}


def format_from_path(path: str | os.PathLike) -> str | None:
    """The format a file name asks for by its suffix, or None.

    >>> format_from_path("model.onnx"), format_from_path("m.pt2"), format_from_path("m.pt")
    ('onnx', 'pt2', 'torchscript')
    """
    return _SUFFIXES.get(Path(path).suffix.lower())


def check_output_path(path: str | os.PathLike) -> Path:
    """``path`` if a file can be written there, else an :class:`OutputPathError` that
    says why (checked before an export that may take minutes)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputPathError(f"{path} is a folder; give a file name, e.g. {path / 'model.onnx'}")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {path}: no folder {str(folder)!r} (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputPathError(f"cannot write {path}: permission denied")
    return path


def model_input_size(model: nn.Module, spec: ModelSpec | None = None) -> tuple[int, int, int]:
    """``(C, H, W)`` a model takes: its preset's input, else what the model declares
    (timm's and zoo's ``pretrained_cfg``), else ``(C, 32, 32)`` for a block string."""
    if spec is not None and spec.input_size is not None:
        return tuple(spec.input_size)
    cfg = getattr(model, "pretrained_cfg", None)
    size = cfg.get("input_size") if isinstance(cfg, dict) else None
    if isinstance(size, Sequence) and len(size) == 3 and all(isinstance(d, int) for d in size):
        channels = spec.channels if spec is not None and spec.channels else size[0]
        return (channels, size[1], size[2])
    channels = spec.default_channels if spec is not None else None
    if channels is None:
        channels = _first_conv_channels(model)
    if channels is None:
        raise OptionError("this model declares no input size; give one (--input C,H,W)")
    return (channels, 32, 32)


def _first_conv_channels(model: nn.Module) -> int | None:
    for module in model.modules():
        if hasattr(module, "in_channels") and isinstance(module.in_channels, int):
            return module.in_channels
    return None


def prepare_model(target: Any, *, weights: str | os.PathLike | None = None, trust_code: bool = False,
                  **options: Any) -> tuple[nn.Module, ModelSpec | None]:
    """``(model, spec)`` for a target (any MODEL of :mod:`zoo.target`, or an ``nn.Module``
    as it is), with the weights of a ``zoo train`` checkpoint loaded when given: a
    preset or block string gets the checkpoint's classes and channels (as zoo train
    built it), and the checkpoint's input size."""
    from torch import nn

    checkpoint = None
    if weights is not None:
        from .checkpoint import read_checkpoint

        checkpoint = read_checkpoint(weights, trust_code=trust_code)
    if isinstance(target, nn.Module):
        if options:
            raise OptionError(f"options ({', '.join(sorted(options))}) apply to a named model, not a built one")
        model, spec = target, None
    else:
        from .target import resolve_model

        spec = resolve_model(target, trust_code=trust_code, **options)
        if checkpoint is not None and spec.kind in ("preset", "file", "blocks"):
            stored = checkpoint.spec
            spec = spec.with_data(num_classes=spec.num_classes or stored.get("num_classes"),
                                  channels=spec.channels or stored.get("channels"))
            if checkpoint.input_size is not None:
                from dataclasses import replace

                spec = replace(spec, checkpoint=checkpoint)  # its input size: the data it was trained on
        model = spec.build()
    if checkpoint is not None:
        try:
            model.load_state_dict(checkpoint.state)
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or ["?"])[0]
            raise WeightsError(f"{os.fspath(weights)}: its weights do not fit this model: {first}") from None
    return model, spec


def export_model(
    target: Any,
    path: str | os.PathLike,
    format: str | None = None,
    *,
    input_size: Sequence[int] | None = None,
    batch: int | str = "dynamic",
    opset: int | None = None,
    weights: str | os.PathLike | None = None,
    tolerance: float = TOLERANCE,
    seed: int = 0,
    trust_code: bool = False,
    **options: Any,
) -> ExportResult:
    """Export ``target`` (a MODEL of :mod:`zoo.target` or an ``nn.Module``) to ``path``
    and check the file; returns an :class:`ExportResult` whose ``ok`` is True.

    ``format``: ``"onnx"``, ``"pt2"`` or ``"torchscript"`` (default: from the suffix);
    ``input_size``: ``(C, H, W)`` (default: the model's own); ``batch``: ``"dynamic"``
    (a free batch dimension, checked at batches 1 and 3) or a whole number (fixed,
    checked on two inputs of that size); ``opset``: the ONNX opset (default: torch's); ``weights``: a
    ``zoo train`` checkpoint whose weights the model gets (and whose input size is the
    default); ``trust_code``: allow a checkpoint whose model is built by Python code.
    The file is written next to ``path`` and renamed over it once checked
    (:func:`zoo.files.atomic_write`): a failure keeps the file that was there.

    Raises :class:`~zoo.errors.ExportError` when the model cannot be exported (the op
    and the layer) or the file's outputs differ from the model's by ``tolerance`` or
    more (the file is removed; the error's ``result`` holds the differences). The
    export runs on the CPU in float32 (a model elsewhere is copied there); a model
    passed in keeps its training mode.
    """
    import torch

    format = _check_format(format, path)
    dynamic, batches = _check_batch(batch)
    if opset is not None and format != "onnx":
        raise OptionError(f"--opset applies to ONNX only, not to {format}")
    path = check_output_path(path)
    if format == "onnx":
        _require_onnx()
    model, spec = prepare_model(target, weights=weights, trust_code=trust_code, **options)
    size = tuple(input_size[-3:]) if input_size is not None else model_input_size(model, spec)
    training = model.training
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in _floating(model)):
        model = copy.deepcopy(model).to("cpu", torch.float32)  # the export runs on the CPU in float32
    try:
        return _export(model.eval(), path, format, size, dynamic, batches, opset, tolerance, seed, spec)
    finally:
        model.train(training)  # a caller's model keeps its mode


def _floating(model: nn.Module) -> list[torch.Tensor]:
    return [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]


def _export(model, path, format, size, dynamic, batches, opset, tolerance, seed, spec=None) -> ExportResult:
    import torch

    result = ExportResult(path, format, size, dynamic, batches, tolerance=tolerance)
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(EXAMPLE_BATCH if dynamic else batches[0], *size, generator=generator)
    from .files import atomic_write

    # written beside path and renamed over it only once checked: a failure keeps what was there
    with torch.no_grad(), atomic_write(path) as written:
        _check_forward(model, example)
        if format == "safetensors":  # weights and the spec: the file rebuilds the model
            load = _export_safetensors(model, spec, written)
        else:
            load = {"onnx": _export_onnx, "pt2": _export_pt2, "torchscript": _export_torchscript}[format](
                model, example, written, dynamic, opset, result)
        runner = load(written)
        for b in batches if dynamic else batches * 2:  # a fixed batch: two inputs of that size
            x = torch.randn(b, *size, generator=generator)
            expected = _first_output(model(x))
            got = runner(x)
            if tuple(got.shape) != tuple(expected.shape):
                raise ExportError(f"{path}: the file's output for a batch of {b} has shape "
                                  f"{tuple(got.shape)}, the model's {tuple(expected.shape)}")
            diff = float((got.double() - expected.double()).abs().max())
            result.max_diff[b] = max(diff, result.max_diff.get(b, 0.0))
        result.seconds = time.perf_counter() - started
        if not result.ok:  # a file that computes something else must not be shipped
            diffs = ", ".join(f"batch {b}: {d:.3g}" for b, d in result.max_diff.items())
            kept = "the file that was there is kept" if path.exists() else "nothing written"
            error = ExportError(f"{path}: the exported {format} file differs from the model "
                                f"(max abs difference {diffs}; allowed < {tolerance:g}); {kept}")
            error.result = result
            raise error
    return result


def _check_format(format: str | None, path: str | os.PathLike) -> str:
    if format is None:
        format = format_from_path(path)
        if format is None:
            raise OptionError(f"{os.fspath(path)}: say the format (--format onnx, pt2, torchscript or safetensors), "
                              "or end the file name in .onnx, .pt2, .pt or .safetensors")
    if format not in FORMATS:
        raise OptionError(f"unknown format {format!r}: choose onnx, pt2, torchscript or safetensors")
    return format


def _check_batch(batch: int | str) -> tuple[bool, tuple[int, ...]]:
    if batch == "dynamic":
        return True, DYNAMIC_CHECK_BATCHES
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise OptionError(f"batch={batch!r}: give 'dynamic' or a whole number >= 1")
    return False, (batch,)


def _require_onnx():
    from .extras import check_installed

    for module in ("onnx", "onnxscript", "onnxruntime"):
        check_installed(module, "ONNX export")


def _first_output(output: Any) -> torch.Tensor:
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise ExportError(f"the model returns {type(output).__name__}; zoo export checks models that return a tensor")


def _check_forward(model: nn.Module, x: torch.Tensor) -> None:
    """A model that fails in plain PyTorch is a shape problem, not an export one."""
    from .errors import ShapeError

    try:
        model(x)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or ["?"])[0]
        raise ShapeError(f"the model cannot take an input of {tuple(x.shape[1:])}: {first} "
                         "(give the size it takes: --input C,H,W)") from None


# -- finding the layer that stops an export -------------------------------------------------


class _LayerStack:
    """The path of the module running now, kept by forward hooks: when an export fails
    inside a layer, ``failing`` is the innermost layer that was entered and not left."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.stack: list[str] = []
        self.failing: str | None = None
        self._handles: list[Any] = []

    def __enter__(self) -> _LayerStack:
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._enter(name)))
            self._handles.append(module.register_forward_hook(self._leave()))
        return self

    def _enter(self, name: str):
        def hook(module, args):
            self.stack.append(name)

        return hook

    def _leave(self):
        def hook(module, args, output):
            if self.stack:
                self.stack.pop()

        return hook

    def __exit__(self, kind, exc, tb) -> None:
        if exc is not None and self.stack:
            self.failing = self.stack[-1]
        for handle in self._handles:
            handle.remove()

    def describe(self, path: str | None) -> str:
        if path is None:
            return "the model"
        if path == "":
            return f"the model ({type(self.model).__name__}.forward)"
        module = self.model.get_submodule(path)
        return f"layer {path!r} ({type(module).__name__})"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.export and torch.onnx log and print pages of graph on the way to an error,
    and progress: the error zoo raises says what matters."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), \
                contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit: "deprecated"
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logging.disable(logging.NOTSET)


_OP = re.compile(r"torch\.ops\.(aten\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)")
_CALL = re.compile(r"The following call raised this error:\s*\n\s*File \"([^\"]+)\", line (\d+), in (\w+)\n\s*(.+)")


def _export_error(exc: Exception, what: str, layer: str) -> ExportError:
    message = str(exc)
    first = (message.strip().splitlines() or [type(exc).__name__])[0]
    ops = _OP.findall(message)
    parts = [f"{what} cannot export {layer}"]
    if "data-dependent" in message:
        op = ops[-1] if ops else "aten.item"
        parts.append(f": data-dependent control flow (a Python `if` or int() on a tensor's values, op {op})")
    else:
        parts.append(f": {type(exc).__name__}: {first}")
        if ops:
            parts.append(f" (op {ops[-1]})")
    call = _CALL.search(message)
    if call:
        file, line, function, code = call.groups()
        parts.append(f"\n    at {file}:{line} in {function}: {code.strip()}")
    if "data-dependent" in message:
        parts.append("\nrewrite the layer without branching on tensor values (torch.where, torch.cond)")
    return ExportError("".join(parts))


def _torch_export(model: nn.Module, example: torch.Tensor, dynamic: bool):
    import torch

    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic else None
    layers = _LayerStack(model)
    try:
        with _quiet(), layers:
            return torch.export.export(model, (example,), dynamic_shapes=shapes)
    except Exception as exc:
        raise _export_error(exc, "torch.export", layers.describe(layers.failing)) from None


def _export_pt2(model, example, path, dynamic, opset, result):
    import torch

    program = _torch_export(model, example, dynamic)
    torch.export.save(program, path)

    def load(path):
        module = torch.export.load(path).module()
        return lambda x: _first_output(module(x))

    return load


def _export_onnx(model, example, path, dynamic, opset, result):
    import torch

    program = _torch_export(model, example, dynamic)
    try:
        with _quiet():
            onnx_program = torch.onnx.export(program, (example,), dynamo=True, opset_version=opset,
                                             verbose=False, external_data=False)
    except Exception as exc:
        raise _onnx_error(exc, program) from None
    onnx_program.save(str(path))
    result.opset = _onnx_opset(onnx_program)

    def load(path):
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])

    return load


def _onnx_opset(onnx_program) -> int | None:
    for entry in onnx_program.model_proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


def _onnx_error(exc: Exception, program) -> ExportError:
    """An op torch.onnx cannot translate: name it and the layer it comes from (the
    exported graph keeps each node's module path)."""
    message = str(exc)
    ops = _OP.findall(message) or re.findall(r"(aten::[A-Za-z0-9_.]+)", message)
    layer = "the model"
    if ops:
        wanted = ops[-1].replace("::", ".")
        for node in program.graph.nodes:
            if wanted in str(node.target):
                stack = node.meta.get("nn_module_stack") or {}
                if stack:
                    path, kind = list(stack.values())[-1]
                    kind = kind.__name__ if isinstance(kind, type) else str(kind).rsplit(".", 1)[-1]
                    layer = f"layer {path!r} ({kind})"
                break
    first = (message.strip().splitlines() or [type(exc).__name__])[0]
    op = f" (op {ops[-1]})" if ops else ""
    return ExportError(f"torch.onnx cannot translate {layer}{op}: {first}")


def _export_torchscript(model, example, path, dynamic, opset, result):
    import torch

    layers = _LayerStack(model)
    try:
        with _quiet(), layers, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("always", torch.jit.TracerWarning)
            warnings.filterwarnings("error", message="Converting a tensor to a Python boolean",
                                    category=torch.jit.TracerWarning)
            traced = torch.jit.trace(model, (example,), check_trace=False)
    except Exception as exc:
        warning = exc if isinstance(exc, torch.jit.TracerWarning) else exc.__cause__ or exc.__context__
        if not isinstance(warning, torch.jit.TracerWarning):
            raise _export_error(exc, "torch.jit.trace", layers.describe(layers.failing)) from None
        where = layers.describe(layers.failing)
        raise ExportError(f"torch.jit.trace cannot export {where}: data-dependent control flow "
                          "(a Python `if` on a tensor's values, op aten::Bool): the trace would keep "
                          "one branch for every input\nrewrite the layer without branching on tensor "
                          "values (torch.where)") from None
    result.notes.extend(str(w.message).split(".")[0] for w in caught
                        if issubclass(w.category, torch.jit.TracerWarning))
    traced.save(str(path))

    def load(path):
        with _quiet():
            module = torch.jit.load(str(path))
        return lambda x: _first_output(module(x))

    return load


def _export_safetensors(model, spec, path):
    from .safetensors_file import write_safetensors
    from .target import create

    if spec is None:
        raise OptionError("safetensors stores a named model's spec (a preset, a block string, timm:<name>), "
                          "not a built nn.Module: export it by name")
    try:
        write_safetensors(model, path, spec.to_dict())
    except WeightsError as exc:
        raise ExportError(str(exc)) from None

    def load(path):
        rebuilt = create(os.fspath(path)).eval()
        return lambda x: _first_output(rebuilt(x))

    return load
