"""Fast output shapes for the common operators on the meta device.

PyTorch's meta kernels are written in Python and their first call imports
``torch._dynamo`` and ``sympy`` (about a second, longer than ``import torch``
itself): a plain meta forward of a ResNet makes ``zoo inspect`` three times
slower than it needs to be. :class:`MetaShapeMode` is a dispatch mode that answers
the operators a CNN uses (convolution, batch norm, pooling, activations,
element-wise arithmetic, ``addmm``) with an empty meta tensor of the right shape,
computed here from the arguments; every other operator, and every call whose
arguments look wrong, runs torch's own meta kernel. So the shapes of a valid
network come out the same either way (``tests/test_inspector.py`` checks each
rule against the real meta kernel), and every failure is torch's own, with its
message.

It sits *below* :class:`torch.utils.flop_counter.FlopCounterMode`, which still
sees every operator with its arguments and output and counts the FLOPs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["MetaShapeMode", "RULES", "rule_output", "rule_shape"]

aten = torch.ops.aten
Shape = tuple[int, ...]
# A rule returns the output shape, a tuple of (shape, dtype) for several outputs,
# "self" for an in-place operator, or the output tensor itself; or None when
# torch's own kernel must decide (unusual arguments, errors).
Rule = Callable[..., Any]


def _ints(value: Any, n: int) -> list[int] | None:
    if isinstance(value, int):
        return [value] * n
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):  # (Sequence: a slow isinstance)
        if len(value) == n:
            return list(value)
        if len(value) == 1:
            return list(value) * n
    return None


def _broadcast(*shapes: Shape) -> Shape | None:
    if shapes and all(s == shapes[0] for s in shapes):  # one shape, or the same (most operators)
        return tuple(shapes[0])
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            d = s[i - ndim + len(s)] if i - ndim + len(s) >= 0 else 1
            if d == 1:
                continue
            if size not in (1, d):
                return None
            size = d
        out.append(size)
    return tuple(out)


def _pool_size(size: int, kernel: int, pad: int, stride: int, dilation: int, ceil: bool) -> int:
    # the formula of ATen's pooling_output_shape
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


# -- rules ------------------------------------------------------------------------------


def _same(x, *args, **kwargs):
    return tuple(x.shape)


def _elementwise(*args, **kwargs):
    shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
    return _broadcast(*shapes)


def _inplace(x, *args, **kwargs):
    shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
    if _broadcast(tuple(x.shape), *shapes) != tuple(x.shape):
        return None
    return "self"


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    spatial = weight.dim() - 2
    if transposed or x.dim() not in (spatial + 1, spatial + 2) or spatial < 1:
        return None
    stride, padding, dilation = _ints(stride, spatial), _ints(padding, spatial), _ints(dilation, spatial)
    if stride is None or padding is None or dilation is None:
        return None
    batched = x.dim() == spatial + 2
    channels = x.shape[1] if batched else x.shape[0]
    if channels != weight.shape[1] * groups or weight.shape[0] % groups:
        return None
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        return None
    sizes = []
    for size, k, s, p, d in zip(x.shape[-spatial:], weight.shape[2:], stride, padding, dilation):
        if s < 1 or p < 0 or d < 1:
            return None
        out = (size + 2 * p - d * (k - 1) - 1) // s + 1
        if out < 1:
            return None
        sizes.append(out)
    head = (x.shape[0], weight.shape[0]) if batched else (weight.shape[0],)
    return (*head, *sizes)


def _pool(x, kernel, stride, padding, dilation, ceil_mode, spatial=2):
    if x.dim() not in (spatial + 1, spatial + 2):
        return None
    kernel = _ints(kernel, spatial)
    stride = _ints(stride, spatial) if stride else kernel
    padding, dilation = _ints(padding, spatial), _ints(dilation, spatial)
    if kernel is None or stride is None or padding is None or dilation is None:
        return None
    sizes = []
    for size, k, s, p, d in zip(x.shape[-spatial:], kernel, stride, padding, dilation):
        if k < 1 or s < 1 or d < 1 or p < 0 or p > k // 2:
            return None
        out = _pool_size(size, k, p, s, d, ceil_mode)
        if out < 1:
            return None
        sizes.append(out)
    return (*x.shape[:-spatial], *sizes)


def _max_pool2d(x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
    shape = _pool(x, kernel, stride, padding, dilation, ceil_mode)
    return None if shape is None else ((shape, x.dtype), (shape, torch.int64))


def _avg_pool2d(x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    return _pool(x, kernel, stride, padding, 1, ceil_mode)


def _adaptive(x, output_size):
    size = _ints(output_size, 2)
    if x.dim() not in (3, 4) or size is None or min(size) < 1 or min(x.shape[-2:]) < 1:
        return None
    return (*x.shape[:-2], *size)


def _adaptive_max(x, output_size):
    shape = _adaptive(x, output_size)
    return None if shape is None else ((shape, x.dtype), (shape, torch.int64))


def _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    if x.dim() < 2:
        return None
    channels = x.shape[1]
    for t in (weight, bias, running_mean, running_var):
        if t is not None and tuple(t.shape) != (channels,):
            return None
    stats = (channels,) if training else (0,)
    dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    return ((tuple(x.shape), x.dtype), (stats, dtype), (stats, dtype))


def _batch_norm_legit(x, weight, bias, running_mean, running_var, training, momentum, eps):
    return _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)


def _batch_norm_no_stats(x, weight, bias, training, momentum, eps):
    return _batch_norm(x, weight, bias, None, None, training, momentum, eps)


def _batch_norm_no_training(x, weight, bias, running_mean, running_var, momentum, eps):
    return _batch_norm(x, weight, bias, running_mean, running_var, False, momentum, eps)


def _repeat(x, repeats):
    if len(repeats) < x.dim() or any(r < 0 for r in repeats):
        return None
    shape = (1,) * (len(repeats) - x.dim()) + tuple(x.shape)
    return tuple(r * s for r, s in zip(repeats, shape))


def _cat(tensors, dim=0):
    shapes = [tuple(t.shape) for t in tensors if tuple(t.shape) != (0,)]  # torch skips 1-d empties
    if not shapes or len({len(s) for s in shapes}) != 1:
        return None
    ndim = len(shapes[0])
    if not -ndim <= dim < ndim:
        return None
    dim %= ndim
    rest = {s[:dim] + s[dim + 1 :] for s in shapes}
    if len(rest) != 1 or len({t.dtype for t in tensors}) != 1:
        return None
    return (*shapes[0][:dim], sum(s[dim] for s in shapes), *shapes[0][dim + 1 :])


def _pad(x, pad, value=0):
    if len(pad) % 2 or len(pad) // 2 > x.dim():
        return None
    shape = list(x.shape)
    for i in range(len(pad) // 2):
        shape[-1 - i] += pad[2 * i] + pad[2 * i + 1]
    return tuple(shape) if min(shape, default=1) >= 0 else None


def _softmax(x, dim, half_to_float):
    return None if half_to_float else tuple(x.shape)


def _safe_softmax(x, dim, dtype=None):  # attention's softmax (its Python decomposition is slow)
    return None if dtype is not None else tuple(x.shape)


def _unsafe_view(x, size):
    # a matrix product's reshape (attention has three): torch's view gives the same shape
    # and strides at half the cost, where the input is contiguous (always viewable)
    return aten.view.default(x, size) if x.is_contiguous() else None


def _empty_like(x, *, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    if (device is not None and torch.device(device).type != "meta") or layout not in (None, torch.strided):
        return None
    return torch.empty(tuple(x.shape), dtype=dtype or x.dtype, device="meta")


def _layer_norm(x, normalized_shape, weight, bias, eps):
    n = len(normalized_shape)
    if tuple(x.shape[x.dim() - n :]) != tuple(normalized_shape):
        return None
    for t in (weight, bias):
        if t is not None and tuple(t.shape) != tuple(normalized_shape):
            return None
    stats = (*x.shape[: x.dim() - n], *([1] * n))
    dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    return ((tuple(x.shape), x.dtype), (stats, dtype), (stats, dtype))


def _reduce(x, dim=None, keepdim=False, **kwargs):
    ndim = x.dim()
    if dim is None or (isinstance(dim, Sequence) and len(dim) == 0):
        dims = set(range(ndim))
    else:
        dims = {dim} if isinstance(dim, int) else set(dim)
        if not all(isinstance(d, int) and -max(ndim, 1) <= d < max(ndim, 1) for d in dims):
            return None
        dims = {d % max(ndim, 1) for d in dims}
    if ndim == 0:
        return ()
    return tuple(1 if i in dims else s for i, s in enumerate(x.shape) if keepdim or i not in dims)


def _mean(x, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None or not x.dtype.is_floating_point:
        return None
    return _reduce(x, dim, keepdim)


def _var(x, dim=None, *, correction=None, keepdim=False):
    if not x.dtype.is_floating_point:
        return None
    return _reduce(x, dim, keepdim)


def _addmm(bias, a, b, *, beta=1, alpha=1):
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        return None
    out = (a.shape[0], b.shape[1])
    return out if _broadcast(tuple(bias.shape), out) == out else None


def _mm(a, b):
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        return None
    return (a.shape[0], b.shape[1])


def _bmm(a, b):
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        return None
    return (a.shape[0], a.shape[1], b.shape[2])


RULES: dict[Any, Rule] = {
    aten.convolution.default: _convolution,
    aten.native_batch_norm.default: _batch_norm,
    aten._native_batch_norm_legit.default: _batch_norm_legit,
    aten._native_batch_norm_legit.no_stats: _batch_norm_no_stats,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_no_training,
    aten.native_layer_norm.default: _layer_norm,
    aten.repeat.default: _repeat,
    aten.empty_like.default: _empty_like,
    aten.cat.default: _cat,
    aten.constant_pad_nd.default: _pad,
    aten._softmax.default: _softmax,
    aten._log_softmax.default: _softmax,
    aten._safe_softmax.default: _safe_softmax,
    aten._unsafe_view.default: _unsafe_view,
    aten.max_pool2d_with_indices.default: _max_pool2d,
    aten.avg_pool2d.default: _avg_pool2d,
    aten._adaptive_avg_pool2d.default: _adaptive,
    aten.adaptive_max_pool2d.default: _adaptive_max,
    aten.mean.dim: _mean,
    aten.var.correction: _var,
    aten.addmm.default: _addmm,
    aten.mm.default: _mm,
    aten.bmm.default: _bmm,
}
for _op in ("relu", "gelu", "sigmoid", "tanh", "hardtanh", "silu", "hardswish", "hardsigmoid", "rsqrt",
            "leaky_relu", "elu", "mish", "softplus", "exp", "sqrt", "neg", "abs", "clone"):
    RULES[getattr(aten, _op).default] = _same
for _op in ("add", "sub", "mul", "div"):
    RULES[getattr(aten, _op).Tensor] = _elementwise
    RULES[getattr(aten, _op).Scalar] = _elementwise
for _op in ("add_", "sub_", "mul_", "div_"):
    RULES[getattr(aten, _op).Tensor] = _inplace
    RULES[getattr(aten, _op).Scalar] = _inplace
for _op in ("relu_", "hardtanh_", "silu_", "hardswish_", "hardsigmoid_", "sigmoid_", "tanh_"):
    RULES[getattr(aten, _op).default] = _inplace
RULES[aten.bernoulli_.float] = _inplace
RULES[aten.fill_.Scalar] = _inplace
RULES[aten.zero_.default] = _inplace


_PROMOTING = (aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor,
              aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar)
_DIVISIONS = (aten.div.Tensor, aten.div.Scalar)


def _dtype(func, args) -> torch.dtype:
    if func is aten.cat.default:
        return args[0][0].dtype
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if func in _PROMOTING:
        if isinstance(args[1], (int, float)) and tensors and tensors[0] is args[0] and args[0].dtype.is_floating_point:
            return args[0].dtype  # a Python number never promotes a floating tensor (attention's scale)
        dtype = torch.result_type(args[0], args[1])
        if func in _DIVISIONS and not dtype.is_floating_point:
            dtype = torch.get_default_dtype()
        return dtype
    return tensors[0].dtype


_META = torch.device("meta")


def rule_shape(rule: Rule, *args: Any, **kwargs: Any) -> Any:
    """What a shape rule of :data:`RULES` answers, or None where it does not know
    these arguments (then torch's own kernel answers)."""
    try:
        return rule(*args, **kwargs)
    except (TypeError, ValueError, IndexError):  # arguments this rule does not know
        return None


def rule_output(func, rule, args, kwargs, own_dtype: bool = False):
    """What ``rule`` answers for ``func`` on meta ``args``: an empty meta tensor of its
    shape (a tuple of them for several outputs, ``args[0]`` for "self"), or None where
    the rule does not know these arguments. ``own_dtype``: the output has the first
    tensor argument's dtype (the caller knows ``func`` neither promotes nor is ``cat``),
    which skips :func:`_dtype`'s checks."""
    shape = rule_shape(rule, *args, **kwargs)
    if shape is None or isinstance(shape, torch.Tensor):
        return shape
    if isinstance(shape, str):  # "self"
        return args[0]
    if shape and isinstance(shape[0], tuple):  # several outputs: ((shape, dtype), ...)
        return tuple(torch.empty(s, dtype=d, device=_META) for s, d in shape)
    if not own_dtype:
        dtype = _dtype(func, args)
    elif isinstance(args[0], torch.Tensor):
        dtype = args[0].dtype
    else:
        dtype = next(a for a in args if isinstance(a, torch.Tensor)).dtype
    return torch.empty(shape, dtype=dtype, device=_META)


class MetaShapeMode(TorchDispatchMode):
    """Answer common operators on meta tensors with empty outputs of the right shape.

    >>> from torch import nn
    >>> x = torch.empty(1, 3, 32, 32, device="meta")
    >>> with torch.device("meta"):
    ...     conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    >>> with MetaShapeMode():
    ...     conv(x).shape
    torch.Size([1, 8, 16, 16])
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps every mode's __torch_dispatch__ in a dynamo guard whose first
        # call imports torch._dynamo (~0.7 s); nothing is compiled under this mode
        return False

    def __init__(self) -> None:
        super().__init__()
        # real values (trace._RealValues): ``to_real`` while they run, a weight read outside
        # its module's call gets values; ``to_meta`` once they are over, a real tensor left
        # in a forward joins meta; ``on_read`` hears of each value read
        self.to_real = False
        self.to_meta = False
        self.on_read: Callable[[], None] | None = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.to_meta:
            args, kwargs = _convert_arguments(args, kwargs, _as_meta)
        elif self.to_real and _mixed(args, kwargs):
            args, kwargs = _convert_arguments(args, kwargs, _as_real)
        if func in READS and self.on_read is not None and not _all_meta(args, kwargs):
            out = func(*args, **kwargs)
            self.on_read()
            return out
        rule = RULES.get(func)
        if rule is not None and _all_meta(args, kwargs):
            out = rule_output(func, rule, args, kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)


def _all_meta(args, kwargs) -> bool:
    found = False
    values = [*args, *kwargs.values()]
    if args and isinstance(args[0], (list, tuple)):  # cat: a list of tensors
        values += list(args[0])
    for a in values:
        if isinstance(a, torch.Tensor):
            if a.device.type != "meta":
                return False
            found = True
    return found


# operators whose result Python reads as values (``if t``, ``t.item()``) or whose shape the values decide
READS = {aten._local_scalar_dense.default, aten.is_nonzero.default, aten.equal.default, aten.nonzero.default,
         aten.masked_select.default, aten._unique2.default, aten.unique_consecutive.default,
         aten.unique_dim.default}


def _as_meta(t: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(t, device="meta") if t.device.type != "meta" and t.dim() > 0 else t


def _as_real(t: torch.Tensor) -> torch.Tensor:
    if t.device.type != "meta":
        return t
    if t.dtype.is_floating_point:
        return torch.randn(tuple(t.shape), dtype=t.dtype) / max(1, t[0].numel() if t.dim() > 1 else 1) ** 0.5
    return torch.zeros(tuple(t.shape), dtype=t.dtype)


def _mixed(args, kwargs) -> bool:
    devices = set()
    for a in [*args, *kwargs.values(), *(args[0] if args and isinstance(args[0], (list, tuple)) else ())]:
        if isinstance(a, torch.Tensor):
            devices.add(a.device.type == "meta")
    return len(devices) == 2


def _convert_arguments(args, kwargs, convert):
    def each(a):
        if isinstance(a, torch.Tensor):
            return convert(a)
        if isinstance(a, (list, tuple)):
            return type(a)(each(v) for v in a)
        return a

    return tuple(each(a) for a in args), {k: each(v) for k, v in kwargs.items()}
