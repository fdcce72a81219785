"""Writes are atomic (zoo.files): a full disk or a failed check keeps the file that was
there. A full disk is real here: /dev/full, or a file-size limit (RLIMIT_FSIZE) on a
process of its own, which makes the kernel refuse the write (EFBIG) as a full disk
refuses it (ENOSPC)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.errors import DiskFullError
from zoo.files import atomic_write, write_text

FULL = Path("/dev/full")


def _limited(code: str, cwd: Path, limit: int) -> subprocess.CompletedProcess:
    """``code`` in a Python process that cannot write a file beyond ``limit`` bytes."""
    prelude = textwrap.dedent(f"""\
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_a_full_disk_keeps_the_history_there_was(tmp_path):
    from zoo.train.runs import write_history

    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_acc": 0.5} for e in range(1, 3)]
    write_history(tmp_path, rows)
    before = {name: (tmp_path / name).read_bytes() for name in ("history.json", "history.csv")}
    out = _limited("""\
        from pathlib import Path
        from zoo.errors import DiskFullError
        from zoo.train.runs import write_history
        rows = [{"epoch": e, "train_loss": 1.0 / e, "val_acc": 0.5} for e in range(1, 400)]
        try:
            write_history(Path("."), rows)
        except DiskFullError as exc:
            print(exc)
    """, tmp_path, limit=4096)
    assert out.stdout.startswith("disk full: history.json (File too large); free some space"), out.stderr
    assert {name: (tmp_path / name).read_bytes() for name in before} == before  # the 2 epochs are still there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "history.json"]  # no temporary file


@pytest.mark.slow  # a process of its own that imports torch
def test_a_full_disk_keeps_the_checkpoint_there_was(tmp_path):
    out = _limited("""\
        import torch
        from zoo.checkpoint import write_checkpoint, read_checkpoint
        from zoo.errors import DiskFullError
        from zoo.target import resolve_model
        small = resolve_model("cnf4", num_classes=2)
        write_checkpoint("best.pt", small.build(), spec=small)
        big = resolve_model("cnf64 c64 c64", num_classes=2)
        try:
            write_checkpoint("best.pt", big.build(), spec=big)
        except DiskFullError as exc:
            print(exc)
        print(read_checkpoint("best.pt").spec["text"])
    """, tmp_path, limit=64 * 1024)
    assert out.stdout.splitlines() == [
        "disk full: best.pt (File too large); free some space or write elsewhere (the file that was there is kept)",
        "cnf4"], out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full")
def test_dev_full_is_a_disk_full_error_with_the_path():
    with pytest.raises(DiskFullError, match=r"^disk full: /dev/full \(No space left on device\)"):
        write_text(FULL, "x" * 100_000)


@pytest.mark.slow  # an export
@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full")
def test_an_export_to_dev_full_is_a_disk_full_error(capsys):
    code = main(["export", "cnf8", "--format", "torchscript", "--input", "3,8,8", "-o", str(FULL)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: disk full: /dev/full (No space left on device)") and "Traceback" not in err


def test_a_failure_inside_keeps_the_old_file(tmp_path):
    path = tmp_path / "summary.json"
    write_text(path, json.dumps({"val_acc": 0.9}))
    with pytest.raises(RuntimeError, match="half-way"):
        with atomic_write(path) as temporary:
            temporary.write_text('{"val_acc": ')
            raise RuntimeError("half-way")
    assert json.loads(path.read_text()) == {"val_acc": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_export_that_fails_its_check_keeps_the_file_there_was(tmp_path, capsys):
    fixture = Path(__file__).parent / "fixtures" / "untraceable.py"
    target = tmp_path / "n.pt"
    target.write_bytes(b"the good old export")
    code = main(["export", f"{fixture}:build_noisy", "--input", "3,8,8", "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 1 and err.rstrip().endswith("; allowed < 0.0001); the file that was there is kept"), err
    assert target.read_bytes() == b"the good old export"
    assert [p.name for p in tmp_path.iterdir()] == ["n.pt"]
