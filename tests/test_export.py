"""``zoo export`` and ``zoo.export.export_model``: real files, loaded back and compared.

The command runs in-process through ``zoo.cli.main`` (the console script's own
function): its exit code, stdout and stderr are what a user sees.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
import torch

from zoo import CNN
from zoo.checkpoint import FORMAT as CHECKPOINT_FORMAT
from zoo.cli import main
from zoo.errors import ExportError, OptionError, OutputPathError
from zoo.export import export_model, format_from_path
from zoo.target import resolve_model

FIXTURE = Path(__file__).parent / "fixtures" / "untraceable.py"
TINY = "cnf8 m r16_3_2"  # a block string that exports in about a second


def zoo(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["export", *args])
    out, err = capsys.readouterr()
    return code, out, err


def checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    """A checkpoint as zoo train writes it (of TINY), and the model whose weights it holds."""
    spec = resolve_model(TINY)
    torch.manual_seed(1)
    model = spec.build().eval()
    path = tmp_path / "best.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "spec": spec.to_dict(), "model": model.state_dict()}, path)
    return path, model


@pytest.mark.slow  # ~5 s on an idle core
def test_onnx_file_from_the_command_runs_in_onnxruntime_like_the_trained_model(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    weights, model = checkpoint(tmp_path)
    out_file = tmp_path / "tiny.onnx"
    code, out, err = zoo(capsys, TINY, "--weights", str(weights), "--input", "3,16,16", "-o", str(out_file))
    assert (code, err) == (0, "")
    first, second = out.splitlines()
    assert first == f"exported {TINY} to {out_file} (onnx, opset 20, dynamic batch, input 3×16×16)"
    assert second.startswith("checked with onnxruntime: max abs difference ")
    assert second.endswith("(batch 3) < 0.0001")
    session = ort.InferenceSession(str(out_file), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    assert graph_input.shape[1:] == [3, 16, 16] and isinstance(graph_input.shape[0], str)  # a free batch
    for batch in (2, 5):
        x = torch.randn(batch, 3, 16, 16)
        (y,) = session.run(None, {graph_input.name: x.numpy()})
        with torch.no_grad():
            expected = model(x)
        assert y.shape == (batch, 16)
        assert (torch.from_numpy(y) - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize("fmt, suffix", [("pt2", ".pt2"), ("torchscript", ".pt")])
def test_pt2_and_torchscript_files_load_back_with_the_model_outputs(tmp_path, fmt, suffix):
    result = export_model(TINY, tmp_path / f"tiny{suffix}", input_size=(3, 16, 16), batch=4)
    assert (result.format, result.dynamic, result.batches, result.ok) == (fmt, False, (4,), True)
    assert list(result.max_diff) == [4] and result.worst < 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load: "deprecated"
        loaded = torch.export.load(result.path).module() if fmt == "pt2" else torch.jit.load(str(result.path))
    assert loaded(torch.zeros(4, 3, 16, 16)).shape == (4, 16)  # pooled, flattened


def test_json_output(tmp_path, capsys):
    code, out, err = zoo(capsys, TINY, "--format", "torchscript", "-o", str(tmp_path / "t.ts"), "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["format"] == "torchscript" and data["ok"] is True
    assert data["input_size"] == [3, 32, 32]  # a block string's default size
    assert data["batches"] == [1, 3] and set(data["max_diff"]) == {"1", "3"}


def test_a_data_dependent_layer_is_named_with_its_op(tmp_path, capsys):
    target = f"{FIXTURE}:build"
    with pytest.raises(ExportError) as info:
        export_model(target, tmp_path / "u.pt2")
    message = str(info.value)
    assert message.startswith("torch.export cannot export layer '1.1' (SignGate): data-dependent "
                              "control flow")
    assert "op aten.item" in message and "untraceable.py:16 in forward: if x.sum() > 0:" in message
    code, out, err = zoo(capsys, target, "-o", str(tmp_path / "u.pt"))
    assert (code, out) == (1, "")
    assert err.startswith("zoo: error: torch.jit.trace cannot export layer '1.1' (SignGate): "
                          "data-dependent control flow (a Python `if` on a tensor's values, op aten::Bool)")
    assert "Traceback" not in err and not (tmp_path / "u.pt").exists()


def test_a_file_that_differs_from_the_model_is_exit_1_with_the_difference(tmp_path, capsys):
    code, out, err = zoo(capsys, f"{FIXTURE}:build_noisy", "--input", "3,8,8", "-o", str(tmp_path / "n.pt"))
    assert (code, out) == (1, "")
    assert err.startswith(f"zoo: error: {tmp_path / 'n.pt'}: the exported torchscript file differs from "
                          "the model (max abs difference batch 1: ")
    assert err.rstrip().endswith("; allowed < 0.0001); nothing written")
    assert not (tmp_path / "n.pt").exists()


def test_a_model_passed_in_keeps_its_training_mode(tmp_path):
    model = CNN(blocks=TINY).train()
    result = export_model(model, tmp_path / "m.pt", input_size=(3, 16, 16))
    assert result.ok and model.training and all(m.training for m in model.modules())


def test_bad_arguments_are_exit_2_before_any_export(tmp_path, capsys):
    cases = {
        (str(tmp_path / "missing" / "m.onnx"),): f"cannot write {tmp_path / 'missing' / 'm.onnx'}: no folder",
        (str(tmp_path / "m.bin"),): "m.bin: say the format (--format onnx, pt2, torchscript or safetensors)",
        (str(tmp_path / "m.pt2"), "--opset", "18"): "--opset applies to ONNX only, not to pt2",
        (str(tmp_path), "--format", "onnx"): f"{tmp_path} is a folder; give a file name",
    }
    for args, message in cases.items():
        code, out, err = zoo(capsys, TINY, "-o", *args)
        assert (code, out) == (2, "")
        assert err.startswith("zoo export: error: ") and message in err, err
    code, _, err = zoo(capsys, TINY, "--batch", "0")
    assert code == 2 and "'0': give 'dynamic' or a whole number from 1 to 65,536" in err


def test_an_unknown_timm_name_suggests_the_nearest(capsys):
    code, out, err = zoo(capsys, "timm:resnt18", "-o", "x.onnx")
    assert (code, out) == (1, "")
    assert err.startswith("zoo: error: timm has no model 'resnt18'; did you mean 'resnet18'")


def test_library_errors_are_zoo_errors(tmp_path):
    assert (format_from_path("a.onnx"), format_from_path("a.ts"), format_from_path("a.bin")) == (
        "onnx", "torchscript", None)
    with pytest.raises(OptionError, match="say the format"):
        export_model(TINY, tmp_path / "a.bin")
    with pytest.raises(OutputPathError, match="no folder"):
        export_model(TINY, tmp_path / "no" / "a.onnx")
    with pytest.raises(OptionError, match="batch=0"):
        export_model(TINY, tmp_path / "a.onnx", batch=0)


def test_onnx_without_its_packages_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    code, out, err = zoo(capsys, TINY, "-o", str(tmp_path / "t.onnx"))
    assert (code, out) == (1, "")
    assert err == ("zoo: error: ONNX export needs onnxruntime, which is not installed\n"
                   "install zoo's export extra: pip install 'zoo-cnn[export]' (or pip install onnxruntime)\n")


def test_a_set_mistake_is_exit_2(capsys):
    code, out, err = zoo(capsys, "r32m", "--set", "nrom=1", "-o", "x.onnx")
    assert (code, out) == (2, "")
    assert err.startswith("zoo export: error: --set: unknown option 'nrom'; did you mean 'norm'")
