"""``zoo report``: one HTML page of the runs in a folder, to look at and to send.

Self-contained: the images are inlined as ``data:`` URIs, the table sorts with a few
lines of inline script, nothing is fetched from the network. The page holds the
comparison table (the Pareto front marked), the Pareto plot, and for each run its
learning curves (drawn from ``history.json``), its latest block plot
(``blocks_<epoch>.png``) and its model's cost table from ``zoo inspect``.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import OutputPathError, ZooError
from .pareto import COSTS, pareto_figure, pareto_front

__all__ = ["write_report", "report_html", "DATA_SHAPES"]

DATA_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32),
               "cifar100": (3, 32, 32)}  # runs from before summaries kept the input size

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:12px 20px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px}
table.runs{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.runs th,table.runs td{padding:4px 8px;border-bottom:1px solid #e4e4e4;text-align:right}
table.runs th{cursor:pointer;background:#f4f4f4;position:sticky;top:0;user-select:none}
table.runs th:hover{background:#e8e8f4}table.runs .left{text-align:left}
table.runs tr.front td{background:#fff1f0;font-weight:600}td.blocks{font-family:monospace;word-break:break-word}
img{max-width:100%;height:auto;border:1px solid #eee}pre{font-size:12px;overflow-x:auto;background:#fafafa;
padding:8px;border:1px solid #eee}.run{margin-bottom:24px}.note{color:#666}
"""

_SCRIPT = """
document.querySelectorAll("table.runs th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
    var up = th.dataset.order !== "up"; th.dataset.order = up ? "up" : "down";
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return up ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return _data_uri(buffer.getvalue())


def _data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _cell(value: Any, shown: str, css: str = "") -> str:
    sort = "" if value is None else str(value)
    cls = f' class="{css}"' if css else ""
    return f'<td{cls} data-value="{html.escape(sort)}">{html.escape(shown)}</td>'


def _label(row: dict[str, Any]) -> str:
    return row.get("label") or row.get("blocks") or row.get("model") or row.get("run", "")


def _table(rows: Sequence[dict[str, Any]], front: set[int]) -> str:
    from ..format import format_compact, format_fixed, format_thousands

    head = "".join(f'<th class="{c}">{t}</th>' for c, t in (
        ("left", "run"), ("", "acc"), ("", "time s/10<sup>6</sup>"), ("", "params"), ("", "MACs"), ("", "epochs"),
        ("", "state"), ("left", "blocks")))
    lines = []
    for i, row in enumerate(rows):
        acc, sec = row.get("val_acc"), row.get("seconds_per_1e6")
        state = "front" if i in front else "pruned" if row.get("pruned") else ""
        lines.append(
            f'<tr class="{"front" if i in front else ""}">'
            + _cell(row.get("run"), row.get("run", ""), "left")
            + _cell(acc, f"{acc:.4f}" if acc is not None else "-")
            + _cell(sec, format_fixed(sec))
            + _cell(row.get("params"), format_thousands(row.get("params")))
            + _cell(row.get("macs"), format_compact(row.get("macs")))
            + _cell(row.get("epochs"), str(row.get("epochs", "-")))
            + _cell(state, state)
            + _cell(_label(row), _label(row), "left blocks") + "</tr>")
    return f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>'


def _cost_table(folder: Path, row: dict[str, Any]) -> str:
    """The model's cost table from ``zoo inspect``, as text; a note where it cannot be made."""
    from rich.console import Console

    from ..checkpoint import read_checkpoint
    from ..inspector.inspection import inspect
    from ..inspector.render import cost_table
    from ..target import ModelSpec

    path = next((folder / name for name in ("best.pt", "last.pt") if (folder / name).is_file()), None)
    if path is None:
        return '<p class="note">no cost table: the run has no checkpoint</p>'
    try:
        checkpoint = read_checkpoint(path)  # data only: no code runs
        size = row.get("input") or checkpoint.input_size or DATA_SHAPES.get(str(row.get("data")))
        if size is None:
            return '<p class="note">no cost table: the input size of the run is unknown</p>'
        report = inspect(ModelSpec.from_dict(checkpoint.spec), input_size=tuple(size))
    except ZooError as exc:
        return f'<p class="note">no cost table: {html.escape(str(exc).splitlines()[0])}</p>'
    console = Console(record=True, width=110, file=io.StringIO(), color_system=None)
    console.print(cost_table(report))
    return f"<pre>{html.escape(console.export_text())}</pre>"


def _latest_blocks_plot(folder: Path) -> Path | None:
    plots = [(int(m.group(1)), p) for p in folder.glob("blocks_*.png") if (m := re.fullmatch(r"blocks_(\d+)\.png", p.name))]
    return max(plots)[1] if plots else None


def _run_section(row: dict[str, Any]) -> str:
    from ..train.runs import plot_curves, read_history

    folder = Path(row["folder"])
    parts = [f'<div class="run" id="{html.escape(row.get("run", ""))}"><h3>{html.escape(row.get("run", ""))}: '
             f'<code>{html.escape(_label(row))}</code></h3>']
    history = read_history(folder)
    if history:
        parts.append(_img(_png(plot_curves(row.get("run", ""), history)), f"learning curves of {row.get('run')}"))
    blocks = _latest_blocks_plot(folder)
    if blocks is not None:
        parts.append(f"<p>{html.escape(blocks.name)}</p>" + _img(_data_uri(blocks.read_bytes()), blocks.name))
    parts.append(_cost_table(folder, row))
    parts.append("</div>")
    return "\n".join(parts)


def report_html(folder: Path, cost: str = "params") -> str:
    """The page of the runs in ``folder`` (see the module)."""
    from ..train.runs import read_summaries

    rows = read_summaries(folder)
    front = pareto_front(rows, cost)
    title = f"zoo report: {len(rows)} run{'s' if len(rows) != 1 else ''} in {folder}"
    body = [f"<h1>{html.escape(title)}</h1>"]
    if not rows:
        body.append('<p class="note">no runs here (a run is a folder with summary.json)</p>')
    else:
        body.append(f"<p>Click a column to sort. Highlighted: the Pareto front of accuracy against "
                    f"{html.escape(COSTS[cost][1])} ({len(front)} of {len(rows)} runs).</p>")
        body.append(_table(rows, set(front)))
        body.append("<h2>Pareto front</h2>")
        body.append(_img(_png(pareto_figure(rows, front, cost)), "accuracy against cost"))
        body.append("<h2>Runs</h2>")
        body.extend(_run_section(row) for row in rows)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(body) + f"\n<script>{_SCRIPT}</script></body></html>\n")


def write_report(folder: Path, output: Path, cost: str = "params") -> Path:
    """:func:`report_html` written to ``output`` (replaced whole, never half-written)."""
    import os

    if not folder.is_dir():
        raise OutputPathError(f"no folder {str(folder)!r}: give a folder of runs (zoo train --out, a zoo sweep folder)")
    page = report_html(folder, cost)
    temporary = output.with_name(f".{output.name}.tmp")
    try:
        temporary.write_text(page, encoding="utf-8")
        os.replace(temporary, output)
    except OSError as exc:
        raise OutputPathError(f"-o {output}: cannot write it ({exc.strerror or exc})") from None
    return output
