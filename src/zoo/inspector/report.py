"""The inspection report: module rows, block rows (the document's cost table), totals.

Plain data, built from a model and a :class:`~.trace.Trace`; rendering lives in
``render.py``, so ``Report.to_dict()`` needs no rich.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from .describe import describe
from .trace import Trace

# one import path per name: ModuleRow, BlockRow from zoo.inspector; Report from zoo
__all__ = [
    "build_rows",
    "build_blocks",
    "locate_cnn",
    "remembered",
    "add_forward_rows",
    "IN_FORWARD",
    "param_count",
]

Shape = Any  # a tuple of ints, a list of them, or None
IN_FORWARD = "(in forward)"  # the row of work a module's own forward does between its children


@dataclass
class ModuleRow:
    """One module of the tree (a module reachable twice appears twice)."""

    path: str  # "cnn.blocks.3.block.0"; "" for the model itself
    name: str  # attribute name in its parent ("" for the model)
    type: str  # class name
    description: str  # "Conv2d(64->128, k:3, s:2, p:1, F)"
    level: int  # 0 for the model, 1 for its children...
    token: str | None = None  # block-string text of the module zoo built it from
    params: int = 0  # parameters held here (a shared one counts at its first holder only)
    total_params: int = 0  # here and below
    macs: int | None = None  # per image, here and below; None: never called
    input: Shape = None  # first call, whole batch
    output: Shape = None
    calls: int = 0
    device: str = "meta"  # "cpu" for modules that ran on real values
    needs_values: bool = False  # its forward needs real values (branches on them): meta cannot run it
    same_as: str | None = None  # the module object already appeared at this path
    shared_with: dict[str, str] = field(default_factory=dict)  # parameter name -> path of its first holder
    failed: bool = False  # open when the pass failed (the last such row is where)
    children: int = 0


@dataclass
class BlockRow:
    """One column of the document's cost table: a top-level block, or the head."""

    name: str  # the token text, e.g. "r128_3_2"; "head" for what follows the blocks
    path: str
    params: int
    macs: int  # per image
    width: int | None  # output width W
    v0_over_v: float | None  # input volume / output volume (per image)
    shape: Shape  # output shape
    input: Shape = None
    failed: bool = False


@dataclass
class Report:
    """What ``zoo.inspect`` returns: print it (rich), or read its numbers.

    >>> import zoo
    >>> report = zoo.inspect("cnf32 m r64_3_2", input_size=(3, 32, 32))
    >>> report.params, report.macs
    (58656, 4554752)
    """

    name: str
    input: tuple[int, ...]  # with the batch dimension
    output: Shape
    params: int
    trainable: int
    macs: int  # per image
    blocks: list[BlockRow]
    tree: list[ModuleRow]
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # the ShapeError message when the pass failed
    default_depth: int = 2
    inputs: list[str] = field(default_factory=list)  # each input as the title shows it
    # what ``macs`` and the rows' MACs are per: "image", "sample" (a batch zoo knows:
    # divided by it), or "forward" (no batch known: the whole input's, undivided)
    per: str = "image"
    forward: bool = False  # a forward ran: MACs and shapes are known (whatever the input held)
    passes: int = 0  # forwards run: 1 on meta, up to 3 where the model reads values

    @property
    def frozen(self) -> int:
        return self.params - self.trainable

    @property
    def ran(self) -> bool:
        """Whether a forward ran (MACs and shapes known), whatever its input held."""
        return self.forward or bool(self.input)

    @property
    def batch(self) -> int:
        return self.input[0] if self.input and self.per != "forward" else 1

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready values (shapes as lists)."""
        return {
            "name": self.name,
            "input": list(self.input),
            "inputs": list(self.inputs),
            "output": _jsonable(self.output),
            "params": self.params,
            "trainable": self.trainable,
            "frozen": self.frozen,
            "macs": self.macs,
            "macs_per": self.per,
            "blocks": [_jsonable(asdict(b)) for b in self.blocks],
            "tree": [_jsonable(asdict(r)) for r in self.tree],
            "notes": list(self.notes),
            "error": self.error,
        }

    def render(self, depth: int | None = None):
        """A rich renderable: title, module tree (down to ``depth``), cost table."""
        from .render import render_report

        return render_report(self, depth)

    def __rich_console__(self, console, options):
        yield self.render()

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):  # Jupyter shows the report
        from rich.jupyter import JupyterMixin

        return JupyterMixin._repr_mimebundle_(self, include, exclude, **kwargs)

    def __str__(self) -> str:
        from .render import report_text

        return report_text(self)

    def __repr__(self) -> str:
        state = f"failed: {self.error.splitlines()[0]}" if self.error else f"{self.macs:,} MACs"
        return f"<zoo.Report {self.name}: {self.params:,} params, {state}>"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- building rows ----------------------------------------------------------------------


def build_rows(model: nn.Module, traced: nn.Module, result: Trace, batch: int) -> list[ModuleRow]:
    """The module rows of ``model``, with the calls recorded on ``traced`` (its copy,
    or itself) under the name each was reached through (:class:`~.trace.Trace`).
    ``batch``: what MACs are divided by (1: totals)."""
    rows: list[ModuleRow] = []
    owner: dict[int, str] = {}  # id(parameter) -> path of the module first holding it
    first_path: dict[int, str] = {}
    tokens = _token_texts(model)
    twins: dict[str, nn.Module] = {}  # the copy's modules by path, once a lazy parameter needs its twin
    for path, module in model.named_modules(remove_duplicate=False):
        level = path.count(".") + 1 if path else 0
        row = ModuleRow(
            path=path,
            name=path.rsplit(".", 1)[-1],
            type=type(module).__name__,
            description=describe(module),
            level=level,
            token=tokens.get(path),
            children=len({id(child) for child in module._modules.values() if child is not None})
            if module._modules else 0,
        )
        if id(module) in first_path:
            row.same_as = first_path[id(module)]
        else:
            first_path[id(module)] = path
        for key, p in module._parameters.items():
            if p is None:
                continue
            if id(p) not in owner:
                owner[id(p)] = f"{path}.{key}" if path else key
                if not twins and isinstance(p, nn.parameter.UninitializedTensorMixin):
                    twins = dict(traced.named_modules())
                row.params += param_count(p, twins.get(path), key)
            elif row.same_as is None:  # a tied parameter (a whole module reached twice says so itself)
                row.shared_with[key] = owner[id(p)]
        calls = result.calls.get(path, [])
        through = result.through.get(path, 0)
        if calls:
            row.calls = len(calls)
            row.input, row.output = calls[0].inputs, calls[0].outputs
            row.device = "cpu" if any(c.device == "cpu" for c in calls) else "meta"
        if calls or through:
            row.macs = round((sum(c.macs for c in calls) + through) / batch)
        rows.append(row)
    # totals of each subtree (rows are in pre-order: a subtree is a run of deeper rows)
    for i, row in enumerate(rows):
        total = row.params
        for below in rows[i + 1 :]:
            if below.level <= row.level:
                break
            total += below.params
        row.total_params = total
    return rows


def param_count(p: nn.Parameter, twin: nn.Module | None = None, key: str = "") -> int:
    """``p.numel()``; for a lazy parameter, its size once the forward materialised it
    on ``twin`` (the copy), else 0 (uninitialised: no size yet)."""
    if not isinstance(p, nn.parameter.UninitializedTensorMixin):
        return p.numel()
    made = None if twin is None else twin._parameters.get(key)
    return 0 if made is None or isinstance(made, nn.parameter.UninitializedTensorMixin) else made.numel()


def mark_failure(rows: list[ModuleRow], failing: list[tuple[str, Shape]]) -> list[ModuleRow]:
    """Mark the modules open at the failure (path, input) as failed, and drop the
    rows after the innermost one: the tree ends where the model fails."""
    by_path = {row.path: i for i, row in reversed(list(enumerate(rows)))}
    last = 0
    for path, inputs in failing:
        if path in by_path:
            row = rows[by_path[path]]
            row.failed = True
            if not row.calls:
                row.input = inputs
            last = max(last, by_path[path])
    return rows[: last + 1]


def add_container_macs(rows: list[ModuleRow]) -> None:
    """A module never called itself (a ``ModuleList``, or a ``CNN`` whose blocks its
    parent runs one by one) gets the MACs of the called modules inside it."""
    for i in range(len(rows) - 1, -1, -1):
        row = rows[i]
        if row.calls or row.same_as is not None or row.macs is not None:
            continue
        total, found = 0, False
        j = i + 1
        while j < len(rows) and rows[j].level > row.level:
            if rows[j].level == row.level + 1 and rows[j].macs is not None:
                total += rows[j].macs
                found = True
            j += 1
        if found:
            row.macs = total


def add_forward_rows(rows: list[ModuleRow]) -> list[ModuleRow]:
    """Give each called module whose MACs exceed its children's an ``(in forward)``
    child with the difference: the work of its own ``forward`` between its children
    (ViT's attention products, a functional convolution). So every level of the tree
    adds up to the level above."""
    out: list[ModuleRow] = []
    pending: list[tuple[int, ModuleRow]] = []  # (parent's level, row to add once its subtree ends)
    for i, row in enumerate(rows):
        while pending and pending[-1][0] >= row.level:
            out.append(pending.pop()[1])
        out.append(row)
        if not row.calls or row.macs is None or row.same_as is not None:
            continue
        inside, j = 0, i + 1
        while j < len(rows) and rows[j].level > row.level:
            if rows[j].level == row.level + 1:
                inside += rows[j].macs or 0
            j += 1
        if row.macs > inside and j > i + 1:  # a leaf's MACs are its own
            extra = ModuleRow(path=f"{row.path}.{IN_FORWARD}" if row.path else IN_FORWARD, name="",
                              type=IN_FORWARD, description=IN_FORWARD, level=row.level + 1,
                              macs=row.macs - inside, device=row.device)
            pending.append((row.level, extra))
    while pending:
        out.append(pending.pop()[1])
    return out


def _volume(shape: Shape) -> int | None:
    if isinstance(shape, tuple) and len(shape) >= 2 and all(isinstance(d, int) for d in shape):
        return math.prod(shape[1:])
    return None


def _block_row(name: str, path: str, params: int, macs: int, output: Shape, input: Shape,
               v0: int | None, failed: bool = False) -> BlockRow:
    """A cost-table row: the output's width and the ratio V0/V follow from ``output``."""
    width = output[-1] if isinstance(output, tuple) and len(output) >= 3 else None
    volume = _volume(output)
    ratio = v0 / volume if v0 and volume else None
    return BlockRow(name, path, params, macs, width, ratio, output, input, failed)


def _module_block(name: str, row: ModuleRow, v0: int | None) -> BlockRow:
    return _block_row(name, row.path, row.total_params, row.macs or 0, row.output, row.input, v0, row.failed)


def _token_texts(model: nn.Module) -> dict[str, str]:
    """Module path in ``model`` -> the token text of the zoo network's modules."""
    found = locate_cnn(model)
    if found is None:
        return {}
    path, cnn = found
    prefix = f"{path}." if path else ""
    return {prefix + inner: text for inner, text in getattr(cnn, "token_texts", {}).items()}


_REMEMBERED: dict[tuple[Any, int], tuple[nn.Module, Any]] | None = None  # see remembering_networks


class remembering_networks:
    """Within one inspection, what is asked of a model (its zoo network, whether it
    takes images, its dtype) is worked out once (the title, the input's batch, the
    rows, the blocks and the depth all ask): see :func:`remembered`."""

    def __enter__(self):
        global _REMEMBERED
        self.outer, _REMEMBERED = _REMEMBERED, {} if _REMEMBERED is None else _REMEMBERED
        return self

    def __exit__(self, *exc):
        global _REMEMBERED
        _REMEMBERED = self.outer
        return False


def remembered(question: Callable[[nn.Module], Any]) -> Callable[[nn.Module], Any]:
    """``question(model)``, worked out once per model within :class:`remembering_networks`
    (and every time outside one)."""

    @functools.wraps(question)
    def once(model: nn.Module) -> Any:
        memo = _REMEMBERED
        if memo is None:
            return question(model)
        key = (question, id(model))
        known = memo.get(key)
        if known is not None and known[0] is model:
            return known[1]
        answer = question(model)
        memo[key] = (model, answer)
        return answer

    return once


@remembered
def locate_cnn(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The zoo network of ``model`` (:func:`zoo.network.find_cnn`) and its module path."""
    return _locate_cnn(model)


def _locate_cnn(model: nn.Module) -> tuple[str, nn.Module] | None:
    from ..network import find_cnn as find

    cnn = find(model)
    if cnn is None:
        return None
    path = next((p for p, m in model.named_modules() if m is cnn), None)
    return None if path is None else (path, cnn)


def build_blocks(model: nn.Module, rows: list[ModuleRow], params: int, macs: int,
                 input_shape: tuple[int, ...], output: Shape) -> list[BlockRow]:
    """One row per top-level block of the CNN (its token text), then the head;
    for a model without a zoo CNN, one row per child of the model."""
    by_path = {row.path: row for row in reversed(rows)}
    v0 = _volume(tuple(input_shape))
    blocks: list[BlockRow] = []
    found = locate_cnn(model)
    if found is not None:
        cnn_path, cnn = found
        prefix = f"{cnn_path}.blocks." if cnn_path else "blocks."
        for i, token in enumerate(cnn.block_names):
            row = by_path.get(f"{prefix}{i}")
            if row is None:  # after a failure
                break
            blocks.append(_module_block(token, row, v0))
        has_head = model is not cnn or len(cnn.blocks) > len(cnn.block_names)
        complete = len(blocks) == len(cnn.block_names) and not any(b.failed for b in blocks)
        if has_head and complete and output is not None:
            head_params = params - sum(b.params for b in blocks)
            head_macs = macs - sum(b.macs for b in blocks)
            before = blocks[-1].shape if blocks else tuple(input_shape)
            blocks.append(_block_row("head", "", head_params, head_macs, output, before, v0))
        return blocks
    for row in rows:
        # a module reached under a second name is a block of its own where it is called there
        # a child holding parameters is a block of its own even where it is never called
        if row.level == 1 and row.type != IN_FORWARD and (
                row.calls or row.failed or row.macs is not None or (row.total_params and row.same_as is None)):
            blocks.append(_module_block(row.name, row, v0))
    if output is not None and not any(b.failed for b in blocks):
        rest_params = params - sum(b.params for b in blocks)
        rest_macs = macs - sum(b.macs for b in blocks)
        if rest_params or rest_macs:  # the model's own parameters and forward, never lost
            blocks.append(_block_row(IN_FORWARD, "", rest_params, rest_macs, None, None, v0))
    return blocks

