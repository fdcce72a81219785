"""The inspection pass: one forward on the meta device, recording every module call.

The model given is never run and never changed. A model zoo built itself (from a
preset or a block string) lives on the meta device already; any other model is
copied onto meta first, parameter by parameter, without copying a byte of data
(:func:`meta_copy`). The pass records, for each module call, the shapes going in
and out and the multiply-accumulates inside (:class:`~.counting.MacCounter`).

A module whose forward needs real values (it branches on them, calls ``.item()``,
makes a data-dependent shape, uses an operator without a meta kernel) fails on meta.
The pass then starts again on real values, from the input (``input_data``, or random
numbers of the input's shape) to the end of that module's call, and on meta after it
(:class:`_RealValues`): the module sees the activations that really reach it, so it
takes the branch the model takes, and no module after it gets weights. A model that
reads again after that gets a third pass, on real values to the end: never more than
three. A first read after half the model's weights (a detector reading its proposals)
makes the second pass real to the end at once, as a second read there would anyway.
Every other failure is the model's own (the image shrank below 1x1, channels do not
fit) and is returned as :class:`Failure`.

Each call is recorded under the name it was reached through (:class:`_Recorder`), so
a module registered under several names, or called past its container, is booked
where it ran. A TorchScript module is one leaf running a private copy
(:class:`Scripted`); a lazy parameter is materialised by its module on the copy.
The common layers (Linear, convolutions, max pooling, ReLU, recurrent layers) given
meta inputs are answered at once, their outputs by the meta device's shape rules and
their MACs by torch's formulas (:class:`_Whole`), instead of each of their operators
passing through the counting modes: most of a small model's inspection time.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils import flop_counter
from torch.utils.hooks import RemovableHandle

from ..layers.meta_shapes import RULES, MetaShapeMode, rule_shape
from .counting import MacCounter, past_modes

__all__ = ["Call", "Failure", "Trace", "trace", "meta_copy", "set_eval", "shapes_of", "Scripted"]


@dataclass
class Call:
    """One call of a module: shapes in and out, MACs inside (whole batch)."""

    inputs: Any  # shapes_of(args): a shape, or a list of them
    outputs: Any = None
    macs: int = 0
    device: str = "meta"  # "cpu" when it ran on real values


@dataclass
class Failure:
    """Where the pass failed: the modules open at the time, outermost first."""

    chain: list[tuple[nn.Module, Any]]  # (module of the traced model, input shapes)
    error: BaseException
    paths: list[str] = field(default_factory=list)  # the name each open call was reached through


@dataclass
class Trace:
    calls: dict[str, list[Call]] = field(default_factory=dict)  # path reached through -> its calls
    # path -> MACs of calls below it that did not pass through its own forward (a parent
    # calling a container's children one by one): the path's row adds them up
    through: dict[str, int] = field(default_factory=dict)
    output: Any = None
    macs: int = 0  # whole batch
    failure: Failure | None = None
    cpu_paths: list[str] = field(default_factory=list)  # modules that needed real values
    real: set[int] = field(default_factory=set)  # ids of the modules that ran on real values
    passes: int = 0  # forwards run (the first on meta; more where values are read)


def shapes_of(value: Any) -> Any:
    """Tensor -> its shape tuple; lists, tuples and dicts of tensors -> lists of shapes."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and isinstance(value, tuple) and isinstance(value[0], torch.Tensor):
            return tuple(value[0].shape)  # one input: the common call, in one step
        shapes = [shapes_of(v) for v in value]
        shapes = [s for s in shapes if s is not None]
        if not shapes:
            return None
        return shapes[0] if len(shapes) == 1 and isinstance(value, tuple) else shapes
    if isinstance(value, dict):
        return shapes_of(tuple(value.values()))
    return None


# -- copies that share no data --------------------------------------------------------


_TABLES = {dict, OrderedDict, list, set}


def _copy_module(module: nn.Module, convert: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
    """A copy of ``module`` whose tensors are ``convert(tensor)``; shared modules and
    parameters stay shared, and the tensors of ``module`` are never read.

    Each module is copied as an object of its own class with its own attribute dict
    (so that what a forward sets on ``self`` stays on the copy) and its own tables of
    parameters, buffers, children and hooks; other attribute values are shared (a
    deep copy of every config object costs more than the whole inspection)."""
    memo: dict[int, Any] = {}

    def tensor(t: torch.Tensor) -> torch.Tensor:
        new = memo.get(id(t))
        if new is None:
            if _uninitialised(t):  # a lazy module's: its own forward materialises it (on meta)
                new = type(t)(requires_grad=t.requires_grad, device="meta", dtype=t.dtype)
                memo[id(t)] = new
                return new
            new = convert(t)
            if type(t) is nn.Parameter or isinstance(t, nn.Parameter):  # (torch's isinstance of it is Python)
                new = nn.Parameter(new, requires_grad=t.requires_grad)
            memo[id(t)] = new
        return new

    def copy_one(m: nn.Module) -> nn.Module:
        if id(m) in memo:
            return memo[id(m)]
        if isinstance(m, torch.jit.ScriptModule):  # its C++ object must not be shared
            memo[id(m)] = Scripted(m)
            return memo[id(m)]
        clone = object.__new__(type(m))
        memo[id(m)] = clone
        own = m.__dict__
        state = own.copy()
        handles = []
        for key, value in own.items():
            kind = type(value)
            if kind in _TABLES:
                if not value:
                    state[key] = kind()
                elif key == "_parameters" or key == "_buffers":
                    state[key] = kind((k, None if t is None else tensor(t)) for k, t in value.items())
                elif key == "_modules":
                    state[key] = kind((k, None if c is None else copy_one(c)) for k, c in value.items())
                elif key.endswith("hooks"):
                    # the user's own hooks must not see inspection tensors; torch's stay
                    state[key] = kind((k, h) for k, h in value.items()
                                      if getattr(h, "__module__", "").startswith("torch."))
                else:  # torch's other tables, and a cache a forward appends to
                    state[key] = value.copy()
            elif isinstance(value, torch.Tensor):
                state[key] = tensor(value)
            elif isinstance(value, RemovableHandle):
                handles.append(key)
        if handles:  # a lazy module's own: must remove from the copy's tables
            tables = {id(value): state[key] for key, value in own.items() if type(value) in _TABLES}
            for key in handles:
                state[key] = _rebound(state[key], tables)
        clone.__dict__.update(state)
        return clone

    try:
        return copy_one(module)
    except Exception:  # an unusual module (slots, a custom __getattr__): the deep copy decides
        return _deep_copy_module(module, convert)


def _rebound(handle: RemovableHandle, tables: dict[int, Any]) -> RemovableHandle:
    """``handle`` for the copy: removing it removes the hook from the copy's tables,
    never from the model's (a lazy module removes its hook once it has materialised)."""
    new = object.__new__(RemovableHandle)
    new.id = handle.id

    def ref(r):
        table = r() if r is not None else None
        return weakref.ref(tables.get(id(table), table)) if table is not None else r

    new.hooks_dict_ref = ref(handle.hooks_dict_ref)
    new.extra_dict_ref = tuple(ref(r) for r in getattr(handle, "extra_dict_ref", ()))
    return new


def _uninitialised(t: Any) -> bool:
    return isinstance(t, nn.parameter.UninitializedTensorMixin)


class Scripted(nn.Module):
    """A TorchScript module in the inspected copy: one leaf (hooks cannot reach
    inside TorchScript), running a private copy of it (the model's own shares its
    C++ object with any plain copy: its training flags would change with the copy's).
    It runs on real values (random ones where its input is meta, as TorchScript has
    no meta device for its weights), and its MACs are counted from that forward."""

    def __init__(self, scripted: nn.Module):
        super().__init__()
        object.__setattr__(self, "inner", copy.deepcopy(scripted))  # not a child: no rows inside it

    def train(self, mode: bool = True) -> Scripted:
        super().train(mode)
        self.inner.train(mode)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        real = _any_real((args, kwargs))
        if not real:
            with past_modes():  # random inputs: nothing to count
                args, kwargs = _real_inputs((args, kwargs), torch.Generator().manual_seed(0))
        out = self.inner(*args, **kwargs)
        if real:
            return out
        with past_modes():  # the output's shapes, counted already
            return _map_tensors(out, _to_meta)


def _deep_copy_module(module: nn.Module, convert: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
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
    for m in clone.modules():
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


def set_eval(model: nn.Module) -> None:
    """``model.eval()``, for the traced model: each module whose class keeps torch's
    ``train`` and ``__setattr__`` gets its flag set directly (torch's ``__setattr__``
    per module costs more than a small model's copy); a class with its own ``train``
    runs it for its subtree, as ``eval()`` would.

    >>> m = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    >>> set_eval(m); [x.training for x in m.modules()]
    [False, False, False]
    """
    if not _plain_train(type(model)):
        model.train(False)
        return
    model.__dict__["training"] = False
    for child in model.children():
        set_eval(child)


@functools.lru_cache(maxsize=1024)
def _plain_train(cls: type) -> bool:
    """Whether ``cls(...).train(False)`` only sets the flag, and its children's."""
    return (cls.train is nn.Module.train and cls.__setattr__ is nn.Module.__setattr__
            and not hasattr(cls, "training"))


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


def _any_real(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return not value.is_meta
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and isinstance(value[0], torch.Tensor):  # one input: the common call
            return not value[0].is_meta
        return any(_any_real(v) for v in value)
    if isinstance(value, dict):
        return any(_any_real(v) for v in value.values())
    return False


def needs_values(error: BaseException) -> bool:
    """True when ``error`` comes from the meta device itself, not from the model."""
    if isinstance(error, NotImplementedError):
        return True
    text = str(error).lower()
    return any(word in text for word in ("meta", "data-dependent", "data dependent", ".item()", "item()"))


# -- the pass --------------------------------------------------------------------------


def _depth(path: str) -> int:
    return path.count(".") + 1 if path else 0


def _common(a: str, b: str) -> str:
    """The deepest path both ``a`` and ``b`` lie under ("" for the model)."""
    parts = []
    for x, y in zip(a.split(".") if a else [], b.split(".") if b else []):
        if x != y:
            break
        parts.append(x)
    return ".".join(parts)


_NONE = object()  # a module without a forward of its own (its class's)
_UNNAMED = ("",)  # the name of a module the walk did not see (added by a forward)


class _Recorder:
    """Records each module call under the name it was reached through: a module
    registered under several names (``self.linear`` and ``self.model[0]``) gets each
    call at the name below the caller (the open call it happened in), the k-th call
    within one caller's call at the k-th such name; calls reached past a container's
    forward (a parent looping over ``self.seq``'s children) are added to the
    container's row too (:attr:`Trace.through`), so every level adds up."""

    def __init__(self, counter: MacCounter, result: Trace, paths: dict[int, list[str]]):
        self.counter = counter
        self.result = result
        # (path, flops at the start, call, calls of each child module within this call)
        self.stack: list[tuple[str, int, Call, dict[int, int]]] = []
        self.modules: list[nn.Module] = []  # the module of each open call
        self.attached: list[tuple[nn.Module, Any]] = []  # (module, its own forward attribute or _NONE)
        self.paths = paths  # id(module) -> every path it is registered under (module_paths)

    def resolve(self, module: nn.Module) -> str:
        """The path ``module``'s call is reached through (see the class)."""
        paths = self.paths.get(id(module), _UNNAMED)
        if len(paths) == 1 or not self.stack:  # one name (a count of its calls is never asked for)
            return paths[0]
        parent, _, _, counts = self.stack[-1]
        k = counts.get(id(module), 0)
        counts[id(module)] = k + 1
        prefix = f"{parent}." if parent else ""
        below = [p for p in paths if p.startswith(prefix) and p != parent]
        if not below:  # called from outside its own subtree: its first name
            return paths[0]
        depth = min(_depth(p) for p in below)
        nearest = [p for p in below if _depth(p) == depth]
        return nearest[k % len(nearest)]

    def _recorded(self, module: nn.Module, forward: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One call of ``module``, recorded around its own ``forward``."""
        given = (*args, *kwargs.values()) if kwargs else args  # keyword inputs are inputs too
        call = Call(shapes_of(given), device="cpu" if _any_real(given) else "meta")
        stack = self.stack
        stack.append((self.resolve(module), self.counter.get_total_flops(), call, {}))
        self.modules.append(module)
        output = forward(*args, **kwargs)  # a failure leaves the call open: Failure.chain
        path, start, call, _ = stack.pop()
        self.modules.pop()
        call.outputs = shapes_of(output)
        call.macs = (self.counter.get_total_flops() - start) // 2
        self.result.calls.setdefault(path, []).append(call)
        if stack and call.macs and path.rpartition(".")[0] != stack[-1][0]:
            # not the caller's child: the containers between the caller and this module were passed by
            top = _common(stack[-1][0], path)
            parts = path.split(".") if path else []
            for end in range(_depth(top) + 1, len(parts)):
                between = ".".join(parts[:end])
                self.result.through[between] = self.result.through.get(between, 0) + call.macs
        return output

    def attach(self, module: nn.Module, forward: Callable[..., Any] | None = None) -> None:
        """Record each call of ``module`` (of the traced model, never the caller's): its
        ``forward`` (or ``forward`` given, in its place) is wrapped, where it runs after
        the module's pre-hooks, as a hook added last would. A pair of hooks costs several
        times more: a handle to make and remove each, and torch's hook path on every call."""
        self.attached.append((module, module.__dict__.get("forward", _NONE)))
        forward = module.forward if forward is None else forward
        module.__dict__["forward"] = functools.partial(self._recorded, module, forward)

    def open_paths(self) -> list[str]:
        return [path for path, *_ in self.stack]

    def detach(self) -> None:
        for module, own in self.attached:
            if own is _NONE:
                module.__dict__.pop("forward", None)
            else:
                module.__dict__["forward"] = own
        self.attached.clear()


class _RealValues:
    """Real values for the modules that need them, and only as far as they need them.

    The pass runs on real tensors from the input (``input_data``, or a random input of
    the given shapes) until the model has read the values it needs (``reads``: each
    ``if tensor``, ``.item()``, ``nonzero`` is one read), and on meta from the moment
    of the last such read: the branch is taken on the activations that really reach
    it, and everything after it is shapes again. A module that runs on real values
    gets CPU tensors for its own weights just before its call (a copy of the original
    model's, or freshly initialised where the model has none, as on meta) and gives
    them back just after: one module's weights exist at a time, and modules that start
    after the last read never get any.
    """

    def __init__(self, traced: nn.Module, original: nn.Module, reads: int, names: dict[int, str],
                 shape_mode: MetaShapeMode, recorder: _Recorder):
        self.original, self.reads, self.names, self.shape_mode = original, reads, names, shape_mode
        self.recorder = recorder
        self.readers: list[str] = []  # the path of the innermost open call at each read
        self.live = True  # still computing real values
        self.seen = 0  # value reads so far
        self.saved: list[list[tuple[nn.Module, str, str, torch.Tensor]]] = []
        self.ran: set[int] = set()  # modules that ran on real values
        self.handles: list[Any] = []
        for module in traced.modules():
            self.handles.append(module.register_forward_pre_hook(self._pre, prepend=True))
            self.handles.append(module.register_forward_hook(self._post))
        shape_mode.on_read = self._read
        shape_mode.to_real = True

    def _read(self) -> None:
        self.seen += 1
        open_paths = self.recorder.open_paths()
        self.readers.append(open_paths[-1] if open_paths else "")
        if self.seen >= self.reads:  # the last read the model needs: shapes from here on
            self.live = False
            self.shape_mode.to_meta, self.shape_mode.to_real = True, False

    def _pre(self, module, args):
        if not self.live:
            self.saved.append([])
            return _map_tensors(args, _to_meta)  # a real tensor kept from before: shapes from here
        self.ran.add(id(module))
        self.saved.append(self._materialize(module))
        return None

    def _post(self, module, args, output):
        for owner, kind, key, meta in self.saved.pop():
            getattr(owner, kind)[key] = meta
        return None

    def _materialize(self, module: nn.Module) -> list[tuple[nn.Module, str, str, torch.Tensor]]:
        saved, fresh = [], []
        source = self._source(module)
        for kind in ("_parameters", "_buffers"):
            store = getattr(module, kind)
            for key, t in store.items():
                if t is None or t.device.type != "meta" or _uninitialised(t):
                    continue  # a lazy parameter: its module materialises it on meta itself
                own = None if source is None else getattr(source, kind).get(key)
                if own is not None and own.device.type != "meta":
                    real = own.detach().to("cpu", copy=True)
                else:
                    real = torch.zeros(tuple(t.shape), dtype=t.dtype)
                    fresh.append((kind, key))
                store[key] = nn.Parameter(real, requires_grad=False) if kind == "_parameters" else real
                saved.append((module, kind, key, t))
        if fresh:
            _initialise(module, fresh)
        return saved

    def _source(self, module: nn.Module) -> nn.Module | None:
        """The module of the original model at the same place (for its weights)."""
        path = self.names.get(id(module))
        if path is None:
            return None
        try:
            return self.original.get_submodule(path) if path else self.original
        except AttributeError:
            return None

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        while self.saved:  # a failure left modules open
            for owner, kind, key, meta in self.saved.pop():
                getattr(owner, kind)[key] = meta


def _initialise(module: nn.Module, fresh: list[tuple[str, str]]) -> None:
    """Values for weights the model does not have (built on meta): the module's own
    ``reset_parameters``, else a plain fan-in initialisation (norm scales and
    variances 1, biases and other buffers 0)."""
    reset = getattr(module, "reset_parameters", None)
    if callable(reset) and type(module).__module__.startswith("torch.nn"):
        try:
            reset()
            return
        except Exception:  # a reset that wants more than its own weights: the plain rule below
            pass
    with torch.no_grad():
        for kind, key in fresh:
            t = getattr(module, kind)[key]
            if not t.dtype.is_floating_point:
                continue
            if t.dim() >= 2:
                t.normal_(0, 1 / max(1, t[0].numel()) ** 0.5)
            elif key.endswith(("weight", "scale", "gamma", "var")):
                t.fill_(1)


def _to_meta(t: torch.Tensor) -> torch.Tensor:
    return t if t.device.type == "meta" else torch.empty_like(t, device="meta")


def _real_inputs(value: Any, generator: torch.Generator) -> Any:
    """A real input of each meta input's shape and dtype: normal noise for floats,
    zeros for integers and masks (token id 0 and index 0 are valid; no position masked)."""
    # real values run on the CPU, where the module weights they get are (input_data on a GPU too)
    return _map_tensors(value, lambda t: _random_like(t, generator) if t.device.type == "meta" else t.to("cpu"))


class _Whole:
    """A layer answered at once where its inputs are meta: its outputs (made past the
    counting modes) and its MACs by hand, instead of its operators one by one through
    the modes. Anything else runs the layer's own forward (``own``), and its error."""

    def __init__(self, module: nn.Module, counter: MacCounter):
        self.module, self.counter = module, counter
        self.own = type(module).forward.__get__(module)


class _WholeRecurrent(_Whole):
    """An LSTM, GRU or RNN given meta tensors: its outputs, and its MACs (each step's
    products with every weight matrix), instead of torch's composite kernel running
    each step's operators through the counting modes (50 ms for a small LSTM).
    Anything else (real values, a packed sequence) runs the layer's own forward."""

    def __call__(self, input: Any, hx: Any = None) -> Any:
        m = self.module
        states = [] if hx is None else list(hx) if isinstance(hx, (list, tuple)) else [hx]
        tensors = [input, *states]
        if not all(isinstance(t, torch.Tensor) and t.is_meta for t in tensors) or input.dim() not in (2, 3):
            return self.own(input, hx)
        batched = input.dim() == 3
        steps = input.shape[0] * (input.shape[1] if batched else 1)
        directions = 2 if m.bidirectional else 1
        out_size = m.proj_size if getattr(m, "proj_size", 0) else m.hidden_size
        batch = (input.shape[0 if m.batch_first else 1],) if batched else ()
        layers = m.num_layers * directions
        weights = sum(w.numel() for name, w in m.named_parameters() if name.startswith("weight_"))
        self.counter.add_macs(steps * weights)
        empty = self.counter.empty
        output = empty((*input.shape[:-1], directions * out_size), input.dtype)
        h = empty((layers, *batch, out_size), input.dtype)
        if isinstance(m, nn.LSTM):
            return output, (h, empty((layers, *batch, m.hidden_size), input.dtype))
        return output, h


class _WholeLinear(_Whole):
    """A Linear given a meta input: its output and its MACs (the input's rows times the
    weight matrix, as torch's matrix product counts them), instead of two to four
    operators through the counting modes (a transpose and addmm, and a view before and
    after for a sequence: most of a small network's counting). Anything else (real
    values, a size or dtype that does not fit) runs the layer's own forward."""

    def __call__(self, input: Any) -> Any:
        weight, bias = self.module.weight, self.module.bias
        if not (isinstance(input, torch.Tensor) and input.is_meta and input.dim() >= 2 and input.is_contiguous()
                and weight.is_meta and weight.dim() == 2 and input.dtype == weight.dtype
                and input.shape[-1] == weight.shape[1]
                and (bias is None or (bias.is_meta and bias.dtype == weight.dtype
                                      and tuple(bias.shape) == (weight.shape[0],)))):
            return self.own(input)
        rows = math.prod(input.shape[:-1])
        self.counter.add_macs(rows * weight.shape[1] * weight.shape[0])
        return self.counter.empty((*input.shape[:-1], weight.shape[0]), input.dtype)


class _WholeConv(_Whole):
    """A 1-, 2- or 3-d convolution given a batch of meta inputs: its output (the meta
    device's shape rule, :data:`zoo.layers.meta_shapes.RULES`) and its MACs (torch's
    formula), without the operator through the counting modes. Anything else (real
    values, another padding mode, a size the rule does not take) runs its own forward."""

    def __call__(self, input: Any) -> Any:
        m = self.module
        weight, bias = m.weight, m.bias
        if not (isinstance(input, torch.Tensor) and input.is_meta and weight.is_meta
                and input.dim() == weight.dim() and m.padding_mode == "zeros" and input.dtype == weight.dtype
                and (bias is None or (bias.is_meta and bias.dtype == weight.dtype))):
            return self.own(input)
        # the arguments F.conv1d/2d/3d give torch's convolution operator
        args = (input, weight, bias, m.stride, m.padding, m.dilation, False, (0,) * (weight.dim() - 2), m.groups)
        shape = rule_shape(_CONVOLUTION_SHAPE, *args)
        if shape is None:
            return self.own(input)
        # torch's formula of the convolution operator (FLOPs: twice the MACs), on the shapes
        self.counter.add_macs(flop_counter.conv_flop_count(input.shape, weight.shape, shape) // 2)
        return self.counter.empty(shape, input.dtype)


class _WholeMaxPool(_Whole):
    """A 2-d max pooling of meta inputs: its output by the meta device's shape rule
    (no MACs), without the operator through the counting modes. Anything else (real
    values, its indices asked for, a size the rule does not take) runs its own forward."""

    def __call__(self, input: Any) -> Any:
        m = self.module
        if not (isinstance(input, torch.Tensor) and input.is_meta) or m.return_indices:
            return self.own(input)
        found = rule_shape(_MAX_POOL_SHAPE, input, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
        if found is None:
            return self.own(input)
        (shape, dtype), _ = found  # the values (the indices are not asked for)
        return self.counter.empty(shape, dtype)


class _WholeReLU(_Whole):
    """A ReLU of a meta input: an empty output of the input's shape (the input itself
    in place), as the meta device's rule answers it, without the operator through the
    counting modes. Anything else runs its own forward."""

    def __call__(self, input: Any) -> Any:
        if not (isinstance(input, torch.Tensor) and input.is_meta):
            return self.own(input)
        return input if self.module.inplace else self.counter.empty(tuple(input.shape), input.dtype)


_MAX_POOL_SHAPE = RULES[torch.ops.aten.max_pool2d_with_indices.default]
_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONVOLUTION_SHAPE = RULES[torch.ops.aten.convolution.default]


def _whole(module: nn.Module, counter: MacCounter) -> Callable[..., Any] | None:
    """A layer's forward at once on meta (the subclasses of :class:`_Whole`), where the
    counter can be given MACs by hand; else None (the layer's own)."""
    kind = _whole_kind(type(module)) if counter.fast else None
    return None if kind is None else kind(module, counter)


@functools.lru_cache(maxsize=1024)
def _whole_kind(kind: type) -> type[_Whole] | None:
    """Which :class:`_Whole` answers a layer of class ``kind`` (one that keeps torch's forward)."""
    if issubclass(kind, nn.RNNBase):
        return _WholeRecurrent
    if issubclass(kind, nn.Linear) and kind.forward is nn.Linear.forward:
        return _WholeLinear
    if any(kind.forward is conv.forward and kind._conv_forward is conv._conv_forward for conv in _CONVOLUTIONS):
        return _WholeConv
    if kind.forward is nn.MaxPool2d.forward:
        return _WholeMaxPool
    if kind.forward is nn.ReLU.forward:
        return _WholeReLU
    return None


def _walk(model: nn.Module) -> tuple[dict[int, list[str]], list[nn.Module]]:
    """One walk of the tree: every path each module is registered under, and the
    modules in the order of ``model.modules()`` (each at its first appearance)."""
    paths: dict[int, list[str]] = {}
    modules: list[nn.Module] = []
    for path, module in model.named_modules(remove_duplicate=False):
        found = paths.get(id(module))
        if found is None:
            paths[id(module)] = [path]
            modules.append(module)
        else:
            found.append(path)
    return paths, modules


def _share_reached(result: Trace, open_paths: list[str], modules: list[nn.Module],
                   module_paths: dict[int, list[str]]) -> float:
    """The share of the model's parameters (by count) in the modules a failed pass
    reached: its calls that ended and those open at the failure."""
    reached = set(result.calls) | set(open_paths)
    done = total = 0
    for module in modules:
        count = sum(p.numel() for p in module.parameters(recurse=False) if not _uninitialised(p))
        total += count
        if any(path in reached for path in module_paths.get(id(module), ())):
            done += count
    return done / total if total else 0.0


ALL = 1 << 62  # value reads: every one sees real values (the pass never goes back to meta)


def trace(
    traced: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    original: nn.Module | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Trace:
    """Run ``traced`` (on meta) on ``inputs`` and record every module call.

    ``inputs``/``kwargs`` are meta tensors, or real ones (``input_data``). The first
    pass runs on meta. A module that needs real values (its forward branches on them,
    or calls ``.item()``) fails there; the second pass then runs on real values up to
    the end of the call that read (:class:`_RealValues`) and on meta after it. Where
    that pass meets a second read on meta, the third runs on real values to the end:
    at most three passes, however many reads a model makes (a detector's hundred
    reads cost one real forward, not one pass each). Where the first read comes after
    half the weights, the second pass is real to the end (:func:`_share_reached`).
    ``original`` is the model ``traced`` was copied from (its weights are used for
    real values where it has them; default: ``traced`` itself).
    """
    original = traced if original is None else original
    given = (tuple(inputs), dict(kwargs or {}))
    tensors = (*given[0], *given[1].values())
    # meta tensors only (the common input) are their own meta inputs: nothing to map
    meta_inputs = (given if all(isinstance(t, torch.Tensor) and t.is_meta for t in tensors)
                   else _map_tensors(given, _to_meta))
    real_inputs = None
    module_paths, modules = _walk(traced)
    first_paths = module_paths  # each module's name for its weights (real values), from before any forward
    needs: list[str] = []  # the paths of the modules that read values, in the order found
    reads = 0  # how many value reads must see real values
    # what a forward sets on its module (anchors moved to the device it ran on, a cache)
    # must not reach the next attempt: each starts from the attributes of the first
    pristine = [(m, dict(m.__dict__)) for m in modules]
    for attempt in range(3):
        if attempt:
            for module, state in pristine:
                module.__dict__.clear()
                module.__dict__.update(state)
            module_paths, modules = _walk(traced)  # a forward may have added modules
        result = Trace(passes=attempt + 1)
        counter = MacCounter()
        shape_mode = MetaShapeMode()
        recorder = _Recorder(counter, result, module_paths)
        for module in modules:
            recorder.attach(module, _whole(module, counter))
        real = None
        args, kw = meta_inputs
        if reads:
            if real_inputs is None:
                real_inputs = _real_inputs(given, torch.Generator().manual_seed(0))
            args, kw = real_inputs
            names = {key: found[0] for key, found in first_paths.items()}
            real = _RealValues(traced, original, reads, names, shape_mode, recorder)
        try:
            below = contextlib.nullcontext() if counter.with_shapes(shape_mode) else shape_mode
            with torch.no_grad(), below, counter:
                result.output = shapes_of(traced(*args, **kw))
        except Exception as error:  # the model's own failure, or one of the meta device
            chain = [(module, call.inputs) for module, (_, _, call, _) in zip(recorder.modules, recorder.stack)]
            paths = recorder.open_paths()
            seen = real.seen if real is not None else 0
            if needs_values(error) and (real is None or not real.live) and reads != ALL and attempt < 2:
                # a read on meta: the next pass sees real values up to the end of it; a
                # second such read (or one zoo cannot see: a copy to the CPU, .tolist())
                # makes the last pass real to the end. A first read after half the model's
                # weights (a detector's proposals, which it reads again later) makes the
                # second pass real to the end at once: the rest adds less than half a
                # forward, where a second read would cost a third pass repeating the start
                first = reads == 0 and seen == 0
                reads = 1 if first and _share_reached(result, paths, modules, module_paths) < 0.5 else ALL
                where = paths[-1] if paths else ""
                if where not in needs:
                    needs.append(where)
                continue
            result.failure = Failure(chain, error, paths)
        finally:
            recorder.detach()
            if real is not None:
                real.detach()
        result.macs = counter.get_total_flops() // 2
        found = [*needs, *(real.readers if real is not None else [])]
        result.cpu_paths = list(dict.fromkeys(found))
        result.real = set(real.ran) if real is not None else set()
        return result
    raise AssertionError("unreachable: the third pass runs on real values to the end")  # pragma: no cover
