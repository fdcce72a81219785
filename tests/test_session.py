"""Runs are identified by what they train (zoo.train.session), one process holds a run,
SIGTERM saves like Ctrl-C, and ``zoo runs`` prints what files say as plain text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from zoo.cli import main
from zoo.train.session import RunLock, run_folder_name


def _name(kind: str, text: str) -> str:
    return run_folder_name(SimpleNamespace(kind=kind, text=text, name=text.split(":", 1)[-1]))


def test_run_folder_names_do_not_collide():
    names = [_name("timm", "timm:resnet18"), _name("preset", "resnet18"), _name("torchvision", "torchvision:resnet18"),
             _name("blocks", "(cnf8 m) r16"), _name("blocks", "cnf8 m r16"), _name("blocks", "cnf8  m r16")]
    assert names[:3] == ["timm-resnet18", "resnet18", "torchvision-resnet18"]
    assert names[4] == "cnf8_m_r16" and names[3].startswith("cnf8_m_r16_") and len(set(names)) == len(names)
    long_a, long_b = "r32 " * 30 + "r64", "r32 " * 30 + "r128"
    a, b = _name("blocks", long_a), _name("blocks", long_b)
    assert a != b and a.rsplit("_", 1)[0] == b.rsplit("_", 1)[0] == ("r32_" * 15)[:-1]  # cut, + a hash of all


def test_resume_refuses_another_model_or_options_with_the_list(run):
    run("train", "cnf8", "--epochs", "1", "--limit", "100", "--out", "o")
    out = run("train", "cnf8", "--set", "fun=gelu", "--epochs", "2", "--limit", "100", "--out", "o", "--resume",
              check=2)
    assert "--resume o/cnf8: the run was started with other arguments (option fun: not set then, 'gelu' now)" \
        in out.err
    assert json.loads(Path("o/cnf8/history.json").read_text())[0]["epoch"] == 1  # untouched
    assert [p.name for p in Path("o").iterdir()] == ["cnf8"]


def test_a_second_process_is_told_who_holds_the_run(run):
    run("train", "cnf8", "--epochs", "1", "--limit", "100", "--out", "o")
    with RunLock(Path("o/cnf8")):  # another open file: flock refuses it even in this process
        out = run("train", "cnf8", "--epochs", "2", "--limit", "100", "--out", "o", "--resume", check=1)
    assert f"zoo: error: o/cnf8 is in use: pid {os.getpid()} on " in out.err
    assert "wait for it to end, or train into another --out" in out.err
    assert not Path("o/cnf8/.lock").exists()  # released and removed
    run("train", "cnf8", "--epochs", "2", "--limit", "100", "--out", "o", "--resume")
    assert len(json.loads(Path("o/cnf8/history.json").read_text())) == 2


def test_a_failed_build_leaves_no_run_folder(run, tmp_path):
    (tmp_path / "nets.py").write_text(
        "import torch\n"
        "def build(num_classes=10, in_chans=3):\n"
        "    if torch.empty(0).device.type != 'meta':\n"
        "        raise MemoryError('no memory for the real thing')\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_chans * 64, num_classes))\n")
    with pytest.raises(MemoryError):
        main(["train", "nets.py:build", "--epochs", "1", "--out", "o"])
    assert not Path("o").exists() or not any(Path("o").iterdir())


def test_resume_repairs_a_best_pt_left_missing_or_stale(run):
    run("train", "cnf8 m", "--epochs", "1", "--limit", "200", "--out", "o")
    last = torch.load("o/cnf8_m/last.pt", weights_only=True)
    assert last["best"]["epoch"] == last["epoch"] == 1  # the last epoch is the best: best.pt is its copy
    for damage in ("missing", "stale"):
        if damage == "missing":  # as SIGKILL before its rename leaves it in a new run
            Path("o/cnf8_m/best.pt").unlink()
        else:  # as a crash between the writes of an epoch leaves it
            torch.save({**last, "epoch": 0, "model": {k: v * 0 for k, v in last["model"].items()}}, "o/cnf8_m/best.pt")
        out = run("train", "cnf8 m", "--epochs", "1", "--limit", "200", "--out", "o", "--resume")
        assert "cnf8_m: already trained for 1 epochs (--epochs 1)" in out.out
        repaired = torch.load("o/cnf8_m/best.pt", weights_only=True)
        assert repaired["epoch"] == 1 and all(torch.equal(repaired["model"][k], v) for k, v in last["model"].items())


@pytest.mark.slow  # a real SIGTERM to a training subprocess
def test_sigterm_saves_like_ctrl_c(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "zoo", "train", "cnf8 m", "--epochs", "200", "--limit", "200",
                                "--out", "o"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    history = tmp_path / "o" / "cnf8_m" / "history.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not history.is_file():
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "zoo train: interrupted " in err and "continue with --resume" in err and "Traceback" not in err
    stopped = torch.load(tmp_path / "o" / "cnf8_m" / "last.pt", weights_only=True)
    assert 1 <= stopped["epoch"] < 200
    assert not (tmp_path / "o" / "cnf8_m" / ".lock").exists()


HOSTILE = "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 [bold red]red[/] \x1b[2J\r"


def test_zoo_runs_prints_file_text_as_text_and_skips_a_bad_run(run, tmp_path):
    good = {"run": "good", "val_acc": 0.9, "seconds_per_1e6": 10.0, "params": 1500, "macs": 200000, "epochs": 3,
            "blocks": "cnf8 " + HOSTILE, "model": "cnf8"}
    for name, text in (("a", json.dumps(good)), ("b", "[1, 2, 3]"), ("c", '{"val_acc": "high"}'), ("d", "{cut")):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "summary.json").write_text(text)
    out = run("runs", "runs")
    assert "\x1b" not in out.out and "\r" not in out.out
    text = "".join(line.strip("│ ") for line in out.out.splitlines())
    assert "\\x1b]8;;http://evil.example\\x07click" in text and "[bold red]red[/]" in text
    assert "0.9000" in out.out and "1 run in runs" in out.out
    assert out.err.count("zoo: warning: ") == 3
    assert "runs/b/summary.json: holds list, not a run's summary (a mapping); run skipped" in out.err
    assert "runs/c/summary.json: val_acc is str, not int or float; run skipped" in out.err
    assert "runs/d/summary.json: not readable JSON (" in out.err


def test_a_malformed_history_does_not_break_later_curves(tmp_path):
    from zoo.train.runs import earlier_runs, plot_curves

    for name, text in (("bad", '[{"epoch": "one"}, 3]'), ("worse", '{"epoch": 1}'), ("good", '[{"epoch": 1, "val_acc": 0.5, "val_loss": 1.0}]')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "history.json").write_text(text)
    (tmp_path / "new").mkdir()
    earlier = earlier_runs(tmp_path / "new")
    assert earlier == [("good", [{"epoch": 1, "val_acc": 0.5, "val_loss": 1.0}])]
    figure = plot_curves("new", [{"epoch": 1, "val_acc": 0.6, "val_loss": 0.9}], earlier)
    (legend,) = figure.legends  # beside the plots: the good earlier run drawn and named
    assert [t.get_text() for t in legend.get_texts()] == ["training", "validation", "new (this run)", "good"]


def test_zoo_list_prints_a_preset_description_as_text(run, tmp_path, monkeypatch):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine.yaml").write_text(
        'name: mine\ndescription: "mine \\e]8;;http://evil.example\\a[b]x[/b]\\e[2J"\ninput: [3, 8, 8]\n'
        "blocks: cnf8\nhead: {num_classes: 2}\n")
    monkeypatch.setenv("ZOO_PRESET_PATH", str(tmp_path / "presets"))
    out = run("list", "mine")
    assert "\x1b" not in out.out and "\x07" not in out.out
    assert "mine \\x1b]8;;http://evil.example\\x07[b]x[/b]\\x1b[2J" in out.out
