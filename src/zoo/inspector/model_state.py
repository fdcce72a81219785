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

    def __init__(self, model: nn.Module):
        self.model = model

    def num_params(self, grad: bool | None = True) -> int:
        """Parameters requiring a gradient (True), not requiring one (False), or all (None);
        a parameter shared between modules counts once."""
        params = {id(p): p for p in self.model.parameters()}.values()
        return sum(p.numel() for p in params if grad is None or p.requires_grad == grad)

    def report(self, input_size: Sequence[int] | None = None):
        """The :class:`zoo.Report` behind :meth:`layers` (raises ``ShapeError`` on failure)."""
        from .api import Target, _size_argument, inspect_target

        size = _size_argument(input_size) if input_size is not None else None
        target = Target(self.model, type(self.model).__name__, size, owned=False)
        report = inspect_target(target)
        report.document_style = True
        return report

    def layers(self, depth: int = 2, input_size: Sequence[int] | None = None, console: Any = None) -> None:
        """Print the module tree down to ``depth`` (the model is level 0), with
        parameters, their share, and input -> output shapes when ``input_size`` is
        given. On a shape failure, prints the tree up to the failing block, then
        raises the :class:`zoo.ShapeError`."""
        from rich.console import Console

        from ..errors import ShapeError
        from .render import document_view
        from .report import check_depth

        check_depth(depth)  # argument mistakes raise before anything runs
        console = console or Console()
        try:
            report = self.report(input_size)
        except ShapeError as error:
            report = getattr(error, "report", None)
            if report is None:  # input_size itself is wrong: nothing to print
                raise
            report.document_style = True
            console.print(document_view(report, depth))
            raise
        console.print(document_view(report, depth))
