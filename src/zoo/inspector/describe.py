"""One-line descriptions of modules, in the document's notation.

    Conv2d(1->32, k:3, s:1, p:1, F)   BatchNorm2d(32)   MaxPool2d(k:2, s:2, p:0)
    Dropout2d(0.1)   Linear(512->10, T)   Residual(p=0.1)   GELU

``F``/``T``: without/with bias.
"""

from __future__ import annotations

from torch import nn

__all__ = ["describe"]


def _size(value) -> str:
    """3 -> "3", (3, 3) -> "3", (3, 5) -> "(3, 5)"."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) == 1:
            return str(value[0])
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


def _number(p: float) -> str:
    return f"{p:g}"


def _conv(m: nn.modules.conv._ConvNd) -> str:
    parts = [f"{m.in_channels}->{m.out_channels}", f"k:{_size(m.kernel_size)}", f"s:{_size(m.stride)}",
             f"p:{_size(m.padding)}"]
    if _size(m.dilation) != "1":
        parts.append(f"d:{_size(m.dilation)}")
    if m.groups != 1:
        parts.append(f"g:{m.groups}")
    parts.append("T" if m.bias is not None else "F")
    return f"{type(m).__name__}({', '.join(parts)})"


def _pool(m) -> str:
    return f"{type(m).__name__}(k:{_size(m.kernel_size)}, s:{_size(m.stride)}, p:{_size(m.padding)})"


def describe(module: nn.Module) -> str:
    """The module in one short line.

    >>> describe(nn.Conv2d(1, 32, 3, padding=1, bias=False))
    'Conv2d(1->32, k:3, s:1, p:1, F)'
    >>> describe(nn.Dropout2d(0.1))
    'Dropout2d(0.1)'
    """
    name = type(module).__name__
    if name in ("RecursiveScriptModule", "ScriptModule"):  # a TorchScript module: the class it was scripted from
        original = getattr(module, "original_name", None)
        if isinstance(original, str):
            return f"{original} (TorchScript)"
    if isinstance(module, nn.modules.conv._ConvNd):
        return _conv(module)
    if isinstance(module, nn.Linear):
        return f"{name}({module.in_features}->{module.out_features}, {'T' if module.bias is not None else 'F'})"
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.modules.instancenorm._InstanceNorm)):
        return f"{name}({module.num_features})"
    if isinstance(module, nn.LayerNorm):
        return f"{name}({_size(tuple(module.normalized_shape))})"
    if isinstance(module, nn.GroupNorm):
        return f"{name}({module.num_groups}, {module.num_channels})"
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return f"{name}({_number(module.p)})"
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return _pool(module)
    if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                           nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return f"{name}({_size(module.output_size)})"
    if isinstance(module, nn.Embedding):
        return f"{name}({module.num_embeddings}, {module.embedding_dim})"
    if type(module).__module__ == "torch.nn.modules.activation" or isinstance(
        module, (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Identity, nn.Flatten)
    ):
        return name
    try:
        extra = module.extra_repr()
    except Exception:  # a plugin's extra_repr must not break the report
        extra = ""
    if extra and "\n" not in extra and len(extra) <= 40:
        return f"{name}({extra})"
    return name
