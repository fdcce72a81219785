"""``zoo.inspect``, the inspection: a model, preset, YAML file or block string -> a :class:`Report`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from ..errors import (
    BuildError,
    OptionError,
    ShapeError,
    ZooError,
)
from ..inputs import InputSpec, check_names, parse_input, parse_inputs
from ..options import input_size_problem
from .describe import describe
from .report import (
    Report,
    add_container_macs,
    add_forward_rows,
    build_blocks,
    build_rows,
    locate_cnn,
    mark_failure,
    param_count,
    remembered,
    remembering_networks,
)
from .trace import Trace, meta_copy, set_eval, shapes_of, trace

# one import path per name: inspect is zoo.inspect
__all__ = ["resolve_target", "InspectedModel", "DEFAULT_SIZE", "input_specs", "takes_images"]

DEFAULT_SIZE = (32, 32)  # H, W for a block string or CNN without an input size (CIFAR's)


@dataclass
class InspectedModel:
    """A model ready to inspect: built on meta by zoo, or given by the caller."""

    model: nn.Module
    name: str
    input_size: tuple[int, ...] | None
    owned: bool  # built here on the meta device: no copy needed
    notes: list[str] = field(default_factory=list)
    data: tuple[tuple, dict[str, Any]] | None = None  # real inputs (args, kwargs), from input_data


def resolve_target(target: Any, input_size: Any = None, **options: Any) -> InspectedModel:
    """Turn ``target`` into a model: an ``nn.Module`` as it is; a preset name or YAML
    path through ``zoo.presets`` (``options``: the overrides of ``zoo.create``);
    anything else as a block string (``options``: ``CNN`` options only). Models zoo
    builds are built on the meta device. ``input_size``: any form :func:`input_specs` takes."""
    if input_size is not None:
        input_size = input_specs(input_size)
    if isinstance(target, nn.Module):
        if options:
            raise _options_error(options)
        size, declared = (input_size, True) if input_size is not None else _default_size(target)
        notes = []
        if input_size is None and size is not None:
            notes.append(f"input size {_fmt_chw(size)}: the model's pretrained_cfg" if declared
                         else f"input size not given: {_fmt_chw(size)} assumed (pass input_size)")
        name = getattr(target, "name", None)
        name = name if isinstance(name, str) and name else getattr(target, "original_name", None)
        name = name if isinstance(name, str) and name else type(target).__name__
        return InspectedModel(target, name, size, owned=False, notes=notes)
    from ..target import resolve_model

    spec = resolve_model(target, **options)
    first = input_size[0].shape if input_size else ()
    if len(first) in (3, 4) and spec.kind == "blocks" and "input" not in options:
        spec = spec.with_data(channels=first[-3])  # a block string takes the channels given
    with torch.device("meta"):
        model = spec.build(weights=False)
    if input_size is not None:
        return InspectedModel(model, spec.name, input_size, owned=True)
    if spec.input_size is not None:
        return InspectedModel(model, spec.name, spec.input_size, owned=True)
    size, declared = _default_size(model)
    notes = []
    if size is not None and not declared:
        notes.append(f"input size not given: {_fmt_chw(size)} assumed (zoo inspect --input C,H,W)")
    return InspectedModel(model, spec.name, size, owned=True, notes=notes)


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


def input_specs(given: Any) -> list[InputSpec]:
    """The inputs of ``input_size=`` as :class:`~zoo.inputs.InputSpec`: a shape
    (``(3, 224, 224)``, ``(2, 10, 8)``), an input text (``"ids:int64[1,128]"``, see
    :mod:`zoo.inputs`), an ``InputSpec``, a list or tuple of these (several positional
    inputs), or a dict of them (keyword inputs).

    >>> [str(s) for s in input_specs({"ids": "int64[1,16]", "mask": "bool[1,16]"})]
    ['ids:int64[1,16]', 'mask:bool[1,16]']
    """
    if isinstance(given, Mapping):
        specs = [replace(_one_input(v), name=str(k)) for k, v in given.items()]
    elif isinstance(given, str):
        specs = parse_inputs(given)
    elif _is_shape(given) or isinstance(given, InputSpec):
        specs = [_one_input(given)]
    elif isinstance(given, Sequence) and given and not isinstance(given, str):
        specs = [_one_input(v) for v in given]
    else:
        specs = [_one_input(given)]  # its error
    check_names(specs)
    return specs


def _is_shape(value: Any) -> bool:
    """A shape: whole numbers, or ``()`` (a 0-d input, one number)."""
    return isinstance(value, torch.Size) or (
        isinstance(value, Sequence) and not isinstance(value, str)
        and all(isinstance(d, int) and not isinstance(d, bool) for d in value)
    )


def _one_input(value: Any) -> InputSpec:
    if isinstance(value, InputSpec):
        return value
    if isinstance(value, str):
        return parse_input(value)
    return InputSpec(_size_argument(value))


def _size_argument(size: Any) -> tuple[int, ...]:
    """``input_size`` as a tuple of whole numbers >= 1, or a ShapeError saying why not."""
    if isinstance(size, torch.Size):
        size = tuple(size)
    if not isinstance(size, Sequence) or isinstance(size, str) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in size
    ):
        raise ShapeError(f"input_size must be a tuple of whole numbers, e.g. (3, 32, 32), not {size!r}")
    if any(d < 1 for d in size):
        raise ShapeError(f"input_size {tuple(size)} has a size below 1; give (C, H, W) or (B, C, H, W)")
    problem = input_size_problem(tuple(size)) if size else None  # () is a 0-d input
    if problem:
        raise ShapeError(f"input_size {tuple(size)}: {problem}")
    return tuple(size)


def _batched(spec: InputSpec, images: bool) -> tuple[int, ...]:
    """(C, H, W) -> (1, C, H, W) for a model that takes images; any other shape, and a
    shape written whole (``[2,10,8]``, with a dtype or in brackets), as it is."""
    return (1, *spec.shape) if images and not spec.exact and len(spec.shape) == 3 else spec.shape


_IMAGE_LAYERS = (nn.Conv2d, nn.ConvTranspose2d)
_OTHER_LAYERS = (nn.Linear, nn.Bilinear, nn.Embedding, nn.EmbeddingBag, nn.RNNBase, nn.MultiheadAttention,
                 nn.LayerNorm, nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose3d,
                 nn.BatchNorm1d, nn.TransformerEncoder, nn.TransformerDecoder, nn.Transformer)


@remembered
def takes_images(model: nn.Module) -> bool:
    """Whether a 3-number input is one image (C, H, W) for ``model``: it declares an
    image input (``pretrained_cfg``), is a zoo CNN, or its first layer with weights
    is a 2-d convolution. An LSTM's (B, T, F) stays as it is.

    >>> takes_images(nn.LSTM(8, 16)), takes_images(nn.Sequential(nn.Conv2d(3, 8, 3)))
    (False, True)
    """
    if _default_size(model)[1] or locate_cnn(model) is not None:
        return True
    for module in model.modules():
        if isinstance(module, _IMAGE_LAYERS):
            return True
        if isinstance(module, _OTHER_LAYERS):
            return False
    return True


def _torch_dtype(name: str, model: nn.Module) -> torch.dtype:
    return _dtype(model) if name == "float" else getattr(torch, name)


def _meta_inputs(specs: list[InputSpec], model: nn.Module) -> tuple[tuple, dict[str, Any]]:
    images = takes_images(model)
    args, kwargs = [], {}
    for spec in specs:
        x = torch.empty(_batched(spec, images), dtype=_torch_dtype(spec.dtype, model), device="meta")
        if spec.name:
            kwargs[spec.name] = x
        else:
            args.append(x)
    return tuple(args), kwargs


def _data_inputs(data: Any) -> tuple[tuple, dict[str, Any]]:
    """``input_data``: a tensor, a tuple or list of positional inputs, or a dict of keyword inputs."""
    if isinstance(data, torch.Tensor):
        return (data,), {}
    if isinstance(data, Mapping):
        return (), dict(data)
    if isinstance(data, (tuple, list)) and data:
        return tuple(data), {}
    if _is_array(data):  # a numpy array: passed as it is (the forward converts it)
        return (data,), {}
    raise ShapeError(
        f"input_data must be a tensor, a tuple or list of inputs, or a dict of keyword inputs, "
        f"not {type(data).__name__}"
    )


def _is_array(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype")


def _describe_inputs(args: tuple, kwargs: dict[str, Any], model: nn.Module) -> list[str]:
    """The inputs as the title shows them: a shape, with the name and a dtype that is
    not the model's own."""
    own = _dtype(model)
    texts = []
    for name, value in [*((None, a) for a in args), *kwargs.items()]:
        if isinstance(value, torch.Tensor):
            text = str(tuple(value.shape)) + ("" if value.dtype == own else f" {str(value.dtype).removeprefix('torch.')}")
        elif _is_array(value):
            text = f"{tuple(value.shape)} numpy {value.dtype}"
        elif shapes_of(value) is not None:  # tensors inside a dict or a list
            text = f"{type(value).__name__} of {shapes_of(value)}"
        else:
            text = type(value).__name__
        texts.append(f"{name}: {text}" if name else text)
    return texts


def _first_shape(args: tuple, kwargs: dict[str, Any]) -> tuple[int, ...]:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) or _is_array(value):
            return tuple(value.shape)
    return ()


BATCH_NAMES = ("N", "B", "batch")  # a named tensor's leading dimension that marks a batch


def known_batch(args: tuple, kwargs: dict[str, Any], model: nn.Module, specs: list[InputSpec] | None) -> int | None:
    """The batch zoo knows, or None (the MACs are then the whole input's): an image
    model's input of 3 numbers (a batch of 1 added) or 4 (B,C,H,W); a leading
    dimension marked as a batch (a named tensor's ``N``, ``B`` or ``batch``); or the
    same leading dimension across two or more inputs. A single (10,) input, or an
    LSTM's sequence-first (T, B, F), has no batch zoo could know.

    >>> x = torch.zeros(2, 10)
    >>> known_batch((x,), {}, nn.Linear(10, 1), None), known_batch((x, x), {}, nn.Linear(10, 1), None)
    (None, 2)
    """
    tensors = [v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor) or _is_array(v)]
    if not tensors or any(len(t.shape) == 0 for t in tensors):
        return None
    first = tensors[0]
    names = getattr(first, "names", None) or ()
    if names and names[0] in BATCH_NAMES:
        return first.shape[0]
    if len(tensors) == 1 and takes_images(model) and len(first.shape) == 4 and (
            specs is None or not specs[0].exact or len(specs[0].shape) == 4):
        return first.shape[0]
    if len(tensors) >= 2 and len({t.shape[0] for t in tensors}) == 1:
        return first.shape[0]
    return None


@remembered
def _dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.get_default_dtype()


def inspect(target: Any, input_size: Any = None, *, input_data: Any = None, **options: Any) -> Report:
    """Inspect a model on the meta device: module tree, parameters, MACs, cost table.

    ``target``: an ``nn.Module`` (never run, moved or changed: a meta copy runs), a
    preset name, a YAML preset file, or a block string; ``options`` are CNN options
   , and for a preset also what ``zoo.create`` takes (``num_classes``,
    ``input``, ``head``, ``blocks``). ``input_size`` is ``(C, H, W)`` or
    ``(B, C, H, W)``; for a preset it defaults to the preset's input, for a block
    string to ``(input, 32, 32)``, for a timm model to its ``pretrained_cfg``. Three
    numbers are one image (a batch of 1 added) only for a model that takes images
    (:func:`takes_images`); an LSTM's ``(2, 10, 8)`` is taken as it is. Several
    inputs, dtypes and keyword inputs: ``input_size=[(3, 32, 32), (3, 32, 32)]``,
    ``input_size={"ids": "int64[1,128]", "mask": "bool[1,128]"}``, ``"ids:int64[1,128]"``
    (:func:`input_specs`). ``input_data``: real inputs instead (a tensor, a tuple or
    dict of them); they also feed the modules that need real values. Shapes are
    followed in eval mode (on a copy: the model's own training flags stay as they are).

    >>> report = inspect("cnf32 m r64_3_2", input_size=(3, 32, 32))
    >>> report.params, report.macs, [b.name for b in report.blocks]
    (58656, 4554752, ['cnf32', 'm', 'r64_3_2', 'head'])

    Raises :class:`zoo.ShapeError` when a block cannot take its input; the error's
    ``report`` holds the tree up to that block.
    """
    if input_data is not None and input_size is not None:
        raise ShapeError("give input_size or input_data, not both (input_data's shapes are the input size)")
    with remembering_networks():
        found = resolve_target(target, input_size, **options)
        if input_data is not None:
            found.input_size, found.notes = None, []
            found.data = _data_inputs(input_data)
        return inspect_target(found)


def inspect_target(found: InspectedModel) -> Report:
    """The report of a resolved :class:`InspectedModel` (``zoo.inspect`` and ``ModelState``)."""
    with remembering_networks():
        return _inspect_target(found)


def _inspect_target(found: InspectedModel) -> Report:
    model = found.model
    lazy, n_params, trainable = [], 0, 0
    for p in model.parameters():  # each once, however many modules share it
        count = param_count(p)  # 0 for a lazy one: no size yet
        n_params += count
        trainable += count if p.requires_grad else 0
        if isinstance(p, nn.parameter.UninitializedTensorMixin):
            lazy.append(p)
    notes = list(found.notes)
    if found.input_size is None and found.data is None:  # no shapes to follow: parameters only
        rows = build_rows(model, model, Trace(), 1)
        report = Report(found.name, (), None, n_params, trainable, 0, [], rows, notes,
                        default_depth=_default_depth(model))
        if lazy:
            report.notes.append(f"{len(lazy)} lazy parameters uninitialised: not counted until a forward "
                                "(give input_size: a copy materialises them)")
        report.notes.append("no input size: shapes and MACs need input_size=(C, H, W)")
        return report
    specs = None
    if found.data is not None:
        args, kwargs = found.data
    else:
        specs = input_specs(found.input_size)
        args, kwargs = _meta_inputs(specs, model)
    shape = _first_shape(args, kwargs)
    batch = known_batch(args, kwargs, model, specs)
    per = "forward" if batch is None else "image" if len(shape) == 4 and takes_images(model) else "sample"
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
    set_eval(traced)
    result = trace(traced, args, original=model, kwargs=kwargs)
    rows = build_rows(model, traced, result, batch or 1)
    add_container_macs(rows)
    macs = round(result.macs / (batch or 1))
    if lazy:
        n_params, trainable = (sum(r.params for r in rows),
                               trainable + sum(r.params for r in rows) - n_params)
        notes.append(f"{len(lazy)} lazy parameters: sized by the forward on a copy (the model's own "
                     "stay uninitialised)")
    described = _describe_inputs(args, kwargs, model)
    if batch is None:
        notes.append(f"MACs in all: no batch dimension known in {', '.join(described)}")
    if result.cpu_paths:
        where = ", ".join(p or type(model).__name__ for p in result.cpu_paths)
        source = "input_data" if found.data is not None else "a random input"
        ran = sum(1 for r in rows if r.device == "cpu")
        if all(r.device == "cpu" for r in rows if r.calls):
            how = f"ran for real on {source}, all {ran} modules called, one module's weights at a time"
        else:
            how = (f"ran for real on {source} up to the last value read: {ran} of {len(rows)} modules; "
                   "the rest on meta, without weights")
        notes.append(f"needed real values: {where} ({how})")
        for row in rows:
            row.needs_values = row.path in result.cpu_paths and row.same_as is None
    error = None
    if result.failure is not None:
        failing = result.failure.paths or [""]
        inputs = [i for _, i in result.failure.chain] or [shape]
        rows = mark_failure(rows, list(zip(failing, inputs)))
        error, fields, cause = _shape_error(model, result, failing, shape)
    else:
        rows = add_forward_rows(rows)
    blocks = build_blocks(model, rows, n_params, macs, shape, result.output)
    report = Report(found.name, shape, result.output, n_params, trainable, macs, blocks, rows, notes,
                    error=error, default_depth=_default_depth(model),
                    inputs=described, per=per, forward=True,
                    passes=result.passes)
    if error is not None:
        raise ShapeError(error, report=report, **fields) from cause
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


def _shape_error(model: nn.Module, result: Trace, failing: list[str],
                 shape: tuple[int, ...]) -> tuple[str, dict[str, Any], BaseException]:
    """The failure's message, the :class:`ShapeError` fields (block, input shape, path)
    and the error torch raised."""
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
    return "\n".join(lines), {"block": block_label, "input_shape": block_input, "where": where}, error
