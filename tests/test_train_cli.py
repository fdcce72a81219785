"""``zoo train`` and ``zoo runs`` as a user runs them: real data (scikit-learn's digits),
real training, files checked by their contents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

PNG = b"\x89PNG\r\n\x1a\n"


def zoo(*args: str, cwd: Path, timeout: float = 120, check: int | None = 0) -> subprocess.CompletedProcess:
    """``python -m zoo ARGS`` in a process of its own (only where a real process matters:
    the start-up cost of one is several seconds on a busy 2-core machine)."""
    # one thread: on a shared 2-core machine torch's two OpenMP threads wait on each other
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "zoo", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, env=env)
    if check is not None:
        assert out.returncode == check, out.stdout + out.stderr
    return out


def main_in(cwd: Path, *args: str) -> tuple[int, str, str]:
    """``zoo ARGS`` in this process, in ``cwd``, on one thread: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from zoo.cli import main

    here, threads = os.getcwd(), torch.get_num_threads()
    out, err = io.StringIO(), io.StringIO()
    os.chdir(cwd)
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The learning test: two block strings on digits, 3 epochs each, one command."""
    cwd = tmp_path_factory.mktemp("train")
    start = time.perf_counter()
    code, out, err = main_in(cwd, "train", "cnf32 m r64", "cnf16 r32_3_2", "--data", "digits", "--epochs", "3",
                             "--plot-every", "3", "--out", "runs", "--json")
    assert code == 0, err
    return cwd, json.loads(out), time.perf_counter() - start, err


def test_a_small_block_string_learns_digits(two_runs):
    cwd, rows, seconds, _ = two_runs
    first = rows[0]
    assert first["model"] == "cnf32 m r64" and first["data"] == "digits" and first["epochs"] == 3
    assert first["val_acc"] >= 0.95, first
    assert first["params"] == 58_730 and first["macs"] > 0
    assert first["seconds_per_1e6"] > 0 and first["examples"] == 3 * 1437


def test_a_run_leaves_history_checkpoints_plots_and_summary(two_runs):
    cwd, rows, _, _ = two_runs
    folder = cwd / "runs" / "cnf32_m_r64"
    assert sorted(p.name for p in folder.iterdir()) == [
        "best.pt", "blocks_003.png", "curves.png", "history.csv", "history.json", "last.pt", "summary.json"]
    history = json.loads((folder / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "seconds", "examples", "lr"} <= set(history[0])
    assert history[-1]["val_acc"] == rows[0]["last_val_acc"]
    assert history[0]["examples"] == 1437 and history[0]["lr"] == pytest.approx(1e-3)
    csv_lines = (folder / "history.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,train_loss,train_acc,val_loss,val_acc,seconds") and len(csv_lines) == 4
    for png in ("curves.png", "blocks_003.png"):
        assert (folder / png).read_bytes()[:8] == PNG
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["val_acc"] == max(row["val_acc"] for row in history)
    assert summary["blocks"] == "cnf32 m r64"


def test_a_checkpoint_rebuilds_the_same_model(two_runs):
    from zoo.checkpoint import FORMAT as CHECKPOINT_FORMAT
    from zoo.target import load_checkpoint, resolve_model
    from zoo.train import load_data

    cwd, rows, _, _ = two_runs
    path = cwd / "runs" / "cnf32_m_r64" / "best.pt"
    stored = torch.load(path, weights_only=True)
    assert stored["format"] == CHECKPOINT_FORMAT and stored["spec"]["num_classes"] == 10
    assert stored["epoch"] == 3 and len(stored["history"]) == 3
    model, _ = load_checkpoint(path)
    assert resolve_model(str(path)).kind == "checkpoint"
    data = load_data("digits")
    x = (data.val.images.float() / 255 - torch.tensor(data.mean)) / torch.tensor(data.std)
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == data.val.labels).float().mean().item()
    assert accuracy == pytest.approx(rows[0]["val_acc"], abs=1e-6)
    code, inspected, _ = main_in(cwd, "inspect", str(path), "--json")
    assert code == 0 and json.loads(inspected)["params"] == 58_730


def test_zoo_runs_prints_the_comparison_table(two_runs):
    cwd, rows, _, _ = two_runs
    out = zoo("runs", "runs", cwd=cwd)
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "acc" in line and "pars" in line)
    assert [w for w in header.replace("┃", " ").split()] == ["acc", "time", "pars", "MACs", "epochs", "blocks"]
    row = next(line for line in lines if "cnf32 m r64" in line)
    assert f"{rows[0]['val_acc']:.4f}" in row and "59k" in row and "0.9M" in row
    assert any("cnf16 r32_3_2" in line for line in lines)
    as_json = json.loads(zoo("runs", "runs", "--json", "--sort", "acc", cwd=cwd).stdout)
    assert [r["model"] for r in as_json][0] == max(rows, key=lambda r: r["val_acc"])["model"]


def test_a_second_run_of_a_model_goes_to_a_new_folder(run, tmp_path):
    run("train", "cnf8", "--epochs", "1", "--limit", "100", "--out", "runs")
    out = run("train", "cnf8", "--epochs", "1", "--limit", "100", "--out", "runs")
    assert (tmp_path / "runs" / "cnf8-2" / "summary.json").is_file()
    assert (tmp_path / "runs" / "cnf8" / "summary.json").is_file()
    assert "cnf8-2" in out.stdout
    assert "epoch 1/1" in out.stdout  # one plain line per epoch when not on a terminal


# -- bad input ---------------------------------------------------------------------------------


def test_an_unknown_data_set_names_the_nearest(run):
    out = run("train", "cnf8", "--data", "cifar11", "--out", "o", check=2)
    assert "unknown data set 'cifar11'; did you mean 'cifar10', 'cifar100'?" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_torchvision_files_say_which_files_to_put_where(run, tmp_path):
    start = time.perf_counter()
    out = run("train", "cnf8", "--data", "cifar10", "--root", str(tmp_path / "data"), "--out", "o", check=1)
    assert time.perf_counter() - start < 30  # no download attempt, no hang
    assert "zoo downloads only with --download" in out.stderr and out.stderr.rstrip().endswith("or add --download")
    assert "cifar-10-batches-py/: data_batch_1, ..., data_batch_5, test_batch, batches.meta" in out.stderr
    assert "cifar-10-python.tar.gz" in out.stderr and "Traceback" not in out.stderr


def test_a_folder_without_train_and_val_or_without_classes(run, tmp_path):
    (tmp_path / "imgs").mkdir()
    out = run("train", "cnf8", "--data", "folder:imgs", "--out", "o", check=1)
    assert "folder:imgs has no train/ or val/" in out.stderr
    (tmp_path / "imgs" / "train").mkdir()
    (tmp_path / "imgs" / "val").mkdir()
    out = run("train", "cnf8", "--data", "folder:imgs", "--out", "o", check=1)
    assert "has no classes with images" in out.stderr and "imgs/train/<class>/<image>.png" in out.stderr


def test_a_folder_of_images_trains(run, tmp_path):
    from PIL import Image

    for part in ("train", "val"):
        for k, color in enumerate(((250, 10, 10), (10, 10, 250))):
            folder = tmp_path / "imgs" / part / f"class{k}"
            folder.mkdir(parents=True)
            for i in range(6):
                Image.new("RGB", (20 + i, 24), color).save(folder / f"{i}.png")
    out = run("train", "cnf8 m", "--data", "folder:imgs", "--size", "16", "--epochs", "1", "--batch", "4",
              "--workers", "0", "--out", "o", "--json")
    row = json.loads(out.stdout)[0]
    assert row["data"] == "folder:imgs" and row["examples"] == 12


def test_a_model_that_cannot_take_the_images_fails_before_training_with_the_numbers(run, tmp_path):
    out = run("train", "r32m", "--data", "digits", "--out", "o", check=1)
    assert "r32m cannot take the images of digits (1x8x8): it declares 3x32x32 images" in out.stderr
    assert "block 'm' (blocks.10, 11 of 11) cannot take its input (1, 256, 1, 1)" in out.stderr
    assert "zoo inspect MODEL --input 1,8,8" in out.stderr
    assert not list((tmp_path / "o").iterdir())  # nothing trained, nothing written


def test_input_channels_given_against_the_data_is_a_bad_argument(run):
    out = run("train", "cnf8", "--set", "input=3", "--data", "digits", "--out", "o", check=2)
    assert "--set input=3, but the images of digits have 1 channel" in out.stderr


def test_an_unwritable_out_is_an_error_at_start(run, tmp_path):
    (tmp_path / "file").write_text("")
    out = run("train", "cnf8", "--data", "digits", "--out", "file/runs", check=2)
    assert "--out file/runs: cannot write there" in out.stderr and "Traceback" not in out.stderr


def test_a_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(run, tmp_path):
    out = run("train", "cnf8 c8", "--set", "norm=0", "--data", "digits", "--optimizer", "sgd", "--lr", "1e12",
              "--epochs", "2", "--out", "o", check=1)
    assert "zoo: error: the loss is nan at step" in out.stderr or "zoo: error: the loss is inf at step" in out.stderr
    assert "(epoch 1, batch " in out.stderr and "Lower the learning rate (--lr 1e+11)" in out.stderr
    assert not (tmp_path / "o" / "cnf8_c8" / "last.pt").exists()  # NaN weights are never saved


# -- resume ---------------------------------------------------------------------------------------


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6, rtol=0) for k in a)


@pytest.mark.slow  # ~5 s on an idle core
def test_resume_after_two_epochs_equals_four_epochs_straight(run, tmp_path):
    common = ("cnf16 m r32", "--data", "digits", "--aug", "basic", "--limit", "400", "--batch", "50",
              "--seed", "3")
    run("train", *common, "--epochs", "4", "--out", "straight")
    run("train", *common, "--epochs", "2", "--out", "parts")
    resumed = run("train", *common, "--epochs", "4", "--out", "parts", "--resume")
    assert "cnf16_m_r32: resuming parts/cnf16_m_r32 at epoch 3" in resumed.stdout
    straight = _weights(tmp_path / "straight" / "cnf16_m_r32" / "last.pt")
    parts = _weights(tmp_path / "parts" / "cnf16_m_r32" / "last.pt")
    assert _same(straight, parts)
    a = json.loads((tmp_path / "straight" / "cnf16_m_r32" / "history.json").read_text())
    b = json.loads((tmp_path / "parts" / "cnf16_m_r32" / "history.json").read_text())
    assert [r["val_acc"] for r in a] == [r["val_acc"] for r in b] and len(b) == 4


@pytest.mark.slow  # a real SIGINT to a training subprocess, then a resume (the in-process resume tests stay)
def test_ctrl_c_saves_last_pt_exits_130_and_resume_continues(tmp_path):
    """A real Ctrl-C (SIGINT) to a real ``zoo train`` process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ("train", "cnf8 m", "--epochs", "200", "--limit", "200", "--out", "o")
    process = subprocess.Popen([sys.executable, "-m", "zoo", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    history = tmp_path / "o" / "cnf8_m" / "history.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not history.is_file():
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "zoo train: interrupted " in err and "continue with --resume" in err
    assert "Traceback" not in err
    stopped = torch.load(tmp_path / "o" / "cnf8_m" / "last.pt", weights_only=True)
    assert 1 <= stopped["epoch"] < 200 and stopped["config"]["limit"] == 200
    done = stopped["epoch"] + (1 if stopped["step_in_epoch"] else 0)
    code, out, err = main_in(tmp_path, *args[:3], str(done + 1), *args[4:], "--resume", "--json")
    assert code == 0, err
    assert [row["epoch"] for row in json.loads(history.read_text())] == list(range(1, done + 2))


def test_resume_with_other_arguments_is_refused(run):
    run("train", "cnf8", "--epochs", "1", "--limit", "100", "--out", "o")
    out = run("train", "cnf8", "--epochs", "2", "--limit", "100", "--lr", "0.01", "--out", "o", "--resume",
              check=2)
    assert "the run was started with other arguments (lr: 0.001 then, 0.01 now)" in out.stderr
    out = run("train", "cnf16", "--epochs", "2", "--out", "o", "--resume", check=1)
    assert "--resume: no run of 'cnf16' with a last.pt in o/" in out.stderr


def test_zoo_runs_without_runs(run, tmp_path):
    (tmp_path / "empty").mkdir()
    out = run("runs", "empty", check=1)
    assert "zoo runs: no runs in empty" in out.stderr
    out = run("runs", "nowhere", check=2)
    assert "zoo runs: error: no folder 'nowhere'" in out.stderr
    assert run("runs", "empty", "--json").stdout.strip() == "[]"


def test_training_goes_on_from_a_checkpoint_into_a_new_run(two_runs):
    cwd, rows, _, _ = two_runs
    from zoo.target import load_checkpoint

    code, out, err = main_in(cwd, "train", "runs/cnf16_r32_3_2/best.pt", "--epochs", "1", "--limit", "200",
                             "--out", "tuned", "--json")
    assert code == 0, err
    row = json.loads(out)[0]
    assert row["model"] == "cnf16 r32_3_2" and row["params"] == rows[1]["params"]
    assert row["val_acc"] >= rows[1]["val_acc"] - 0.1  # it starts from the trained weights
    model, stored = load_checkpoint(cwd / "tuned" / "cnf16_r32_3_2" / "last.pt")
    assert stored["spec"]["kind"] == "blocks" and stored["epoch"] == 1


def _idx(path: Path, data: torch.Tensor) -> None:
    """Write ``data`` (uint8) in MNIST's idx format."""
    import struct

    code = {1: 0x0801, 3: 0x0803}[data.dim()]
    path.write_bytes(struct.pack(">I", code) + b"".join(struct.pack(">I", d) for d in data.shape)
                     + data.numpy().tobytes())


def test_torchvision_mnist_files_in_root_are_read_without_a_download(run, tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _idx(raw / f"{prefix}-images-idx3-ubyte", torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8,
                                                                 generator=generator))
        _idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(n, dtype=torch.uint8) % 10)
    out = run("train", "cnf8 m", "--data", "mnist", "--root", "data", "--epochs", "1", "--batch", "10",
              "--out", "o", "--json")
    row = json.loads(out.stdout)[0]
    assert (row["data"], row["examples"], row["aug"]) == ("mnist", 30, "none")
    assert "mnist: 30 training and 10 validation images of 1x28x28, 10 classes" in out.stderr


def test_zoo_runs_and_import_zoo_train_need_no_torch(two_runs):
    cwd, _, _, _ = two_runs
    probe = ("import sys, zoo.train, zoo.train.runs\nfrom zoo.cli import main\ncode = main(['runs', 'runs', '--json'])\n"
             "print(code, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "0 False", out.stderr


def test_without_matplotlib_training_goes_on_without_curves_and_plot_every_is_refused(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    out = run("train", "cnf8", "--epochs", "1", "--limit", "100", "--out", "o")
    assert "note: curves.png needs matplotlib, which is not installed: training without curves.png" in out.stdout
    assert sorted(p.name for p in (tmp_path / "o" / "cnf8").iterdir()) == [
        "best.pt", "history.csv", "history.json", "last.pt", "summary.json"]
    out = run("train", "cnf8", "--epochs", "1", "--plot-every", "1", "--out", "o", check=1)
    assert "--plot-every (the block plots) needs matplotlib" in out.stderr and "zoo-cnn[plot]" in out.stderr


def test_block_plots_every_epoch_by_default_and_a_note_for_a_model_without_residual_blocks(run, tmp_path):
    out = run("train", "cnf8 m r16", "cnf8 m c16", "--epochs", "2", "--limit", "200", "--out", "o")
    assert sorted(p.name for p in (tmp_path / "o" / "cnf8_m_r16").glob("*.png")) == [
        "blocks_001.png", "blocks_002.png", "curves.png"]
    assert sorted(p.name for p in (tmp_path / "o" / "cnf8_m_c16").glob("*.png")) == ["curves.png"]
    assert "cnf8_m_c16: no residual blocks, so no block plots (of dx/x and the scale)\n" in out.stdout
    epochs = [line for line in out.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 4 and max(len(line) for line in epochs) <= 80  # COLUMNS=80: nothing wraps
    run("train", "cnf8 m r16", "--epochs", "1", "--limit", "100", "--plot-every", "0", "--out", "p")
    assert sorted(p.name for p in (tmp_path / "p" / "cnf8_m_r16").glob("*.png")) == ["curves.png"]


def test_the_recipe_knobs_are_recorded_and_compared_on_resume(run, tmp_path):
    run("train", "cnf8", "--epochs", "1", "--limit", "100", "--wd", "0.05", "--ema", "0.9", "--warmup", "3steps",
        "--out", "o")
    summary = json.loads((tmp_path / "o" / "cnf8" / "summary.json").read_text())
    assert {k: summary["recipe"][k] for k in ("wd", "ema", "warmup", "accum", "clip_grad")} == {
        "wd": 0.05, "ema": 0.9, "warmup": "3steps", "accum": 1, "clip_grad": None}
    out = run("train", "cnf8", "--epochs", "2", "--limit", "100", "--wd", "0.1", "--ema", "0.9", "--warmup", "3steps",
              "--out", "o", "--resume", check=2)
    assert "the run was started with other arguments (wd: 0.05 then, 0.1 now)" in out.stderr
    out = run("train", "cnf8", "--optimizer", "adamx", "--out", "o", check=2)
    assert "zoo train: error: optimizer 'adamx' is not known; did you mean 'adamax', 'adam', 'radam'?" in out.stderr
    out = run("train", "cnf8", "--log", "tensorbord", "--out", "o", check=2)
    assert "zoo train: error: --log 'tensorbord' is not a logger; did you mean 'tensorboard'?" in out.stderr


@pytest.mark.slow
def test_zoo_train_logs_to_tensorboard_and_mlflow_at_once(run, tmp_path):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run("train", "cnf8 m r16", "--epochs", "2", "--limit", "200", "--optimizer", "adamw", "--wd", "0.05",
        "--schedule", "cosine", "--warmup", "1", "--label-smoothing", "0.1", "--clip-grad", "1", "--accum", "2",
        "--ema", "0.99", "--mixup", "0.2", "--cutmix", "1", "--log", "tensorboard,mlflow", "--out", "o")
    folder = tmp_path / "o" / "cnf8_m_r16"
    history = json.loads((folder / "history.json").read_text())
    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    assert [s.value for s in events.Scalars("epoch/val_acc_ema")] == pytest.approx([r["val_acc_ema"] for r in history])
    client = MlflowClient(f"sqlite:///{tmp_path / 'o' / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("zoo").experiment_id])
    assert (found.data.params["mixup"], found.data.params["accum"], found.data.params["data"]) == ("0.2", "2", "digits")
    assert found.data.metrics["val_acc"] == history[-1]["val_acc"]
