"""How a training run shows itself: a rich bar per epoch on a terminal, one plain line
per epoch elsewhere, nothing at all (``--json``, other ranks)."""

from __future__ import annotations

import sys
from typing import Any

from .callbacks import Callback, Step

# one import path per name: Progress is zoo.train.Progress
__all__ = ["epoch_line"]


def epoch_line(row: dict[str, Any], epochs: int, width: int = 80) -> str:
    """One line for an epoch of the history, within ``width`` columns: a longer one
    (epochs in the hundreds) is broken between its fields, never inside a word.

    >>> epoch_line({"epoch": 3, "train_loss": 0.51, "train_acc": 0.84, "val_loss": 0.4,
    ...             "val_acc": 0.88, "seconds": 2.5, "examples": 5000, "lr": 1e-3}, 10)
    'epoch  3/10  loss 0.510 acc 0.8400  val loss 0.400 acc 0.8800  2.5s  lr 1.0e-03'
    >>> print(epoch_line({"epoch": 3, "train_loss": 0.51, "train_acc": 0.84, "val_loss": 0.4,
    ...                   "val_acc": 0.88, "seconds": 2.5, "examples": 5000, "lr": 1e-3}, 10, width=64))
    epoch  3/10  loss 0.510 acc 0.8400  val loss 0.400 acc 0.8800
          2.5s  lr 1.0e-03
    """
    digits = len(str(epochs))
    fields = [f"epoch {row['epoch']:>{digits}}/{epochs}", f"loss {row['train_loss']:.3f} acc {row['train_acc']:.4f}"]
    if row.get("val_acc") is not None:
        fields.append(f"val loss {row['val_loss']:.3f} acc {row['val_acc']:.4f}")
    fields += [f"{row['seconds']:.1f}s", f"lr {row['lr']:.1e}"]
    lines = [fields[0]]
    for field in fields[1:]:
        if len(lines[-1]) + 2 + len(field) <= width:
            lines[-1] += "  " + field
        else:
            lines.append("      " + field)
    return "\n".join(lines)


class Progress(Callback):
    """``mode``: ``"bar"`` (a rich bar per epoch, then its line), ``"lines"`` (the line
    only), ``"none"``; ``"auto"``: a bar on a terminal, lines otherwise. A callback of
    the trainer: the bar starts at an epoch's first step and moves at each reading."""

    def __init__(self, mode: str = "auto", console: Any = None, name: str = ""):
        from rich.console import Console

        self.console = console or Console(file=sys.stdout, highlight=False)
        if mode == "auto":
            mode = "bar" if self.console.is_terminal else "lines"
        self.mode = mode
        self.name = name
        self._bar = None
        self._task = None

    def on_step(self, trainer: Any, step: Step) -> None:
        if self.mode != "bar":
            return
        if self._bar is None:
            self.start_epoch(step.epoch, step.epochs, trainer.epoch_examples())
        if step.numbers is not None:
            numbers = step.numbers
            self.update(numbers.examples, numbers.seconds, numbers.loss, numbers.acc)

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        self.end_epoch(row, trainer.end_epoch)

    def on_train_end(self, trainer: Any) -> None:
        self.stop()

    def start_epoch(self, epoch: int, epochs: int, examples: int) -> None:
        if self.mode != "bar":
            return
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        name = self.name if len(self.name) <= 16 else self.name[:15] + "…"  # the bar fits 80 columns
        self._bar = RichProgress(
            TextColumn(f"{name} epoch {epoch}/{epochs}" if name else f"epoch {epoch}/{epochs}"),
            BarColumn(bar_width=16),
            TextColumn("{task.fields[speed]} ex/s loss {task.fields[loss]} acc {task.fields[acc]}"),
            TimeRemainingColumn(), console=self.console, transient=True,
        )
        self._task = self._bar.add_task("train", total=examples, speed="-", loss="-", acc="-")
        self._bar.start()

    def update(self, examples: int, seconds: float, loss: float, acc: float) -> None:
        if self._bar is None:
            return
        speed = f"{examples / seconds:,.0f}" if seconds > 0 else "-"
        self._bar.update(self._task, completed=examples, speed=speed, loss=f"{loss:.3f}", acc=f"{acc:.4f}")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def end_epoch(self, row: dict[str, Any], epochs: int) -> None:
        self.stop()
        if self.mode in ("bar", "lines"):  # the run's name heads its epochs (zoo train prints it first)
            self.console.print(epoch_line(row, epochs, max(60, self.console.width)), highlight=False,
                               soft_wrap=True)

    def note(self, text: str) -> None:
        if self.mode in ("bar", "lines"):
            self.console.print(text, highlight=False, soft_wrap=True)
