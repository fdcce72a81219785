"""Multiply-accumulates from :class:`torch.utils.flop_counter.FlopCounterMode`.

The counter's formulas cover matrix products and convolutions (forward: FLOPs =
2 x MACs); zoo reports MACs = FLOPs / 2, the unit of the document's cost table.

:class:`MacCounter` is ``FlopCounterMode`` with one change: its dispatch handler
is not wrapped in torch's dynamo guard, whose first call imports ``torch._dynamo``
(~0.7 s, more than half of ``import torch``). Nothing runs under ``torch.compile``
while zoo inspects, so the guard has nothing to guard. Where this torch's private
layout differs, the plain ``FlopCounterMode`` is used: slower start, same counts.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any

import torch
from torch.utils import flop_counter

from ..layers.meta_shapes import RULES, rule_output

__all__ = ["MacCounter", "past_modes"]

_Base = getattr(flop_counter, "_FlopCounterMode", None)
_raw = getattr(getattr(_Base, "__torch_dispatch__", None), "__wrapped__", None)

if _Base is not None and _raw is not None:

    _COMPOSITE = torch._C.DispatchKey.CompositeImplicitAutograd
    _plain: dict = {}  # operator -> True when torch's handler would only run and count it

    def _is_plain(func) -> bool:
        """An operator with nothing to decompose (the handler's ``func.decompose``
        would return NotImplemented, after entering and leaving the mode once more:
        a third of the counting time on a small network)."""
        found = _plain.get(func)
        if found is None:
            found = (
                isinstance(func, torch._ops.OpOverload)
                and _COMPOSITE not in func.py_kernels
                and not torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), _COMPOSITE)
                and func not in _SHAPE_QUERIES
            )
            _plain[func] = found
        return found

    _SHAPE_QUERIES = {getattr(torch.ops.aten, name).default for name in (
        "sym_is_contiguous", "is_contiguous", "is_strides_like_format", "is_non_overlapping_and_dense",
        "size", "sym_size", "stride", "sym_stride", "storage_offset", "sym_storage_offset", "numel",
        "sym_numel", "dim") if hasattr(torch.ops.aten, name)}
    # the operators torch's handler leaves to the modes below it (NotImplemented)
    _LEFT = _SHAPE_QUERIES | {op for op in (getattr(torch.ops.aten.is_contiguous, "memory_format", None),
                                            getattr(torch.ops.prim.layout, "default", None)) if op is not None}

    class _UnguardedMode(_Base):  # type: ignore[misc, valid-type]
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            counter = self.counter
            shapes = counter.shapes
            if shapes is not None and shapes.on_read is None and not shapes.to_meta and not shapes.to_real:
                plan = _plans.get(id(func))
                if plan is None:
                    plan = _plans[id(func)] = _plan(func, counter.flop_registry)
                plain, rule, raw, counted, own_dtype = plan
                if plain:  # the common case, in one step (see _idle_shapes and _count_flops)
                    kwargs = kwargs or {}
                    # an operator without a rule (a view) runs torch's kernel, without a frame between
                    out = func(*args, **kwargs) if rule is None else _idle_shapes(func, rule, own_dtype, args, kwargs)
                    if raw is not None:
                        counter._flops += raw(*_shapes(args), out_shape=_shapes(out),
                                              **{k: _shapes(v) for k, v in kwargs.items()} if kwargs else {})
                    elif counted:
                        counter._count_flops(func._overloadpacket, out, args, kwargs)
                    return out
            if _is_plain(func):  # what torch's handler does for it, without the detour
                kwargs = kwargs or {}
                out = func(*args, **kwargs) if shapes is None else shapes.__torch_dispatch__(func, types, args, kwargs)
                return self.counter._count_flops(func._overloadpacket, out, args, kwargs)
            if shapes is None or func in _LEFT or isinstance(func, torch._ops.HigherOrderOperator):
                return _raw(self, func, types, args, kwargs)
            # torch's handler, with the shape mode's answer where it would call the mode below
            kwargs = kwargs or {}
            if func not in self.counter.flop_registry and func is not torch.ops.prim.device.default:
                with self:
                    done = func.decompose(*args, **kwargs)
                    if done is not NotImplemented:
                        return done
            out = shapes.__torch_dispatch__(func, types, args, kwargs)
            return self.counter._count_flops(func._overloadpacket, out, args, kwargs)
    _plans: dict[int, tuple] = {}  # id(operator) -> _plan (ids: an operator's own hash is Python code)

    def _plan(func, registry) -> tuple:
        """What an operator needs on the fast path: whether it is plain
        (:func:`_is_plain`), its shape rule, its MAC formula on shapes."""
        plain = _is_plain(func)
        if not plain:
            return False, None, None, False, False
        packet = func._overloadpacket
        formula = registry.get(packet)
        raw = None if formula is None else _on_shapes(packet, formula)
        # the output's dtype is the first tensor argument's (MetaShapeMode's _dtype) but
        # for cat and the arithmetic that promotes types
        own_dtype = func is not torch.ops.aten.cat.default and func not in _PROMOTING
        return True, RULES.get(func), raw, formula is not None, own_dtype

    _PROMOTING = {getattr(torch.ops.aten, name).Tensor for name in ("add", "sub", "mul", "div")}
    _PROMOTING |= {getattr(torch.ops.aten, name).Scalar for name in ("add", "sub", "mul", "div")}

    def _idle_shapes(func, rule, own_dtype, args, kwargs):
        """What ``MetaShapeMode`` answers while it converts nothing and hears no reads
        (the first pass of every inspection): the rule's output where it has one and
        the arguments are all meta, else torch's own kernel."""
        if rule is not None and _all_meta(args, kwargs):
            out = rule_output(func, rule, args, kwargs, own_dtype)
            if out is not None:
                return out
        return func(*args, **kwargs)

    def _all_meta(args, kwargs) -> bool:
        """Some tensor among the arguments (a list's too, for cat), and all on meta."""
        found = False
        for values in (args, kwargs.values(), args[0] if args and isinstance(args[0], (list, tuple)) else ()):
            for a in values:
                if isinstance(a, torch.Tensor):
                    if not a.is_meta:
                        return False
                    found = True
        return found
else:  # pragma: no cover - another torch layout
    _UnguardedMode = None


# the dispatch key of the Python modes (the counter, the shape mode)
_PAST_MODES = (torch._C.DispatchKeySet(torch._C.DispatchKey.Python)
               if hasattr(torch._C, "_ExcludeDispatchKeyGuard") and hasattr(torch._C, "DispatchKeySet") else None)


def past_modes() -> Any:
    """Within it, operators run past the Python modes (the counter, the shape mode):
    for tensors made to feed or hold what was counted already (a layer's empty output,
    random inputs), each of which would cost three times its making through the modes."""
    if _PAST_MODES is None:  # pragma: no cover - another torch layout
        return contextlib.nullcontext()
    return torch._C._ExcludeDispatchKeyGuard(_PAST_MODES)


def _cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """The CPU's fused attention kernel: the same two products as every other path
    (on meta, attention is decomposed into them), which torch's counter has no
    formula for (it would count 0: a real-values pass missed T5's attention)."""
    return flop_counter.sdpa_flop_count(query, key, value)


def _cpu_rnn_layer(input, weight0, weight1, *args, out_shape=None, **kwargs) -> int:
    """The CPU's fused LSTM/GRU layer (oneDNN): each step's input and hidden products,
    as meta counts them in the decomposed layer."""
    steps = 1
    for size in input[:-1]:
        steps *= size
    return 2 * steps * (weight0[0] * weight0[1] + weight1[0] * weight1[1])


# CPU kernels torch's counter has no formula for: a real-values pass would count 0
_CPU_FORMULAS = {
    "_scaled_dot_product_flash_attention_for_cpu": _cpu_attention,
    "_scaled_dot_product_fused_attention_overrideable": _cpu_attention,
    "mkldnn_rnn_layer": _cpu_rnn_layer,
}
_ATTENTION = {getattr(torch.ops.aten, name): formula for name, formula in _CPU_FORMULAS.items()
              if hasattr(torch.ops.aten, name)}


def _shapes(value):
    """What torch's formulas take: each tensor as its shape (in lists and tuples too)."""
    if isinstance(value, torch.Tensor):
        return value.shape
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        # the arguments' numbers as they are, without a call each (a convolution has nine arguments)
        return type(value)([v.shape if isinstance(v, torch.Tensor) else _shapes(v) if isinstance(v, (list, tuple))
                            else v for v in value])
    return value


def _mm_of(formula):
    """addmm's and baddbmm's formula on shapes: they call mm's and bmm's wrapped
    formulas, each a pytree walk of its arguments (most of a Linear's counting)."""
    raw = getattr(formula, "__wrapped__", None)
    return None if raw is None else lambda _self, a, b, *args, **kwargs: raw(a, b)


_RAW_FORMULAS = {  # packet -> formula on shapes; None: torch's formula as registered
    packet: _mm_of(getattr(flop_counter, inner, None))
    for packet, inner in ((torch.ops.aten.addmm, "mm_flop"), (torch.ops.aten.baddbmm, "bmm_flop"))
}


def _on_shapes(packet, formula):
    """torch's formula ``formula`` of ``packet`` taking shapes (without its pytree
    walk of the arguments), or None where it takes the tensors themselves."""
    found = _RAW_FORMULAS.get(packet, _RAW_FORMULAS)
    if found is _RAW_FORMULAS:
        raw = getattr(formula, "__wrapped__", None)
        found = raw if raw is not None and getattr(formula, "__name__", "") == getattr(raw, "__name__", None) else None
        _RAW_FORMULAS[packet] = found
    return found


class MacCounter(flop_counter.FlopCounterMode):
    """Count the MACs of everything run inside ``with MacCounter() as c:``.

    >>> import torch
    >>> with MacCounter() as c:
    ...     _ = torch.nn.Linear(16, 32)(torch.zeros(4, 16))
    >>> c.macs
    2048
    """

    _shared: dict | None = None  # the formula table (and tracker) of the first counter

    def __init__(self) -> None:
        shared = MacCounter._shared
        if shared is None or _UnguardedMode is None:
            super().__init__(display=False, custom_mapping=_ATTENTION)
            MacCounter._shared = {"flop_registry": self.flop_registry, "mod_tracker": self.mod_tracker}
        else:  # torch's __init__ builds its table of formulas again each time: a tenth of a small inspection
            self.flop_counts = defaultdict(lambda: defaultdict(int))
            self.depth, self.display, self.mode = 2, False, None
            self.flop_registry, self.mod_tracker = shared["flop_registry"], shared["mod_tracker"]
        self._flops = 0
        self._fast = _UnguardedMode is not None and hasattr(self, "mod_tracker")
        # a MetaShapeMode whose answers this counter takes in its own handler instead of
        # calling the mode below (one Python dispatch per operator, not two): see :meth:`with_shapes`
        self.shapes = None

    def with_shapes(self, shapes) -> bool:
        """Answer each operator through ``shapes`` (a ``MetaShapeMode``, not entered)
        as if it were the mode just below this one; False where this torch's layout
        does not allow it (then enter ``shapes`` below the counter as usual)."""
        if not self._fast:  # pragma: no cover - another torch layout
            return False
        self.shapes = shapes
        return True

    @property
    def fast(self) -> bool:
        """Whether MACs can be added by hand (:meth:`add_macs`)."""
        return self._fast

    def add_macs(self, macs: int) -> None:
        """Count ``macs`` worked out without running the operators."""
        self._flops += 2 * macs

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An empty meta tensor for the output of a layer answered at once (with
        :meth:`add_macs`), made past the Python modes: an empty tensor has nothing to
        count, and a factory operator through the modes costs three times its making."""
        with past_modes():
            return torch.empty(shape, dtype=dtype, device="meta")

    @property
    def macs(self) -> int:
        return self.get_total_flops() // 2

    def get_total_flops(self) -> int:
        return self._flops if self._fast else super().get_total_flops()

    def _count_flops(self, func_packet, out, args, kwargs):
        # one running total: zoo's own hooks split it by module, so torch's module
        # tracker (a global hook on every module call, a dict per parent) is not needed
        if not self._fast:  # pragma: no cover
            return super()._count_flops(func_packet, out, args, kwargs)
        formula = self.flop_registry.get(func_packet)
        if formula is not None:
            raw = _on_shapes(func_packet, formula)
            if raw is not None:
                self._flops += raw(*_shapes(args), out_shape=_shapes(out),
                                   **{k: _shapes(v) for k, v in kwargs.items()} if kwargs else {})
            else:
                self._flops += formula(*args, **kwargs, out_val=out)
        return out

    def __enter__(self):
        if not self._fast:  # pragma: no cover
            return super().__enter__()
        self._flops = 0
        self.mode = _UnguardedMode(self)
        self.mode.__enter__()
        return self

    def __exit__(self, *args):
        if not self._fast:  # pragma: no cover
            return super().__exit__(*args)
        done = self.mode.__exit__(*args)
        self.mode = None
        return done
