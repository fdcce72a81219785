"""``zoo.Trainer``: the document's training loop, fast, exact to resume, on 1..N devices.

One step is what a hand-written loop does (forward, loss, backward, optimizer,
schedule) plus the loss and the number of correct answers added to two numbers on
the device; the host reads them only every few steps, without waiting for the
device (a copy made at the previous reading), so the loop adds no synchronisation.

A checkpoint (``last.pt``, ``best.pt``) holds the model's spec and weights, the
optimizer, schedule and gradient scaler, the random states, the epoch and step
within it and the history: :meth:`Trainer.load` continues a run exactly where it
stopped, even within an epoch (the order of examples of an epoch is a function of the
seed and the epoch, as torch's ``DistributedSampler`` draws it).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import OptionError, TrainingError, did_you_mean
from .augment import BatchAugment
from .data import TensorSplit, as_split
from .distributed import Distributed
from .progress import Progress

__all__ = ["Trainer", "OPTIMIZERS", "SCHEDULES", "AMP"]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "cosine", "onecycle")
AMP = ("bf16", "fp16")
CHECK_EVERY = 10  # steps between two readings of the running loss (progress, NaN)


def _choice(what: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise OptionError(f"{what} {value!r} is not known{did_you_mean(str(value), choices)} (one of {', '.join(choices)})")
    return value


class _Interrupt:
    """Ctrl-C during :meth:`Trainer.fit`: the first one asks the loop to stop after the
    current step (and save), a second one stops at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C; ``checkpoint`` is the ``last.pt`` written, if any."""

    def __init__(self, message: str, checkpoint: Path | None):
        super().__init__(message)
        self.checkpoint = checkpoint


class Trainer:
    """Train a classifier on image data, as the document's QuNet ``Trainer`` does.

    ``train_data``/``val_data``: ``(images, labels)`` tensors (uint8 images are scaled
    to 0..1), a torch ``Dataset``, or a split of :func:`zoo.train.load_data`.
    ``optimizer``: ``"adam"`` (the document's), ``"adamw"``, ``"sgd"`` (momentum 0.9)
    or a ``torch.optim.Optimizer``; ``schedule``: ``"none"``, ``"cosine"``,
    ``"onecycle"`` (per step, over the epochs of the first :meth:`fit`). ``augment``:
    a callable ``(batch, train) -> batch`` run on the device, e.g.
    :class:`zoo.train.BatchAugment`. ``out``: the run folder (history, checkpoints,
    plots); ``spec``: the :class:`zoo.target.ModelSpec` stored in checkpoints so that
    ``zoo.create(out / "best.pt")`` rebuilds the model. ``distributed``: this
    process's place under torchrun (:func:`zoo.train.distributed.from_environment`).

    >>> import torch, zoo, zoo.target
    >>> from zoo.train import load_data
    >>> data = load_data("digits")
    >>> _ = torch.manual_seed(0)
    >>> model = zoo.target.resolve_model("cnf16 r32_3_2").with_data(num_classes=10, channels=1).build()
    >>> trainer = Trainer(model, data.train, data.val, batch_size=64, limit=640, progress="none",
    ...                   augment=zoo.train.BatchAugment("none", data.mean, data.std))
    >>> history = trainer.fit(epochs=2)
    >>> [(row["epoch"], row["examples"], row["steps"]) for row in history]
    [(1, 640, 10), (2, 640, 10)]
    >>> sorted(trainer.stat()["val_acc"])
    ['best', 'last', 'smoothed']
    """

    def __init__(
        self,
        model: nn.Module,
        train_data: Any,
        val_data: Any = None,
        *,
        optimizer: str | torch.optim.Optimizer = "adam",
        lr: float = 1e-3,
        schedule: str = "none",
        batch_size: int = 100,
        augment: Callable[[torch.Tensor, bool], torch.Tensor] | None = None,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        device: str | torch.device | None = None,
        amp: str | None = None,
        channels_last: bool = False,
        compile: bool = False,
        limit: int | None = None,
        seed: int = 0,
        out: str | os.PathLike | None = None,
        spec: Any = None,
        name: str = "",
        progress: str | Progress = "auto",
        console: Any = None,
        distributed: Distributed | None = None,
        sync_bn: bool = False,
        workers: int = 2,
        extra: dict[str, Any] | None = None,
    ):
        self.distributed = distributed or Distributed()
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.train_split = as_split(train_data)
        self.val_split = as_split(val_data) if val_data is not None else None
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise OptionError(f"batch_size={batch_size!r}: must be a whole number >= 1")
        world = self.distributed.world
        if batch_size % world:
            raise OptionError(f"--batch {batch_size} does not split over {world} processes; "
                              f"give a multiple of {world} (each process takes batch / {world})")
        self.batch_size = batch_size  # the global batch: each process takes batch / world
        self.rank_batch = batch_size // world
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise OptionError(f"limit={limit!r}: must be a whole number of examples >= 1")
        self.limit = limit
        self.lr = float(lr)
        self.schedule_name = _choice("schedule", schedule, SCHEDULES)
        if amp is not None:
            _choice("--amp", amp, AMP)
        self.amp = amp
        self.channels_last = channels_last
        self.seed = seed
        self.workers = workers
        self.spec = spec
        self.name = name
        self.extra = dict(extra or {})
        self.augment = augment or BatchAugment("none")
        self.loss_fn = loss or nn.CrossEntropyLoss()
        self.out = Path(out) if out is not None else None

        model = model.to(self.device)
        if sync_bn and world > 1:
            from .distributed import sync_batchnorm

            model = sync_batchnorm(model, self.device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        net: nn.Module = model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda" else None)
        if compile:
            net = torch.compile(net)
        self.net = net
        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
            self.optimizer_name = type(optimizer).__name__.lower()
        else:
            self.optimizer_name = _choice("optimizer", optimizer, OPTIMIZERS)
            self.optimizer = self._make_optimizer()
        self.scheduler: Any = None
        self.planned_epochs: int | None = None
        self.scaler = torch.amp.GradScaler(self.device.type) if amp == "fp16" else None
        # TensorSplits go onto a GPU whole when they are small: no transfer per batch
        if self.device.type == "cuda":
            for attr in ("train_split", "val_split"):
                split = getattr(self, attr)
                if isinstance(split, TensorSplit) and split.images.numel() * split.images.element_size() < 2**31:
                    setattr(self, attr, split.to(self.device))

        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0  # steps done of the epoch under way (resume within an epoch)
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.rank_checksums: list[float] = []
        self._partial = [0.0, 0.0, 0.0, 0.0]  # loss sum, correct, examples, seconds of the epoch under way
        self._resumed_rng: dict[str, Any] | None = None
        self.figures: dict[str, Any] = {}
        if isinstance(progress, Progress):
            self.progress = progress
        else:
            self.progress = Progress(progress if self.distributed.main else "none", console, name)

    # -- pieces --------------------------------------------------------------------------------

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = self.model.parameters()
        if self.optimizer_name == "adam":
            return torch.optim.Adam(params, lr=self.lr)
        if self.optimizer_name == "adamw":
            return torch.optim.AdamW(params, lr=self.lr)
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9)

    def steps_per_epoch(self) -> int:
        """Optimizer steps in one epoch (of this process; all processes take as many)."""
        return math.ceil(self._examples_per_rank() / self.rank_batch)

    def _examples_per_rank(self) -> int:
        world = self.distributed.world
        n = math.ceil(len(self.train_split) / world)  # DistributedSampler's share
        if self.limit is not None:
            n = min(n, max(1, self.limit // world))
        return n

    def _make_scheduler(self, epochs: int) -> Any:
        total = max(1, epochs * self.steps_per_epoch())
        if self.schedule_name == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total)
        if self.schedule_name == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=self.lr, total_steps=total)
        return None

    def _indices(self, epoch: int) -> list[int]:
        """The examples of ``epoch`` (1-based) for this process, in order."""
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(len(self.train_split)), num_replicas=self.distributed.world,
                                     rank=self.distributed.rank, shuffle=True, seed=self.seed)
        sampler.set_epoch(epoch)
        return list(sampler)[: self._examples_per_rank()]

    def _input(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        x = self.augment(x, train)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _autocast(self):
        if self.amp is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if self.amp == "bf16" else torch.float16)

    def _rng_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng_state(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)

    # -- the loop --------------------------------------------------------------------------------

    def fit(
        self,
        epochs: int,
        *,
        period_plot: int = 0,
        states: Iterable[Any] = (),
        period_state: int = 1,
        period_checkpoint: int = 1,
    ) -> list[dict[str, Any]]:
        """Train ``epochs`` more epochs; returns :attr:`history` (one dict per epoch).

        As in the document, ``states`` are objects updated after the backward pass
        every ``period_state`` steps (``update()``: a ``zoo.CNN`` in debug mode, a
        :class:`zoo.ModelState`) and plotted every ``period_plot`` epochs (``plot()``):
        with ``out``, the plots are saved there (``blocks_<epoch>.png`` for a network,
        ``params_<epoch>.png`` for a ``ModelState``, and ``curves.png``), and kept in
        :attr:`figures`. A checkpoint is written every ``period_checkpoint`` epochs.
        """
        for what, value in (("epochs", epochs), ("period_state", period_state)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"{what}={value!r}: must be a whole number >= 1")
        states = list(states)
        if self.scheduler is None and self.schedule_name != "none":
            self.planned_epochs = self.epoch + epochs
            self.scheduler = self._make_scheduler(self.planned_epochs)
        if self.out is not None and self.distributed.main:
            _check_writable(self.out)
        if self._resumed_rng is not None:
            self._set_rng_state(self._resumed_rng)
            self._resumed_rng = None
        elif self.epoch == 0 and self.step_in_epoch == 0:
            torch.manual_seed(self.seed + self.distributed.rank)
        end = self.epoch + epochs
        with _Interrupt() as interrupt:
            while self.epoch < end:
                row = self._train_epoch(self.epoch + 1, end, states, period_state, interrupt)
                if self.val_split is not None:
                    row.update(self.evaluate())
                self.history.append(row)
                self.epoch += 1
                self.step_in_epoch = 0
                self._partial = [0.0, 0.0, 0.0, 0.0]
                self.progress.end_epoch(row, end)
                improved = self._is_best(row)
                if self.distributed.main and self.out is not None:
                    self._write_epoch(row, improved, period_checkpoint, end)
                if period_plot and (self.epoch % period_plot == 0 or self.epoch == end):
                    self._plot(states)
                if self.epoch < end and self._stop_requested(interrupt):  # Ctrl-C at the end of an epoch
                    self._stop_at_epoch_end(end)
        if self.distributed.active:
            self.rank_checksums = self.distributed.gather(_checksum(self.model))
        return self.history

    def _is_best(self, row: dict[str, Any]) -> bool:
        key = "val_acc" if row.get("val_acc") is not None else "train_acc"
        if self.best is None or row[key] > self.best[key]:
            self.best = dict(row)
            return True
        return False

    def _train_epoch(self, epoch: int, end: int, states: list[Any], period_state: int,
                     interrupt: _Interrupt) -> dict[str, Any]:
        net, optimizer, scheduler = self.net, self.optimizer, self.scheduler
        # a disabled scaler passes the loss and the step through: one code path for fp16 and not
        scaler = self.scaler or torch.amp.GradScaler(self.device.type, enabled=False)
        net.train()
        indices = self._indices(epoch)
        start_step = self.step_in_epoch
        steps = math.ceil(len(indices) / self.rank_batch)
        sums = torch.tensor(self._partial[:3], dtype=torch.float64, device=self.device)
        losses = torch.zeros(steps, dtype=torch.float32, device=self.device)  # per step, for NaN reports
        world = self.distributed.world
        self.progress.start_epoch(epoch, end, len(indices) * world)
        reader = _Reader(self.device)
        seconds_before = self._partial[3]
        t0 = time.perf_counter()
        updating = [s for s in states if hasattr(s, "update")]
        batches = self.train_split.batches(indices[start_step * self.rank_batch:], self.rank_batch,
                                           device=self.device, workers=self.workers)
        step = start_step
        for step, (x, y) in enumerate(batches, start=start_step):
            x = self._input(x, True)
            with self._autocast():
                output = net(x)
                loss = self.loss_fn(output, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            self.global_step += 1
            if updating and self.global_step % period_state == 0:
                for state in updating:
                    state.update()
            with torch.no_grad():
                loss = loss.detach()
                losses[step] = loss
                _accumulate(sums, loss, output, y)
            last = step + 1 == steps
            check = (step + 1) % CHECK_EVERY == 0 or last
            if check:
                values = reader.read(sums, losses)
                if values is not None:
                    total, correct, count = values[0]
                    self._check_finite(values[1], epoch, steps)
                    self.progress.update(int(count) * world, time.perf_counter() - t0, total / max(count, 1),
                                         correct / max(count, 1))
            # Ctrl-C: after any step alone; all processes together only where they agree (every few steps)
            stop = (check and self._stop_requested(interrupt)) if self.distributed.active else interrupt.requested
            if stop and not last:
                self._stop(epoch, step + 1, sums, losses, steps, seconds_before + time.perf_counter() - t0)
        final = sums.tolist()
        self._check_finite(losses.tolist(), epoch, steps)
        seconds = seconds_before + time.perf_counter() - t0
        loss_sum, correct, count = self.distributed.sum(final, self.device)
        lr = optimizer.param_groups[0]["lr"]
        row = {"epoch": epoch, "train_loss": loss_sum / max(count, 1), "train_acc": correct / max(count, 1),
               "examples": int(count), "seconds": seconds, "steps": steps, "lr": lr}
        if start_step:
            row["resumed_at_step"] = start_step + 1  # the epoch was interrupted after start_step steps
        return row

    def _stop_requested(self, interrupt: _Interrupt) -> bool:
        if not self.distributed.active:
            return interrupt.requested
        return self.distributed.sum([1.0 if interrupt.requested else 0.0], self.device)[0] > 0

    def _check_finite(self, losses: list[float], epoch: int, steps: int) -> None:
        bad = next((i for i, value in enumerate(losses) if not math.isfinite(value)), None)
        if bad is None:
            return
        self.progress.stop()
        step = sum(row["steps"] for row in self.history) + bad + 1
        kept = ""
        if self.out is not None and (self.out / "last.pt").exists():
            kept = f"; the last good checkpoint is kept: {self.out / 'last.pt'} (epoch {self.epoch})"
        raise TrainingError(
            f"the loss is {losses[bad]} at step {step} (epoch {epoch}, batch {bad + 1} of {steps}): "
            f"training stopped{kept}. Lower the learning rate (--lr {self.lr / 10:g}), "
            "or check the data for NaN/inf values"
        )

    def _stop(self, epoch: int, steps_done: int, sums: torch.Tensor, losses: torch.Tensor, steps: int,
              seconds: float) -> None:
        self.progress.stop()
        self._check_finite(losses[:steps_done].tolist(), epoch, steps)
        self.step_in_epoch = steps_done
        self._partial = [*sums.tolist(), seconds]
        self._save_and_stop(f"interrupted in epoch {epoch} after step {steps_done} of {steps}")

    def _stop_at_epoch_end(self, end: int) -> None:
        self._save_and_stop(f"interrupted after epoch {self.epoch} of {end}")

    def _save_and_stop(self, what: str) -> None:
        """Ctrl-C: keep ``last.pt`` (rank 0), then raise :class:`Interrupted` saying where."""
        path = None
        if self.out is not None and self.distributed.main:
            path = self.out / "last.pt"
            self.save(path)
        self.distributed.barrier()
        where = f"; saved {path}: continue with --resume (Trainer.load)" if path else ""
        raise Interrupted(f"{what}{where}", path)

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Loss and accuracy on the validation data (all processes together)."""
        split = self.val_split
        if split is None:
            return {}
        net = self.net
        net.eval()
        world, rank = self.distributed.world, self.distributed.rank
        indices = list(range(rank, len(split), world))
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        t0 = time.perf_counter()
        for x, y in split.batches(indices, max(self.rank_batch, 256), device=self.device, workers=self.workers):
            with self._autocast():
                output = net(self._input(x, False))
                loss = self.loss_fn(output.float(), y)
            _accumulate(sums, loss, output, y)
        loss_sum, correct, count = self.distributed.sum(sums.tolist(), self.device)
        return {"val_loss": loss_sum / max(count, 1), "val_acc": correct / max(count, 1),
                "val_seconds": time.perf_counter() - t0}

    # -- files -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint: what :meth:`load` needs to continue exactly (``torch.load(...,
        weights_only=True)`` reads it)."""
        from ..target import CHECKPOINT_FORMAT

        return {
            "format": CHECKPOINT_FORMAT,
            "spec": self.spec.to_dict() if self.spec is not None else None,
            "model": _plain_state(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "partial": list(self._partial),
            "planned_epochs": self.planned_epochs,
            "rng": self._rng_state(),
            "history": self.history,
            "best": self.best,
            "config": {"optimizer": self.optimizer_name, "lr": self.lr, "schedule": self.schedule_name,
                       "batch": self.batch_size, "limit": self.limit, "seed": self.seed, "amp": self.amp,
                       **self.extra},
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the checkpoint to ``path`` (whole or not at all: a temporary file renamed)."""
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        try:
            torch.save(self.state_dict(), temporary)
            os.replace(temporary, path)
        except (OSError, RuntimeError) as exc:  # torch's writer says RuntimeError for a full disk
            temporary.unlink(missing_ok=True)
            reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
            raise TrainingError(f"cannot write {path}: {reason}; free some space or give another --out "
                                "(the checkpoint before it is kept)") from None
        return path

    def load(self, checkpoint: str | os.PathLike | dict[str, Any]) -> Trainer:
        """Continue from a checkpoint of :meth:`save` (a path or the dict): weights,
        optimizer, schedule, random states, epoch and step, history."""
        if not isinstance(checkpoint, dict):
            checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.planned_epochs = checkpoint.get("planned_epochs")
        if checkpoint.get("scheduler") is not None:
            self.scheduler = self._make_scheduler(self.planned_epochs or 1)
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        if self.scaler is not None and checkpoint.get("scaler") is not None:
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.epoch = int(checkpoint["epoch"])
        self.step_in_epoch = int(checkpoint.get("step_in_epoch") or 0)
        self.global_step = int(checkpoint.get("global_step") or 0)
        self._partial = [float(v) for v in checkpoint.get("partial") or [0.0, 0.0, 0.0, 0.0]]
        self.history = list(checkpoint.get("history") or [])
        self.best = checkpoint.get("best")
        rng = checkpoint.get("rng")
        if rng is not None and self.distributed.world == 1:
            self._resumed_rng = rng
        elif rng is not None:  # each process continues from a state of its own
            torch.manual_seed(self.seed + 1000 * self.epoch + self.step_in_epoch + self.distributed.rank)
        return self

    def _write_epoch(self, row: dict[str, Any], improved: bool, period_checkpoint: int, end: int) -> None:
        from .runs import write_history

        write_history(self.out, self.history)
        if self.epoch % period_checkpoint == 0 or self.epoch == end:
            self.save(self.out / "last.pt")
        if improved:
            self.save(self.out / "best.pt")

    def _plot(self, states: list[Any]) -> None:
        figures = {"curves": self.plot()}
        for state in states:
            if hasattr(state, "plot"):
                kind = "params" if type(state).__name__ == "ModelState" else "blocks"
                try:
                    figures[f"{kind}_{self.epoch:03d}"] = state.plot(title=f"epoch {self.epoch}") if kind == "blocks" \
                        else state.plot()
                except TypeError:
                    figures[f"{kind}_{self.epoch:03d}"] = state.plot()
        self.figures.update(figures)
        if self.out is not None and self.distributed.main:
            for name, figure in figures.items():
                try:
                    figure.savefig(self.out / f"{name}.png")
                except OSError as exc:
                    raise TrainingError(f"cannot write {self.out / (name + '.png')}: {exc.strerror or exc}") from None

    def plot(self, earlier: Sequence[tuple[str, list[dict[str, Any]]]] | None = None):
        """The learning curves (loss and accuracy, training dashed, validation solid) as a
        matplotlib ``Figure``; the other runs of the same output folder (or
        ``earlier``: ``(name, history)`` pairs) drawn semi-transparent, as in the document."""
        from .runs import earlier_runs, plot_curves

        if earlier is None:
            earlier = earlier_runs(self.out) if self.out is not None else []
        return plot_curves(self.name or "run", self.history, earlier)

    def stat(self, show: bool = False, console: Any = None) -> dict[str, Any]:
        """Best, smoothed (mean of the last 5 epochs) and last values of the losses and
        accuracies, and the training time per epoch, per 10^3 steps and per 10^6
        examples (``show``: print them as a table)."""
        from .runs import history_stat

        stat = history_stat(self.history)
        if show:
            from rich.console import Console

            from .runs import stat_table

            (console or Console()).print(stat_table(stat))
        return stat


class _Reader:
    """Reads device numbers a step late, without waiting: each call starts a copy to
    the host and returns the one started at the previous call (already done)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.pending: tuple[torch.Tensor, torch.Tensor, Any] | None = None

    def read(self, sums: torch.Tensor, losses: torch.Tensor) -> tuple[list[float], list[float]] | None:
        if not self.cuda:
            return sums.tolist(), losses.tolist()
        previous = self.pending
        host_sums = torch.empty(sums.shape, dtype=sums.dtype, pin_memory=True)
        host_losses = torch.empty(losses.shape, dtype=losses.dtype, pin_memory=True)
        host_sums.copy_(sums, non_blocking=True)
        host_losses.copy_(losses, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.pending = (host_sums, host_losses, event)
        if previous is None:
            return None
        previous[2].synchronize()
        return previous[0].tolist(), previous[1].tolist()


def _accumulate(sums: torch.Tensor, loss: torch.Tensor, output: torch.Tensor, labels: torch.Tensor) -> None:
    """``sums`` (float64, on the device) += (loss x examples, correct answers, examples):
    no host value enters, so nothing waits (a tensor made from a Python number would
    be a host-to-device copy every step)."""
    n = labels.shape[0]
    sums[0] += loss.double() * n
    sums[1] += (output.argmax(1) == labels).sum()
    sums[2] += n


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as plain CPU tensors (no DDP/compile prefixes)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _checksum(model: nn.Module) -> float:
    with torch.no_grad():
        return float(sum(p.double().sum().item() + p.double().square().sum().item() for p in model.parameters()))


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".zoo-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrainingError(f"cannot write to {folder}: {exc.strerror or exc}; give a folder you can write "
                            "to with --out DIR") from None
