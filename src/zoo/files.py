"""Files that survive a crash: every file zoo writes is whole or not there.

:func:`atomic_write` is the one way zoo writes a file (checkpoints, exports, the run
files, plots): the content goes to a temporary file in the same folder, is flushed to
the disk (``fsync``), and only then renamed over the target, so a crash, a ``SIGKILL``
or a full disk at any moment leaves either the old file or the new one, never a cut
one. A failure removes the temporary file and keeps the old file; a full disk (or a
file-size limit) is a :class:`zoo.errors.DiskFullError` naming the file.

A target that is not a regular file (``/dev/full``, a FIFO) cannot be renamed over:
the content is prepared in a temporary folder and then copied into it.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_write(folder / "a.txt") as temporary:
...     _ = temporary.write_text("hello")
>>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
('hello', ['a.txt'])
>>> write_text(folder / "a.txt", "again")
>>> (folder / "a.txt").read_text()
'again'
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import DiskFullError

__all__ = ["atomic_write", "write_text", "write_bytes", "is_disk_full", "disk_full_error", "unwritable"]

_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk or the file-size limit is full."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(path: str | os.PathLike, exc: BaseException | None = None) -> DiskFullError:
    """The :class:`DiskFullError` for ``path``."""
    reason = f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else ""
    return DiskFullError(f"disk full: {os.fspath(path)}{reason}; free some space or write elsewhere "
                         "(the file that was there is kept)")


def unwritable(folder: str | os.PathLike) -> OSError | None:
    """Make ``folder`` (and its parents) and write and remove an empty file in it: the
    error that stops it, or ``None``. Asked before a long run, so that it does not fail
    at its first checkpoint.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> unwritable(folder / "runs"), sorted(p.name for p in (folder / "runs").iterdir())
    (None, [])
    >>> (folder / "file").write_text("")
    0
    >>> type(unwritable(folder / "file" / "runs")).__name__
    'NotADirectoryError'
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".zoo-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return exc
    return None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on leaving without an exception it replaces
    ``path`` whole (after an ``fsync``). ``suffix``: the temporary file's (default:
    ``path``'s own, for writers that choose a format by it). On an exception the
    temporary file goes, ``path`` is untouched, and an ``OSError`` of a full disk
    becomes a :class:`DiskFullError`."""
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    special = path.exists() and not stat.S_ISREG(path.stat().st_mode)
    folder = Path(tempfile.mkdtemp(prefix="zoo-")) if special else (path.parent if str(path.parent) else Path("."))
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        if special:
            with open(temporary, "rb") as source, open(path, "wb") as target:
                shutil.copyfileobj(source, target)
                target.flush()
        else:
            with open(temporary, "rb+") as f:
                os.fsync(f.fileno())
            # mkstemp makes the file private (0600): give it the mode a plain open() would
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask())
            os.replace(temporary, path)
            _sync_folder(path.parent)
    except BaseException as exc:
        if is_disk_full(exc):
            raise disk_full_error(path, exc) from None
        raise
    finally:
        temporary.unlink(missing_ok=True)
        if special:
            shutil.rmtree(folder, ignore_errors=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    with atomic_write(path) as temporary, open(temporary, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`)."""
    write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: fsync the folder); best effort."""
    try:
        descriptor = os.open(folder if str(folder) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
