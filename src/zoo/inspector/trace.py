"""The inspection pass: one forward on the meta device, recording every module call.

The model given is never run and never changed. A model zoo built itself (from a
preset or a block string) lives on the meta device already; any other model is
copied onto meta first, parameter by parameter, without copying a byte of data
(:func:`meta_copy`). The pass records, for each module call, the shapes going in
and out and the multiply-accumulates inside (:class:`~.counting.MacCounter`).

A module whose forward needs real values (``.item()``, data-dependent shapes, an
operator without a meta kernel) fails on meta; that module alone then runs on the
CPU, on a CPU copy of its own weights with a random input of the recorded shape,
and the pass starts again. Every other failure is the model's own (the image
shrank below 1x1, channels do not fit) and is returned as :class:`Failure`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .counting import MacCounter
from .shapes import MetaShapeMode

__all__ = ["Call", "Failure", "Trace", "trace", "meta_copy", "shapes_of"]


@dataclass
class Call:
    """One call of a module: shapes in and out, MACs inside (whole batch)."""

    inputs: Any  # shapes_of(args): a shape, or a list of them
    outputs: Any = None
    macs: int = 0
    device: str = "meta"  # "cpu" when it ran on the CPU copy


@dataclass
class Failure:
    """Where the pass failed: the modules open at the time, outermost first."""

    chain: list[tuple[nn.Module, Any]]  # (module of the traced model, input shapes)
    error: BaseException


@dataclass
class Trace:
    calls: dict[int, list[Call]] = field(default_factory=dict)  # id(traced module) -> calls
    output: Any = None
    macs: int = 0  # whole batch
    failure: Failure | None = None
    cpu_paths: list[str] = field(default_factory=list)  # modules that ran on the CPU
    torch_ops: dict[str, int] = field(default_factory=dict)  # operators torch's meta kernels answered


def shapes_of(value: Any) -> Any:
    """Tensor -> its shape tuple; lists, tuples and dicts of tensors -> lists of shapes."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)):
        shapes = [shapes_of(v) for v in value]
        shapes = [s for s in shapes if s is not None]
        if not shapes:
            return None
        return shapes[0] if len(shapes) == 1 and isinstance(value, tuple) else shapes
    if isinstance(value, dict):
        return shapes_of(tuple(value.values()))
    return None


# -- copies that share no data --------------------------------------------------------


def _copy_module(module: nn.Module, convert: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
    """A deep copy of ``module`` whose tensors are ``convert(tensor)``; shared
    parameters stay shared, and the tensors of ``module`` are never read."""
    memo: dict[int, Any] = {}
    for m in module.modules():
        tensors = list(m._parameters.values()) + list(m._buffers.values())
        tensors += [v for v in vars(m).values() if isinstance(v, torch.Tensor)]
        for t in tensors:
            if t is None or id(t) in memo:
                continue
            new = convert(t.detach())
            if isinstance(t, nn.Parameter):
                new = nn.Parameter(new, requires_grad=t.requires_grad)
            memo[id(t)] = new
    clone = copy.deepcopy(module, memo)
    for m in clone.modules():  # the user's own hooks must not see inspection tensors
        for hooks in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks):
            for key, hook in list(hooks.items()):
                if not getattr(hook, "__module__", "").startswith("torch."):
                    del hooks[key]
    return clone


def meta_copy(module: nn.Module) -> nn.Module:
    """``module`` copied onto the meta device: same structure, flags and attributes,
    no memory for weights, nothing read from or written to the original.

    >>> m = nn.Linear(4, 2)
    >>> meta_copy(m).weight.device.type, m.weight.device.type
    ('meta', 'cpu')
    """
    return _copy_module(module, lambda t: torch.empty_like(t, device="meta"))


def _cpu_copy(module: nn.Module) -> nn.Module:
    """A CPU copy with real values: the module's own, or fresh ones for meta weights."""
    on_meta = any(t.device.type == "meta" for t in (*module.parameters(), *module.buffers()))
    if not on_meta:
        return _copy_module(module, lambda t: t.to("cpu", copy=True))
    clone = _copy_module(module, lambda t: torch.zeros_like(t, device="cpu"))
    for m in clone.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            try:
                reset()
            except Exception:  # zeros stay: shapes are what matters here
                pass
    return clone


def _random_like(shape_source: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    t = shape_source
    if t.dtype.is_floating_point or t.dtype.is_complex:
        return torch.randn(tuple(t.shape), dtype=t.dtype, generator=generator)
    return torch.zeros(tuple(t.shape), dtype=t.dtype)


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(_map_tensors(v, fn) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    return value


def needs_values(error: BaseException) -> bool:
    """True when ``error`` comes from the meta device itself, not from the model."""
    if isinstance(error, NotImplementedError):
        return True
    text = str(error).lower()
    return any(word in text for word in ("meta", "data-dependent", "data dependent", ".item()", "item()"))


# -- the pass --------------------------------------------------------------------------


class _Recorder:
    def __init__(self, counter: MacCounter, result: Trace):
        self.counter = counter
        self.result = result
        self.stack: list[tuple[nn.Module, int, Call]] = []
        self.handles: list[Any] = []

    def attach(self, module: nn.Module, key: nn.Module, device: str = "meta") -> None:
        """Record calls of ``module`` under ``key`` (a module of the traced model)."""

        def pre(_module, args):
            call = Call(shapes_of(args), device=device)
            self.stack.append((key, self.counter.get_total_flops(), call))

        def post(_module, args, output):
            key_, start, call = self.stack.pop()
            call.outputs = shapes_of(output)
            call.macs = (self.counter.get_total_flops() - start) // 2
            self.result.calls.setdefault(id(key_), []).append(call)

        self.handles.append(module.register_forward_pre_hook(pre))
        self.handles.append(module.register_forward_hook(post))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def _run_on_cpu(traced: nn.Module, original: nn.Module, recorder: _Recorder) -> None:
    """Make ``traced`` (a module of the meta model) run ``original``'s CPU copy."""
    cpu = _cpu_copy(original)
    cpu.train(traced.training)
    traced_modules = dict(traced.named_modules(remove_duplicate=False))
    for name, module in cpu.named_modules(remove_duplicate=False):
        if name and name in traced_modules:
            recorder.attach(module, traced_modules[name], device="cpu")
    generator = torch.Generator().manual_seed(0)

    def forward(*args, **kwargs):
        args, kwargs = _map_tensors((args, kwargs), lambda t: _random_like(t, generator) if t.device.type == "meta" else t)
        out = cpu(*args, **kwargs)
        return _map_tensors(out, lambda t: torch.empty_like(t, device="meta"))

    traced.forward = forward


def trace(
    traced: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    original: nn.Module | None = None,
    names: dict[int, str] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Trace:
    """Run ``traced`` (on meta) on ``inputs`` and record every module call.

    ``original`` is the model ``traced`` was copied from (for CPU copies of modules
    that need real values; default: ``traced`` itself). The caller owns ``traced``:
    modules that need real values get their ``forward`` replaced in it.
    """
    original = traced if original is None else original
    kwargs = kwargs or {}
    inputs, kwargs = _map_tensors((tuple(inputs), kwargs), lambda t: t if t.device.type == "meta" else
                                  torch.empty_like(t, device="meta"))
    names = names if names is not None else {id(m): n for n, m in reversed(list(traced.named_modules()))}
    parents = _parents(traced)
    on_cpu: set[int] = set()
    for _attempt in range(1 + sum(1 for _ in traced.modules())):
        result = Trace()
        counter = MacCounter()
        shape_mode = MetaShapeMode()
        recorder = _Recorder(counter, result)
        for module in traced.modules():
            if id(module) in on_cpu:  # its forward runs the CPU copy, whose parts record themselves
                recorder.attach(module, module, device="cpu")
            elif not on_cpu.intersection(_lineage(parents, module)):
                recorder.attach(module, module)
        for key in on_cpu:
            module = _by_id(traced, key)
            _run_on_cpu(module, original.get_submodule(names[key]), recorder)
        try:
            with torch.no_grad(), shape_mode, counter:
                result.output = shapes_of(traced(*inputs, **kwargs))
        except Exception as error:  # the model's own failure, or one of the meta device
            chain = [(module, call.inputs) for module, _, call in recorder.stack]
            failing = chain[-1][0] if chain else traced
            if needs_values(error) and not on_cpu.intersection(_lineage(parents, failing)):
                on_cpu.add(id(failing))
                recorder.detach()
                continue
            result.failure = Failure(chain, error)
        finally:
            recorder.detach()
        result.macs = counter.get_total_flops() // 2
        result.cpu_paths = sorted(names.get(key, "") for key in on_cpu)
        result.torch_ops = dict(shape_mode.passed)
        return result
    raise AssertionError("unreachable: each attempt moves one more module to the CPU")  # pragma: no cover


def _parents(root: nn.Module) -> dict[int, nn.Module]:
    parents: dict[int, nn.Module] = {}
    for parent in root.modules():
        for child in parent.children():
            parents.setdefault(id(child), parent)
    return parents


def _lineage(parents: dict[int, nn.Module], module: nn.Module) -> list[int]:
    """ids of ``module`` and of every module above it."""
    found = [id(module)]
    while found[-1] in parents:
        found.append(id(parents[found[-1]]))
    return found


def _by_id(root: nn.Module, key: int) -> nn.Module:
    for module in root.modules():
        if id(module) == key:
            return module
    raise KeyError(key)  # pragma: no cover
