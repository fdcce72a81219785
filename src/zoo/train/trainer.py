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

import dataclasses
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

from ..errors import OptionError, TrainingError
from ..files import unwritable
from .augment import BatchAugment
from .callbacks import Callback, RunFiles, StatePlots, Step, StepNumbers, as_callbacks
from .data import TensorSplit, as_split
from .distributed import Distributed
from .progress import Progress
from .recipe import Recipe, make_optimizer, make_scheduler

# one import path per name: Trainer is zoo.Trainer, Recipe zoo.train.Recipe
__all__ = ["OPTIMIZERS"]

OPTIMIZERS = ("adam", "adamw", "sgd")  # the common ones; any name of timm.optim.list_optimizers() works
CHECK_EVERY = 10  # steps between two readings of the running loss (progress, NaN, loggers)


class _Interrupt:
    """Ctrl-C (or SIGTERM: a scheduler's or ``kill``'s stop) during :meth:`Trainer.fit`:
    the first one asks the loop to stop after the current step (and save), a second one
    stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C; ``checkpoint`` is the ``last.pt`` written, if any."""

    def __init__(self, message: str, checkpoint: Path | None):
        super().__init__(message)
        self.checkpoint = checkpoint


class Trainer:
    """Train a classifier on image data, as the document's QuNet ``Trainer`` does.

    ``train_data``/``val_data``: ``(images, labels)`` tensors (uint8 images are scaled
    to 0..1), a torch ``Dataset``, or a split of :func:`zoo.train.load_data`.
    ``recipe``: the :class:`zoo.train.Recipe` (optimizer, learning rate and schedule,
    weight decay, warm-up, label smoothing, clipping, accumulation, EMA, mixup/cutmix,
    batch, precision, seed); its fields can be given here by name as well
    (``Trainer(model, data, lr=1e-2, wd=0.05)``). ``optimizer`` may also be a built
    ``torch.optim.Optimizer``. ``augment``: a callable ``(batch, train) -> batch`` run
    on the device, e.g. :class:`zoo.train.BatchAugment`. ``out``: the run folder
    (history, checkpoints, plots); ``spec``: the :class:`zoo.target.ModelSpec` stored in
    checkpoints so that ``zoo.create(out / "best.pt")`` rebuilds the model.
    ``preprocessing``: the :class:`zoo.checkpoint.Preprocessing` stored
    with it (``zoo predict`` uses it). ``callbacks``: :class:`zoo.train.Callback` objects (loggers, a
    :class:`zoo.BlockMonitor`...). ``distributed``: this process's place under torchrun
    (:func:`zoo.train.distributed.from_environment`).

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
        recipe: Recipe | None = None,
        *,
        augment: Callable[[torch.Tensor, bool], torch.Tensor] | None = None,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        device: str | torch.device | None = None,
        channels_last: bool = False,
        compile: bool = False,
        out: str | os.PathLike | None = None,
        spec: Any = None,
        name: str = "",
        progress: str | Progress = "auto",
        console: Any = None,
        callbacks: Sequence[Callback] = (),
        distributed: Distributed | None = None,
        sync_bn: bool = False,
        workers: int = 2,
        extra: dict[str, Any] | None = None,
        preprocessing: Any = None,
        **knobs: Any,
    ):
        built = knobs.pop("optimizer", None) if isinstance(knobs.get("optimizer"), torch.optim.Optimizer) else None
        self.recipe = recipe = Recipe.from_knobs(recipe, **knobs)
        self.distributed = distributed or Distributed()
        self.device = torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")
        self.train_split = as_split(train_data)
        self.val_split = as_split(val_data) if val_data is not None else None
        if getattr(self.train_split, "batch_size", None):  # a DataLoader's own, per process
            self.recipe = recipe = dataclasses.replace(recipe, batch_size=self.train_split.batch_size
                                                       * self.distributed.world)
        world = self.distributed.world
        if recipe.batch_size % world:
            raise OptionError(f"--batch {recipe.batch_size} does not split over {world} processes; "
                              f"give a multiple of {world} (each process takes batch / {world})")
        self.rank_batch = recipe.batch_size // world
        self.channels_last = channels_last
        self.workers = workers
        self.spec = spec
        self.preprocessing = preprocessing  # zoo.checkpoint.Preprocessing: stored in checkpoints
        self.name = name
        self.extra = dict(extra or {})
        self.augment = augment or BatchAugment("none")
        self.loss_fn = loss or nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        self.out = Path(out) if out is not None else None
        self.model, self.net = self._place(model, sync_bn, compile)
        self.optimizer = built if built is not None else make_optimizer(self.model, recipe)
        self.optimizer_name = type(built).__name__.lower() if built is not None else recipe.optimizer
        self.scheduler: Any = None
        self.planned_epochs: int | None = None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=recipe.amp == "fp16")
        self.ema = self._make_ema() if recipe.ema else None
        self.mixup: Any = None  # timm's Mixup, made at the first step (it needs the number of classes)
        # TensorSplits go onto a GPU whole when they are small: no transfer per batch
        if self.device.type == "cuda":
            for attr in ("train_split", "val_split"):
                split = getattr(self, attr)
                if isinstance(split, TensorSplit) and split.images.numel() * split.images.element_size() < 2**31:
                    setattr(self, attr, split.to(self.device))

        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0  # steps done of the epoch under way (resume within an epoch)
        self.global_step = 0
        self.updates = 0  # optimizer updates (steps / accum)
        self.end_epoch = 0  # the last epoch of the fit() under way
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.improved = False  # the epoch just ended is the best so far
        self.outcome: str | None = None  # after fit(): "finished", "interrupted" or "failed"
        self.rank_checksums: list[float] = []
        self._partial = [0.0, 0.0, 0.0, 0.0]  # loss sum, correct, examples, seconds of the epoch under way
        self._resumed_rng: dict[str, Any] | None = None
        self.figures: dict[str, Any] = {}
        if isinstance(progress, Progress):
            self.progress = progress
        else:
            self.progress = Progress(progress if self.distributed.main else "none", console, name)
        own: list[Callback] = [self.progress]
        if self.out is not None and self.distributed.main:
            own.append(RunFiles())
        self.callbacks: list[Callback] = own + as_callbacks(callbacks)
        self._active: list[Callback] = list(self.callbacks)  # fit() adds the plots of its states

    # the recipe's knobs, read where the loop and the files need them
    batch_size = property(lambda self: self.recipe.batch_size)
    lr = property(lambda self: self.recipe.lr)
    seed = property(lambda self: self.recipe.seed)
    limit = property(lambda self: self.recipe.limit)
    amp = property(lambda self: self.recipe.amp)
    schedule_name = property(lambda self: self.recipe.schedule)

    def _place(self, model: nn.Module, sync_bn: bool, compile: bool) -> tuple[nn.Module, nn.Module]:
        """The model on the device (channels-last, synchronised BatchNorm), and what the
        loop calls: the model, under DDP and ``torch.compile`` when asked."""
        model = model.to(self.device)
        if sync_bn and self.distributed.world > 1:
            from .distributed import sync_batchnorm

            model = sync_batchnorm(model, self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        net: nn.Module = model
        if self.distributed.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda" else None)
        if compile:
            net = torch.compile(net)
        return model, net

    def _make_ema(self) -> Any:
        from timm.utils import ModelEmaV3

        # no step given to update(): the decay is the recipe's from the first update on
        return ModelEmaV3(self.model, decay=self.recipe.ema)

    def _make_mixup(self, output_classes: int) -> Any:
        from timm.data import Mixup

        recipe = self.recipe
        return Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix, label_smoothing=recipe.label_smoothing,
                     num_classes=output_classes)

    # -- pieces --------------------------------------------------------------------------------

    def steps_per_epoch(self) -> int:
        """Optimizer steps in one epoch (of this process; all processes take as many)."""
        return math.ceil(self._examples_per_rank() / self.rank_batch)

    def _examples_per_rank(self) -> int:
        world = self.distributed.world
        n = math.ceil(len(self.train_split) / world)  # DistributedSampler's share
        if self.limit is not None:
            n = min(n, max(1, self.limit // world))
        return n

    def epoch_examples(self) -> int:
        """Examples in one epoch, over all processes."""
        return self._examples_per_rank() * self.distributed.world

    def updates_per_epoch(self) -> int:
        """Optimizer updates in one epoch: steps / accum (the last one may take fewer)."""
        return math.ceil(self.steps_per_epoch() / self.recipe.accum)

    def _make_scheduler(self, epochs: int) -> Any:
        return make_scheduler(self.optimizer, self.recipe, epochs, self.updates_per_epoch())

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
        amp = self.recipe.amp
        if amp is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)

    def _rng_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.recipe.uses_mixing:  # timm's Mixup draws from numpy's global generator
            import numpy as np

            kind, keys, position, has_gauss, gauss = np.random.get_state()
            state["numpy"] = torch.from_numpy(keys.astype("int64"))
            state["numpy_rest"] = [int(position), int(has_gauss), float(gauss)]
        return state

    def _set_rng_state(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)
        if "numpy" in state:
            import numpy as np

            position, has_gauss, gauss = state["numpy_rest"]
            np.random.set_state(("MT19937", state["numpy"].numpy().astype("uint32"), position, has_gauss, gauss))

    def _seed(self) -> None:
        torch.manual_seed(self.seed + self.distributed.rank)
        if self.recipe.uses_mixing:
            import numpy as np

            np.random.seed(self.seed + self.distributed.rank)

    def _dispatch(self, moment: str, *args: Any) -> None:
        for callback in self._active:
            getattr(callback, moment)(self, *args)

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
        every ``period_state`` steps (a ``zoo.CNN`` in debug mode, a
        :class:`zoo.ModelState`) and plotted every ``period_plot`` epochs: with ``out``,
        the plots are saved there (``blocks_<epoch>.png`` for a network,
        ``params_<epoch>.png`` for a ``ModelState``, and ``curves.png``), and kept in
        :attr:`figures`. A checkpoint is written every ``period_checkpoint`` epochs.
        The callbacks hear each moment (:mod:`zoo.train.callbacks`).
        """
        for what, value in (("epochs", epochs), ("period_state", period_state),
                            ("period_checkpoint", period_checkpoint)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"{what}={value!r}: must be a whole number >= 1")
        plots = StatePlots(list(states), period_state, period_plot)
        for callback in self.callbacks:
            if isinstance(callback, RunFiles):
                callback.period_checkpoint = period_checkpoint
        # the trainer's own files and plots first, so that loggers see this epoch's checkpoints and figures
        own = [c for c in self.callbacks if isinstance(c, (Progress, RunFiles))]
        self._active = [*own, plots, *(c for c in self.callbacks if c not in own)]
        if self.scheduler is None:
            self.planned_epochs = self.epoch + epochs
            self.scheduler = self._make_scheduler(self.planned_epochs)
        if self.out is not None and self.distributed.main:
            _check_writable(self.out)
        if self._resumed_rng is not None:
            self._set_rng_state(self._resumed_rng)
            self._resumed_rng = None
        elif self.epoch == 0 and self.step_in_epoch == 0:
            self._seed()
        self.end_epoch = end = self.epoch + epochs
        self.outcome = None
        self._dispatch("on_train_start")
        try:
            with _Interrupt() as interrupt:
                while self.epoch < end:
                    row = self._train_epoch(self.epoch + 1, end, interrupt)
                    if self.val_split is not None:
                        row.update(self.evaluate())
                        if self.ema is not None:
                            row.update({f"{k}_ema": v for k, v in self.evaluate(self.ema.module).items()
                                        if k != "val_seconds"})
                    self.history.append(row)
                    self.epoch += 1
                    self.step_in_epoch = 0
                    self._partial = [0.0, 0.0, 0.0, 0.0]
                    self.improved = self._is_best(row)
                    self._dispatch("on_epoch_end", row)
                    if self.epoch < end and self._stop_requested(interrupt):  # Ctrl-C at the end of an epoch
                        self._stop_at_epoch_end(end)
            self.outcome = "finished"
        except KeyboardInterrupt:
            self.outcome = "interrupted"
            raise
        except BaseException:
            self.outcome = "failed"
            raise
        finally:
            self._dispatch("on_train_end")
        if self.distributed.active:
            self.rank_checksums = self.distributed.gather(_checksum(self.model))
        return self.history

    def _is_best(self, row: dict[str, Any]) -> bool:
        if self.best is None or _score(row) > _score(self.best):
            self.best = dict(row)
            return True
        return False

    def _mix(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """mixup/cutmix (timm's ``Mixup``): the mixed images, their soft targets and the
        labels kept for the accuracy (an odd batch leaves its last example out)."""
        if self.mixup is None:
            training = self.model.training
            self.model.eval()
            with torch.no_grad(), self._autocast():
                classes = self.model(x[:1]).shape[-1]  # the output's size: the number of classes
            self.model.train(training)
            self.mixup = self._make_mixup(classes)
        if len(x) % 2:
            x, y = x[:-1], y[:-1]
        x, target = self.mixup(x, y)
        return x, target, y

    def _train_epoch(self, epoch: int, end: int, interrupt: _Interrupt) -> dict[str, Any]:
        net, optimizer, scheduler, scaler = self.net, self.optimizer, self.scheduler, self.scaler
        recipe, ema, model = self.recipe, self.ema, self.model
        accum, clip, mixing = recipe.accum, recipe.clip_grad, recipe.uses_mixing
        loss_fn = self.loss_fn
        if mixing and isinstance(loss_fn, nn.CrossEntropyLoss):
            from timm.loss import SoftTargetCrossEntropy

            loss_fn = SoftTargetCrossEntropy()  # the targets are mixed and smoothed already
        net.train()
        indices = self._indices(epoch)
        start_step = self.step_in_epoch
        steps = math.ceil(len(indices) / self.rank_batch)
        sums = torch.tensor(self._partial[:3], dtype=torch.float64, device=self.device)
        losses = torch.zeros(steps, dtype=torch.float32, device=self.device)  # per step, for NaN reports
        world = self.distributed.world
        reader = _Reader(self.device)
        seconds_before = self._partial[3]
        first_global = self.global_step - start_step  # global step of the epoch's step 0, minus one
        reported = start_step
        info = Step(epoch, end, start_step, steps, self.global_step, self.updates)
        dispatch = self._active
        t0 = time.perf_counter()
        if hasattr(self.train_split, "start_epoch"):  # a DataLoader: its sampler's epoch, where to start
            self.train_split.start_epoch(epoch, start_step)
        batches = self.train_split.batches(indices[start_step * self.rank_batch:], self.rank_batch,
                                           device=self.device, workers=self.workers)
        step = start_step
        for step, (x, y) in enumerate(batches, start=start_step):
            x = self._input(x, True)
            target = y
            if mixing:
                x, target, y = self._mix(x, y)
            with self._autocast():
                output = net(x)
                loss = loss_fn(output, target)
            first, last = step % accum == 0, step + 1 == steps
            boundary = last or (step + 1) % accum == 0
            if first:
                optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss / accum if accum > 1 else loss).backward()
            if boundary:
                if clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                scaler.step(optimizer)
                scaler.update()
                self.updates += 1
                if scheduler is not None:
                    scheduler.step_update(self.updates)
                if ema is not None:
                    ema.update(model)
            self.global_step += 1
            with torch.no_grad():
                loss = loss.detach()
                losses[step] = loss
                _accumulate(sums, loss, output, y)
            check = (step + 1) % CHECK_EVERY == 0 or last
            info.step, info.global_step, info.updates, info.numbers = step + 1, self.global_step, self.updates, None
            if check:
                values = reader.read(sums, losses, step + 1)
                if values is not None:
                    (total, correct, count), step_losses, upto = values
                    self._check_finite(step_losses, epoch, steps)
                    info.numbers = StepNumbers(
                        total / max(count, 1), correct / max(count, 1), int(count) * world,
                        time.perf_counter() - t0,
                        [(first_global + i + 1, step_losses[i]) for i in range(reported, upto)])
                    reported = upto
            for callback in dispatch:
                callback.on_step(self, info)
            # Ctrl-C: after an optimizer update; all processes together only where they agree (every few steps)
            if boundary and not last:
                stop = (check and self._stop_requested(interrupt)) if self.distributed.active \
                    else interrupt.requested
                if stop:
                    self._stop(epoch, step + 1, sums, losses, steps, seconds_before + time.perf_counter() - t0)
        final = sums.tolist()
        self.epoch_losses = losses.tolist()
        self._check_finite(self.epoch_losses, epoch, steps)
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
        if not getattr(self.train_split, "resumable", True):  # a DataLoader whose order cannot be replayed
            self._save_and_stop(f"interrupted in epoch {epoch} after step {steps_done} of {steps}; this DataLoader's "
                                f"order cannot be replayed, so a resume trains epoch {epoch} again from its start")
        self.step_in_epoch = steps_done
        self._partial = [*sums.tolist(), seconds]
        self._save_and_stop(f"interrupted in epoch {epoch} after step {steps_done} of {steps}")

    def _stop_at_epoch_end(self, end: int) -> None:
        self._save_and_stop(f"interrupted after epoch {self.epoch} of {end}")

    def _save_and_stop(self, what: str) -> None:
        """Ctrl-C: keep ``last.pt`` (rank 0), then raise :class:`Interrupted` saying where."""
        path = None
        if self.out is not None and self.distributed.main:
            path = self.checkpoint(self.out / "last.pt")
        self.distributed.barrier()
        where = f"; saved {path}: continue with --resume (Trainer.load)" if path else ""
        raise Interrupted(f"{what}{where}", path)

    @torch.no_grad()
    def evaluate(self, model: nn.Module | None = None) -> dict[str, Any]:
        """Loss and accuracy on the validation data (all processes together); ``model``:
        another set of weights than the trained ones (the EMA's)."""
        split = self.val_split
        if split is None:
            return {}
        net = model if model is not None else self.net
        net.eval()
        world, rank = self.distributed.world, self.distributed.rank
        indices = list(range(rank, len(split), world))
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        loss_fn = self.loss_fn
        t0 = time.perf_counter()
        for x, y in split.batches(indices, max(self.rank_batch, 256), device=self.device, workers=self.workers):
            with self._autocast():
                output = net(self._input(x, False))
                loss = loss_fn(output.float(), y)
            _accumulate(sums, loss, output, y)
        loss_sum, correct, count = self.distributed.sum(sums.tolist(), self.device)
        return {"val_loss": loss_sum / max(count, 1), "val_acc": correct / max(count, 1),
                "val_seconds": time.perf_counter() - t0}

    # -- files -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint: what :meth:`load` needs to continue exactly (``torch.load(...,
        weights_only=True)`` reads it; :mod:`zoo.checkpoint` says what it holds).
        ``"config"`` is the recipe (:meth:`Recipe.to_dict`) and the ``extra`` of the run:
        what ``--resume`` compares."""
        from ..checkpoint import checkpoint_dict

        return checkpoint_dict(
            _plain_state(self.model), spec=self.spec, preprocessing=self.preprocessing, name=self.name or None,
            optimizer=self.optimizer.state_dict(),
            scheduler=_scheduler_state(self.scheduler),
            scaler=self.scaler.state_dict() if self.scaler.is_enabled() else None,
            ema=_plain_state(self.ema.module) if self.ema is not None else None,
            epoch=self.epoch,
            step_in_epoch=self.step_in_epoch,
            global_step=self.global_step,
            updates=self.updates,
            partial=list(self._partial),
            planned_epochs=self.planned_epochs,
            rng=self._rng_state(),
            history=self.history,
            best=self.best,
            config={**self.recipe.to_dict(), "optimizer": self.optimizer_name, **self.extra},
        )

    def save(self, path: str | os.PathLike, state: dict[str, Any] | None = None) -> Path:
        """Write the checkpoint (``state``, else :meth:`state_dict`) to ``path``, whole or
        not at all (:func:`zoo.files.atomic_write`; a full disk is a
        :class:`zoo.errors.DiskFullError`, the checkpoint before it kept)."""
        from ..checkpoint import write_checkpoint

        path = Path(path)
        try:
            return write_checkpoint(path, data=state if state is not None else self.state_dict())
        except OSError as exc:
            raise TrainingError(f"cannot write {path}: {exc.strerror or exc}; give another --out "
                                "(the checkpoint before it is kept)") from None

    def checkpoint(self, path: Path, best: bool = False) -> Path:
        """:meth:`save` for the run files, then tell the callbacks. ``best``: ``best.pt``,
        with the EMA's weights when they validated better than the trained ones."""
        if best and self.ema is not None and self.best is not None and \
                (self.best.get("val_acc_ema") or 0.0) > (self.best.get("val_acc") or 0.0):
            state = self.state_dict()
            state["model"], state["weights"] = state["ema"], "ema"
            self.save(path, state)
        else:
            self.save(path)
        self._dispatch("on_checkpoint", path)
        return path

    def load(self, checkpoint: str | os.PathLike | dict[str, Any]) -> Trainer:
        """Continue from a checkpoint of :meth:`save` (a path or the dict): weights,
        optimizer, schedule, random states, epoch and step, history. A path is read
        by :func:`zoo.checkpoint.read_checkpoint` (checked; nothing in it is run)."""
        if not isinstance(checkpoint, dict):
            from ..checkpoint import read_checkpoint

            checkpoint = read_checkpoint(checkpoint, need_spec=False).data  # the model is ours already
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.planned_epochs = checkpoint.get("planned_epochs")
        self.epoch = int(checkpoint["epoch"])
        self.step_in_epoch = int(checkpoint.get("step_in_epoch") or 0)
        self.global_step = int(checkpoint.get("global_step") or 0)
        self.updates = int(checkpoint.get("updates") or self.global_step)
        if self.planned_epochs is not None:
            self.scheduler = self._make_scheduler(self.planned_epochs)
            _load_scheduler(self.scheduler, self.updates)
        if self.scaler.is_enabled() and checkpoint.get("scaler") is not None:
            self.scaler.load_state_dict(checkpoint["scaler"])
        if self.ema is not None and checkpoint.get("ema") is not None:
            self.ema.module.load_state_dict(checkpoint["ema"])
        self._partial = [float(v) for v in checkpoint.get("partial") or [0.0, 0.0, 0.0, 0.0]]
        self.history = list(checkpoint.get("history") or [])
        self.best = checkpoint.get("best")
        rng = checkpoint.get("rng")
        if rng is not None and self.distributed.world == 1:
            self._resumed_rng = rng
        elif rng is not None:  # each process continues from a state of its own
            torch.manual_seed(self.seed + 1000 * self.epoch + self.step_in_epoch + self.distributed.rank)
        return self

    def add_figure(self, name: str, figure: Any) -> None:
        """Keep a figure in :attr:`figures` and, with ``out``, save it there as
        ``<name>.png`` (whole or not at all; loggers pick it up at the end of the epoch)."""
        self.figures[name] = figure
        if self.out is not None and self.distributed.main:
            from ..files import atomic_write

            try:
                with atomic_write(self.out / f"{name}.png") as temporary:
                    figure.savefig(temporary, format="png")
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
        self.pending: tuple[torch.Tensor, torch.Tensor, Any, int] | None = None

    def read(self, sums: torch.Tensor, losses: torch.Tensor, steps: int) -> tuple[list[float], list[float], int] | None:
        """``(sums, losses, steps)``: the numbers and the steps done they were read after."""
        if not self.cuda:
            return sums.tolist(), losses.tolist(), steps
        previous = self.pending
        host_sums = torch.empty(sums.shape, dtype=sums.dtype, pin_memory=True)
        host_losses = torch.empty(losses.shape, dtype=losses.dtype, pin_memory=True)
        host_sums.copy_(sums, non_blocking=True)
        host_losses.copy_(losses, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.pending = (host_sums, host_losses, event, steps)
        if previous is None:
            return None
        previous[2].synchronize()
        return previous[0].tolist(), previous[1].tolist(), previous[3]


def _accumulate(sums: torch.Tensor, loss: torch.Tensor, output: torch.Tensor, labels: torch.Tensor) -> None:
    """``sums`` (float64, on the device) += (loss x examples, correct answers, examples):
    no host value enters, so nothing waits (a tensor made from a Python number would
    be a host-to-device copy every step)."""
    n = labels.shape[0]
    sums[0] += loss.double() * n
    sums[1] += (output.argmax(1) == labels).sum()
    sums[2] += n


def _score(row: dict[str, Any]) -> float:
    """What makes an epoch the best: its validation accuracy (the better of the trained
    and the EMA weights), or the training accuracy without validation data."""
    if row.get("val_acc") is None:
        return row["train_acc"]
    return max(row["val_acc"], row.get("val_acc_ema") or 0.0)


def _scheduler_state(scheduler: Any) -> dict[str, Any] | None:
    """A timm schedule is a function of the update count: :meth:`Trainer.load` rebuilds
    it from the recipe and steps it to the checkpoint's count."""
    return None if scheduler is None else {}


def _load_scheduler(scheduler: Any, updates: int) -> None:
    if scheduler is not None and updates:
        scheduler.step_update(updates)


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as plain CPU tensors (no DDP/compile prefixes)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _checksum(model: nn.Module) -> float:
    with torch.no_grad():
        return float(sum(p.double().sum().item() + p.double().square().sum().item() for p in model.parameters()))


def _check_writable(folder: Path) -> None:
    exc = unwritable(folder)
    if exc is not None:
        raise TrainingError(f"cannot write to {folder}: {exc.strerror or exc}; give a folder you can write "
                            "to with --out DIR")
