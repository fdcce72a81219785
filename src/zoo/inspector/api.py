"""``zoo.inspect``: any model, preset, YAML file or block string -> a :class:`Report`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import (
    BuildError,
    OptionError,
    ShapeError,
    ZooError,
)
from ..options import input_size_problem
from .describe import describe
from .report import Report, add_container_macs, build_blocks, build_rows, locate_cnn, mark_failure
from .trace import Trace, meta_copy, trace

__all__ = ["inspect", "resolve_target", "Target", "DEFAULT_SIZE"]

DEFAULT_SIZE = (32, 32)  # H, W for a block string or CNN without an input size (CIFAR's)


@dataclass
class Target:
    """A model ready to inspect: built on meta by zoo, or given by the caller."""

    model: nn.Module
    name: str
    input_size: tuple[int, ...] | None
    owned: bool  # built here on the meta device: no copy needed
    notes: list[str] = field(default_factory=list)


def resolve_target(target: Any, input_size: Sequence[int] | None = None, **options: Any) -> Target:
    """Turn ``target`` into a model: an ``nn.Module`` as it is; a preset name or YAML
    path through ``zoo.presets`` (``options``: the overrides of ``zoo.create``);
    anything else as a block string (``options``: ``CNN`` options only). Models zoo
    builds are built on the meta device."""
    if input_size is not None:
        input_size = _size_argument(input_size)
    if isinstance(target, nn.Module):
        if options:
            raise _options_error(options)
        size, declared = (tuple(input_size), True) if input_size is not None else _default_size(target)
        notes = []
        if input_size is None and size is not None:
            notes.append(f"input size {_fmt_chw(size)}: the model's pretrained_cfg" if declared
                         else f"input size not given: {_fmt_chw(size)} assumed (pass input_size)")
        name = getattr(target, "name", None)
        name = name if isinstance(name, str) and name else type(target).__name__
        return Target(target, name, size, owned=False, notes=notes)
    from ..target import resolve_model

    spec = resolve_model(target, **options)
    if input_size is not None and len(input_size) in (3, 4) and spec.kind == "blocks" and "input" not in options:
        spec = spec.with_data(channels=input_size[-3])  # a block string takes the channels given
    with torch.device("meta"):
        model = spec.build(weights=False)
    if input_size is not None:
        return Target(model, spec.name, tuple(input_size), owned=True)
    if spec.input_size is not None:
        return Target(model, spec.name, spec.input_size, owned=True)
    size, declared = _default_size(model)
    notes = []
    if size is not None and not declared:
        notes.append(f"input size not given: {_fmt_chw(size)} assumed (zoo inspect --input C,H,W)")
    return Target(model, spec.name, size, owned=True, notes=notes)


def _options_error(options: Mapping[str, Any]) -> ZooError:
    names = ", ".join(sorted(options))
    return OptionError(f"options ({names}) apply to presets and block strings, not to a built model")


def _default_size(model: nn.Module) -> tuple[tuple[int, ...] | None, bool]:
    """The input size a model declares (timm's and zoo's ``pretrained_cfg``), or
    (input, 32, 32) for a zoo CNN, or None; and whether the model declared it."""
    cfg = getattr(model, "pretrained_cfg", None)
    size = cfg.get("input_size") if isinstance(cfg, Mapping) else None
    if isinstance(size, Sequence) and len(size) == 3 and all(isinstance(d, int) for d in size):
        return tuple(size), True
    found = locate_cnn(model)
    if found is None:
        return None, False
    return (found[1].cfg.input, *DEFAULT_SIZE), False


def _fmt_chw(size: Sequence[int]) -> str:
    return "x".join(str(d) for d in size)


def _size_argument(size: Any) -> tuple[int, ...]:
    """``input_size`` as a tuple of whole numbers >= 1, or a ShapeError saying why not."""
    if isinstance(size, torch.Size):
        size = tuple(size)
    if not isinstance(size, Sequence) or isinstance(size, str) or not size or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in size
    ):
        raise ShapeError(f"input_size must be a tuple of whole numbers, e.g. (3, 32, 32), not {size!r}")
    if any(d < 1 for d in size):
        raise ShapeError(f"input_size {tuple(size)} has a size below 1; give (C, H, W) or (B, C, H, W)")
    problem = input_size_problem(tuple(size))
    if problem:
        raise ShapeError(f"input_size {tuple(size)}: {problem}")
    return tuple(size)


def _batched(size: Sequence[int]) -> tuple[int, ...]:
    """(C, H, W) -> (1, C, H, W); any other length is taken as it is (batch first)."""
    size = _size_argument(size)
    return (1, *size) if len(size) == 3 else size


def _dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.get_default_dtype()


def inspect(target: Any, input_size: Sequence[int] | None = None, **options: Any) -> Report:
    """Inspect a model on the meta device: module tree, parameters, MACs, cost table.

    ``target``: an ``nn.Module`` (never run, moved or changed: a meta copy runs), a
    preset name, a YAML preset file, or a block string; ``options`` are CNN options
    (spec §5), and for a preset also what ``zoo.create`` takes (``num_classes``,
    ``input``, ``head``, ``blocks``). ``input_size`` is ``(C, H, W)`` or
    ``(B, C, H, W)``; for a preset it defaults to the preset's input, for a block
    string to ``(input, 32, 32)``. Shapes are followed in eval mode (on a copy: the
    model's own training flags stay as they are).

    >>> report = inspect("cnf32 m r64_3_2", input_size=(3, 32, 32))
    >>> report.params, report.macs, [b.name for b in report.blocks]
    (58656, 4554752, ['cnf32', 'm', 'r64_3_2', 'head'])

    Raises :class:`zoo.ShapeError` when a block cannot take its input; the error's
    ``report`` holds the tree up to that block.
    """
    found = resolve_target(target, input_size, **options)
    return inspect_target(found)


def inspect_target(found: Target) -> Report:
    model = found.model
    params = {id(p): p for p in model.parameters()}
    n_params = sum(p.numel() for p in params.values())
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    notes = list(found.notes)
    if found.input_size is None:  # no shapes to follow: parameters only
        result = Trace()
        rows, _ = build_rows(model, model, result, 1)
        report = Report(found.name, (), None, n_params, trainable, 0, [], rows, notes,
                        default_depth=_default_depth(model))
        report.notes.append("no input size: shapes and MACs need input_size=(C, H, W)")
        return report
    shape = _batched(found.input_size)
    try:
        traced = model if found.owned else meta_copy(model)
    except Exception as exc:  # an attribute deepcopy cannot copy (a lock, a file, ...)
        raise BuildError(
            f"cannot inspect {type(model).__name__}: copying it onto the meta device failed "
            f"({type(exc).__name__}: {exc})",
            hint="zoo.inspect never runs the model itself; make the model deep-copyable "
            "(copy.deepcopy(model) must work)",
        ) from exc
    # the shapes of eval mode: batch statistics and random drops change no shape, and a
    # training-mode BatchNorm would call a 1x1 image of a batch of 1 a failure although
    # the model serves it (the copy's flags only: the model keeps its own)
    traced.eval()
    x = torch.empty(shape, dtype=_dtype(model), device="meta")
    result = trace(traced, (x,), original=model)
    rows, traced_paths = build_rows(model, traced, result, shape[0])
    add_container_macs(rows)
    macs = round(result.macs / shape[0])
    if result.cpu_paths:
        where = ", ".join(p or type(model).__name__ for p in result.cpu_paths)
        notes.append(f"ran on the CPU with a random input (needs real values on meta): {where}")
    error = None
    if result.failure is not None:
        failing = [traced_paths.get(id(m), "") for m, _ in result.failure.chain] or [""]
        inputs = [i for _, i in result.failure.chain] or [shape]
        rows = mark_failure(rows, list(zip(failing, inputs)))
        error = _shape_error(model, result, failing, shape)
    blocks = build_blocks(model, rows, n_params, macs, shape, result.output)
    report = Report(found.name, shape, result.output, n_params, trainable, macs, blocks, rows, notes,
                    error=str(error) if error else None, default_depth=_default_depth(model))
    if error is not None:
        error.report = report
        raise error
    return report


def _default_depth(model: nn.Module) -> int:
    """Down to the CNN's top-level blocks (the rows of the cost table), folded."""
    found = locate_cnn(model)
    if found is None:
        return 1
    path = found[0]
    return (path.count(".") + 1 if path else 0) + 1


# -- failures ---------------------------------------------------------------------------


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else text


_HINTS = (
    (("output size is too small", "calculated output size", "kernel size can't be greater",
      "should be at most half", "input image is smaller than kernel", "padding should be"),
     "the image is too small for this block: give a larger input, or take out a stride or pool before it"),
    (("expected more than 1 spatial element",),
     "the image is down to 1x1, so this norm has one value per channel and image to normalise: "
     "give a larger input, or take out a stride or pool before it"),
    # a module that forces batch statistics (training=True) even in eval mode
    (("expected more than 1 value per channel",),
     "the image is down to 1x1 and the batch is 1, so the norm has one value per channel to normalise: "
     "give a larger input, take out a stride, or use a batch of 2 (input B,C,H,W)"),
)


def _hint(message: str) -> str:
    text = message.lower()
    for keys, hint in _HINTS:
        if any(k in text for k in keys):
            return hint
    return ""


def _diagnose(module: nn.Module, inputs: Any) -> str | None:
    """The reason in zoo's words, for the layers whose input must match their size."""
    shape = inputs if isinstance(inputs, tuple) and all(isinstance(d, int) for d in inputs) else None
    if not shape:
        return None
    if isinstance(module, nn.modules.conv._ConvNd) and len(shape) in (module.weight.dim() - 1, module.weight.dim()):
        channels = shape[1] if len(shape) == module.weight.dim() else shape[0]
        if channels != module.in_channels:
            return f"{describe(module)} takes {module.in_channels} channels, and {channels} arrive"
    if isinstance(module, nn.Linear) and shape[-1] != module.in_features:
        return f"{describe(module)} takes {module.in_features} features, and {shape[-1]} arrive"
    if isinstance(module, nn.modules.batchnorm._NormBase) and len(shape) >= 2 and shape[1] != module.num_features:
        return f"{describe(module)} takes {module.num_features} channels, and {shape[1]} arrive"
    return None


def _fmt_shape(shape: Any) -> str:
    return str(shape) if shape is not None else "?"


def _shape_error(model: nn.Module, result: Trace, failing: list[str], shape: tuple[int, ...]) -> ShapeError:
    chain = result.failure.chain
    error = result.failure.error
    found = locate_cnn(model)
    block_label, block_input, block_path = None, None, None
    if found is not None:
        cnn_path, cnn = found
        prefix = f"{cnn_path}.blocks." if cnn_path else "blocks."
        for (_, inputs), path in zip(chain, failing):
            rest = path[len(prefix):] if path.startswith(prefix) else None
            if rest is not None and rest.isdigit():
                i = int(rest)
                token = cnn.block_names[i] if i < len(cnn.block_names) else describe(cnn.blocks[i])
                of = f"{i + 1} of {len(cnn.block_names)}" if i < len(cnn.block_names) else "after the blocks"
                block_label = f"block {token!r} (blocks.{i}, {of})"
                block_input, block_path = inputs, path
                break
    if block_label is None:  # a model without CNN blocks, or a failure outside them
        for (module, inputs), path in zip(chain, failing):
            if path and "." not in path:
                block_label = f"layer {path!r}, {describe(module)},"
                block_input, block_path = inputs, path
                break
    if block_label is None:
        block_label, block_input, block_path = type(model).__name__, shape, ""
    module, inputs = chain[-1] if chain else (model, shape)
    where = failing[-1] if chain else ""
    torch_says = _first_line(error)
    ours = _diagnose(module, inputs)
    lines = [f"{block_label} cannot take its input {_fmt_shape(block_input)}"]
    if where != block_path:
        lines.append(f"  in {where or 'the model'}: {describe(module)} with input {_fmt_shape(inputs)}")
    lines.append(f"  {ours}" if ours else f"  {torch_says}")
    if ours:
        lines.append(f"  (torch: {torch_says})")
    hint = _hint(str(error))
    if ours and inputs == tuple(shape) and "channels" in ours:
        hint = (f"the model takes {module.in_channels} input channels: give an input size of "
                f"{module.in_channels},H,W, or build it with input={inputs[1]} (zoo inspect --set input={inputs[1]})")
    if hint:
        lines.append(hint)
    shape_error = ShapeError("\n".join(lines))
    shape_error.block = block_label
    shape_error.input_shape = block_input
    shape_error.where = where
    shape_error.__cause__ = error
    return shape_error
