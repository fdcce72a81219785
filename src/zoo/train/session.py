"""A training session: one model trained into its run folder, as ``zoo train`` does it.

What a run is lives here, not in the command: :func:`train_run` finds or makes the
run folder, takes its lock, resumes (only a run of the same model, options and data),
builds the model, trains it with :class:`zoo.Trainer`, and writes
``summary.json``. The command only parses arguments and maps errors to exit codes.

- **A run is identified by what it trains.** Folder names cannot collide between
  kinds (:func:`run_folder_name`: ``timm-resnet18`` beside the preset ``resnet18``; a
  block string that loses characters in a file name, or a long one, gets a hash of
  its text), and ``--resume`` compares the stored model spec, options and data with
  the command's (:func:`resume_differences`), refusing any difference with the list.
- **One process per run folder**: a lock (``.lock``, held with ``flock`` and naming
  its holder's pid and host) is released when the process ends, even by ``SIGKILL``;
  a second process is told who holds it (:class:`~zoo.errors.RunLockedError`).
- **Nothing half-made**: the model is built before the folder is made (a failed build
  leaves no empty folder); ``best.pt`` is written before ``last.pt`` and the history,
  so it is never older than what they and ``summary.json`` report; ``--resume``
  repairs a ``best.pt`` a crash left behind.

>>> from types import SimpleNamespace as Spec
>>> run_folder_name(Spec(kind="timm", text="timm:resnet18", name="resnet18"))
'timm-resnet18'
>>> run_folder_name(Spec(kind="preset", text="resnet18", name="resnet18"))
'resnet18'
>>> [run_folder_name(Spec(kind="blocks", text=text, name=text)) for text in ("cnf8 m r16", "(cnf8 m) r16")]
['cnf8_m_r16', 'cnf8_m_r16_be79f88e']
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import OptionError, RunLockedError, TrainingError
from ..format import format_fixed

__all__ = ["run_folder_name", "RunLock", "resume_differences", "train_run"]

_PLAIN_BLOCKS = re.compile(r"[A-Za-z0-9_]+( [A-Za-z0-9_]+)*")
_LONGEST = 60


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def run_folder_name(spec: Any) -> str:
    """The folder name of a model's runs (runs of it are ``NAME``, ``NAME-2``, ...):
    readable, and different for different models (see the module's notes)."""
    from .runs import run_name

    text = spec.text
    if spec.kind == "blocks":  # plain tokens, single spaces: the text comes back from the name
        exact = _PLAIN_BLOCKS.fullmatch(text) is not None
        name = run_name(text)
    elif spec.kind in ("timm", "torchvision"):
        name, exact = f"{spec.kind}-{run_name(spec.name)}", True
    elif spec.kind == "factory":
        name, exact = f"code-{run_name(spec.name)}", False
    elif spec.kind == "file":
        name, exact = run_name(text), False
    else:  # a preset: its name is a file name already
        name, exact = run_name(spec.name), True
    if exact and len(name) <= _LONGEST:
        return name
    return f"{name[:_LONGEST].rstrip('_.-')}_{_hash(f'{spec.kind}:{text}')}"


class RunLock:
    """The lock of a run folder (``FOLDER/.lock``): held while a process trains into it.

    ``flock`` on the open file: the system releases it when the process ends, however
    it ends, so a crash leaves no stale lock (a file without a lock on it means
    nothing). The file names the holder (pid, host) for the message another process
    gets, and is removed when the run ends."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / ".lock"
        self._file = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; runs are not locked there
            return self
        for _ in range(100):
            handle = open(self.path, "a+")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise RunLockedError(f"{self.folder} is in use: {holder} is training into it; wait for it to "
                                     "end, or train into another --out") from None
            try:  # the holder before may have removed the file while we waited for it: lock the new one
                same = os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            handle.close()
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            self.path.unlink(missing_ok=True)  # while still held: no one locks a file about to go
            self._file.close()  # closing releases the flock
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _new_folder(out: Path, name: str) -> Path:
    """A new run folder, made: ``out/name``, else the next ``-N`` free (two processes
    starting at once get two folders)."""
    from .runs import new_run_folder

    out.mkdir(parents=True, exist_ok=True)
    for _ in range(1000):
        folder = new_run_folder(out, name)
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise TrainingError(f"cannot make a new run folder for {name} in {out}")


def _identity(spec: dict[str, Any] | None) -> dict[str, Any]:
    """What a stored spec says the model is, for comparing two runs."""
    spec = spec or {}
    found = {"model": spec.get("text"), "kind": spec.get("kind"), "num_classes": spec.get("num_classes"),
             "channels": spec.get("channels")}
    for key, value in sorted((spec.get("options") or {}).items()):
        found[f"option {key}"] = value
    preset = spec.get("preset") or {}
    for key in ("input", "blocks", "options", "head"):
        if key in preset:
            found[f"preset {key}"] = preset[key]
    return found


def resume_differences(stored: dict[str, Any], spec: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """What differs between a run's checkpoint (``stored``: its dict) and the model spec
    (:meth:`~zoo.target.ModelSpec.to_dict`) and arguments (``config``) of a command
    that resumes it, as ``"KEY: OLD then, NEW now"``.

    >>> stored = {"spec": {"kind": "preset", "text": "r32m", "options": {}}, "config": {"lr": 0.001}}
    >>> resume_differences(stored, {"kind": "preset", "text": "r32m", "options": {"fun": "gelu"}}, {"lr": 0.01})
    ["option fun: not set then, 'gelu' now", 'lr: 0.001 then, 0.01 now']
    """
    then, now = _identity(stored.get("spec")), _identity(spec)
    changed = [f"{key}: {_said(then.get(key), key in then)} then, {_said(now.get(key), key in now)} now"
               for key in dict.fromkeys([*then, *now]) if then.get(key) != now.get(key)]
    old = stored.get("config") or {}  # the recipe (zoo.train.Recipe.to_dict()), the data and augmentation
    changed += [f"{key}: {old.get(key)!r} then, {config[key]!r} now" for key in config
                if key in old and old.get(key) != config[key]]
    return changed


def _said(value: Any, present: bool) -> str:
    return repr(value) if present and value is not None else "not set"


def _repair_best(folder: Path, checkpoint: dict[str, Any]) -> None:
    """A crash between the writes of an epoch can leave ``best.pt`` older than the best
    epoch that ``last.pt`` records; when ``last.pt`` is that epoch, it is the best."""
    from ..checkpoint import read_checkpoint
    from ..errors import ZooError

    best = checkpoint.get("best") or {}
    if best.get("epoch") is None or best.get("epoch") != checkpoint.get("epoch") or checkpoint.get("step_in_epoch"):
        return
    path = folder / "best.pt"
    try:
        stale = read_checkpoint(path, need_spec=False).data.get("epoch") != best["epoch"] if path.exists() else True
    except ZooError:
        stale = True
    if stale:
        from ..files import atomic_write

        with atomic_write(path) as temporary:
            shutil.copyfile(folder / "last.pt", temporary)


def _open_run(args: Any, fit: Any, out: Path, config: dict[str, Any]) -> tuple[Path | None, dict | None, RunLock | None]:
    """Rank 0: the run folder (resumed or new, locked) and the checkpoint to resume."""
    from ..checkpoint import read_checkpoint
    from .runs import latest_run_folder

    name = run_folder_name(fit.spec)
    if not args.resume:
        folder = _new_folder(out, name)
        return folder, None, RunLock(folder).acquire()
    folder = latest_run_folder(out, name)
    if folder is None:
        raise TrainingError(f"--resume: no run of {fit.name!r} with a last.pt in {out}/ (looked for {name}); "
                            "train it without --resume first")
    lock = RunLock(folder).acquire()
    try:
        checkpoint = read_checkpoint(folder / "last.pt", trust_code=getattr(args, "trust_code", False)).data
        changed = resume_differences(checkpoint, fit.spec.to_dict(), config)
        if changed:
            raise OptionError(f"--resume {folder}: the run was started with other arguments "
                              f"({'; '.join(changed)}); resume with the same ones, or train a new run without "
                              "--resume")
        _repair_best(folder, checkpoint)
    except BaseException:
        lock.release()
        raise
    return folder, checkpoint, lock


def train_run(args: Any, spec: Any, fit: Any, data: Any, distributed: Any, device: Any, out: Path,
              say: Any) -> dict[str, Any]:
    """Train one model (``fit``: :func:`zoo.train.fit_to_data`'s) as ``zoo train`` does,
    with the command's settings ``args`` (the attributes of ``zoo train``'s options);
    returns its row of the comparison table (also ``summary.json``)."""
    import torch

    from ..checkpoint import Preprocessing

    aug = args.aug or data.default_aug
    config = {**args.recipe.to_dict(), "data": data.name, "aug": aug}  # what the checkpoint's "config" stores
    torch.manual_seed(args.seed)
    model = fit.build()  # before any folder is made: a failed build leaves nothing behind
    folder = checkpoint = lock = None
    if distributed.main:
        folder, checkpoint, lock = _open_run(args, fit, out, config)
    try:
        folder_name, checkpoint = distributed.broadcast((str(folder) if folder else None, checkpoint))
        folder = Path(folder_name) if folder_name else None
        name = folder.name if folder is not None else run_folder_name(fit.spec)
        return _train(args, spec, fit, data, distributed, device, say, model, folder, name, checkpoint, aug,
                      Preprocessing.from_data(data))
    finally:
        if lock is not None:
            lock.release()
            if checkpoint is None and folder is not None and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()  # a run that failed before its first file leaves no empty folder


def _train(args, spec, fit, data, distributed, device, say, model, folder, name, checkpoint, aug,
           preprocessing) -> dict[str, Any]:
    from .augment import BatchAugment
    from .runs import summary_row, write_summary
    from .trainer import Interrupted, Trainer

    if checkpoint is not None:
        planned = checkpoint.get("planned_epochs")
        scheduled = args.schedule != "none" or args.recipe.warmup_epochs or args.recipe.warmup_steps
        if scheduled and planned not in (None, args.epochs):
            raise OptionError(f"--resume {folder}: its {args.schedule} schedule was planned for {planned} epochs; "
                              f"resume with --epochs {planned} (or use --schedule none)")
    for note in fit.notes:
        say(note)
    if getattr(args, "pretrained", None) and checkpoint is None:  # a resumed run has its own weights
        _load_pretrained(model, args.pretrained, name, say)
    monitor = None
    callbacks = []
    if args.plot_every:
        from ..monitor.stats import residual_blocks
        from ..network import find_cnn

        cnn = find_cnn(model)
        if cnn is not None and not residual_blocks(cnn):
            say(f"{name}: no residual blocks, so no block plots (of dx/x and the scale)")
        elif cnn is not None:
            from ..monitor.block_monitor import BlockMonitor

            # debug statistics on, the block plot into the run every --plot-every epochs
            monitor = BlockMonitor(model, every=10**9, table=False, plot_epochs=args.plot_every)
            callbacks.append(monitor)
    from .loggers import make_loggers

    callbacks += make_loggers(args.log, mlflow_uri=args.mlflow_uri)
    trainer = Trainer(
        model, data.train, data.val, args.recipe, augment=BatchAugment(aug, data.mean, data.std), device=device,
        channels_last=args.channels_last, compile=args.compile, out=folder if distributed.main else None,
        spec=fit.spec, name=name, progress="none" if args.json else "auto", callbacks=callbacks,
        distributed=distributed, sync_bn=args.sync_bn, workers=args.workers,
        extra={"data": data.name, "aug": aug}, preprocessing=preprocessing,
    )
    if checkpoint is not None:
        trainer.load(checkpoint)
        say(f"{name}: resuming {folder} at epoch {trainer.epoch + 1}"
            + (f", step {trainer.step_in_epoch + 1}" if trainer.step_in_epoch else ""))
    elif folder is not None:
        say(f"{name}: {fit.params:,} parameters, {format_fixed(fit.macs, 1e6, 1, 'M')} MACs per image -> {folder}")
    remaining = args.epochs - trainer.epoch
    try:
        if remaining > 0:
            trainer.fit(remaining, period_plot=(args.plot_every or args.epochs) if args.plots else 0)
        elif distributed.main:
            say(f"{name}: already trained for {trainer.epoch} epochs (--epochs {args.epochs})")
    except Interrupted as exc:
        if distributed.main:
            print(f"zoo train: {exc}", file=sys.stderr)
        raise
    finally:
        if monitor is not None:
            monitor.close()
    info = {"model": fit.name, "kind": spec.kind, "weights_from": fit.weights, "blocks": fit.blocks,
            "params": fit.params, "macs": fit.macs, "data": data.name, "batch": args.batch, "lr": args.lr,
            "optimizer": args.optimizer, "schedule": args.schedule, "aug": aug, "world_size": distributed.world,
            "device": str(device), "folder": str(folder) if folder else None, "recipe": args.recipe.to_dict()}
    if trainer.rank_checksums:
        info["rank_checksums"] = trainer.rank_checksums
    row = summary_row(name, trainer.history, info)
    if distributed.main and folder is not None:
        write_summary(folder, row)
    return row


def _load_pretrained(model: Any, source: Any, name: str, say: Any) -> None:
    """``--pretrained``: timm's weights (or a file's) into the model, through timm's loader;
    what does not fit (a new head) is left out with a note."""
    import warnings

    from ..errors import ZooWarning
    from ..timm_bridge import load_pretrained

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ZooWarning)
        load_pretrained(model, source)
    say(f"{name}: pretrained weights from {source if source is not True else 'timm'}")
    for warning in caught:
        say(f"note: {warning.message}")
