"""``torchrun -m zoo train``: two real processes (gloo, CPU) against one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ARGS = ("train", "cnf8 m r16", "--data", "digits", "--epochs", "2", "--limit", "400", "--batch", "100",
        "--aug", "none", "--json")


def launch(cwd: Path, *args: str, processes: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, "-m", "zoo", *args]
    else:  # --standalone: a rendezvous on a free local port
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   "-m", "zoo", *args]
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


@pytest.mark.slow
def test_two_processes_with_sync_bn_equal_one_process_at_the_same_global_batch(tmp_path):
    two = launch(tmp_path, *ARGS, "--sync-bn", "--out", "two", processes=2)
    rows = json.loads(two.stdout)  # rank 0 alone prints: one JSON document
    assert len(rows) == 1 and rows[0]["world_size"] == 2
    first, second = rows[0]["rank_checksums"]
    assert first == second  # both ranks end with the same weights
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["cnf8_m_r16"]  # rank 0 alone writes
    assert sorted(p.name for p in (tmp_path / "two" / "cnf8_m_r16").iterdir()) == [
        "best.pt", "blocks_001.png", "blocks_002.png", "curves.png", "history.csv", "history.json", "last.pt",
        "summary.json"]  # the block plots every epoch, by default
    one = json.loads(launch(tmp_path, *ARGS, "--out", "one", processes=1).stdout)
    a, b = weights(tmp_path / "one" / "cnf8_m_r16" / "last.pt"), weights(tmp_path / "two" / "cnf8_m_r16" / "last.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5, rtol=1e-4), key
    assert rows[0]["examples"] == one[0]["examples"] == 800
    assert rows[0]["val_acc"] == pytest.approx(one[0]["val_acc"], abs=1 / 360)


@pytest.mark.slow
def test_two_processes_without_sync_bn_end_with_identical_weights(tmp_path):
    rows = json.loads(launch(tmp_path, *ARGS, "--out", "two", processes=2).stdout)
    first, second = rows[0]["rank_checksums"]
    assert first == second and rows[0]["examples"] == 800
