"""Callbacks: what :class:`zoo.Trainer` tells the things that watch it.

Five moments, each a method that does nothing unless overridden:

=====================================  ============================================
``on_train_start(trainer)``            :meth:`Trainer.fit` begins (or continues)
``on_step(trainer, step)``             after each optimizer step, gradients still there
``on_epoch_end(trainer, row)``         the epoch's history row is complete
``on_checkpoint(trainer, path)``       ``last.pt`` or ``best.pt`` was written
``on_train_end(trainer)``              :meth:`fit` ends: ``trainer.outcome`` says how
=====================================  ============================================

The trainer's own parts use it: the progress display (:class:`zoo.train.Progress`),
the run files (:class:`RunFiles`: history, checkpoints), the plots of ``fit(states=...)``
(:class:`StatePlots`), the block monitor (:class:`zoo.BlockMonitor`) and the loggers
(:mod:`zoo.train.loggers`). ``step.numbers`` is set every few steps only
(:data:`zoo.train.trainer.CHECK_EVERY`): reading a number off a GPU waits for it, so
the trainer reads them together, a step late, and hands them to everyone.

>>> class Count(Callback):
...     steps = 0
...     def on_step(self, trainer, step):
...         self.steps += 1
>>> import torch, zoo
>>> from zoo import Trainer
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
>>> count = Count()
>>> trainer = Trainer(model, (torch.randn(40, 1, 2, 2), torch.randint(0, 2, (40,))), batch_size=10,
...                   progress="none", callbacks=[count])
>>> _ = trainer.fit(2)
>>> count.steps, trainer.outcome
(8, 'finished')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# one import path per name: Callback is zoo.train.Callback, Step is zoo.train.Step
__all__ = ["StepNumbers", "RunFiles", "StatePlots", "as_callbacks"]


@dataclass
class StepNumbers:
    """Host numbers read every few steps: the running loss and accuracy of the epoch,
    its examples (all processes) and seconds, and ``losses``: ``(global_step, loss)``
    of each step since the last reading."""

    loss: float
    acc: float
    examples: int
    seconds: float
    losses: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Step:
    """Where training is: ``epoch`` (1-based), ``step`` of ``steps`` in it (1-based),
    ``global_step`` (steps since the start of the run), ``updates`` (optimizer
    updates), ``numbers`` (a :class:`StepNumbers` on reading steps, else ``None``)."""

    epoch: int
    epochs: int
    step: int
    steps: int
    global_step: int
    updates: int
    numbers: StepNumbers | None = None


class Callback:
    """Base class: override the moments you need (see the module's table)."""

    def on_train_start(self, trainer: Any) -> None:
        pass

    def on_step(self, trainer: Any, step: Step) -> None:
        pass

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        pass

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        pass

    def on_train_end(self, trainer: Any) -> None:
        pass


class RunFiles(Callback):
    """The run folder's files (rank 0): ``history.json``/``.csv`` after each epoch,
    ``last.pt`` every ``period_checkpoint`` epochs and at the end, ``best.pt`` when the
    epoch is the best so far."""

    def __init__(self, period_checkpoint: int = 1):
        self.period_checkpoint = period_checkpoint

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        from .runs import write_history

        # best.pt first: a crash between the writes leaves it newer than what last.pt and
        # the history report, never older (resuming from last.pt redoes that epoch)
        if trainer.improved:
            trainer.checkpoint(trainer.out / "best.pt", best=True)
        if trainer.epoch % self.period_checkpoint == 0 or trainer.epoch == trainer.end_epoch:
            trainer.checkpoint(trainer.out / "last.pt")
        write_history(trainer.out, trainer.history)


class StatePlots(Callback):
    """The document's ``fit(states=..., period_state=..., period_plot=...)``: each state
    (a ``zoo.CNN`` in debug mode, a :class:`zoo.ModelState`) updated every
    ``period_state`` steps; its plot (``blocks_<epoch>``, ``params_<epoch>``) and the
    curves every ``period_plot`` epochs and at the end."""

    def __init__(self, states: list[Any], period_state: int = 1, period_plot: int = 0):
        from ..cnn import CNN
        from ..errors import OptionError
        from ..inspector.model_state import ModelState

        self.states: list[tuple[str, Any]] = []
        for state in states:
            if isinstance(state, CNN):
                self.states.append(("blocks", state))
            elif isinstance(state, ModelState):
                self.states.append(("params", state))
            else:
                raise OptionError(f"fit(states=[...]): {type(state).__name__} is not a state; give a zoo.CNN "
                                  "(its block statistics), a zoo.ModelState, or pass it as a Callback "
                                  "(Trainer(callbacks=[...]))")
        self.period_state = period_state
        self.period_plot = period_plot

    def on_step(self, trainer: Any, step: Step) -> None:
        if self.states and step.global_step % self.period_state == 0:
            for _, state in self.states:
                state.update()

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        epoch = trainer.epoch
        if not self.period_plot or (epoch % self.period_plot and epoch != trainer.end_epoch):
            return
        trainer.add_figure("curves", trainer.plot())
        for kind, state in self.states:
            figure = state.plot(title=f"epoch {epoch}") if kind == "blocks" else state.plot()
            trainer.add_figure(f"{kind}_{epoch:03d}", figure)


def as_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list, each checked to be a :class:`Callback` (or to have its
    five methods: :class:`zoo.BlockMonitor` sits below the trainer and cannot inherit)."""
    from ..errors import OptionError

    found = []
    for callback in callbacks or ():
        missing = [name for name in _MOMENTS if not callable(getattr(callback, name, None))]
        if missing:
            raise OptionError(f"callbacks: {type(callback).__name__} lacks {', '.join(missing)}; subclass "
                              "zoo.train.Callback and override the moments it needs")
        found.append(callback)
    return found


_MOMENTS = ("on_train_start", "on_step", "on_epoch_end", "on_checkpoint", "on_train_end")
