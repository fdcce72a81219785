"""zoo side by side with the original's code (QuNet's CNN, Config, Residual, Change,
ModelState: github.com/QuDataAI/qunet at aff3cc9, the code the document describes).

The expected numbers were produced by running that code on the same networks with the
same weights and inputs (:func:`fill` and :func:`image` below, the same on both
sides); QuNet is not imported here. Where zoo deliberately differs (README, "Where zoo
differs from the original document"), the test writes down both behaviours.
"""

from __future__ import annotations

import io
import math

import pytest
import torch
from rich.console import Console
from torch import nn

import zoo
from zoo import CNN, Change, Config, ModelState, Residual
from zoo.layers import ShiftFeatures


def fill(model: nn.Module) -> nn.Module:
    """Every weight of two or more dimensions (the convolutions') set from its size
    alone, so that both implementations get the same weights whatever the order in
    which they create them; norms keep their initial 1 and 0."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                n = p.numel()
                p.copy_((torch.sin(torch.arange(n, dtype=torch.float64) * 0.37 + n % 7) * 0.3).reshape(p.shape))
    return model


def image(*shape: int) -> torch.Tensor:
    n = math.prod(shape)
    return torch.sin(torch.arange(n, dtype=torch.float64) * 0.1).reshape(shape).float()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# -- 1. CNN(cfg1, cfg2): each Config gives what was set in it -----------------------------

# QuNet: CNN(Config(input=1, fun="gelu", mult=1), Config(blocks="c8 f r")), eval, image(2, 1, 8, 8)
QUNET_MERGED_PARAMS = 1257
QUNET_MERGED_OUTPUT = [2.042338, -1.621436, -1.836057, 1.740388, 2.535654, -0.96859, -2.133249, 1.2144,
                       2.145808, -1.440837, -1.915895, 1.542671, 2.591823, -0.77281, -2.161327, 1.006419]


def test_merged_configs_keep_the_first_ones_settings_as_the_original():
    cnn = fill(CNN(Config(input=1, fun="gelu", mult=1), Config(blocks="c8 f r")))
    assert (cnn.cfg.input, cnn.cfg.fun, cnn.cfg.mult, cnn.cfg.blocks) == (1, "gelu", 1, "c8 f r")
    assert n_params(cnn) == QUNET_MERGED_PARAMS  # zoo gave 1,400: input=3, relu, mult=0
    output = cnn.eval()(image(2, 1, 8, 8)).flatten().tolist()
    assert output == pytest.approx(QUNET_MERGED_OUTPUT, abs=1e-5)


def test_a_config_remembers_what_was_set_and_still_holds_every_option():
    first, second = Config(input=1, fun="gelu"), Config(blocks="c8 f r", fun="tanh")
    assert first.given() == {"input": 1, "fun": "gelu"}
    assert dict(first)["norm"] == 1 and first.norm == 1 and len(dict(first)) == len(first)
    merged = Config(first, second, mult=2)
    assert merged.given() == {"input": 1, "fun": "tanh", "blocks": "c8 f r", "mult": 2}  # later wins
    assert Config(dict(first)).given() == dict(first)  # a dict sets every key it holds
    assert Config(first, Config()).given() == first.given()  # an empty Config undoes nothing
    assert first.replace(norm=2).given() == {"input": 1, "fun": "gelu", "norm": 2}
    assert CNN(merged, blocks="c8").cfg.given()["blocks"] == "c8"  # keywords after the Configs
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(merged)).given() == merged.given() == copy.deepcopy(merged).given()


# -- 2. fun=nn.Mish(): a module instance, the original's own form --------------------------

# QuNet: CNN(blocks="cnf8 f r", fun=nn.Mish(), fun_inside=nn.Mish()), eval, image(2, 3, 8, 8)
QUNET_MISH_PARAMS = 1416
QUNET_MISH_OUTPUT = [0.257233, 0.114135, 0.141016, 0.195458, 0.239334, 0.108059, 0.164283, 0.289908,
                     0.351467, 0.29353, 0.048532, 0.018345, 0.304243, 0.287443, 0.124703, 0.081559]


def test_an_activation_module_instance_works_and_is_copied_for_each_use():
    mish = nn.Mish()
    cnn = fill(CNN(blocks="cnf8 f r", fun=mish, fun_inside=nn.Mish()))
    assert n_params(cnn) == QUNET_MISH_PARAMS
    output = cnn.eval()(image(2, 3, 8, 8)).flatten().tolist()
    assert output == pytest.approx(QUNET_MISH_OUTPUT, abs=1e-5)
    used = [m for m in cnn.modules() if isinstance(m, nn.Mish)]
    assert len(used) == 3 and len({id(m) for m in used}) == 3 and mish not in used
    # a module with a weight: QuNet puts the one instance in both places (1,417 params, one
    # shared PReLU weight); zoo copies it, so each place learns its own (README)
    prelu = CNN(blocks="cnf8 f r", fun=nn.PReLU())
    assert n_params(prelu) == 1417 + 1
    assert sum(isinstance(m, nn.PReLU) for m in prelu.modules()) == 2


# -- 3. the debug ratio is measured before the branch noise -------------------------------

# QuNet: CNN(blocks="c8 r r16_3_2 r"), set_block_drops(std=[0, 0, 0.5]), debug(True),
# training forwards of image(4, 3, 8, 8) and image(4, 3, 8, 8) * 0.5 + 0.1 (EMA beta 0.9)
QUNET_RATIOS = [1.274565, 1.000105, 0.812884]


def test_the_debug_ratio_is_the_blocks_own_share_before_the_noise():
    cnn = fill(CNN(blocks="c8 r r16_3_2 r"))
    assert Change.branch_noise(cnn, [0.0, 0.0, 0.5]) == 3
    cnn.debug(True).train()
    torch.manual_seed(0)
    cnn(image(4, 3, 8, 8))
    cnn(image(4, 3, 8, 8) * 0.5 + 0.1)
    assert [s["ratio"] for s in cnn.block_stats()] == pytest.approx(QUNET_RATIOS, abs=1e-5)
    # the noise is there: the same forward again gives another output
    assert not torch.equal(cnn(image(4, 3, 8, 8)), cnn(image(4, 3, 8, 8)))


# -- 4. tokens that add nothing get no entry ---------------------------------------------

# QuNet: CNN(blocks="c8 f n0 r", fun="").blocks: its types and the names its plot shows
QUNET_EMPTY_TYPES = ["Conv2d", "Residual", "AdaptiveAvgPool2d", "Flatten"]
QUNET_EMPTY_LABELS = ["c8", "r", "avg", "flat"]


def test_f_without_fun_and_n0_leave_no_entry_at_top_level_and_in_groups():
    cnn = CNN(blocks="c8 f n0 r", fun="").debug(True)
    assert [type(b).__name__ for b in cnn.blocks] == QUNET_EMPTY_TYPES
    assert cnn.block_names == ["c8", "r"] and isinstance(cnn.blocks[1], Residual)
    cnn(torch.randn(2, 3, 8, 8))
    assert [t.get_text() for t in cnn.plot().axes[0].get_xticklabels()] == QUNET_EMPTY_LABELS
    assert zoo.inspect(cnn, input_size=(3, 8, 8)).blocks[1].name == "r"
    # in a group QuNet raises (TypeError: 'NoneType' object is not iterable); zoo leaves
    # them out there too, and a group of nothing is no entry either
    grouped = CNN(blocks="(c8 n0 f) (n0) 2f r", fun="")
    assert [type(b).__name__ for b in grouped.blocks] == ["Sequential", "Residual", "AdaptiveAvgPool2d", "Flatten"]
    assert [type(m).__name__ for m in grouped.blocks[0]] == ["Conv2d"]
    assert grouped.token_texts == {"blocks.0": "(c8 n0 f)", "blocks.0.0": "c8", "blocks.1": "r"}


# -- 5. the plot's bottom row: each block's noise std (the document's image), and p -------

# QuNet: CNN(blocks="c8 r r16_3_2 r"), set_block_drops(std=[0.1, 0.2, 0.3]), plot(): the
# texts of its axes (one per slot that has a name; the std under each residual block)
QUNET_BOTTOM_ROW = [" std\n", "\n", "0.1\n", "0.2\n", "0.3\n", "\n", "\n"]


def test_the_plots_bottom_row_shows_the_noise_std_as_the_document_and_drop_block_p():
    cnn = CNN(blocks="c8 r r16_3_2 r")
    Change.branch_noise(cnn, [0.1, 0.2, 0.3])
    Change.drop_block(cnn, 0.2)
    cnn.debug(True).train()(torch.randn(2, 3, 8, 8))
    texts = [t.get_text() for t in cnn.plot().axes[0].texts]
    stds = [t.strip() for t in QUNET_BOTTOM_ROW[1:] if t.strip()]
    assert texts == ["p\nstd", "0.2\n0.1", "0.2", "0.2\n0.3"]  # p above the std where a block has drop-block
    assert [t.split("\n")[-1] for t in texts[1:]] == stds  # the document's row, the same numbers
    assert [t.get_text() for t in CNN(blocks="c8 r").plot().axes[0].texts] == ["p\nstd", "0.0\n0.0"]


# -- 6. ModelState: state(), hist_params(), layers() ------------------------------------

# QuNet: ModelState(CNN(blocks="c8 r", drop_inside=2)).state() after one training forward
# of image(2, 3, 8, 8): name, value (the number itself, or the RMS of the values), count
QUNET_STATE = [
    ("blocks.0.weight", 0.2109, 216),
    ("blocks.1.block.0.weight", 0.2119, 576),
    ("blocks.1.block.1.weight", 1.0000, 8),
    ("blocks.1.block.1.bias", 0.0000, 8),
    ("blocks.1.block.1.running_mean", 0.0169, 8),
    ("blocks.1.block.1.running_var", 1.0514, 8),
    ("blocks.1.block.1.num_batches_tracked", 1.0000, 1),
    ("blocks.1.block.4.weight", 0.2119, 576),
    ("blocks.1.block.5.weight", 1.0000, 8),
    ("blocks.1.block.5.bias", 0.0000, 8),
    ("blocks.1.block.5.running_mean", 0.0265, 8),
    ("blocks.1.block.5.running_var", 0.9595, 8),
    ("blocks.1.block.5.num_batches_tracked", 1.0000, 1),
]
# QuNet: ModelState.hist_params([w, bn.bias + 0.25], ["w", "b"]): the panels' titles
QUNET_HIST_TITLES = ["w mean=-0.00 ± 0.21 [-0.30, 0.30]; cnt=576", "b mean=0.25 ± 0.00 [0.25, 0.25]; cnt=8"]


def test_model_state_state_lists_parameters_and_buffers_as_the_original():
    cnn = fill(CNN(blocks="c8 r", drop_inside=2)).train()
    cnn(image(2, 3, 8, 8))
    console = Console(file=io.StringIO(), width=100, color_system=None, record=True)
    rows = ModelState(cnn).state(console=console)
    assert [(name, round(row["value"], 4), row["count"]) for name, row in rows.items()] == QUNET_STATE
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines[0] == "name                                   value  count  shape"
    assert lines[1] == "blocks.0.weight                       0.2109    216  8×3×3×3"
    assert lines[7] == "blocks.1.block.1.num_batches_tracked       1      1  -"


def test_model_state_hist_params_titles_each_panel_with_the_originals_numbers():
    cnn = fill(CNN(blocks="c8 r", drop_inside=2))
    block = cnn.blocks[1].block
    fig = ModelState.hist_params([block[0].weight, block[1].bias + 0.25], ["w", "b"])
    assert type(fig).__module__ == "matplotlib.figure"
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == QUNET_HIST_TITLES
    assert fig.axes[0].get_ylabel() == "sum prob |p|" and fig.axes[0].get_xlabel() == "|p|"
    (share,) = fig.axes[0].get_lines()
    assert share.get_ydata()[-1] == 1.0 and share.get_xdata()[-1] == pytest.approx(0.3, abs=1e-3)
    with pytest.raises(zoo.OptionError, match=r"ModelState.hist_params: item 1 is str; give tensors"):
        ModelState.hist_params([block[0].weight, "w"])


def test_model_state_layers_returns_the_report_and_prints_tokens_and_times_as_zoo_inspect():
    cnn = CNN(blocks="(cnf16 m) r r32_3_2")
    console = Console(file=io.StringIO(), width=66, color_system=None, record=True)
    report = ModelState(cnn).layers(1, input_size=(1, 3, 32, 32), console=console)
    assert isinstance(report, zoo.Report) and report.params == n_params(cnn) == 19_664
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines == [
        "CNN:  (1, 3, 32, 32) -> (1, 32)",
        "CNN                          params         input -> output shapes",
        "└─ ModuleList",
        "   ├─ Sequential  (cnf16 m)     464  ~  2%  3×32×32  -> 16×16×16",
        "   ├─ Residual(p=0)  r        4,672  ~ 24%  16×16×16 -> 16×16×16",
        "   ├─ Residual  r32_3_2      14,528  ~ 74%  16×16×16 -> 32×8×8",
        "   ├─ AdaptiveAvgPool2d(1)                  32×8×8   -> 32×1×1",
        "   └─ Flatten                               32×1×1   -> 32",
        "params: 19,664",
    ]
    inspected = Console(file=io.StringIO(), width=66, color_system=None, record=True)
    inspected.print(zoo.inspect(cnn, input_size=(3, 32, 32)).render(depth=1))
    text = inspected.export_text()  # zoo inspect: the same labels and shapes
    assert "├─ Residual  r32_3_2      14,528  917.5 k  16×16×16 -> 32×8×8" in text


# -- 7. what differs deliberately (README), both behaviours written down ------------------


def test_shift_values_are_the_std_where_the_originals_are_on_off_flags():
    # QuNet: CNN(blocks="s1 c8 s1") holds two ShiftFeatures of std 0.0 (off until
    # Change.shift sets a std); in zoo the value is the std: s1 is active noise of std 1
    shifts = [m.std for m in CNN(blocks="s1 c8 s1").modules() if isinstance(m, ShiftFeatures)]
    assert shifts == [1.0, 1.0]


def test_branch_noise_draws_one_factor_per_image_where_the_original_draws_one_per_pixel():
    # QuNet multiplies the branch by 1 + std * randn(B, 1, H, W); zoo by 1 + std * randn(B, 1, 1, 1)
    residual = Residual(nn.Identity(), channels=2, noise=0.5).train()
    x = torch.ones(3, 2, 4, 4)
    factor = residual(x) - x
    assert torch.equal(factor, factor[:, :1, :1, :1].expand_as(factor))
    # QuNet's 2-D residual raises outside debug mode (UnboundLocalError: 'dx') and adds
    # noise in eval too when debug is on; zoo adds it in training only, debug or not
    cnn = CNN(blocks="c8 r", branch_noise=0.5)
    assert torch.equal(cnn.eval()(image(2, 3, 4, 4)), cnn(image(2, 3, 4, 4)))
    cnn.debug(True)
    assert torch.equal(cnn(image(2, 3, 4, 4)), cnn(image(2, 3, 4, 4)))


def test_drop_block_lists_count_only_blocks_that_have_a_drop_block():
    # QuNet's index advances past r16_3_2 (no drop-block) too: p = [0.1, None, 0.3, 0.3]
    cnn = CNN(blocks="c8 r r16_3_2 r r")
    assert Change.drop_block(cnn, [0.1, 0.2, 0.3]) == 3
    ps = [b.p if b.identity_align else None for b in cnn.blocks if isinstance(b, Residual)]
    assert ps == [0.1, None, 0.2, 0.3]


def test_values_the_original_ignores_build_or_are_errors():
    # QuNet builds c32_3_1_1_32 as a plain Conv2d (10,080 params for "c32 c32_3_1_1_32")
    # and r16_3_1_1 as r16_3_1 (8,384 params for "c32 r16_3_1_1")
    grouped = CNN(blocks="c32 c32_3_1_1_32")
    assert grouped.blocks[1].groups == 32 and n_params(grouped) == 864 + 288
    with pytest.raises(zoo.TokenValueError, match=r"too many values for token 'r': 4 given, it takes 3 values"):
        CNN(blocks="c32 r16_3_1_1")


def test_the_readme_lists_each_difference():
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text(encoding="utf-8")
    section = readme.split("## Where zoo differs from the original document", 1)[1].split("\n## ", 1)[0]
    section = " ".join(section.split())  # the phrases may wrap
    for phrase in ("raises outside debug mode", "one factor per image", "per pixel", "`shift_inside`",
                   "`s1`", "`Change.drop_block` with a list", "`--aug document`", "`c32_3_1_1_32`",
                   "`r16_3_1_1`", "copied for each place", "inside groups"):
        assert phrase in section, phrase
