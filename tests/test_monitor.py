"""Debug mode, the block plot, the terminal table and BlockMonitor (spec §6, issue 6)."""

from __future__ import annotations

import copy
import io
import math
import subprocess
import sys
import textwrap

import pytest
import torch
from rich.console import Console
from torch import nn

import zoo
import zoo.plugin
from zoo import CNN, Residual
from zoo.monitor import BlockTable, block_stats, block_table, plot_blocks, set_debug

RESNET18_CIFAR = "(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r"
RESNET_NAMES = ["r", "r", "r128_3_2", "r", "r256_3_2", "r", "r512_3_2", "r"]
STEPS = 3
BETA = 0.9


def ema(values, beta=BETA):
    """The EMA zoo promises: the first value starts it, then beta * ema + (1 - beta) * v."""
    average = values[0]
    for value in values[1:]:
        average = beta * average + (1 - beta) * value
    return average


@pytest.fixture(scope="module")
def trained():
    """resnet18_cifar (mult=1) after a few Adam steps in debug mode, with the scale
    and its gradient of every block written down by hand at each update()."""
    torch.manual_seed(0)
    cnn = CNN(blocks=RESNET18_CIFAR, mult=1)
    model = nn.Sequential(cnn, nn.Linear(512, 10))
    cnn.debug(True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    residuals = [m for m in cnn.modules() if isinstance(m, Residual)]
    scales = [[] for _ in residuals]
    grads = [[] for _ in residuals]
    for _ in range(STEPS):
        x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        cnn.update()
        for i, block in enumerate(residuals):
            scales[i].append(block.scale.item() ** 2)
            grads[i].append(block.scale.grad.item() ** 2)
        optimizer.step()
    return cnn, model, scales, grads


def test_all_eight_blocks_of_resnet18_cifar_have_ratio_scale_and_gradient(trained):
    cnn, _, scales, grads = trained
    stats = cnn.block_stats()
    assert [s["name"] for s in stats] == RESNET_NAMES
    assert [s["path"] for s in stats] == [f"blocks.{i}" for i in range(1, 9)]
    assert [s["top"] for s in stats] == list(range(1, 9))
    for i, s in enumerate(stats):
        assert s["debug"] is True
        assert s["forwards"] == STEPS and s["updates"] == STEPS
        assert 0.05 < s["ratio"] < 5
        assert s["ratio"] == pytest.approx(s["branch"] / s["align"], rel=1e-6)
        # the RMS of the scale and of its gradient, EMA over the update() calls
        assert s["scale"] == pytest.approx(math.sqrt(ema(scales[i])), rel=1e-5)
        assert s["scale_grad"] == pytest.approx(math.sqrt(ema(grads[i])), rel=1e-5)
        assert s["scale_grad"] > 0
        assert s["scale"] != 1.0  # Adam moved it
    # identity skips carry drop-block p, the others have none
    assert [s["p"] for s in stats] == [0.0, 0.0, None, 0.0, None, 0.0, None, 0.0]


def test_eval_forward_on_other_data_leaves_every_statistic_unchanged(trained):
    cnn, model, _, _ = trained
    model = copy.deepcopy(model)
    cnn = model[0]
    before = cnn.block_stats()
    model.eval()
    with torch.no_grad():
        model(torch.randn(4, 3, 16, 16) * 5 + 3)
    model.train()
    assert cnn.block_stats() == before


def test_debug_off_stops_updates_and_keeps_the_numbers(trained):
    model = copy.deepcopy(trained[1])
    cnn = model[0]
    before = cnn.block_stats()
    cnn.debug(False)
    assert all(m.stats is None for m in cnn.modules() if isinstance(m, Residual))  # nothing on the hot path
    model(torch.randn(4, 3, 16, 16)).sum().backward()
    cnn.update()
    after = cnn.block_stats()
    assert [{**s, "debug": True} for s in after] == before
    assert all(s["debug"] is False for s in after)
    # on again: goes on from the kept numbers
    cnn.debug(True)
    model(torch.randn(4, 3, 16, 16))
    assert [s["forwards"] for s in cnn.block_stats()] == [STEPS + 1] * 8
    cnn.debug(True, reset=True)
    assert [s["ratio"] for s in cnn.block_stats()] == [None] * 8


def test_debug_off_never_calls_the_statistics(monkeypatch):
    from zoo.monitor import BlockStats

    cnn = CNN(blocks="c8 r (r r16_3_2)", mult=1)
    keys = list(cnn.state_dict())
    cnn.debug(True)
    assert list(cnn.state_dict()) == keys  # statistics are not weights
    cnn.debug(False)

    def fail(*args):
        raise AssertionError("observe() ran with debug off")

    monkeypatch.setattr(BlockStats, "observe", fail)
    monkeypatch.setattr(BlockStats, "record_scale", fail)
    cnn(torch.randn(2, 3, 8, 8)).sum().backward()
    cnn.update()


def test_half_precision_blocks_keep_float32_statistics():
    cnn = CNN(blocks="c8 r r16_3_2").to(torch.bfloat16).debug(True)
    cnn(torch.randn(2, 3, 8, 8, dtype=torch.bfloat16))
    blocks = [m for m in cnn.modules() if isinstance(m, Residual)]
    assert [b.stats.energy.dtype for b in blocks] == [torch.float32] * 2
    assert all(0 < s["ratio"] < 10 for s in cnn.block_stats())


def _hand_energy(t: torch.Tensor) -> float:
    """Mean over (batch, height, width) of the squared channel norm."""
    return t.detach().double().square().sum(dim=1).mean().item()


@pytest.mark.parametrize("mult", [1, 2])
def test_ratio_equals_one_computed_from_forward_hooks(mult):
    torch.manual_seed(1)
    cnn = CNN(blocks="c8 r r16_3_2 r", mult=mult, scale=0.7)
    residuals = [m for m in cnn.modules() if isinstance(m, Residual)]
    with torch.no_grad():  # distinct scales, so a missing factor shows
        for i, block in enumerate(residuals):
            block.scale.mul_(1 + i)
    seen = {id(b): {"align": [], "branch": []} for b in residuals}
    hooks = []
    for block in residuals:
        hooks.append(block.align.register_forward_hook(
            lambda m, i, out, b=block: seen[id(b)]["align"].append(_hand_energy(out))))
        hooks.append(block.block.register_forward_hook(
            lambda m, i, out, b=block: seen[id(b)]["branch"].append(_hand_energy(out * b.scale))))
    cnn.debug(True, beta=0.5)
    cnn(torch.randn(3, 3, 12, 12))
    for block, s in zip(residuals, cnn.block_stats()):
        (a,), (b,) = seen[id(block)]["align"], seen[id(block)]["branch"]
        assert s["ratio"] == pytest.approx(math.sqrt(b / a), rel=1e-5)
        assert s["align"] == pytest.approx(math.sqrt(a), rel=1e-5)
    # a second training batch is mixed in with beta = 0.5; eval batches are not
    cnn(torch.randn(3, 3, 12, 12) * 2)
    cnn.eval()
    cnn(torch.randn(3, 3, 12, 12))
    for block, s in zip(residuals, cnn.block_stats()):
        a, b = seen[id(block)]["align"][:2], seen[id(block)]["branch"][:2]
        assert s["ratio"] == pytest.approx(math.sqrt(ema(b, 0.5) / ema(a, 0.5)), rel=1e-5)
    for hook in hooks:
        hook.remove()


def bottleneck_token():
    """A plugin's residual-style token: Residual around a 1x1-3x3-1x1 branch, then ReLU."""

    def build(ctx, channels, width):
        out = channels or ctx.channels
        branch = nn.Sequential(
            nn.Conv2d(ctx.channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out),
        )
        align = None if out == ctx.channels else nn.Conv2d(ctx.channels, out, 1, bias=False)
        residual = Residual(branch, align, channels=out, mult=ctx.options.mult)
        return nn.Sequential(residual, nn.ReLU()), out

    return zoo.plugin.Token("zbneck", [("channels", int, None), ("width", int, 4)], "bottleneck", build)


class BottleneckPlugin:
    @zoo.plugin.hookimpl
    def zoo_tokens(self):
        return [bottleneck_token()]


@pytest.fixture
def bottleneck_plugin():
    from zoo.testing import register_plugin

    with register_plugin(BottleneckPlugin(), name="test-monitor-bottleneck"):
        yield


def test_blocks_inside_groups_and_plugin_blocks_are_all_measured(bottleneck_plugin):
    cnn = CNN(blocks="c8 (r r16_3_2) 2(r (r zbneck16_8)) zbneck32 m", mult=1)
    assert cnn.debug(True) is cnn
    cnn(torch.randn(2, 3, 16, 16))
    stats = cnn.block_stats()
    assert [(s["name"], s["path"], s["top"]) for s in stats] == [
        ("r", "blocks.1.0", 1),
        ("r16_3_2", "blocks.1.1", 1),
        ("r", "blocks.2.0", 2),
        ("r", "blocks.2.1.0", 2),
        ("zbneck16_8", "blocks.2.1.1.0", 2),  # named by the token that built it
        ("r", "blocks.3.0", 3),
        ("r", "blocks.3.1.0", 3),
        ("zbneck16_8", "blocks.3.1.1.0", 3),
        ("zbneck32", "blocks.4.0", 4),
    ]
    assert all(s["forwards"] == 1 and s["ratio"] > 0 for s in stats)
    assert all(s["scale"] is None and s["scale_grad"] is None for s in stats)  # no update() yet
    assert set_debug(cnn, False) == 9


def test_mult_0_has_no_scale_and_update_records_nothing():
    cnn = CNN(blocks="c8 2r").debug(True)
    cnn(torch.randn(2, 3, 8, 8)).sum().backward()
    cnn.update()
    assert [(s["scale"], s["scale_grad"], s["updates"]) for s in cnn.block_stats()] == [(None, None, 0)] * 2


def test_without_debug_there_are_rows_but_no_numbers():
    cnn = CNN(blocks="c8 r", mult=1)
    cnn(torch.randn(2, 3, 8, 8)).sum().backward()
    cnn.update()
    assert cnn.block_stats() == [{
        "name": "r", "path": "blocks.1", "top": 1, "debug": False, "ratio": None, "align": None,
        "branch": None, "scale": None, "scale_grad": None, "forwards": None, "skipped": None,
        "updates": None, "p": 0.0, "noise": 0.0,
    }]


@pytest.mark.parametrize("beta", [1.0, -0.1, 2, "0.9", True])
def test_bad_beta_is_a_zoo_error(beta):
    with pytest.raises(zoo.OptionError, match=r"debug: beta=.* must satisfy 0 <= beta < 1"):
        CNN(blocks="c8 r").debug(True, beta=beta)


# -- the plot ---------------------------------------------------------------------------


def _bars(fig):
    from matplotlib.patches import Rectangle

    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


def test_plot_of_resnet18_cifar_saves_a_png_with_one_bar_per_residual_block(trained, tmp_path):
    from PIL import Image

    cnn = trained[0]
    fig = cnn.plot()
    assert type(fig).__module__ == "matplotlib.figure"
    ax, scale_ax, grad_ax = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["(cnf64 m)", *RESNET_NAMES, "avg", "flat"]
    bars = _bars(fig)
    assert len(bars) == 8
    stats = cnn.block_stats()
    assert [b.get_height() for b in bars] == pytest.approx([s["ratio"] for s in stats])
    assert [b.get_x() + b.get_width() / 2 for b in bars] == pytest.approx(list(range(1, 9)))
    assert ax.get_ylabel() == "dx/x" and scale_ax.get_ylabel() == "scale"
    (scale_line,) = scale_ax.get_lines()
    assert list(scale_line.get_ydata()) == pytest.approx([s["scale"] for s in stats])
    assert scale_line.get_marker() == "."
    assert grad_ax.get_yscale() == "log" and grad_ax.get_ylabel() == "scale grad"
    (grad_line,) = grad_ax.get_lines()
    assert list(grad_line.get_ydata()) == pytest.approx([s["scale_grad"] for s in stats])
    path = tmp_path / "blocks.png"
    fig.savefig(path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1200, 300)


def test_plot_splits_the_slot_of_a_group_and_leaves_blocks_without_statistics_bare():
    cnn = CNN(blocks="c8 (r r16_3_2) m r", pool=0, flat=False)
    fig = plot_blocks(cnn, title="groups")
    assert _bars(fig) == []  # debug never on: no statistics, no bars
    cnn.debug(True)
    cnn(torch.randn(2, 3, 8, 8))
    fig = plot_blocks(cnn, title="groups")
    assert fig.axes[0].get_title(loc="left") == "groups"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["c8", "(r r16_3_2)", "m", "r"]
    bars = _bars(fig)
    # flat numbers: pytest >= 9 refuses approx over nested tuples
    assert [v for b in bars for v in (b.get_x(), b.get_width())] == pytest.approx(
        [0.625, 0.375, 1.0, 0.375, 2.625, 0.75])
    assert fig.axes[1].get_lines() == [] and fig.axes[2].get_lines() == []  # mult=0: no scale


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_plot_says_why_it_is_empty_instead_of_an_empty_chart():
    fig = plot_blocks(CNN(blocks="cnf16 m c32 m"))
    assert _texts(fig) == ["no residual blocks in this network: the block plot shows dx/x and the scale of "
                           "residual blocks (r tokens) only"]
    assert _bars(fig) == [] and len(fig.axes) == 1
    fig = plot_blocks(CNN(blocks="c8 r"))  # the README's loop before it turned debug on
    assert [t.get_text() for t in fig.texts] == [
        "no statistics: debug mode is off.\nTurn it on before training (cnn.debug(True),\n"
        "or zoo.BlockMonitor(model)), then run forward passes"]
    assert _bars(fig) == []


def test_plot_has_a_legend_and_readable_labels_that_savefig_keeps(tmp_path):
    from PIL import Image

    cnn = CNN(blocks="(cnf16 m) r r32_3_2 r", mult=2).debug(True)
    cnn(torch.randn(4, 3, 16, 16)).sum().backward()
    cnn.update()
    for size in ((12, 3), (6, 3)):
        fig = plot_blocks(cnn, figsize=size, title="epoch 1")
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == ["dx/x (bars)", "scale (solid)",
                                                             "scale grad (dotted, log)"]
        assert min(t.get_fontsize() for t in fig.axes[0].get_xticklabels()) >= 9
        fig.savefig(tmp_path / "blocks.png")
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        width, height = fig.bbox.width, fig.bbox.height
        # every axis with its tick labels and label, and the legend, inside the saved picture
        for box in [ax.get_tightbbox(renderer) for ax in fig.axes] + [legend.get_window_extent(renderer)]:
            assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, (size, box)
        assert Image.open(tmp_path / "blocks.png").size == (size[0] * 100, size[1] * 100)


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    with pytest.raises(zoo.MissingExtraError, match=r"pip install 'zoo-cnn\[plot\]'") as info:
        CNN(blocks="c8 r").plot()
    assert isinstance(info.value, ImportError)
    assert "needs matplotlib, which is not installed" in str(info.value)


def test_a_monitor_that_saves_plots_without_matplotlib_fails_when_created(monkeypatch, tmp_path):
    """Fail at the start, not at step ``every`` hours into training."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    cnn = CNN(blocks="c8 r")
    with pytest.raises(zoo.MissingExtraError, match=r"saving block plots \(BlockMonitor\(out='.*plots'\)\) needs "
                       r"matplotlib, which is not installed\ninstall zoo's plot extra: pip install 'zoo-cnn\[plot\]'"):
        zoo.BlockMonitor(cnn, every=100, out=tmp_path / "plots")
    assert zoo.BlockMonitor(cnn, every=100, table=False).out is None  # no plots asked for: fine


@pytest.mark.slow  # ~4 s on an idle core
def test_import_zoo_and_plotting_use_no_pyplot():
    code = textwrap.dedent("""
        import sys, torch, zoo
        assert "matplotlib" not in sys.modules
        cnn = zoo.CNN(blocks="c8 r").debug(True)
        cnn(torch.randn(2, 3, 8, 8))
        assert "matplotlib" not in sys.modules
        cnn.plot()
        print("pyplot" if "matplotlib.pyplot" in sys.modules else "no pyplot")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no pyplot"


# -- the terminal ---------------------------------------------------------------------


def _set(cnn, values):
    """Give each residual block known statistics: (align energy, branch energy, scale**2, grad**2)."""
    for block, (align, branch, scale_sq, grad_sq) in zip(
        (m for m in cnn.modules() if isinstance(m, Residual)), values
    ):
        block.stats.energy = torch.tensor([align, branch])
        block.stats.forwards = 1
        if scale_sq is not None:
            block.stats.scale_sq = torch.tensor(scale_sq)
            block.stats.grad_sq = torch.tensor(grad_sq)


def _render(renderable, width):
    console = Console(color_system=None, width=width, file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()


def test_block_table_renders_exact_text():
    cnn = CNN(blocks="c8 r (r r16_3_2)", mult=1).debug(True)
    zoo.Change.drop_block(cnn, 0.1)
    _set(cnn, [(4.0, 1.0, 1.0, 1e-4), (4.0, 4.0, 0.81, 0.0025), (1.0, 2.25, 2.25, 4.0)])
    assert _render(block_table(cnn, bar_width=12), 90) == (
        "                         dx/x per residual block                          \n"
        "                                                                          \n"
        "  block     path          dx/x                  scale   scale grad     p  \n"
        " ──────────────────────────────────────────────────────────────────────── \n"
        "  r         blocks.1     0.500   ████           1.000     1.00e-02   0.1  \n"
        "  r         blocks.2.0   1.000   ████████       0.900     5.00e-02   0.1  \n"
        "  r16_3_2   blocks.2.1   1.500   ████████████   1.500     2.00e+00        \n"
        "                                                                          \n"
    )
    # a narrower bar, and a ratio that is not a whole number of cells
    _set(cnn, [(4.0, 2.0, 1.0, 1e-4)])
    lines = _render(block_table(cnn, bar_width=5), 90).splitlines()
    assert lines[4].split() == ["r", "blocks.1", "0.707", "██▍", "1.000", "1.00e-02", "0.1"]


def test_block_table_without_statistics():
    rows = block_stats(CNN(blocks="c8 r"))
    text = _render(BlockTable(rows, bar_width=4, title=None), 70)
    assert text.splitlines()[3].split() == ["r", "blocks.1", "-", "-", "-", "0.0"]
    assert _render(block_table(CNN(blocks="c8 m")), 60) == "no residual blocks: nothing to measure\n"


# -- BlockMonitor -------------------------------------------------------------------------


class Classifier(nn.Module):
    """What zoo.create returns: a classifier with .cnn and .head."""

    def __init__(self):
        super().__init__()
        self.cnn = CNN(blocks="(cnf8 m) r r16_3_2", mult=2)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.cnn(x))


def test_block_monitor_prints_and_saves_every_n_steps(tmp_path):
    torch.manual_seed(2)
    model = Classifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out = io.StringIO()
    with zoo.BlockMonitor(model, every=2, out=tmp_path / "plots",
                          console=Console(file=out, width=100, color_system=None)) as monitor:
        assert monitor.model is model.cnn and monitor.blocks == 2
        written = []
        for _ in range(5):
            loss = model(torch.randn(4, 3, 8, 8)).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            written.append(monitor.step())
    plots = tmp_path / "plots"
    assert written == [None, plots / "blocks_000002.png", None, plots / "blocks_000004.png", None]
    assert sorted(p.name for p in plots.iterdir()) == ["blocks_000002.png", "blocks_000004.png"]
    assert monitor.saved == [plots / "blocks_000002.png", plots / "blocks_000004.png"]
    text = out.getvalue()
    assert text.count("dx/x per residual block") == 2
    assert "step 2" in text and "step 4" in text and "step 5" not in text
    stats = model.cnn.block_stats()
    assert [(s["path"], s["forwards"], s["updates"], s["debug"]) for s in stats] == [
        ("blocks.1", 5, 5, False), ("blocks.2", 5, 5, False)]  # the with block turned debug off
    assert all(s["scale_grad"] > 0 for s in stats)


def test_block_monitor_finds_the_cnn_inside_a_sequential():
    cnn = CNN(blocks="c8 r")
    monitor = zoo.BlockMonitor(nn.Sequential(cnn, nn.Linear(8, 2)), every=1, table=False)
    assert monitor.model is cnn and monitor.step() is None
    assert cnn.block_stats()[0]["debug"] is True


@pytest.mark.parametrize("every", [0, -1, 1.5, True])
def test_block_monitor_rejects_a_bad_period(every):
    with pytest.raises(zoo.OptionError, match=r"every=.* must be a whole number of steps >= 1"):
        zoo.BlockMonitor(CNN(blocks="c8 r"), every=every)


def test_zoo_create_models_expose_the_statistics_through_cnn():
    model = zoo.create("resnet18_cifar", mult=1)
    model.cnn.debug(True)
    model.train()
    model(torch.randn(2, 3, 16, 16)).sum().backward()
    model.cnn.update()
    stats = model.cnn.block_stats()
    assert [s["name"] for s in stats] == RESNET_NAMES
    assert all(s["ratio"] > 0 and s["scale_grad"] > 0 for s in stats)
