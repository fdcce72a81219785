"""``ModelState``: the document's model summary, ``ModelState(model).layers(...)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

# one import path per name: ModelState is zoo.ModelState
__all__: list[str] = []


class ModelState:
    """The document's model summary.

    >>> from zoo import CNN, Change, Config, ModelState
    >>> m = CNN(Config(input=1, fun="gelu", blocks="cnf32 m d cnf64 m d"))
    >>> Change.dropout(m, [0.1, 0.2])
    2
    >>> report = ModelState(m).layers(1, input_size=(1, 1, 28, 28))  # doctest: +NORMALIZE_WHITESPACE
    CNN:  (1, 1, 28, 28) -> (1, 64)
    CNN                                    params         input -> output shapes
    └─ ModuleList
       ├─ Sequential  cnf32                   352  ~  2%  1×28×28  -> 32×28×28
       ├─ MaxPool2d(k:2, s:2, p:0)  m                     32×28×28 -> 32×14×14
       ├─ Dropout2d(0.1)  d                               32×14×14 -> 32×14×14
       ├─ Sequential  cnf64                18,560  ~ 98%  32×14×14 -> 64×14×14
       ├─ MaxPool2d(k:2, s:2, p:0)  m                     64×14×14 -> 64×7×7
       ├─ Dropout2d(0.2)  d                               64×7×7   -> 64×7×7
       ├─ AdaptiveAvgPool2d(1)                            64×7×7   -> 64×1×1
       └─ Flatten                                         64×1×1   -> 64
    params: 18,912
    >>> report.params, report.macs
    (18912, 3838464)

    Where the full shapes do not fit the terminal (80 columns here), they leave out
    the batch of 1 (``1×28×28``), as ``zoo inspect`` does. Each block shows the token
    it was built from (``cnf32``).
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
            table.add_row(name, "×".join(map(str, entry["shape"])), f"{entry['count']:,}",
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

    def layers(self, depth: int = 2, input_size: Sequence[int] | None = None, console: Any = None):
        """Print the module tree down to ``depth`` (the model is level 0), with
        parameters, their share, the token each block was built from, and input ->
        output shapes when ``input_size`` is given; returns the :class:`zoo.Report`
        (its numbers: ``.params``, ``.macs``, ``.blocks``). On a shape failure,
        prints the tree up to the failing block, then raises the :class:`zoo.ShapeError`."""
        from rich.console import Console

        from ..errors import ShapeError
        from .render import check_depth

        check_depth(depth)  # argument mistakes raise before anything runs
        console = console or Console()
        try:
            report = self.report(input_size)
        except ShapeError as error:
            report = getattr(error, "report", None)
            if report is None:  # input_size itself is wrong: nothing to print
                raise
            console.print(_document_view(report, depth))
            raise
        console.print(_document_view(report, depth))
        return report

    def state(self, console: Any = None) -> dict[str, dict[str, Any]]:
        """Print every entry of the model's ``state_dict()`` (parameters and buffers,
        e.g. BatchNorm's running statistics): its value where it holds one number,
        else the root mean square of its values, the count and the shape. Returns
        the same numbers by name (the document's ``ModelState.state()``).

        >>> from torch import nn
        >>> rows = ModelState(nn.BatchNorm2d(2)).state()  # doctest: +NORMALIZE_WHITESPACE
        name                 value  count  shape
        weight              1.0000      2  2
        bias                0.0000      2  2
        running_mean        0.0000      2  2
        running_var         1.0000      2  2
        num_batches_tracked      0      1  -
        >>> rows["running_var"]
        {'value': 1.0, 'count': 2, 'shape': (2,)}
        """
        from rich.console import Console
        from rich.table import Table

        rows = {}
        for name, tensor in self.model.state_dict().items():
            values = tensor.detach()
            if values.numel() == 1:
                value = values.item()
            elif values.numel() == 0:
                value = 0.0
            else:  # computed in float: integer and half-precision buffers too
                value = values.double().square().mean().sqrt().item()
            rows[name] = {"value": value, "count": values.numel(), "shape": tuple(values.shape)}
        table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
        for column in ("name", "value", "count", "shape"):
            table.add_column(column, justify="left" if column in ("name", "shape") else "right", no_wrap=True)
        for name, row in rows.items():
            value = row["value"]
            shown = f"{value:,}" if isinstance(value, (int, bool)) else f"{value:.4f}"
            table.add_row(name, shown, f"{row['count']:,}", "×".join(map(str, row["shape"])) or "-")
        (console or Console()).print(table)
        return rows

    @staticmethod
    def hist_params(params: Any, titles: Sequence[str] | str | None = None, bins: int = 50,
                    figsize: tuple[float, float] = (12, 3), digits: int = 2):
        """Histograms of tensors' values (the document's ``ModelState.hist_params``) as
        a matplotlib ``Figure``: one panel per tensor with the histogram of its values
        and the cumulative share of its magnitudes |p|, titled with its mean ± std
        (over all values), min, max and count, rounded to ``digits``.

        >>> import torch
        >>> fig = ModelState.hist_params([torch.tensor([1.0, -2.0, 3.0, 4.0])], ["w"])
        >>> fig.axes[0].get_title()
        'w mean=1.50 ± 2.29 [-2.00, 4.00]; cnt=4'
        """
        import torch

        from ..errors import OptionError
        from ..extras import require

        Figure = require("matplotlib.figure", "ModelState.hist_params").Figure  # noqa: N806 - the class
        tensors = list(params) if isinstance(params, (list, tuple)) else [params]
        names = [titles] if isinstance(titles, str) else list(titles or [])
        for i, tensor in enumerate(tensors):
            if not isinstance(tensor, torch.Tensor) or tensor.numel() == 0:
                what = type(tensor).__name__ if not isinstance(tensor, torch.Tensor) else "an empty tensor"
                raise OptionError(f"ModelState.hist_params: item {i} is {what}; give tensors (e.g. "
                                  "[m.weight, m.bias]) that hold values")
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise OptionError(f"ModelState.hist_params: bins={bins!r} must be a whole number >= 1")
        fig = Figure(figsize=figsize, dpi=100)
        for i, tensor in enumerate(tensors):
            values = tensor.detach().flatten().double().cpu()
            ax = fig.add_subplot(1, len(tensors), i + 1)
            magnitudes = values.abs().sort().values
            share = torch.arange(1, len(magnitudes) + 1, dtype=torch.float64) / len(magnitudes)
            ax.plot(magnitudes.numpy(), share.numpy(), "-g")  # what share of |p| lies below x
            ax.grid(ls=":")
            ax.set_ylabel("sum prob |p|", color="g")
            ax.set_xlabel("|p|", color="g")
            name = names[i] if i < len(names) else ""
            mean, std = values.mean().item(), values.std(unbiased=False).item()
            low, high = values.min().item(), values.max().item()
            ax.set_title(f"{name} mean={_rounded(mean, digits)} ± {_rounded(std, digits)} "
                         f"[{_rounded(low, digits)}, {_rounded(high, digits)}]; cnt={len(values)}", fontsize=10)
            counts = ax.twinx().twiny()
            counts.hist(values.numpy(), bins=bins, color="lightblue", ec="black", alpha=0.5)
        fig.tight_layout()
        return fig


def _rounded(value: float, digits: int) -> str:
    return f"{round(value, digits):.{digits}f}"


def _document_view(report, depth: int):
    """The document's title line, tree and total, with zoo's separator in short shapes
    (``1×28×28``, as ``zoo inspect``) and each block's token beside its description."""
    from dataclasses import replace

    from rich.console import Group
    from rich.text import Text

    from .render import STYLES, FittedTree, shape_text

    head = Text(f"{report.tree[0].description}:  " if report.tree else "")
    if report.input:
        head.append(f"{shape_text(report.input)} -> ")
        head.append("failed" if report.error else shape_text(report.output),
                    style=STYLES["failed"] if report.error else None)
    labelled = replace(report, tree=[replace(row, description=f"{row.description}  {row.token}") if row.token
                                     else row for row in report.tree])
    footer = Text(f"params: {report.params:,}")
    if report.frozen:
        footer.append(f" ({report.trainable:,} trainable)")
    # a failure's message comes with the ShapeError that ModelState raises
    return Group(head, FittedTree(labelled, depth, document=True), footer)
