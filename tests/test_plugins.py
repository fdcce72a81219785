"""Plugins: discovery through entry points, failures, clashes, the environment
variables, zoo.testing, and the real zoo-extra package (se, rb, resnet50).

zoo-extra must be installed (`pip install ./plugins/zoo-extra`, as the README's test
command and .ci/run do). Broken and clashing plugins are laid out in a temporary
folder exactly as pip installs a wheel and run in a subprocess on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo
from zoo import Change
from zoo.errors import (
    BuildError,
    OptionError,
    PluginClashError,
    PluginError,
    TokenValueError,
    UnknownTokenError,
)
from zoo.plugin import Option, Token
from zoo.registry.registry import Registry, get_registry
from zoo.testing import install_distribution, isolated_registry, register_plugin

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"
REPO = Path(__file__).resolve().parents[1]


# -- laying out fake distributions as pip does ------------------------------------------
def install_fake_dist(site: Path, dist: str, module: str, version: str = "1.0.0", entry: str = "plugin") -> None:
    """Install ``tests/fixtures/plugins/<module>`` (a ``.py`` file or a package folder)
    into ``site`` as distribution ``dist``, as pip lays out a wheel
    (``zoo.testing.install_distribution``)."""
    source = FIXTURES / module
    if source.is_dir():
        files = {
            f.relative_to(FIXTURES).as_posix(): f.read_bytes()
            for f in sorted(source.rglob("*")) if f.is_file() and "__pycache__" not in f.parts
        }
    else:
        files = {f"{module}.py": (FIXTURES / f"{module}.py").read_bytes()}
    install_distribution(site, dist, files, {entry: module}, version)


def zoo_env(site: Path | None = None, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    env["COLUMNS"] = "100"
    env.update(variables)
    return env


def run_zoo(*args: str, site: Path | None = None, **variables: str) -> subprocess.CompletedProcess:
    """The real command, ``python -m zoo ...``, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120,
        env=zoo_env(site, **variables), cwd=REPO,
    )


def run_python(code: str, site: Path | None = None, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env=zoo_env(site, **variables), cwd=REPO,
    )


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("broken-site")
    install_fake_dist(site, "zoo-broken", "zoo_broken", "0.3.0")
    install_fake_dist(site, "zoo-hook-raises", "zoo_hook_raises", "2.0")
    return site


@pytest.fixture(scope="module")
def clash_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("clash-site")
    install_fake_dist(site, "zoo-clash-a", "zoo_clash_a")
    install_fake_dist(site, "zoo-clash-b", "zoo_clash_b")
    return site


@pytest.fixture(scope="module")
def twin_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("twin-site")
    install_fake_dist(site, "zoo-twin-a", "zoo_twin_a")
    install_fake_dist(site, "zoo-twin-b", "zoo_twin_b")
    return site


def by_name(rows: list[dict], key: str) -> dict[str, dict]:
    return {row[key]: row for row in rows}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- zoo-extra, really installed -----------------------------------------------------------
EXTRA_ROW = {
    "distribution": "zoo-extra",
    "version": "0.1.0",
    "status": "ok",
    "reason": "",
    "tokens": ["mish", "rb", "se"],
    "presets": ["resnet50"],
    "options": ["rb_expansion", "se_gate"],
}


def test_zoo_extra_is_an_installed_distribution_with_an_entry_point():
    dist = distribution("zoo-extra")
    assert dist.version == "0.1.0"
    (ep,) = [ep for ep in dist.entry_points if ep.group == "zoo"]
    assert (ep.name, ep.value) == ("extra", "zoo_extra")
    import zoo_extra

    assert ep.load() is zoo_extra
    # pip installed its files (not a mock, not the source folder on sys.path) ...
    installed = {str(f): f for f in dist.files}
    assert "zoo_extra/presets/resnet50.yaml" in installed, "install it as CI does: pip install ./plugins/zoo-extra"
    # ... from the current sources: the tests below must not run against a stale copy
    source = REPO / "plugins" / "zoo-extra" / "src"
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            name = path.relative_to(source).as_posix()
            assert installed[name].read_binary() == path.read_bytes(), (
                f"the installed {name} differs from plugins/zoo-extra/src: pip install ./plugins/zoo-extra"
            )


def test_zoo_extra_tokens_in_zoo_tokens_json():
    out = run_zoo("tokens", "--json")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    rows = by_name(json.loads(out.stdout), "name")
    assert rows["se"] == {
        "name": "se",
        "signature": "se[reduction=16]",
        "values": [{"name": "reduction", "type": "int", "default": 16, "doc": "16", "min": 1,
                    "max": 65536, "choices": None}],
        "help": "squeeze-and-excitation: scale each channel by a gate of the channel means (C // reduction hidden)",
        "plugin": "zoo-extra",
    }
    assert rows["rb"]["signature"] == "rb[channels=C/4]_[kernel=3]_[stride=1]"
    assert [(v["name"], v["default"], v["doc"]) for v in rows["rb"]["values"]] == [
        ("channels", None, "C/4"), ("kernel", 3, "3"), ("stride", 1, "1"),
    ]
    assert rows["rb"]["plugin"] == "zoo-extra"
    assert rows["r"]["plugin"] == "zoo"


def test_zoo_extra_in_zoo_plugins_json():
    out = run_zoo("plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert rows[0]["distribution"] == "zoo" and rows[0]["status"] == "ok"
    assert "r" in rows[0]["tokens"]
    assert by_name(rows, "distribution")["zoo-extra"] == EXTRA_ROW


def test_listing_commands_load_plugins_without_importing_torch():
    code = (
        "import sys, io, contextlib\n"
        "from zoo.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['tokens', '--json']) == 0\n"
        "    assert main(['plugins']) == 0\n"
        "    assert main(['tokens', 'rb']) == 0\n"
        "print('zoo_extra' in sys.modules, 'torch' in sys.modules, 'zoo_extra.layers' in sys.modules)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False"]


def test_plugins_load_lazily_on_first_use_of_the_registry():
    code = (
        "import sys, zoo\n"
        "print('zoo_extra' in sys.modules)\n"
        "zoo.parse_blocks('c64 se')\n"
        "print('zoo_extra' in sys.modules)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_zoo_extra_contributes_its_preset_folder_and_options():
    registry = get_registry()
    import zoo_extra

    assert ("zoo-extra", Path(zoo_extra.__file__).parent / "presets") in registry.preset_paths
    assert registry.options["se_gate"] == Option(
        "se_gate", "sigmoid", "gate of the `se` token", ("sigmoid", "hsigmoid"), plugin="zoo-extra"
    )
    assert zoo.Config().rb_expansion == 4


@pytest.mark.parametrize(
    "blocks, error, message",
    [
        ("rb64_3_2_1", TokenValueError,
         "too many values for token 'rb': 4 given, it takes 3 values (column 1)\n    rb64_3_2_1\n"
         "    ^^^^^^^^^^\nwrite it as rb[channels=C/4]_[kernel=3]_[stride=1]"),
        ("c8 se0", TokenValueError,
         "bad value for token 'se': reduction must be at least 1, not 0 (column 6)\n    c8 se0\n"
         "         ^\nthe token takes se[reduction=16]"),
        ("sex4", UnknownTokenError,
         "unknown token 'sex4' (column 1)\n    sex4\n    ^^^^\ndid you mean 'se', 's'? ('zoo tokens' lists every token)"),
        ("c8 rb64_4", BuildError,
         "token 'rb64_4': a residual block needs an odd kernel, not 4: with an even kernel its branch "
         "changes the image size and cannot be added to the skip (column 4)\n    c8 rb64_4\n"
         "       ^^^^^^\nuse kernel 3 or 5"),
        ("rb", BuildError,
         "token 'rb': the default width is C/4 = 3/4, less than 1 channel (column 1)\n    rb\n    ^^\n"
         "give the width, e.g. rb64"),
    ],
)
def test_plugin_tokens_get_the_same_located_errors_as_built_ins(blocks, error, message):
    with pytest.raises(error) as caught:
        zoo.CNN(blocks=blocks)
    assert str(caught.value) == message


def test_se_token_rescales_channels_by_a_gate():
    torch.manual_seed(0)
    cnn = zoo.CNN(input=16, blocks="se4", pool=0, flat=False)
    se = cnn.blocks[0]
    assert type(se).__name__ == "SqueezeExcite" and cnn.token_texts["blocks.0"] == "se4"
    assert n_params(cnn) == (16 * 4 + 4) + (4 * 16 + 16)  # fc1 and fc2 with biases
    x = torch.randn(2, 16, 5, 5)
    mean = x.mean(dim=(2, 3))  # (B, C)
    hidden = torch.relu(mean @ se.fc1.weight.view(4, 16).T + se.fc1.bias)
    gate = torch.sigmoid(hidden @ se.fc2.weight.view(16, 4).T + se.fc2.bias)  # (B, C)
    torch.testing.assert_close(cnn(x), x * gate[:, :, None, None])
    assert zoo.CNN(input=8, blocks="se16").blocks[0].fc1.out_channels == 1  # at least 1 hidden
    assert isinstance(zoo.CNN(input=8, blocks="se", se_gate="hsigmoid").blocks[0].gate, nn.Hardsigmoid)


def test_plugin_option_is_checked_like_any_option():
    with pytest.raises(OptionError, match=r"option se_gate='tanh': must be one of 'sigmoid', 'hsigmoid'"):
        zoo.Config(se_gate="tanh")
    cnn = zoo.CNN(input=64, blocks="rb16 rb", rb_expansion=2, pool=0, flat=False)
    assert cnn.out_channels == 32  # 2 * 16, then the default width 32 // 2 = 16 again
    assert cnn.blocks[1].block[0].out_channels == 16


def _copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy Conv2d/BatchNorm2d/Linear weights in module order (the generic timm map)."""
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    src = [m for m in source.modules() if isinstance(m, kinds)]
    dst = [m for m in target.modules() if isinstance(m, kinds)]
    assert [type(m) for m in src] == [type(m) for m in dst]
    for a, b in zip(src, dst):
        b.load_state_dict(a.state_dict())


def _randomize_norms(model: nn.Module, seed: int = 0) -> None:
    """Random BatchNorm weights and statistics, so that every layer shows in the output
    (timm zero-initialises bn3, which would hide conv3)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t, low, high in ((m.weight, 0.5, 1.5), (m.bias, -0.2, 0.2),
                                     (m.running_mean, -0.2, 0.2), (m.running_var, 0.5, 1.5)):
                    t.copy_(torch.rand(t.shape, generator=generator) * (high - low) + low)


@pytest.mark.parametrize("c_in, width, stride", [(64, 16, 2), (64, 16, 1), (32, 16, 1)])
def test_rb_is_timms_bottleneck(c_in, width, stride):
    from timm.models.resnet import Bottleneck, downsample_conv

    torch.manual_seed(0)
    out = 4 * width
    downsample = downsample_conv(c_in, out, 1, stride) if (stride != 1 or c_in != out) else None
    reference = Bottleneck(c_in, width, stride=stride, downsample=downsample).eval()
    _randomize_norms(reference)
    cnn = zoo.CNN(input=c_in, blocks=f"rb{width}_3_{stride}", fun_after="relu", pool=0, flat=False).eval()
    block = cnn.blocks[0]
    assert isinstance(block, zoo.Residual)
    assert n_params(block) == n_params(reference)
    assert block.identity_align == (downsample is None)
    assert block.block[3].stride == (stride, stride)  # the 3x3: ResNet v1.5, as timm
    _copy_weights(reference, cnn)
    x = torch.randn(2, c_in, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(cnn(x), reference(x), rtol=0, atol=1e-5)


def test_rb_options_of_r_apply():
    cnn = zoo.CNN(input=64, blocks="rb16_3_2", stride_first=False, pool=0, flat=False)
    convs = [m for m in cnn.blocks[0].block if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1)]  # ResNet v1: on the first 1x1
    assert [c.kernel_size for c in convs] == [(1, 1), (3, 3), (1, 1)]
    cnn = zoo.CNN(input=64, blocks="rb16_5", norm_inside=2, fun_inside="gelu", norm_block=0, norm_before=1,
                  drop_inside=1, mult=2, scale=0.5, norm_after=3, fun_after="swish", pool=0, flat=False)
    block = cnn.blocks[0]
    assert [type(m).__name__ for m in block.block] == [
        "BatchNorm2d", "Conv2d", "LayerNormChannels", "GELU", "Dropout", "Conv2d", "LayerNormChannels",
        "GELU", "Dropout", "Conv2d",
    ]
    assert block.block[5].kernel_size == (5, 5) and block.block[5].padding == (2, 2)
    assert block.scale.shape == (1, 64, 1, 1) and block.scale.detach().unique().tolist() == [0.5]
    assert [type(m).__name__ for m in block.after] == ["InstanceNorm2d", "SiLU", "Dropout2d"]
    assert block.identity_align  # 64 -> 4 * 16, stride 1
    assert cnn(torch.randn(2, 64, 6, 6)).shape == (2, 64, 6, 6)


def test_plugin_tokens_build_inside_groups_and_repeats():
    cnn = zoo.CNN(input=3, blocks="(cnf32 m) 2(rb16 se4) rb32_3_2 2rb")
    assert cnn.block_names == ["(cnf32 m)", "(rb16 se4)", "(rb16 se4)", "rb32_3_2", "rb", "rb"]
    assert cnn.out_channels == 128
    group = cnn.blocks[1]
    assert isinstance(group, nn.Sequential) and cnn.token_texts["blocks.1"] == "(rb16 se4)"
    assert [cnn.token_texts[f"blocks.1.{i}"] for i in range(2)] == ["rb16", "se4"]  # the CNN knows its tokens
    assert cnn.blocks[1][0] is not cnn.blocks[2][0]  # copies never share weights
    assert not cnn.blocks[1][0].identity_align and cnn.blocks[2][0].identity_align
    assert cnn(torch.randn(2, 3, 16, 16)).shape == (2, 128)


def test_change_drop_block_reaches_plugin_residual_blocks():
    torch.manual_seed(0)
    cnn = zoo.CNN(input=16, blocks="rb16 (2rb se) rb8_3_2 rb", pool=0, flat=False)
    # identity skips: the two rb in the group and the last rb; rb16 and rb8_3_2 change the shape
    assert Change.drop_block(cnn, [0.1, 0.2, 0.9]) == 3
    residuals = [m for m in cnn.modules() if isinstance(m, zoo.Residual)]
    assert [r.p for r in residuals] == [0.0, 0.1, 0.2, 0.0, 0.9]
    # per sample in training: each branch is dropped, or kept and scaled by 1/(1-p)
    last = residuals[-1]
    x = torch.randn(8, 32, 4, 4)
    with torch.no_grad():
        last.eval()
        branch = last.block(x)
        last.train()
        y = last(x)
    dropped = [torch.allclose(y[i], x[i]) for i in range(8)]
    kept = [torch.allclose(y[i], x[i] + branch[i] / 0.1, atol=1e-5) for i in range(8)]
    assert all(d != k for d, k in zip(dropped, kept)) and any(dropped)
    last.eval()
    with torch.no_grad():
        torch.testing.assert_close(last(x), x + last.block(x))  # eval: the identity


def test_debug_statistics_cover_plugin_residual_blocks():
    cnn = zoo.CNN(input=3, blocks="(cnf32 m) (rb8 se) rb16_3_2", mult=1).debug(True)
    cnn.train()
    cnn(torch.randn(2, 3, 16, 16)).sum().backward()
    cnn.update()
    rows = cnn.block_stats()
    assert [(r["name"], r["path"]) for r in rows] == [("rb8", "blocks.1.0"), ("rb16_3_2", "blocks.2")]
    assert all(r["ratio"] > 0 and r["forwards"] == 1 and r["scale"] == 1.0 and r["scale_grad"] > 0 for r in rows)


# -- the resnet50 preset --------------------------------------------------------------------
RESNET50_BLOCKS = "(cnf64_7_2 m3_2_1) rb64 2rb rb128_3_2 3rb rb256_3_2 5rb rb512_3_2 2rb"


def test_resnet50_blocks_match_timm_weight_for_weight():
    """Independent of the preset loader: the blocks plus Linear(2048, 1000), with timm's
    weights copied in module order, is timm's resnet50."""
    import timm

    torch.manual_seed(0)
    reference = timm.create_model("resnet50", pretrained=False).eval()
    _randomize_norms(reference)
    model = nn.Sequential(zoo.CNN(blocks=RESNET50_BLOCKS, fun_after="relu"), nn.Linear(2048, 1000)).eval()
    assert n_params(model) == n_params(reference) == 25_557_032
    _copy_weights(reference, model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() < 1e-4


def test_create_resnet50_from_the_plugin_preset():
    from zoo.presets import get_preset

    preset = get_preset("resnet50")
    assert preset.plugin == "zoo-extra"
    assert preset.input == (3, 224, 224)
    assert "resnet50" in zoo.list_models("resnet*")
    model = zoo.create("resnet50")
    assert n_params(model) == 25_557_032
    assert model.head.fc.in_features == 2048 and model.head.fc.out_features == 1000
    assert model.cnn.out_channels == 2048
    assert sum(isinstance(m, zoo.Residual) for m in model.cnn.modules()) == 16


def test_resnet50_preset_equals_timm_after_load_timm_weights():
    import timm

    torch.manual_seed(0)
    reference = timm.create_model("resnet50", pretrained=False).eval()
    _randomize_norms(reference)
    model = zoo.create("resnet50").eval()
    zoo.load_timm_weights(model, reference.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() < 1e-4


def test_inspector_tree_and_cost_table_show_plugin_tokens():
    report = zoo.inspect("c64 rb16 se4 rb32_3_2", input_size=(3, 8, 8))
    # computed by hand: rb16 = 1x1 64->16, 3x3 16->16, 1x1 16->64 and three norms (identity skip);
    # se4 = fc1 64->16 and fc2 16->64 with biases; rb32_3_2 adds the 1x1 stride-2 align and its norm
    assert [(b.name, b.params, b.macs) for b in report.blocks[:4]] == [
        ("c64", 1_728, 110_592), ("rb16", 4_544, 278_528), ("se4", 2_128, 2_048), ("rb32_3_2", 24_192, 475_136),
    ]
    assert report.params == 1_728 + 4_544 + 2_128 + 24_192
    text = json.dumps(report.to_dict()["tree"])
    assert '"token": "se4"' in text and '"type": "SqueezeExcite"' in text and '"token": "rb32_3_2"' in text


@pytest.mark.slow  # ~4 s on an idle core
def test_zoo_inspect_command_shows_plugin_tokens():
    out = run_zoo("inspect", "c64 rb16 se4", "--input", "3,8,8", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [(b["name"], b["params"]) for b in report["blocks"]] == [
        ("c64", 1_728), ("rb16", 4_544), ("se4", 2_128), ("head", 0),
    ]


def test_inspector_on_the_plugin_preset():
    report = zoo.inspect("resnet50")
    assert (report.params, report.macs) == (25_557_032, 4_089_184_256)  # timm's resnet50, 224x224
    assert [b.name for b in report.blocks] == [
        "(cnf64_7_2 m3_2_1)", "rb64", "rb", "rb", "rb128_3_2", "rb", "rb", "rb",
        "rb256_3_2", "rb", "rb", "rb", "rb", "rb", "rb512_3_2", "rb", "rb", "head",
    ]


# -- failures, clashes and the environment variables (real subprocesses) -----------------------
BROKEN_WARNING = (
    "zoo: warning: plugin 'zoo-broken' failed to load and is skipped: importing 'zoo_broken' raised "
    "RuntimeError: zoo_broken is broken on purpose\n"
    "  (fix or uninstall it, or skip it with ZOO_DISABLE_PLUGINS=zoo-broken)\n"
)
HOOK_WARNING = (
    "zoo: warning: plugin 'zoo-hook-raises' failed to load and is skipped: "
    "its hook zoo_tokens() raised ValueError: no tokens today\n"
    "  (fix or uninstall it, or skip it with ZOO_DISABLE_PLUGINS=zoo-hook-raises)\n"
)


def test_a_broken_plugin_is_named_and_everything_else_keeps_working(broken_site):
    out = run_zoo("tokens", "--json", site=broken_site)
    assert out.returncode == 0
    assert out.stderr == BROKEN_WARNING + HOOK_WARNING
    tokens = by_name(json.loads(out.stdout), "name")
    assert tokens["r"]["plugin"] == "zoo" and tokens["se"]["plugin"] == "zoo-extra"

    out = run_zoo("plugins", "--json", site=broken_site)
    assert out.returncode == 0
    rows = by_name(json.loads(out.stdout), "distribution")
    assert rows["zoo-broken"] == {
        "distribution": "zoo-broken", "version": "0.3.0", "status": "failed",
        "reason": "importing 'zoo_broken' raised RuntimeError: zoo_broken is broken on purpose",
        "tokens": [], "presets": [], "options": [],
    }
    assert rows["zoo-hook-raises"]["status"] == "failed"
    assert rows["zoo-extra"] == EXTRA_ROW

    out = run_zoo("plugins", site=broken_site)  # the table, then the reasons
    assert out.returncode == 0
    text = [line.rstrip() for line in out.stdout.splitlines()]
    assert text[-2:] == [
        "zoo-broken: importing 'zoo_broken' raised RuntimeError: zoo_broken is broken on purpose",
        "zoo-hook-raises: its hook zoo_tokens() raised ValueError: no tokens today",
    ]
    assert next(line for line in text if line.startswith("zoo-broken ")).split() == ["zoo-broken", "0.3.0", "failed"]


@pytest.mark.slow  # ~3 s on an idle core
def test_a_network_builds_beside_a_broken_plugin(broken_site):
    out = run_python("import zoo; print(zoo.CNN(input=64, blocks='c8 r rb4').out_channels)", site=broken_site)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "16"
    # a library caller gets them as Python warnings (zoo.ZooWarning), at its own line
    assert out.stderr == "".join(
        "<string>:1: ZooWarning: " + warning.removeprefix("zoo: warning: ")
        for warning in (BROKEN_WARNING, HOOK_WARNING)
    )


@pytest.mark.slow  # ~3 s on an idle core
def test_unknown_token_names_the_plugins_that_failed(broken_site):
    code = "import zoo.plugin\ntry:\n    zoo.CNN(blocks='c8 shuffle2')\nexcept zoo.UnknownTokenError as e:\n    print(e)"
    out = run_python(code, site=broken_site)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "unknown token 'shuffle2' (column 4)"
    assert out.stdout.splitlines()[-1].endswith(
        "(plugins zoo-broken, zoo-hook-raises failed to load: 'zoo plugins' says why)"
    )


def test_zoo_disable_plugins_skips_named_distributions(broken_site):
    # names compare as pip compares them: case, '-', '_' and '.' do not matter
    out = run_zoo("plugins", "--json", site=broken_site, ZOO_DISABLE_PLUGINS="Zoo_Broken, zoo-hook-raises")
    assert out.returncode == 0 and out.stderr == ""
    rows = by_name(json.loads(out.stdout), "distribution")
    assert {name: row["status"] for name, row in rows.items()} == {
        "zoo": "ok", "zoo-extra": "ok", "zoo-broken": "disabled", "zoo-hook-raises": "disabled",
    }
    assert rows["zoo-broken"]["reason"] == "named in ZOO_DISABLE_PLUGINS"


def test_zoo_disable_plugin_autoload_loads_built_ins_only(broken_site):
    out = run_zoo("plugins", "--json", site=broken_site, ZOO_DISABLE_PLUGIN_AUTOLOAD="1")
    assert out.returncode == 0 and out.stderr == ""
    assert [row["distribution"] for row in json.loads(out.stdout)] == ["zoo"]
    out = run_zoo("tokens", "se", site=broken_site, ZOO_DISABLE_PLUGIN_AUTOLOAD="1")
    assert out.returncode == 1
    assert out.stderr.startswith("zoo: error: unknown token 'se' (column 1)")


CLASH = (
    "two plugins provide the token 'sq': 'zoo-clash-a' and 'zoo-clash-b'. Neither takes precedence: "
    "disable one with ZOO_DISABLE_PLUGINS=zoo-clash-a or ZOO_DISABLE_PLUGINS=zoo-clash-b (or uninstall it)"
)


def test_two_plugins_with_one_token_name_fail_only_where_it_is_used(clash_site):
    out = run_zoo("tokens", "--json", site=clash_site)  # one warning; the listing goes on
    assert out.returncode == 0
    assert out.stderr == f"zoo: warning: {CLASH}\n"
    names = [row["name"] for row in json.loads(out.stdout)]
    assert "sq" not in names and "r" in names and "se" in names
    code = ("import warnings, zoo\nwarnings.simplefilter('ignore')\nprint(zoo.parse_blocks('c8')[0].name)\n"
            "try:\n    zoo.parse_blocks('c8 sq2')\nexcept zoo.PluginClashError as e:\n    print(e)")
    out = run_python(code, site=clash_site)
    assert out.stdout == f"c\ntoken 'sq' at column 4 is ambiguous: {CLASH}\n"
    # `zoo plugins` lists both, with the clash as their reason
    out = run_zoo("plugins", "--json", site=clash_site)
    assert out.returncode == 0
    rows = by_name(json.loads(out.stdout), "distribution")
    for name in ("zoo-clash-a", "zoo-clash-b"):
        assert (rows[name]["status"], rows[name]["tokens"], rows[name]["reason"]) == ("ok", [], CLASH)


@pytest.mark.parametrize("disabled, kept", [("zoo-clash-b", "a"), ("zoo_clash_a", "b")])
def test_disabling_one_clashing_plugin_resolves_the_clash(clash_site, disabled, kept):
    out = run_zoo("tokens", "sq", "--json", site=clash_site, ZOO_DISABLE_PLUGINS=disabled)
    assert out.returncode == 0 and out.stderr == ""
    (row,) = json.loads(out.stdout)
    assert (row["name"], row["plugin"], row["help"]) == ("sq", f"zoo-clash-{kept}", f"clash plugin {kept}")


def test_two_plugins_with_one_preset_name_fail_only_when_it_is_asked_for(twin_site):
    folder_a, folder_b = (twin_site / f"zoo_twin_{x}" / "presets" / "twinnet.yaml" for x in "ab")
    clash = (
        f"two sources define the preset 'twinnet': plugin 'zoo-twin-a' ({folder_a}) and "
        f"plugin 'zoo-twin-b' ({folder_b}). Keep one: disable the plugin with "
        "ZOO_DISABLE_PLUGINS=zoo-twin-b; disable the plugin with ZOO_DISABLE_PLUGINS=zoo-twin-a"
    )
    out = run_zoo("list", "--json", site=twin_site)
    assert out.returncode == 0
    assert out.stderr == f"zoo: warning: {clash}. Until then 'twinnet' is left out\n"
    names = [row["name"] for row in json.loads(out.stdout)]
    assert "twinnet" not in names and "resnet18" in names
    out = run_zoo("inspect", "twinnet", site=twin_site)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.endswith(f"zoo: error: {clash}\n")
    out = run_zoo("list", "twin*", "--json", site=twin_site, ZOO_DISABLE_PLUGINS="zoo-twin-a")
    assert out.returncode == 0 and out.stderr == ""
    (row,) = json.loads(out.stdout)
    assert (row["name"], row["description"], row["source"]) == ("twinnet", "twin b", "zoo-twin-b")
    out = run_zoo("plugins", "--json", site=twin_site, ZOO_DISABLE_PLUGINS="zoo-twin-a")
    assert by_name(json.loads(out.stdout), "distribution")["zoo-twin-b"]["presets"] == ["twinnet"]


def contributing_example() -> tuple[dict[str, str], str]:
    """The files of the plugin in CONTRIBUTING.md's "Writing a token plugin", and its test."""
    import re

    text = (REPO / "CONTRIBUTING.md").read_text()
    section = text[text.index("## Writing a token plugin"):]
    files = dict(re.findall(r"^`(zoo-shuffle/[^`]+)`[^\n]*:\n\n```\w*\n(.*?)^```", section, re.M | re.S))
    test = re.search(r"^### Testing a plugin.*?```python\n(.*?)^```", section, re.M | re.S).group(1)
    return files, test


def _toml_value(text: str, key: str) -> str:
    import re

    return re.search(rf'^{key} = "([^"]+)"', text, re.M).group(1)


@pytest.mark.slow  # ~4 s on an idle core
def test_the_plugin_in_contributing_works_as_written(tmp_path):
    files, test = contributing_example()
    assert sorted(files) == ["zoo-shuffle/pyproject.toml", "zoo-shuffle/src/zoo_shuffle/__init__.py",
                             "zoo-shuffle/src/zoo_shuffle/layers.py"]
    assert len(files["zoo-shuffle/src/zoo_shuffle/__init__.py"].splitlines()) + len(
        files["zoo-shuffle/src/zoo_shuffle/layers.py"].splitlines()) <= 25  # "a plugin in about 20 lines"
    pyproject = files["zoo-shuffle/pyproject.toml"]  # (tomllib is Python 3.11+)
    name, version = _toml_value(pyproject, "name"), _toml_value(pyproject, "version")
    assert pyproject.endswith('[project.entry-points.zoo]\nshuffle = "zoo_shuffle"\n')
    # lay it out as pip installs its wheel
    for path, source in files.items():
        if "/src/" in path:
            target = tmp_path / path.split("/src/", 1)[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source)
    info = tmp_path / f"zoo_shuffle-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[zoo]\nshuffle = zoo_shuffle\n")
    (info / "INSTALLER").write_text("pip\n")

    out = run_zoo("tokens", "shuffle", "--json", site=tmp_path)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert [(r["signature"], r["plugin"]) for r in json.loads(out.stdout)] == [("shuffle[groups=2]", "zoo-shuffle")]
    script = test + (
        "\ntest_shuffle_interleaves_the_groups()\n"
        "print(zoo.CNN(input=3, blocks='cnf64 shuffle4 r').out_channels)\n"
        "try:\n    zoo.CNN(input=4, blocks='shuffle3')\nexcept zoo.BuildError as e:\n    print(e)\n"
    )
    out = run_python(script, site=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "64",
        "token 'shuffle3': 4 channels do not split into 3 groups (column 1)",
        "    shuffle3",
        "    ^^^^^^^^",
        "use a number of groups that divides the channels",
    ]


# -- zoo.testing and the registry, in process -----------------------------------------------
class Doubler:
    """A plugin object: token `dbl` (x * 2) and option `dbl_factor`."""

    @zoo.plugin.hookimpl
    def zoo_tokens(self):
        return [Token("dbl", [("times", int, 1)], "multiply by dbl_factor, times times", build=self.build)]

    @zoo.plugin.hookimpl
    def zoo_options(self):
        return [Option("dbl_factor", 2, "the factor of `dbl`", choices=(2, 3))]

    @staticmethod
    def build(ctx, times):
        factor = ctx.options.dbl_factor**times

        class Mul(nn.Module):
            def forward(self, x):
                return x * factor

        return Mul()


def test_register_plugin_adds_a_first_class_token_for_the_block_only():
    with register_plugin(Doubler(), name="doubler", version="1.2") as info:
        assert (info.name, info.version, info.tokens, info.options) == ("doubler", "1.2", ["dbl"], ["dbl_factor"])
        cnn = zoo.CNN(input=2, blocks="2(dbl) dbl2", dbl_factor=3, pool=0, flat=False)
        assert cnn.block_names == ["(dbl)", "(dbl)", "dbl2"]
        assert cnn(torch.ones(1, 2, 1, 1)).flatten().tolist() == [3.0**4] * 2
        assert get_registry().tokens["dbl"].plugin == "doubler"
    assert "dbl" not in get_registry().tokens and "doubler" not in get_registry().plugins
    with pytest.raises(UnknownTokenError):
        zoo.parse_blocks("dbl")
    with pytest.raises(zoo.UnknownOptionError):
        zoo.Config(dbl_factor=3)


def test_register_plugin_cleans_up_when_the_block_raises():
    with pytest.raises(RuntimeError), register_plugin(Doubler(), name="doubler"):
        raise RuntimeError("test body failed")
    assert "dbl" not in get_registry().tokens


def test_a_plugin_token_named_like_an_installed_one_is_a_clash():
    class SeAgain:
        @zoo.plugin.hookimpl
        def zoo_tokens(self):
            return [Token("se", build="nowhere:build"), Token("sx", build="nowhere:build")]

    before = dict(get_registry().tokens)
    with pytest.raises(PluginClashError) as caught, register_plugin(SeAgain(), name="se-again"):
        pass
    assert str(caught.value) == (
        "two plugins provide the token 'se': 'zoo-extra' and 'se-again'. Neither takes precedence: "
        "disable one with ZOO_DISABLE_PLUGINS=zoo-extra or ZOO_DISABLE_PLUGINS=se-again (or uninstall it)"
    )
    assert get_registry().tokens == before  # nothing of the clashing plugin was kept
    assert "se-again" not in get_registry().plugins


def test_a_plugin_cannot_override_a_built_in_token_or_option():
    class Shadow:
        @zoo.plugin.hookimpl
        def zoo_tokens(self):
            return [Token("r", build="nowhere:build")]

        @zoo.plugin.hookimpl
        def zoo_options(self):
            return [Option("fun", "gelu")]

    with pytest.raises(PluginClashError) as caught, register_plugin(Shadow(), name="shadow"):
        pass
    assert str(caught.value).splitlines() == [
        "plugin 'shadow' provides the token 'r', which zoo itself has. No plugin overrides zoo: disable it "
        "with ZOO_DISABLE_PLUGINS=shadow (or uninstall it), and ask its author to rename the token",
        "plugin 'shadow' provides the option 'fun', which zoo itself has. No plugin overrides zoo: disable it "
        "with ZOO_DISABLE_PLUGINS=shadow (or uninstall it), and ask its author to rename the option",
    ]


class _Hooks:
    def __init__(self, **hooks):
        for name, function in hooks.items():
            setattr(self, name, zoo.plugin.hookimpl(function))


@pytest.mark.parametrize(
    "plugin, message",
    [
        (_Hooks(zoo_tokens=lambda: 1 / 0),
         "plugin 'bad': its hook zoo_tokens() raised ZeroDivisionError: division by zero"),
        (_Hooks(zoo_tokens=lambda: "se"), "plugin 'bad': its hook zoo_tokens() must return a list, not str"),
        (_Hooks(zoo_tokens=lambda: [("se", 16)]),
         "plugin 'bad': its hook zoo_tokens() returned ('se', 16), which is not a zoo.plugin.Token"),
        (_Hooks(zoo_options=lambda: ["fast"]),
         "plugin 'bad': its hook zoo_options() returned 'fast', which is not a zoo.plugin.Option"),
        (_Hooks(zoo_presets=lambda: ["/no/such/folder"]),
         "plugin 'bad': its hook zoo_presets() returned '/no/such/folder', which does not exist"),
        (_Hooks(zoo_token=lambda: []),
         "plugin 'bad' implements zoo_token, which zoo does not have; the hooks are zoo_tokens, "
         "zoo_presets, zoo_options, zoo_activations, zoo_norms"),
        (object(),
         "plugin 'bad' implements none of zoo's hooks (zoo_tokens, zoo_presets, zoo_options, zoo_activations, "
         "zoo_norms); mark them "
         "with @zoo.plugin.hookimpl, and check that the entry point names the right module"),
    ],
)
def test_a_plugin_that_returns_something_unusable_is_refused_by_name(plugin, message):
    before = (dict(get_registry().tokens), dict(get_registry().plugins))
    with pytest.raises(PluginError) as caught, register_plugin(plugin, name="bad"):
        pass
    assert str(caught.value) == message
    assert (get_registry().tokens, get_registry().plugins) == before


def test_registering_an_installed_plugin_again_names_the_first_registration():
    import zoo_extra

    class Arguments:
        @zoo.plugin.hookimpl
        def zoo_tokens(self, config):
            return []

    with pytest.raises(PluginError) as caught, register_plugin(zoo_extra, name="again"):
        pass
    assert str(caught.value) == (
        "plugin 'again' cannot be registered: the same object is already registered as plugin "
        "'zoo-extra' (zoo.testing.isolated_registry() gives a registry without it)"
    )
    with isolated_registry(), register_plugin(zoo_extra, name="zoo-extra") as info:
        assert info.tokens == ["se", "rb", "mish"]
    with pytest.raises(PluginError) as caught, register_plugin(Arguments(), name="args"):
        pass
    message = str(caught.value)  # the middle is pluggy's wording, on one line
    assert message.startswith("plugin 'args' cannot be registered: ") and "\n" not in message
    assert "zoo_tokens(config)" in message and message.endswith("(zoo's hooks take no arguments)")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Token("se_x", build=print), "token name 'se_x' is not valid: it must start with a letter "
         "and hold only ASCII letters and digits"),
        (lambda: Token("2x", build=print), "token name '2x' is not valid"),
        (lambda: Token("x"), "token 'x' has no build function"),
        (lambda: Token("x", build="just_a_module"), "token 'x': build='just_a_module' must be 'package.module:function'"),
        (lambda: Token("x", [("a", int), ("a", int)], build=print), "token 'x': two values share a name in ['a', 'a']"),
        (lambda: Token("x", [("a", list)], build=print), "parameter 'a': type must be int, float, str or bool"),
        (lambda: Option("o", 5, choices=(1, 2)), "option 'o': its default 5 is not one of its choices"),
    ],
)
def test_bad_declarations_are_plugin_errors(make, message):
    with pytest.raises(PluginError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]").replace("?", r"\?")):
        make()


def test_token_metadata_is_readable_without_its_build_function():
    class Lazy:
        @zoo.plugin.hookimpl
        def zoo_tokens(self):
            return [Token("lz", [("size", int, 3)], "lazy", build="zoo_no_such_module.layers:build")]

    with register_plugin(Lazy(), name="lazy-plugin"):
        assert zoo.parse_blocks("lz5")[0].kwargs == {"size": 5}  # parsing needs metadata only
        with pytest.raises(PluginError) as caught:
            zoo.CNN(blocks="lz5")
    assert str(caught.value) == (
        "token 'lz' of plugin 'lazy-plugin': cannot import its build function "
        "'zoo_no_such_module.layers:build' (ModuleNotFoundError: No module named 'zoo_no_such_module')"
    )


def test_isolated_registry_holds_built_ins_only_and_restores_the_old_one():
    outer = get_registry()
    with isolated_registry() as registry:
        assert get_registry() is registry is not outer
        assert list(registry.plugins) == ["zoo"] and "se" not in registry.tokens
        with pytest.raises(UnknownTokenError):
            zoo.parse_blocks("se")
    assert get_registry() is outer and "se" in outer.tokens


def test_two_entry_points_of_one_distribution_merge_into_one_plugin():
    registry = Registry(autoload=False)
    registry._add(Doubler(), "dist:one", "dist", "1.0")
    registry._add(_Hooks(zoo_presets=lambda: [str(REPO / "tests" / "fixtures" / "plugins")]), "dist:two", "dist", "1.0")
    assert registry.plugins["dist"].tokens == ["dbl"] and registry.plugins["dist"].options == ["dbl_factor"]
    registry.unregister("dist")
    assert "dbl" not in registry.tokens and registry.pm.get_plugins() == {registry.pm.get_plugin("zoo")}


def test_zoo_extra_uses_the_plugin_api_alone():
    """A plugin depends on zoo.plugin only, so zoo can move its internals."""
    import ast

    used = set()
    for path in (REPO / "plugins" / "zoo-extra" / "src" / "zoo_extra").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zoo":
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used |= {a.name for a in node.names if a.name.split(".")[0] == "zoo"}
    assert used == {"zoo.plugin"}
    code = "import sys, zoo.plugin as p; print('torch' in sys.modules, set(p.__all__) <= set(dir(p)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]  # declarations need no torch
    import zoo.plugin as plugin
    from zoo import Residual
    from zoo.cnn import BuildContext

    assert plugin.BuildContext is BuildContext and plugin.Residual is Residual and plugin.MAX_CHANNELS == 65_536
    # the tables travel in the build context: no factory that looks the registry up
    assert not {"create_norm", "create_activation", "residual_from_options"} & set(plugin.__all__)


def test_a_plugins_activation_and_norm_kind_work_by_name_everywhere(tmp_path):
    """zoo-extra adds fun="mish" (and the token mish) and norm kind 4 (GroupNorm, n4)."""
    import torch

    cnn = zoo.CNN(blocks="cnf16 mish n4 r", fun="mish", norm=4, norm_inside=4)
    kinds = [type(m).__name__ for m in cnn.modules() if type(m).__name__ in ("Mish", "GroupNorm", "BatchNorm2d")]
    assert kinds == ["GroupNorm", "Mish", "Mish", "GroupNorm", "GroupNorm", "BatchNorm2d"]  # cnf, mish, n4, r's
    assert cnn(torch.randn(2, 3, 8, 8)).shape == (2, 16)
    (tmp_path / "gn.yaml").write_text(
        "name: gn\ndescription: GroupNorm and Mish\ninput: [3, 16, 16]\nblocks: cnf16 n r32_3_2\n"
        "options: {norm: 4, fun: mish}\nhead: {num_classes: 5}\n")
    model = zoo.create(str(tmp_path / "gn.yaml"))
    assert sum(type(m).__name__ == "GroupNorm" for m in model.modules()) == 2
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 5)
    with pytest.raises(zoo.OptionError, match=r"option norm=5: must be one of 0, 1, 2, 3, 4 \(norm kinds: 1 BatchNorm2d, "
                       r"2 LayerNormChannels, 3 InstanceNorm2d, 4 GroupNorm, 0 nothing\)"):
        zoo.CNN(blocks="r", norm=5)
    with pytest.raises(zoo.OptionError, match=r"not an activation; did you mean 'mish'"):
        zoo.CNN(blocks="f", fun="mesh")
    out = subprocess.run([sys.executable, "-m", "zoo", "options", "norm", "fun", "--json"], capture_output=True, text=True)
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["norm"]["choices"] == [0, 1, 2, 3, 4] and "mish" in rows["fun"]["choices"]


def test_a_norm_kind_or_activation_zoo_has_is_refused():
    from zoo.plugin import Activation, Norm, hookimpl, isolated_registry, register_plugin

    class Copycat:
        @hookimpl
        def zoo_norms(self):
            return [Norm(1, "MyBatchNorm", "torch.nn:BatchNorm2d")]

    class Renamer:
        @hookimpl
        def zoo_activations(self):
            return [Activation("gelu", "torch.nn:Mish")]

    with isolated_registry():
        with pytest.raises(zoo.PluginClashError, match=r"plugin 'copycat' provides the norm kind '1', which zoo itself has"):
            with register_plugin(Copycat(), name="copycat"):
                pass
        with pytest.raises(zoo.PluginClashError, match=r"plugin 'renamer' provides the token 'gelu', which zoo itself has"):
            with register_plugin(Renamer(), name="renamer"):
                pass


def test_a_plugin_option_is_a_param_checked_by_type_and_config_is_one_mapping():
    """One parameter type (zoo.registry.specs.Param) for zoo's options and plugins' alike."""
    from zoo.plugin import Option, hookimpl, isolated_registry, register_plugin

    class Wide:
        @hookimpl
        def zoo_options(self):
            return [Option("widen", 2, "width multiplier", min=1, max=8)]

    with isolated_registry(), register_plugin(Wide(), name="zoo-wide"):
        with pytest.raises(zoo.OptionError, match=r"option widen='banana': must be a whole number \(width multiplier\)"):
            zoo.Config(widen="banana")
        with pytest.raises(zoo.OptionError, match=r"option widen=9: must be at most 8"):
            zoo.Config(widen=9)
        cfg = zoo.Config(fun="gelu")
        assert "widen" in cfg and dict(cfg)["widen"] == 2 == cfg.widen == cfg["widen"]
        assert set(cfg) == set(dict(cfg)) and len(cfg) == len(dict(cfg))
        assert zoo.Config(widen=4).changed() == {"widen": 4}
