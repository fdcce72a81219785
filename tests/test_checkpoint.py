"""Checkpoints are data (zoo.checkpoint): a crafted one runs nothing, a malformed one is a
zoo error naming the file, and a trained one carries what using the model needs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

import zoo
import zoo.benchmark.timing
from zoo.checkpoint import FORMAT, Preprocessing, checkpoint_dict, read_checkpoint, write_checkpoint
from zoo.cli import main
from zoo.errors import CheckpointError, UntrustedCodeError
from zoo.target import resolve_model

NETS = """\
import pathlib
pathlib.Path({marker!r}).write_text("imported")
import torch

def build(num_classes=10, in_chans=3):
    return torch.nn.Sequential(torch.nn.Conv2d(in_chans, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, num_classes))
"""


def _crafted(folder: Path, text: str, options: dict | None = None) -> Path:
    """A checkpoint that torch.load(weights_only=True) accepts, whose spec names code."""
    path = folder / "evil.pt"
    torch.save({"format": FORMAT, "spec": {"kind": "factory", "text": text, "options": options or {},
                                           "num_classes": None, "channels": None},
                "model": {}}, path)
    return path


@pytest.fixture
def crafted(tmp_path, monkeypatch):
    """Three crafted checkpoints (a shell command, a module of the working folder, a
    file beside the checkpoint) and the marker files that running any would create."""
    monkeypatch.chdir(tmp_path)
    shell = tmp_path / "shell-ran"
    (tmp_path / "nets_cwd.py").write_text(NETS.format(marker=str(tmp_path / "cwd-imported")))
    beside = tmp_path / "beside"
    beside.mkdir()
    (beside / "nets.py").write_text(NETS.format(marker=str(tmp_path / "file-imported")))
    paths = []
    for name, text, options in (("shell", "os:system", {"command": f"touch {shell}"}),
                                ("module", "nets_cwd:build", None),
                                ("file", f"{beside / 'nets.py'}:build", None)):
        folder = tmp_path / name
        folder.mkdir()
        paths.append(_crafted(folder, text, options))
    markers = [shell, tmp_path / "cwd-imported", tmp_path / "file-imported"]
    yield paths, markers, set(sys.modules)


def _nothing_ran(markers: list[Path], modules_before: set[str]) -> None:
    assert [m.exists() for m in markers] == [False, False, False]  # no command, no import
    new = {m for m in set(sys.modules) - modules_before if "nets" in m or m.startswith("_zoo_factory")}
    assert not new


def test_a_crafted_checkpoint_runs_nothing_in_any_function(crafted):
    paths, markers, modules_before = crafted
    for path in paths:
        for call in (read_checkpoint, zoo.create, lambda p: resolve_model(str(p)), lambda p: zoo.inspect(str(p)),
                     lambda p: zoo.predict(p, torch.zeros(1, 3, 8, 8))):
            with pytest.raises(UntrustedCodeError) as info:
                call(path)
            assert str(info.value).startswith(f"{path}: its model is built by Python code (")
            assert "--trust-code (trust_code=True in Python)" in str(info.value)
    _nothing_ran(markers, modules_before)


@pytest.mark.parametrize("command", [
    ("inspect", "{path}"),
    ("export", "cnf8", "--weights", "{path}", "--format", "torchscript", "-o", "m.pt", "--input", "3,8,8"),
    ("export", "{path}", "--format", "torchscript", "-o", "m.pt"),
    ("bench", "{path}", "--steps", "1", "--repeats", "1", "--warmup", "0", "--no-peak"),
    ("train", "{path}", "--data", "digits", "--epochs", "1", "--out", "o"),
    ("predict", "{path}", "x.png"),
])
def test_a_crafted_checkpoint_runs_nothing_in_any_command(crafted, capsys, command):
    paths, markers, modules_before = crafted
    for path in paths:
        code = main([part.format(path=path) for part in command])
        out, err = capsys.readouterr()
        assert code == 1, out + err
        assert err.startswith(f"zoo: error: {path}: its model is built by Python code"), err
        assert "--trust-code" in err and "Traceback" not in err
    _nothing_ran(markers, modules_before)
    assert not Path("o").exists() and not Path("m.pt").exists()


def test_trust_code_opens_it(crafted, capsys):
    paths, markers, modules_before = crafted
    assert main(["inspect", str(paths[2]), "--trust-code", "--input", "3,8,8"]) == 0
    assert markers[2].read_text() == "imported"  # the flag runs the file's code: only for trusted files
    assert capsys.readouterr().out.startswith("evil  (1, 3, 8, 8) -> (1, 10)  162 params")
    for name in [m for m in set(sys.modules) - modules_before if m.startswith("_zoo_factory")]:
        del sys.modules[name]


def _good(tmp_path: Path) -> Path:
    spec = resolve_model("cnf8 m r16", num_classes=10, input=1)
    return write_checkpoint(tmp_path / "good.pt", spec.build(), spec=spec, name="good")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pickle-ran",))


def _malformed(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pt"
    good = _good(tmp_path)
    data = torch.load(good, weights_only=True)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:3000])
    elif kind == "pickle":
        torch.save({"format": FORMAT, "spec": Evil()}, path)
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "a list":
        torch.save([torch.zeros(2)], path)
    elif kind == "state dict":
        torch.save(data["model"], path)
    elif kind == "no spec":  # the README's Trainer loop without spec=
        torch.save(checkpoint_dict(data["model"]), path)
    elif kind == "spec of text":
        torch.save({**data, "spec": "cnf8 m r16"}, path)
    elif kind == "no model":
        del data["model"]
        torch.save(data, path)
    elif kind == "model of text":
        torch.save({**data, "model": ["weights"]}, path)
    elif kind == "bad preprocessing":
        torch.save({**data, "preprocessing": {"input_size": [1, 8], "mean": [0.5], "std": [0.5]}}, path)
    elif kind == "unknown format":
        torch.save({**data, "format": "zoo-checkpoint/9"}, path)
    elif kind == "unknown kind":
        torch.save({**data, "spec": {**data["spec"], "kind": "shell"}}, path)
    elif kind == "broken preset":
        spec = resolve_model("r32m").to_dict()
        spec["preset"]["blocks"] = "r32 zz"
        torch.save({**data, "spec": spec}, path)
    return path


MALFORMED = {
    "empty": "the file is empty (0 bytes), not a checkpoint",
    "truncated": "not a checkpoint torch can read safely (the file is cut short or damaged)",
    "pickle": "not a checkpoint torch can read safely (it holds pickled Python objects, which "
              "torch.load(weights_only=True) refuses to run)",
    "text": "not a checkpoint torch can read safely (",
    "a list": "holds list, not a zoo checkpoint (a dict)",
    "state dict": "a bare state dict (",
    "no spec": "has no model spec (a zoo.Trainer without spec= wrote it)",
    "spec of text": "'spec' must be a mapping, not str",
    "no model": "'model' must be a state dict (names to tensors), not NoneType",
    "model of text": "'model' must be a state dict (names to tensors), not list",
    "bad preprocessing": "input_size must be (C, H, W), three whole numbers >= 1, not [1, 8]",
    "unknown format": "format 'zoo-checkpoint/9' is not one this zoo reads",
    "unknown kind": "the spec's kind 'shell' is not a model kind",
    "broken preset": "its model spec is broken: the stored preset: the blocks do not parse:\n",
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_every_malformed_checkpoint_is_a_zoo_error_naming_the_file(tmp_path, monkeypatch, capsys, kind):
    monkeypatch.chdir(tmp_path)
    path = _malformed(tmp_path, kind)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value).startswith(f"{path}: {MALFORMED[kind]}"), str(info.value)
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"zoo: error: {path}: ") and "Traceback" not in err
    assert not (tmp_path / "pickle-ran").exists()


def test_a_checkpoint_carries_its_preprocessing_and_commands_use_its_size(tmp_path, monkeypatch, capsys):
    from zoo.train import load_data

    monkeypatch.chdir(tmp_path)
    data = load_data("digits")
    spec = resolve_model("cnf8 m r16").with_data(num_classes=10, channels=1)
    folder = tmp_path / "runs" / "digits_run"
    folder.mkdir(parents=True)
    write_checkpoint(folder / "best.pt", spec.build(), spec=spec, preprocessing=Preprocessing.from_data(data))
    checkpoint = read_checkpoint(folder / "best.pt")
    pre = checkpoint.preprocessing
    assert (pre.input_size, pre.channels, pre.dataset, pre.class_names) == ((1, 8, 8), 1, "digits", tuple("0123456789"))
    assert (pre.mean, pre.std) == (data.mean, data.std) and len(pre.mean) == 1
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    assert (checkpoint.name, resolve_model(str(folder / "best.pt")).input_size) == ("digits_run", (1, 8, 8))
    report = zoo.inspect(str(folder / "best.pt"))  # at the size it was trained on, not 3x32x32
    assert (report.inputs, tuple(report.output), report.notes) == (["(1, 1, 8, 8)"], (1, 10), [])
    timed = zoo.benchmark.timing.benchmark([str(folder / "best.pt")], steps=1, repeats=1, warmup=0, peak=False, batch=2)
    assert tuple(timed.results[0].input_size) == (1, 8, 8)
    assert main(["export", str(folder / "best.pt"), "--format", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("exported digits_run to digits_run.pt (torchscript, dynamic batch, input 1×8×8)")
    # a block string with the run's weights: the classifier zoo train built, at the run's size
    assert main(["export", "cnf8 m r16", "--weights", str(folder / "best.pt"), "--format", "torchscript",
                 "-o", "blocks.pt"]) == 0
    assert "input 1×8×8" in capsys.readouterr().out
    loaded = torch.jit.load("blocks.pt")
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(loaded(x), zoo.create(folder / "best.pt").eval()(x))


def test_a_block_string_is_a_model_like_a_preset():
    torch.manual_seed(0)
    model = zoo.create("cnf32 m r64", num_classes=10, input=1)
    assert type(model).__name__ == "Classifier" and model.head.fc.out_features == 10
    trained = resolve_model("cnf32 m r64").with_data(num_classes=10, channels=1)
    assert model.state_dict().keys() == trained.build().state_dict().keys()
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
