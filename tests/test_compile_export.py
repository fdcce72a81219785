"""Every preset goes everywhere: ``torch.compile(fullgraph=True)`` without a graph break
(train and eval), ``torch.export`` with a dynamic batch, ONNX in onnxruntime,
``torch.jit.trace``, channels-last and bfloat16, each on the smallest power-of-two
image the model takes. Plugin tokens too (zoo-extra's ``se`` and ``rb``; its
``resnet50`` preset is one of ``zoo.list_models()``).

The default run covers a plugin token (ONNX: tests/test_export.py exports r32m through the
command); CI runs them all (slow).
"""

from __future__ import annotations

import functools

import pytest
import torch

import zoo
from zoo.errors import ShapeError
from zoo.export import export_model
from zoo.target import resolve_model

PLUGIN_MODELS = {"plugin:se": "cnf16 se r32_3_2 se8", "plugin:rb": "cnf16 rb8 rb16_3_2"}
MODELS = sorted(zoo.list_models()) + sorted(PLUGIN_MODELS)


def cases(*extra, fast=("plugin:se",)):
    """Every model, all but ``fast`` (the default run's) marked slow; ``extra`` crosses
    them with more parameters."""
    out = []
    for name in MODELS:
        marks = [] if name in fast else [pytest.mark.slow]
        for more in extra or [()]:
            out.append(pytest.param(name, *more, marks=marks, id="-".join([name, *map(str, more)])))
    return out


@functools.cache
def smallest_input(name: str) -> tuple[int, int, int]:
    """(C, H, W) of the smallest square power-of-two image the model takes (the inspector
    runs on the meta device: no memory, no time)."""
    spec = _spec(name)
    channels = (spec.input_size or (3,))[0]
    for side in (2, 4, 8, 16, 32, 64):
        try:
            zoo.inspect(spec, input_size=(channels, side, side))
        except ShapeError:
            continue
        return (channels, side, side)
    raise AssertionError(f"{name} takes no image up to 64x64")


def _spec(name: str):
    if name in PLUGIN_MODELS:
        pytest.importorskip("zoo_extra")
        return resolve_model(PLUGIN_MODELS[name]).with_data(num_classes=10)
    return resolve_model(name)


def build(name: str, train: bool = False) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = _spec(name).build().train(train)
    return model, torch.randn(2, *smallest_input(name))


def test_smallest_inputs_are_what_the_strides_allow():
    assert smallest_input("r32m") == (3, 16, 16)  # four 2x2 max-pools
    assert smallest_input("mnist_cnn") == (1, 4, 4)  # two
    assert smallest_input("resnet18") == (3, 2, 2)  # padded strides: 2x2 reaches 1x1


@pytest.mark.parametrize("name, train", cases((False,), (True,)))
def test_compile_fullgraph_has_no_graph_break(name, train):
    model, x = build(name, train)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # dynamo's graph, no C++ build
    with torch.no_grad():
        assert compiled(x).shape == model(x).shape


@pytest.mark.parametrize("name, fmt", cases(("pt2",), ("torchscript",)) + cases(("onnx",), fast=()))
def test_export_dynamic_batch_matches_the_model(name, fmt, tmp_path):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    model, x = build(name)
    suffix = {"pt2": ".pt2", "onnx": ".onnx", "torchscript": ".pt"}[fmt]
    result = export_model(model, tmp_path / f"{name.replace(':', '_')}{suffix}", input_size=x.shape[1:])
    assert (result.format, result.dynamic, result.batches, result.ok) == (fmt, True, (1, 3), True)
    assert result.worst < 1e-4


@pytest.mark.parametrize("name", cases())
def test_channels_last_and_bfloat16_forward(name):
    model, x = build(name)
    with torch.no_grad():
        expected = model(x)
        last = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        assert (last - expected).abs().max().item() < 1e-4
        half = model.to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    assert half.shape == expected.shape and torch.isfinite(half).all()
    # bfloat16 keeps 8 bits of mantissa: the logits agree to a few per cent of their scale
    assert (half - expected).abs().max().item() < 0.1 * expected.abs().max().item() + 1e-2
