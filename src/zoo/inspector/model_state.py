"""``ModelState``: the document's model summary, ``ModelState(model).layers(...)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

__all__ = ["ModelState"]


class ModelState:
    """The document's model summary.

    >>> from zoo import CNN, Change, Config, ModelState
    >>> m = CNN(Config(input=1, fun="gelu", blocks="cnf32 m d cnf64 m d"))
    >>> Change.dropout(m, [0.1, 0.2])
    2
    >>> ModelState(m).layers(1, input_size=(1, 1, 28, 28))  # doctest: +NORMALIZE_WHITESPACE
    CNN:  (1, 1, 28, 28) -> (1, 64)
    CNN                             params         input -> output shapes
    └─ ModuleList
       ├─ Sequential                   352  ~  2%  1x28x28  -> 32x28x28
       ├─ MaxPool2d(k:2, s:2, p:0)                 32x28x28 -> 32x14x14
       ├─ Dropout2d(0.1)                           32x14x14 -> 32x14x14
       ├─ Sequential                18,560  ~ 98%  32x14x14 -> 64x14x14
       ├─ MaxPool2d(k:2, s:2, p:0)                 64x14x14 -> 64x7x7
       ├─ Dropout2d(0.2)                           64x7x7   -> 64x7x7
       ├─ AdaptiveAvgPool2d(1)                     64x7x7   -> 64x1x1
       └─ Flatten                                  64x1x1   -> 64
    params: 18,912

    Where the full shapes do not fit the terminal (80 columns here), they leave out
    the batch of 1 (``1x28x28``).
    """

    def __init__(self, model: nn.Module, beta: float = 0.9):
        self.model = model
        self.beta = beta
        self.updates = 0
        self._stats: dict[str, dict[str, Any]] = {}  # per parameter: tensors on its device

    def update(self) -> None:
        """Mix the current weights and gradients into the statistics of each parameter
        (call it after ``backward()``, as ``Trainer.fit(states=[..., state])`` does): an
        EMA (factor ``beta``) of mean |w|² and of mean |grad|², and min/max |w| of the
        last call. Stays on the device: nothing is read until :meth:`params`.

        >>> import torch
        >>> from torch import nn
        >>> model = nn.Linear(3, 2)
        >>> model(torch.ones(1, 3)).sum().backward()
        >>> state = ModelState(model)
        >>> state.update()
        >>> sorted(state.stats()["weight"])
        ['count', 'grad_sq', 'shape', 'w_max', 'w_min', 'w_sq']
        """
        import torch

        with torch.no_grad():
            for name, p in self.model.named_parameters():
                if not p.requires_grad:
                    continue
                w = p.detach()
                w_sq = w.float().square().mean()
                grad_sq = p.grad.detach().float().square().mean() if p.grad is not None else None
                entry = self._stats.get(name)
                if entry is None:
                    entry = self._stats[name] = {"shape": tuple(p.shape), "count": p.numel(),
                                                 "w_sq": w_sq, "grad_sq": grad_sq}
                else:
                    entry["w_sq"] = torch.lerp(w_sq, entry["w_sq"].to(w_sq.device), self.beta)
                    if grad_sq is not None:
                        old = entry["grad_sq"]
                        entry["grad_sq"] = grad_sq if old is None else torch.lerp(grad_sq, old.to(grad_sq.device),
                                                                                  self.beta)
                entry["w_min"] = w.abs().min()
                entry["w_max"] = w.abs().max()
        self.updates += 1

    def stats(self) -> dict[str, dict[str, Any]]:
        """The statistics of :meth:`update` as plain numbers, by parameter name."""
        out = {}
        for name, entry in self._stats.items():
            out[name] = {k: (v.item() if hasattr(v, "item") else v) for k, v in entry.items()}
        return out

    def params(self, console: Any = None) -> None:
        """Print the statistics of :meth:`update` per parameter: shape, count, rms |w|
        (the square root of the EMA of mean |w|²), min and max |w|, rms |grad|."""
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"ModelState: {self.updates} updates", caption=None if self._stats else
                      "no statistics yet: call update() after backward()")
        for column in ("parameter", "shape", "count", "|w|", "min |w|", "max |w|", "|grad|"):
            table.add_column(column, justify="left" if column in ("parameter", "shape") else "right")
        for name, entry in self.stats().items():
            grad = entry["grad_sq"]
            table.add_row(name, "x".join(map(str, entry["shape"])), f"{entry['count']:,}",
                          f"{entry['w_sq'] ** 0.5:.3g}", f"{entry['w_min']:.3g}", f"{entry['w_max']:.3g}",
                          f"{grad ** 0.5:.3g}" if grad is not None else "-")
        (console or Console()).print(table)

    def plot(self, figsize: tuple[float, float] = (12, 3.5), title: str | None = None):
        """Parameters per layer (bars) and rms |w| and rms |grad| per layer (lines, log
        axis) as a matplotlib ``Figure`` (needs matplotlib)."""
        from ..extras import require

        Figure = require("matplotlib.figure", "ModelState.plot").Figure  # noqa: N806 - the class
        stats = self.stats()
        names = list(stats)
        fig = Figure(figsize=figsize, dpi=100)
        ax = fig.add_subplot()
        if title:
            ax.set_title(title, fontsize=10)
        x = list(range(len(names)))
        ax.bar(x, [stats[n]["count"] for n in names], color="tab:gray", alpha=0.4)
        ax.set_ylabel("parameters")
        ax.set_xticks(x, names, rotation=90, fontsize=6)
        values = ax.twinx()
        values.set_yscale("log")
        values.plot(x, [max(stats[n]["w_sq"], 1e-30) ** 0.5 for n in names], "-", marker=".", label="|w|")
        grads = [(i, stats[n]["grad_sq"] ** 0.5) for i, n in enumerate(names) if stats[n]["grad_sq"]]
        if grads:
            values.plot([i for i, _ in grads], [g for _, g in grads], ":", marker=".", label="|grad|")
        values.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def num_params(self, grad: bool | None = True) -> int:
        """Parameters requiring a gradient (True), not requiring one (False), or all (None);
        a parameter shared between modules counts once."""
        params = {id(p): p for p in self.model.parameters()}.values()
        return sum(p.numel() for p in params if grad is None or p.requires_grad == grad)

    def report(self, input_size: Sequence[int] | None = None):
        """The :class:`zoo.Report` behind :meth:`layers` (raises ``ShapeError`` on failure)."""
        from .inspection import InspectedModel, _size_argument, inspect_target

        size = _size_argument(input_size) if input_size is not None else None
        target = InspectedModel(self.model, type(self.model).__name__, size, owned=False)
        return inspect_target(target)

    def layers(self, depth: int = 2, input_size: Sequence[int] | None = None, console: Any = None) -> None:
        """Print the module tree down to ``depth`` (the model is level 0), with
        parameters, their share, and input -> output shapes when ``input_size`` is
        given. On a shape failure, prints the tree up to the failing block, then
        raises the :class:`zoo.ShapeError`."""
        from rich.console import Console

        from ..errors import ShapeError
        from .render import check_depth, document_view

        check_depth(depth)  # argument mistakes raise before anything runs
        console = console or Console()
        try:
            report = self.report(input_size)
        except ShapeError as error:
            report = getattr(error, "report", None)
            if report is None:  # input_size itself is wrong: nothing to print
                raise
            console.print(document_view(report, depth))
            raise
        console.print(document_view(report, depth))
