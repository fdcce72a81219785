"""``zoo sweep``'s engine: a family of block strings trained as an Optuna study.

One trial is one variant trained into a normal run folder of the sweep folder
(history, checkpoints, curves, ``summary.json``: ``zoo runs`` and ``zoo train
--resume`` read it as any run). The run folder is named after the variant, not the
trial, so that what was trained is never trained again:

- a variant whose folder is locked is being trained by another worker: the trial is
  pruned as a duplicate (``user_attrs["duplicate"]``), nothing trains twice;
- a variant whose ``summary.json`` is there was trained: the trial takes its result;
- a variant with a ``last.pt`` and no summary was cut off (Ctrl-C, a crash): the trial
  resumes it from there.

The study lives in ``SWEEP/study.journal`` (Optuna's journal file: several processes
on one machine share it safely), or in any database Optuna takes (``storage=``, e.g.
``postgresql://host/db``) for workers on several machines. ``resume=True`` continues a
study: the trials a dead process left running are failed and enqueued again.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RunLockedError, SweepError, TrainingError, ZooError
from .check import CheckedVariant, check_variant
from .space import SearchSpace

__all__ = ["SweepSettings", "SweepResult", "run_sweep", "SAMPLERS", "PRUNERS", "JOURNAL"]

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("halving", "hyperband", "none")
JOURNAL = "study.journal"


@dataclass
class SweepSettings:
    """How every trial trains (``zoo train``'s arguments), and the sweep's engine."""

    data: str = "digits"
    root: str | None = None
    size: int = 32
    epochs: int = 3
    batch: int = 100
    lr: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "none"
    aug: str | None = None
    limit: int | None = None
    seed: int = 0
    device: str | None = None
    workers: int = 0
    sampler: str | None = None  # None: grid where the space has one, else tpe
    pruner: str = "halving"
    max_memory: int | None = None  # bytes


@dataclass
class SweepResult:
    """What a sweep did: the study's trials as rows (``zoo runs``'s, plus ``trial``,
    ``state``), the variants that failed their checks."""

    study_name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: list[CheckedVariant] = field(default_factory=list)
    pruned: int = 0
    trained_seconds: float = 0.0


def _lock(folder: Path) -> Any:
    """The run folder's lock (:class:`zoo.train.session.RunLock`, dropped by the system
    when its process dies); :class:`~zoo.errors.RunLockedError` when another holds it."""
    from ..train.session import RunLock

    folder.mkdir(parents=True, exist_ok=True)
    return RunLock(folder).acquire()


def _storage(folder: Path, storage: str | None):
    import optuna

    if storage:
        return storage
    backend = optuna.storages.journal.JournalFileBackend(
        str(folder / JOURNAL), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(folder / JOURNAL)))
    return optuna.storages.journal.JournalStorage(backend)


def _sampler(space: SearchSpace, name: str, seed: int):
    import optuna

    if name == "grid":
        return optuna.samplers.GridSampler({n: v.grid() for n, v in space.variables.items()}, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, (space.trials or 10) // 3)))


def _pruner(name: str, epochs: int):
    import optuna

    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def train_variant(checked: CheckedVariant, settings: SweepSettings, data: Any, device: Any, folder: Path,
                  on_epoch: Callable[[int, float], None], say: Callable[[str], None]) -> dict[str, Any]:
    """The one place a sweep trains: one variant into ``folder`` (resumed from its
    ``last.pt`` when there is one) as ``zoo train`` does, ``on_epoch(epoch, val_acc)``
    at the end of each epoch (the Trainer's callback, after the epoch's checkpoint: it
    raises to stop); returns the run's summary row, also written when stopped."""
    import torch

    from ..checkpoint import Preprocessing
    from ..train.augment import BatchAugment
    from ..train.callbacks import Callback
    from ..train.recipe import Recipe
    from ..train.runs import summary_row, write_summary
    from ..train.trainer import Trainer

    class EpochEnd(Callback):
        def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
            on_epoch(row["epoch"], row.get("val_acc") or 0.0)

    variant, fit = checked.variant, checked.fit
    recipe = Recipe(batch_size=variant.knobs.get("batch", settings.batch), optimizer=settings.optimizer,
                    lr=variant.knobs.get("lr", settings.lr), schedule=settings.schedule, limit=settings.limit,
                    seed=settings.seed)
    aug = settings.aug or data.default_aug
    torch.manual_seed(settings.seed)
    trainer = Trainer(
        fit.build(), data.train, data.val, recipe, augment=BatchAugment(aug, data.mean, data.std), device=device,
        out=folder, spec=fit.spec, name=folder.name, progress="none", callbacks=[EpochEnd()],
        workers=settings.workers, extra={"data": data.name, "aug": aug},
        preprocessing=Preprocessing.from_data(data),  # zoo predict reads a trial's checkpoint as any run's
    )
    if (folder / "last.pt").is_file():
        trainer.load(folder / "last.pt")
        say(f"  resuming {folder} at epoch {trainer.epoch + 1}")
    info = {"model": variant.label, "kind": "blocks", "blocks": variant.blocks, "label": variant.label,
            "options": variant.options, "values": variant.values, "params": fit.params, "macs": fit.macs,
            "data": data.name, "input": list(data.shape), "batch": recipe.batch_size, "lr": recipe.lr,
            "optimizer": recipe.optimizer, "schedule": recipe.schedule, "aug": aug, "device": str(device),
            "folder": str(folder)}
    try:
        for row in trainer.history:  # a resumed run tells the pruner its epochs again
            on_epoch(row["epoch"], row.get("val_acc") or 0.0)
        if trainer.epoch < settings.epochs:
            trainer.fit(settings.epochs - trainer.epoch)
    except _Pruned:
        row = summary_row(folder.name, trainer.history, {**info, "pruned": True})
        write_summary(folder, row)
        raise
    row = summary_row(folder.name, trainer.history, info)
    write_summary(folder, row)
    return row


class _Pruned(Exception):
    pass


def _stale_trials(study: Any, say: Callable[[str], None]) -> None:
    """``--resume``: the trials that were cut off (Ctrl-C, a crash: failed without a
    check's error, or left running by a process that died) are queued again, once;
    their run folders resume from ``last.pt``."""
    import optuna

    states = optuna.trial.TrialState
    retried = set(study.user_attrs.get("retried", []))
    again = []
    for trial in study.get_trials(deepcopy=False, states=(states.RUNNING, states.FAIL)):
        if trial.number in retried or "error" in trial.user_attrs:
            continue
        if trial.state == states.RUNNING:
            run = trial.user_attrs.get("folder")
            if not run:
                continue  # not training yet: another worker's, alive
            try:
                _lock(Path(run)).release()
            except RunLockedError:
                continue  # alive
            study._storage.set_trial_state_values(trial._trial_id, states.FAIL)
        study.enqueue_trial(trial.params, skip_if_exists=False)
        again.append(trial.number)
        say(f"trial {trial.number} ({trial.user_attrs.get('label', trial.params)}) was cut off: queued again")
    if again:
        study.set_user_attr("retried", sorted(retried | set(again)))


def _counted(study: Any) -> int:
    import optuna

    states = optuna.trial.TrialState
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (states.COMPLETE, states.PRUNED, states.RUNNING)
               or (t.state == states.FAIL and "error" in t.user_attrs))


def run_sweep(space: SearchSpace, settings: SweepSettings, folder: str | Path, *, trials: int | None = None,
              storage: str | None = None, study_name: str | None = None, resume: bool = False,
              say: Callable[[str], None] = print) -> SweepResult:
    """Check every variant, then train the family as an Optuna study into ``folder``.

    >>> from zoo.sweep.space import SearchSpace
    >>> space = SearchSpace.from_grid("cnf{w} m r{2*w}", ["w=4,8"])
    >>> result = run_sweep(space, SweepSettings(epochs=1, limit=200), tmp / "sweep", say=lambda _: None)  # doctest: +SKIP
    """
    from ..extras import require
    from ..train.data import load_data
    from ..train.distributed import from_environment

    optuna = require("optuna", "zoo sweep")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # zoo says what failed, once
    epochs = space.epochs or settings.epochs
    settings = SweepSettings(**{**settings.__dict__, "epochs": epochs})
    data = load_data(settings.data, settings.root, size=settings.size, seed=settings.seed)
    _, device = from_environment(settings.device)

    size = space.grid_size()
    sampler = settings.sampler or ("grid" if size is not None else "tpe")
    if sampler == "grid" and size is None:
        space.grid()  # raises: which variable has no grid
    checked: dict[str, CheckedVariant] = {}
    if size is not None and size <= 10_000:  # every variant checked before anything trains
        for variant in space.grid():
            checked[variant.label] = check_variant(variant, data, settings.batch, settings.max_memory)
        failed = [c for c in checked.values() if not c.ok]
        say(f"{size} variant{'s' if size != 1 else ''}: {size - len(failed)} pass the checks"
            + (f", {len(failed)} fail:" if failed else ""))
        for c in failed:
            say(f"  {c.variant.label}: {c.error.splitlines()[0]}")
        if len(failed) == size:
            raise SweepError(f"no variant of {space.template.text!r} passes the checks (see above): fix the "
                             "template or the values")
    budget = trials or space.trials or (size if sampler == "grid" else None)
    if budget is None:
        raise SweepError("--trials: give the number of trials (the space has ranges of real numbers)")

    name = study_name or folder.resolve().name
    local = storage is None
    exists = local and (folder / JOURNAL).is_file() and (folder / JOURNAL).stat().st_size > 0
    if exists and not resume and study_name is None:
        raise SweepError(f"{folder} holds a study already: continue it with --resume, join it as one more worker "
                         "with --study NAME, or sweep into another --out")
    study = optuna.create_study(storage=_storage(folder, storage), study_name=name, direction="maximize",
                                sampler=_sampler(space, sampler, settings.seed), pruner=_pruner(settings.pruner, epochs),
                                load_if_exists=True)
    if resume:
        _stale_trials(study, say)
    result = SweepResult(name)

    def objective(trial: Any) -> float:
        values = {n: v.suggest(trial) for n, v in space.variables.items()}
        variant = space.variant(values)
        trial.set_user_attr("label", variant.label)
        found = checked.get(variant.label)
        if found is None:
            found = checked[variant.label] = check_variant(variant, data, settings.batch, settings.max_memory)
        if not found.ok:
            trial.set_user_attr("error", found.error)
            raise _VariantFailed(found.error)
        from ..train.runs import run_name

        run = folder / run_name(variant.label)
        try:
            lock = _lock(run)
        except RunLockedError:
            trial.set_user_attr("duplicate", str(run))
            say(f"trial {trial.number}: {variant.label}: another worker trains it")
            raise optuna.TrialPruned() from None
        try:
            trial.set_user_attr("folder", str(run))  # once locked: --resume tells a dead trial by its free lock
            trial.set_user_attr("params", found.fit.params)
            summary = _read_summary(run)
            if summary is not None and (summary.get("pruned") or summary.get("epochs", 0) >= epochs):
                trial.set_user_attr("duplicate", str(run))
                if summary.get("pruned"):
                    raise optuna.TrialPruned()
                return summary["val_acc"]

            def on_epoch(epoch: int, acc: float) -> None:
                trial.report(acc, epoch)
                say(f"trial {trial.number}: {variant.label}: epoch {epoch} acc {acc:.4f}")
                if epoch < epochs and trial.should_prune():
                    say(f"trial {trial.number}: pruned after epoch {epoch}")
                    raise _Pruned

            start = time.perf_counter()
            try:
                row = train_variant(found, settings, data, device, run, on_epoch, say)
            except _Pruned:
                raise optuna.TrialPruned() from None
            finally:
                result.trained_seconds += time.perf_counter() - start
            return row["val_acc"]
        finally:
            lock.release()

    while _counted(study) < budget:
        if sampler == "grid":
            missing = _missing(study, space)
            if not missing:
                break
            if _grid_taken(study, size):  # the grid sampler counts a cut-off trial as seen: queue it again
                study.enqueue_trial(missing[0], skip_if_exists=False)
        before = _finished(study)
        study.optimize(objective, n_trials=1, catch=(_VariantFailed, TrainingError))
        if _finished(study) == before:  # nothing ran (the sampler stopped the study)
            break
    result.rows = study_rows(study)
    result.failed = [c for c in checked.values() if not c.ok]
    result.pruned = sum(1 for row in result.rows if row["state"] == "pruned" and not row.get("duplicate"))
    return result


class _VariantFailed(ZooError, ValueError):
    """A variant that fails its checks: its trial fails with the message."""


def _finished(study: Any) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())


def _grid_taken(study: Any, size: int | None) -> bool:
    """Whether the grid sampler has started every point of the grid (a trial that
    failed, even cut off, counts for it)."""
    taken = {t.system_attrs.get("grid_id") for t in study.get_trials(deepcopy=False)}
    return size is not None and len(taken - {None}) >= size


def _missing(study: Any, space: SearchSpace) -> list[dict[str, Any]]:
    """The grid's values of the variants no trial has finished (a check's failure
    counts as finished) and none is training."""
    import optuna

    states = optuna.trial.TrialState
    done = {t.user_attrs.get("label") for t in study.get_trials(deepcopy=False)
            if t.state in (states.COMPLETE, states.PRUNED, states.RUNNING)
            or (t.state == states.FAIL and "error" in t.user_attrs)}
    return [variant.values for variant in space.grid() if variant.label not in done]


def _read_summary(run: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads((run / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def study_rows(study: Any) -> list[dict[str, Any]]:
    """Each trial of ``study`` as a row: its run's summary (``zoo runs``'s row) where it
    trained, with ``trial``, ``state`` and ``error``/``duplicate``."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        run = trial.user_attrs.get("folder")
        summary = _read_summary(Path(run)) if run else None
        row = dict(summary or {"run": trial.user_attrs.get("label", str(trial.params)),
                               "blocks": trial.user_attrs.get("label")})
        row.update(trial=trial.number, state=trial.state.name.lower(), label=trial.user_attrs.get("label"))
        for key in ("error", "duplicate"):
            if key in trial.user_attrs:
                row[key] = trial.user_attrs[key]
        rows.append(row)
    return rows


def settings_from_args(args: argparse.Namespace) -> SweepSettings:
    """The settings of ``zoo sweep``'s arguments."""
    names = SweepSettings.__dataclass_fields__
    return SweepSettings(**{k: v for k, v in vars(args).items() if k in names})

