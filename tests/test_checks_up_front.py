"""Sizes, seeds, devices, opsets and lazy models are refused before anything is built or
trained, by ``zoo train``, ``zoo bench`` and ``zoo export`` alike: one line, exit 2 (an
argument) or 1 (the model), no traceback from deep inside torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch


@pytest.fixture
def zoo(monkeypatch, tmp_path, capsys):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "lazynet.py").write_text(textwrap.dedent("""
        from torch import nn

        def build(num_classes=10):
            return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.LazyLinear(num_classes))
    """))

    def call(*args: str, code: int) -> str:
        capsys.readouterr()
        got = main(list(args))
        out, err = capsys.readouterr()
        assert got == code, out + err
        assert "Traceback" not in err and not list(tmp_path.glob("o/*"))  # nothing started, nothing written
        return err.strip().splitlines()[-1]

    return call


@pytest.mark.parametrize("device, message", [
    ("meta", "device 'meta': zoo train runs on cpu, cuda or mps"),
    ("xla", "device 'xla': zoo train runs on cpu, cuda or mps"),
    ("mps", "device 'mps' is not available: no Apple GPU (torch.backends.mps.is_available() is False); "
            "use --device cpu"),
])
def test_zoo_train_refuses_a_device_it_cannot_use(zoo, device, message):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    assert zoo("train", "cnf8", "--device", device, "--out", "o", code=2) == f"zoo train: error: {message}"


@pytest.mark.parametrize("args, message", [
    (("--seed", str(10**20)), "argument --seed: '100000000000000000000': give a whole number from 0 to 4,294,967,295"),
    (("--batch", str(10**11)), "argument --batch: '100000000000': give a whole number from 1 to 65,536"),
    (("--size", str(10**8)), "argument --size: '100000000': give a whole number from 1 to 65,536"),
    (("--size", "16"), "--size 16: only the images of a folder: data set are resized; digits's have their own size"),
])
def test_zoo_train_refuses_sizes_and_seeds_out_of_range(zoo, args, message):
    assert zoo("train", "cnf8", *args, "--out", "o", code=2) == f"zoo train: error: {message}"


def test_zoo_bench_refuses_a_batch_beyond_memory_before_allocating(zoo):
    assert zoo("bench", "cnf8", "--batch", str(10**11), code=2) == (
        "zoo bench: error: argument --batch: '100000000000': give a whole number from 1 to 65,536")
    last = zoo("bench", "cnf8", "--batch", "65536", "--input", "3,2048,2048", code=2)
    assert last.startswith("zoo bench: error: a batch of 65,536 images of 3x2048x2048 is 3,072.0 GiB of float32, "
                           "more than half the ")
    assert last.endswith("GiB of memory of cpu; give a smaller --batch or --input")


def test_zoo_export_refuses_an_opset_torch_does_not_write(zoo):
    assert zoo("export", "cnf8", "--opset", "7", "-o", "m.onnx", code=2) == (
        "zoo export: error: --opset 7: torch's ONNX exporter writes opsets 18 to 23; give one of them "
        "(or leave --opset out: torch's default)")
    assert zoo("export", "cnf8", "--batch", str(10**8), "-o", "m.onnx", code=2) == (
        "zoo export: error: argument --batch: '100000000': give 'dynamic' or a whole number from 1 to 65,536")


@pytest.mark.parametrize("command", [("train", "--data", "fake", "--out", "o"), ("bench",), ("export", "-o", "m.onnx"),
                                     ("inspect",)])
def test_a_lazy_module_in_a_factory_model_is_named_up_front(zoo, command):
    name, *rest = command
    assert zoo(name, "lazynet:build", *rest, code=1) == (
        "give the layers their sizes (nn.Linear(in, out)), or run the model once on a dummy batch in the function "
        "before returning it")


def test_the_lazy_layer_is_named(zoo, capsys):
    from zoo.cli import main

    assert main(["inspect", "lazynet:build"]) == 1
    assert ("zoo: error: lazynet:build returned a model with lazy modules, whose parameters have no shape before "
            "a first forward: layer '2' (LazyLinear)\n") in capsys.readouterr().err


@pytest.mark.slow  # two real processes under torchrun (about 20 s on a busy machine)
def test_under_torchrun_the_first_ranks_one_line_error_comes_first(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "zoo", "train", "cnf8", "--device", "meta", "--out", "o"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode != 0
    assert out.stderr.splitlines()[0] == "zoo train: error: device 'meta': zoo train runs on cpu, cuda or mps"
    assert "ProcessGroupGloo" not in out.stderr and "gloo" not in out.stderr.lower()
