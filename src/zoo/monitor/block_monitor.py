"""``BlockMonitor``: the block statistics every N steps, from any training loop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import OptionError
from ..extras import check_installed
from .stats import DEFAULT_BETA, find_cnn, set_debug, update_scales
from .table import block_table

# one import path per name: BlockMonitor is zoo.BlockMonitor
__all__: list[str] = []


def _writable_folder(out: str | os.PathLike[str]) -> Path:
    """``out`` as a folder the plots can be saved in (created on the first save), or an
    :class:`OptionError` now, rather than a ``FileNotFoundError`` many steps later."""
    if not isinstance(out, (str, os.PathLike)):
        raise OptionError(f"BlockMonitor: out={out!r} must be a folder path")
    path = Path(out)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OptionError(
            f"BlockMonitor: out={str(out)!r} cannot be a folder: {str(existing)!r} is a file; "
            "give a folder for the block plots"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(
            f"BlockMonitor: out={str(out)!r}: the folder {str(existing)!r} is not writable; "
            "give a folder you can write the block plots to"
        )
    return path


class BlockMonitor:
    """Watch the residual blocks of a network learn, from any training loop.

    Creating it turns debug mode on. Call :meth:`step` once per training step,
    after ``optimizer.step()`` and before the next ``zero_grad()``: it records the
    scales and their gradients (``cnn.update()``) and every ``every`` steps prints
    the statistics as a table (``table=True``) and, when ``out`` is a folder, saves
    the block plot there as ``blocks_<step>.png`` (needs ``zoo-cnn[plot]``). Leaving a
    ``with`` block (or :meth:`close`) turns debug mode off; the numbers stay.

    This is the document's ``trainer.fit(states=[model.cnn], period_plot=10)``
    without a particular trainer. It is also a :class:`zoo.train.Callback`:
    ``Trainer(..., callbacks=[BlockMonitor(model, plot_epochs=1)])`` steps it after
    every optimizer step and, every ``plot_epochs`` epochs, adds the block plot to the
    run (``blocks_<epoch>.png``, and the loggers' images):

    >>> import torch, zoo
    >>> from torch import nn
    >>> cnn = zoo.CNN(blocks="(cnf8 m) r r16_3_2", mult=1)
    >>> model = nn.Sequential(cnn, nn.Linear(16, 10))
    >>> opt = torch.optim.Adam(model.parameters())
    >>> with zoo.BlockMonitor(model, every=2, table=False) as monitor:
    ...     for _ in range(4):
    ...         loss = model(torch.randn(4, 3, 8, 8)).square().mean()
    ...         opt.zero_grad()
    ...         loss.backward()
    ...         opt.step()
    ...         _ = monitor.step()
    >>> monitor.steps, [s["updates"] for s in cnn.block_stats()]
    (4, [4, 4])
    """

    def __init__(
        self,
        model: nn.Module,
        every: int = 10,
        out: str | os.PathLike[str] | None = None,
        *,
        table: bool = True,
        console: Any = None,
        beta: float = DEFAULT_BETA,
        prefix: str = "blocks",
        plot_options: dict[str, Any] | None = None,
        plot_epochs: int = 0,
    ):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise OptionError(f"BlockMonitor: every={every!r} must be a whole number of steps >= 1")
        self.model = find_cnn(model) or model  # statistics and plot of this network
        self.every = every
        if out is not None:  # now, not at step `every`: a missing extra is said at the start
            check_installed("matplotlib", f"saving block plots (BlockMonitor(out={os.fspath(out)!r}))")
        self.out = _writable_folder(out) if out is not None else None
        self.table = table
        self.console = console
        self.prefix = prefix
        self.plot_options = dict(plot_options or {})
        if isinstance(plot_epochs, bool) or not isinstance(plot_epochs, int) or plot_epochs < 0:
            raise OptionError(f"BlockMonitor: plot_epochs={plot_epochs!r} must be a whole number of epochs >= 0")
        self.plot_epochs = plot_epochs
        self.steps = 0
        self.saved: list[Path] = []  # the plots written so far
        self.blocks = set_debug(self.model, True, beta=beta)  # how many residual blocks

    def step(self) -> Path | None:
        """One training step done: record the scales; report every ``every`` steps.
        Returns the path of the plot saved by this step, if any."""
        update_scales(self.model)
        self.steps += 1
        if self.steps % self.every == 0:
            return self.report()
        return None

    def report(self) -> Path | None:
        """Print the table and save the plot now (what ``step`` does every N steps)."""
        if self.table:
            console = self.console
            if console is None:
                from rich.console import Console

                console = self.console = Console()
            console.print(block_table(self.model, caption=f"step {self.steps}"))
        if self.out is None:
            return None
        from .plot import plot_blocks

        options = {"title": f"step {self.steps}", **self.plot_options}
        figure = plot_blocks(self.model, **options)
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{self.prefix}_{self.steps:06d}.png"
        figure.savefig(path)
        self.saved.append(path)
        return path

    # -- the trainer's callback moments (zoo.train.callbacks) --------------------------------

    def on_train_start(self, trainer: Any) -> None:
        pass

    def on_step(self, trainer: Any, step: Any) -> None:
        self.step()

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        epoch = trainer.epoch
        if self.plot_epochs and (epoch % self.plot_epochs == 0 or epoch == trainer.end_epoch):
            from .plot import plot_blocks

            options = {"title": f"epoch {epoch}", **self.plot_options}
            trainer.add_figure(f"{self.prefix}_{epoch:03d}", plot_blocks(self.model, **options))

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        pass

    def on_train_end(self, trainer: Any) -> None:
        pass

    def close(self) -> None:
        """Turn debug mode off (the statistics are kept)."""
        set_debug(self.model, False)

    def __enter__(self) -> BlockMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BlockMonitor(blocks={self.blocks}, every={self.every}, steps={self.steps}, out={self.out})"
