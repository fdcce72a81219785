"""Presets: every preset builds and matches its file, spec §10's numbers, overrides,
sources (ZOO_PRESET_PATH, plugins, clashes), the bad-file errors, and the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import zoo
import zoo.plugin
from zoo.presets import get_preset, list_presets, load_preset_file
from zoo.testing import register_plugin

ROOT = Path(__file__).resolve().parents[1]

# spec §10 (and the presets zoo adds): name -> (parameters, MACs of one image)
EXPECTED = {
    "resnet18": (11_689_512, 1_814_073_344),  # timm/torchvision: 11,689,512, 1.81 G
    "resnet34": (21_797_672, 3_663_761_408),  # 21,797,672, 3.66 G
    "resnet18_cifar": (11_173_962, 140_186_624),  # 140.2 M
    "resnet18_cifar_v2": (6_453_322, 121_312_256),  # document: 6,453k
    "resnet18_cifar_v3": (11_175_882, 140_186_624),  # + 1,920 scale values (mult=2)
    "resnet18_cifar_nopool": (11_173_962, 555_422_720),  # the stem pool's 4x
    "r32m": (1_607_818, 68_618_752),  # document: 1,608k
    "r64m": (6_416_650, 272_503_808),  # document: 6,417k
    "r128m": (25_637_386, 1_086_072_832),  # document: 25,632k
    "r64m_lite": (4_866_570, 215_880_704),  # document's second table: 4,860k
    "mnist_cnn": (19_562, 3_839_104),
    # the shelf (issue #25; tests/test_shelf.py checks each against a reference)
    "resnet20": (269_722, 40_551_040),
    "resnet32": (464_154, 68_862_592),
    "resnet44": (658_586, 97_174_144),
    "resnet56": (853_018, 125_485_696),
    "resnet110": (1_727_962, 252_887_680),
    "preact_resnet18": (11_172_170, 555_422_720),
    "wrn16_4": (2_748_890, 392_612_352),
    "wrn16_8": (10_961_370, 1_548_145_664),
    "wrn28_10": (36_479_194, 5_243_328_768),
    "wrn40_4": (8_949_210, 1_298_582_016),
    "vgg11_bn": (9_231_114, 152_769_536),
    "vgg16_bn": (14_728_266, 313_201_664),
}
# run for real in tests/test_shelf.py, against their references
SHELF = {"preact_resnet18", "vgg11_bn", "vgg16_bn", "wrn16_4", "wrn16_8", "wrn28_10", "wrn40_4"} | {
    f"resnet{d}" for d in (20, 32, 44, 56, 110)}


def count(model: nn.Module, input_size: tuple[int, ...]) -> tuple[int, int]:
    """Parameters, and MACs of one image (FLOPs/2 of convolutions and Linear layers),
    counted on the meta device by torch's own FlopCounterMode: a check independent of
    zoo.inspect."""
    params = sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.empty(1, *input_size, device="meta"))
    return params, counter.get_total_flops() // 2


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


GOOD = """
    name: tiny
    description: a tiny test network
    input: [1, 8, 8]
    blocks: "cnf4 m r8"
    head:
      num_classes: 3
"""


# -- every preset ------------------------------------------------------------------------


@pytest.mark.parametrize("name", zoo.list_models())
def test_preset_matches_its_file(name):
    preset = get_preset(name)
    with torch.device("meta"):
        model = preset.create()
    params, macs = count(model, preset.input)
    if preset.plugin == "zoo":
        assert preset.params is not None and preset.macs is not None, f"{preset.path}: write params and macs"
    if preset.params is not None:
        assert params == preset.params, f"{preset.path}: params"
    if preset.macs is not None:
        assert macs == preset.macs, f"{preset.path}: macs"
    assert model(torch.empty(2, *preset.input, device="meta")).shape == (2, preset.head["num_classes"])
    report = zoo.inspect(name)  # the inspector reports the same numbers
    assert (report.params, report.macs) == (params, macs)


SMALL = [n for n in zoo.list_models() if get_preset(n).input[1] * get_preset(n).input[2] <= 64 * 64 and n not in SHELF]


@pytest.mark.parametrize("name", SMALL)
def test_small_preset_runs_for_real(name):
    preset = get_preset(name)
    torch.manual_seed(0)
    model = preset.create().eval()
    x = torch.randn(2, *preset.input)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, preset.head["num_classes"])
    assert torch.isfinite(y).all()
    assert sum(p.numel() for p in model.parameters()) == preset.params


# resnet18 and resnet34 (224x224) run for real once each in test_timm_bridge.py, where
# their outputs must equal timm's.


def test_shipped_presets_and_the_spec_numbers():
    shipped = {p.name for p in list_presets() if p.plugin == "zoo"}
    assert shipped == set(EXPECTED)
    assert sorted(p.stem for p in (ROOT / "presets").glob("*.yaml")) == sorted(EXPECTED)
    for name, (params, macs) in EXPECTED.items():
        preset = get_preset(name)
        assert (preset.params, preset.macs) == (params, macs), name


def test_spec_section_10_definitions():
    r18, r34 = get_preset("resnet18"), get_preset("resnet34")
    assert r18.blocks == "(cnf64_7_2 m3_2_1) 2r r128_3_2 r r256_3_2 r r512_3_2 r"
    assert r34.blocks == "(cnf64_7_2 m3_2_1) 3r r128_3_2 3r r256_3_2 5r r512_3_2 2r"
    assert r18.options == r34.options == {"fun_after": "relu"}
    assert r18.input == r34.input == (3, 224, 224)
    assert get_preset("resnet18_cifar").blocks == "(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r"
    assert get_preset("resnet18_cifar_v2").blocks == "(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2"
    assert get_preset("resnet18_cifar_nopool").blocks == "(cnf64) 2r r128_3_2 r r256_3_2 r r512_3_2 r"
    # the common CIFAR ResNet-18 (kuangliu/pytorch-cifar): a ReLU after every residual sum
    nopool = zoo.create("resnet18_cifar_nopool")
    residuals = [m for m in nopool.modules() if isinstance(m, zoo.Residual)]
    assert len(residuals) == 8 and all(isinstance(r.after[0], torch.nn.ReLU) for r in residuals)
    for w in (32, 64, 128):
        p = get_preset(f"r{w}m")
        assert p.blocks == f"r{w} m r r{2 * w} m r r{4 * w} m r r{8 * w} m"
        with torch.device("meta"):
            fc = p.create().head.fc
        assert (fc.in_features, fc.out_features) == (8 * w, 10)
    assert get_preset("r64m_lite").blocks == "r64 m r128 m r256 m r512 m"
    mnist = get_preset("mnist_cnn")
    assert (mnist.input, mnist.blocks, mnist.options) == ((1, 28, 28), "cnf32 m d cnf64 m d", {"fun": "gelu"})


# -- create and its overrides ------------------------------------------------------------


def test_create_with_overrides():
    model = zoo.create("resnet18_cifar", num_classes=100, fun="gelu")
    assert isinstance(model, zoo.Classifier) and isinstance(model.cnn, zoo.CNN)
    assert (model.head.fc.in_features, model.head.fc.out_features) == (512, 100)
    assert model.cnn.cfg.fun == "gelu"
    assert sum(isinstance(m, nn.GELU) for m in model.cnn.modules()) == 1  # the stem's cnf
    assert sum(isinstance(m, nn.ReLU) for m in model.cnn.modules()) == 8  # fun_inside stays relu
    assert sum(p.numel() for p in model.parameters()) == 11_173_962 + 90 * 513


def test_create_input_channels_and_option():
    model = zoo.create("r32m", input=1, norm_align=0, mult=1)
    first = model.cnn.blocks[0].block[0]
    assert isinstance(first, nn.Conv2d) and first.in_channels == 1
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert model.pretrained_cfg["input_size"] == (1, 32, 32)
    assert model.cnn.cfg.norm_align == 0 and model.cnn.cfg.mult == 1


def test_create_head_override_with_hidden_layers():
    model = zoo.create("r32m", head={"hidden": [64, 32], "dropout": 0.25}, num_classes=5)
    layers = list(model.head.hidden)
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout"]
    assert [m.p for m in layers if isinstance(m, nn.Dropout)] == [0.25, 0.25, 0.25]
    assert (layers[1].in_features, layers[1].out_features, layers[4].out_features) == (256, 64, 32)
    assert (model.head.fc.in_features, model.head.fc.out_features) == (32, 5)
    assert model.head_hidden_size == 32 and model.num_features == 256
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def test_num_classes_0_gives_the_features():
    model = zoo.create("r32m", num_classes=0)
    assert isinstance(model.head.fc, nn.Identity) and model.num_classes == 0
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 256)


def test_create_from_a_path(tmp_path):
    path = write(tmp_path, "tiny.yaml", GOOD)
    for ref in (str(path), path):
        model = zoo.create(ref)
        assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
        assert model.name == "tiny"
    assert "tiny" not in zoo.list_models()  # a path creates; it does not join the zoo
    with pytest.raises(zoo.PresetError, match="no such preset file"):
        zoo.create(str(tmp_path / "missing.yaml"))


def test_pool_0_head_sees_every_pixel(tmp_path):
    path = write(tmp_path, "flat.yaml", GOOD.replace('"cnf4 m r8"', '"cnf4 m r8"\n    options: {pool: 0}'))
    model = zoo.create(path)
    # timm's meanings: num_features are the feature map's channels, the head takes every pixel
    assert (model.num_features, model.head_hidden_size) == (8, 8 * 4 * 4)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


def test_pool_0_builds_the_network_once_and_leaves_it_untouched(tmp_path, monkeypatch):
    path = write(tmp_path, "flat.yaml", GOOD.replace('"cnf4 m r8"', '"cnf4 m r8"\n    options: {pool: 0}'))
    built = []
    init = zoo.CNN.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(zoo.CNN, "__init__", counting)
    model = zoo.create(path)
    # one network for real (the other is create's size check, on the meta device)
    real = [cnn for cnn in built if next(cnn.parameters()).device.type != "meta"]
    assert len(real) == 1 and real[0] is model.cnn and len(built) == 2
    assert model.head_hidden_size == 8 * 4 * 4
    assert all(m.training for m in model.modules())  # the size came from eval mode, flags restored
    assert {t.device.type for t in (*model.parameters(), *model.buffers())} == {"cpu"}
    assert [int(m.num_batches_tracked) for m in model.modules() if isinstance(m, nn.BatchNorm2d)] == [0, 0, 0, 0]


def test_blocks_override_is_checked_like_a_preset_file():
    with pytest.raises(zoo.PresetError, match=r"create\('r32m'\): blocks must be a block string .*, not ''"):
        zoo.create("r32m", blocks="")
    with pytest.raises(zoo.PresetError, match=r"blocks must be a block string .*, not '  '"):
        zoo.create("r32m", blocks="  ")
    with pytest.raises(zoo.PresetError, match=r"create\('r32m'\): blocks must be a block string .*, not 7"):
        zoo.create("r32m", blocks=7)
    with pytest.raises(zoo.PresetError, match=r"create\('r32m'\): the blocks do not parse:\nunknown token 'q'"):
        zoo.create("r32m", blocks="c8 q")
    model = zoo.create("r32m", blocks="r16 m")
    assert model.cnn.block_names == ["r16", "m"] and model.head.fc.in_features == 16
    cfg, head = get_preset("r32m").resolve(num_classes=3, blocks="c8")  # the same checks, nothing built
    assert (cfg.blocks, head) == ("c8", {"num_classes": 3})


def test_pool_0_with_an_input_too_small(tmp_path):
    text = GOOD.replace('"cnf4 m r8"', '"cnf4 m m m m"\n    options: {pool: 0}')
    path = write(tmp_path, "tiny.yaml", text)
    with pytest.raises(zoo.ShapeError, match=r"preset 'tiny' .*with pool=0 the head needs .* a \(1, 8, 8\) input"):
        zoo.create(path)


def test_bad_overrides():
    with pytest.raises(zoo.UnknownOptionError, match="'num_clases'; did you mean 'num_classes'"):
        zoo.create("r32m", num_clases=10)
    with pytest.raises(zoo.OptionError, match="fun='gleu'.*did you mean 'gelu'"):
        zoo.create("r32m", fun="gleu")
    with pytest.raises(zoo.PresetError, match=r"head.num_classes=-1: must be at least 0 \(the last Linear's outputs; 0: no last Linear\)"):
        zoo.create("r32m", num_classes=-1)
    with pytest.raises(zoo.PresetError, match="unknown head key 'hiden'.*did you mean 'hidden'"):
        zoo.create("r32m", head={"hiden": [3]})


def test_unknown_preset_lists_the_nearest_names():
    with pytest.raises(zoo.UnknownPresetError) as info:
        zoo.create("resnet81")
    message = str(info.value)
    assert "unknown preset 'resnet81'" in message and "'resnet18'" in message and "zoo list" in message
    assert isinstance(info.value, LookupError)


# -- list_models -------------------------------------------------------------------------


def test_list_models_patterns():
    names = zoo.list_models()
    assert names == sorted(names) and set(EXPECTED) <= set(names)
    assert zoo.list_models("r*m") == ["r128m", "r32m", "r64m"]
    assert zoo.list_models("resnet18_cifar*") == [
        "resnet18_cifar", "resnet18_cifar_nopool", "resnet18_cifar_v2", "resnet18_cifar_v3"
    ]
    assert zoo.list_models("r?4m*") == ["r64m", "r64m_lite"]
    assert zoo.list_models(["mnist*", "resnet34"]) == ["mnist_cnn", "resnet34"]
    assert zoo.list_models("RESNET18") == []  # case matters, as in timm on Linux
    assert zoo.list_models("nothing*") == []


# -- sources: ZOO_PRESET_PATH, plugins, clashes ----------------------------------------------


def test_zoo_preset_path_adds_user_presets(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write(a, "tiny.yaml", GOOD)
    write(b, "tiny2.yaml", GOOD.replace("name: tiny", "name: tiny2"))
    (b / "notes.txt").write_text("not a preset")
    monkeypatch.setenv("ZOO_PRESET_PATH", f"{a}{os.pathsep}{b}")
    assert {"tiny", "tiny2"} <= set(zoo.list_models())
    assert get_preset("tiny2").source == "user"
    assert zoo.create("tiny2")(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
    monkeypatch.setenv("ZOO_PRESET_PATH", str(tmp_path / "nowhere"))
    with pytest.warns(zoo.ZooWarning, match="ZOO_PRESET_PATH names .*nowhere.*it is skipped"):
        assert "resnet18" in zoo.list_models()  # a missing folder does not take zoo down


def test_a_folder_file_is_named_after_its_preset(tmp_path, monkeypatch):
    write(tmp_path, "other.yaml", GOOD)
    monkeypatch.setenv("ZOO_PRESET_PATH", str(tmp_path))
    with pytest.warns(zoo.ZooWarning, match=r"other\.yaml, line 1: the preset is named 'tiny'.*tiny\.yaml"):
        assert "tiny" not in zoo.list_models()


def test_user_preset_clashing_with_zoo(tmp_path, monkeypatch):
    write(tmp_path, "resnet18.yaml", GOOD.replace("name: tiny", "name: resnet18"))
    monkeypatch.setenv("ZOO_PRESET_PATH", str(tmp_path))
    with pytest.warns(zoo.ZooWarning) as caught:  # zoo's own preset stays authoritative
        assert get_preset("resnet18").path == ROOT / "presets" / "resnet18.yaml"
    message = str(caught[0].message)
    assert "defines the preset 'resnet18', which zoo itself has; zoo's is used" in message
    assert str(tmp_path / "resnet18.yaml") in message and "ZOO_PRESET_PATH" in message


class PresetPlugin:
    def __init__(self, folder: Path):
        self.folder = folder

    @zoo.plugin.hookimpl
    def zoo_presets(self):
        return [self.folder]


def test_plugin_presets_join_the_zoo(tmp_path):
    write(tmp_path, "tiny.yaml", GOOD)
    with register_plugin(PresetPlugin(tmp_path), name="zoo-tiny"):
        assert "tiny" in zoo.list_models()
        assert get_preset("tiny").plugin == "zoo-tiny"
        assert zoo.create("tiny")(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
    assert "tiny" not in zoo.list_models()


def test_two_plugins_with_one_preset_name(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    write(one, "tiny.yaml", GOOD)
    write(two, "tiny.yaml", GOOD)
    with register_plugin(PresetPlugin(one), name="zoo-one"), register_plugin(PresetPlugin(two), name="zoo-two"):
        with pytest.warns(zoo.ZooWarning, match="two sources define the preset 'tiny'"):
            assert "tiny" not in zoo.list_models() and "resnet18" in zoo.list_models()
        with pytest.raises(zoo.PluginClashError) as info:  # only the ambiguous name fails
            zoo.create("tiny")
    message = str(info.value)
    assert "'tiny'" in message and "plugin 'zoo-one'" in message and "plugin 'zoo-two'" in message
    assert "ZOO_DISABLE_PLUGINS=zoo-two" in message


def test_a_broken_plugin_preset_is_skipped_with_a_warning(tmp_path):
    write(tmp_path, "tiny.yaml", GOOD.replace("num_classes", "classes"))
    with register_plugin(PresetPlugin(tmp_path), name="zoo-broken"), pytest.warns(zoo.ZooWarning) as caught:
        names = zoo.list_models()
    assert "tiny" not in names and "resnet18" in names
    err = str(caught[0].message)
    assert "plugin 'zoo-broken'" in err and "tiny.yaml, line 6: unknown head key 'classes'" in err
    assert "ZOO_DISABLE_PLUGINS=zoo-broken" in err


# -- bad files -----------------------------------------------------------------------------

BAD = {
    "yaml_syntax": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8\nblocks: "c"\nhead: {num_classes: 3}\n',
        4, ["not valid YAML"],
    ),
    "tab_indent": (
        "name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: c\nhead:\n\tnum_classes: 3\n",
        6, ["not valid YAML"],
    ),
    "unknown_key": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblcks: "c"\nhead: {num_classes: 3}\n',
        4, ["unknown key 'blcks'", "did you mean 'blocks'"],
    ),
    "missing_key": (
        "name: tiny\ndescription: x\ninput: [1, 8, 8]\nhead: {num_classes: 3}\n",
        None, ["the key 'blocks' is missing"],
    ),
    "duplicate_key": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\nblocks: "m"\nhead: {num_classes: 3}\n',
        5, ["the key 'blocks' appears twice (lines 4 and 5)"],
    ),
    "input_not_chw": (
        'name: tiny\ndescription: x\ninput: [8, 8]\nblocks: "c"\nhead: {num_classes: 3}\n',
        3, ["input must be the shape of one image [C, H, W]", "[8, 8]"],
    ),
    "params_text": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\nhead: {num_classes: 3}\nparams: lots\n',
        6, ["params must be a whole number", "'lots'"],
    ),
    "blocks_not_text": (
        "name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: [c, m]\nhead: {num_classes: 3}\n",
        4, ["blocks must be a block string"],
    ),
    "blocks_do_not_parse": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "cnf64 q2 m"\nhead: {num_classes: 3}\n',
        4, ["the blocks do not parse", "unknown token 'q2'", "column 7"],
    ),
    "blocks_unbalanced": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "(cnf64 m"\nhead: {num_classes: 3}\n',
        4, ["the blocks do not parse", "unbalanced parentheses"],
    ),
    "unknown_option": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\noptions:\n  norm: 1\n  fn: gelu\n'
        "head: {num_classes: 3}\n",
        7, ["unknown option 'fn'", "you mean 'fun'"],
    ),
    "option_wrong_type": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\noptions:\n  norm: batch\n'
        "head: {num_classes: 3}\n",
        6, ["option norm='batch'", "must be a whole number"],
    ),
    "option_input": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\noptions: {input: 3}\n'
        "head: {num_classes: 3}\n",
        5, ["'input' is a top-level key"],
    ),
    "head_num_classes_text": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\nhead:\n  num_classes: ten\n',
        6, ["head.num_classes='ten': must be a whole number"],
    ),
    "head_without_num_classes": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\nhead:\n  hidden: [8]\n',
        5, ["head.num_classes is missing"],
    ),
    "head_dropout": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\nhead:\n  num_classes: 3\n  dropout: 1.5\n',
        7, ["head.dropout=1.5: must be a probability 0 <= p < 1"],
    ),
    "bad_name": (
        'name: ResNet-18\ndescription: x\ninput: [1, 8, 8]\nblocks: "c"\nhead: {num_classes: 3}\n',
        1, ["name must be lower-case letters", "'ResNet-18'"],
    ),
    "not_a_mapping": ("- name: tiny\n- blocks: c\n", 1, ["the file holds a list"]),
    "empty": ("# nothing here\n", None, ["the file is empty"]),
    "python_object_tag": (
        'name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: !!python/object/apply:os.system ["touch HACKED"]\n'
        "head: {num_classes: 3}\n",
        4, ["the tag !!python/object/apply:os.system is not allowed", "plain data only"],
    ),
    "python_name_tag": (
        "name: tiny\ndescription: !!python/name:os.system\ninput: [1, 8, 8]\nblocks: c\nhead: {num_classes: 3}\n",
        2, ["the tag !!python/name:os.system is not allowed"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file(case, tmp_path, monkeypatch):
    text, line, words = BAD[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(zoo.PresetError) as info:
        load_preset_file(path)
    message = str(info.value)
    where = f"{path}, line {line}:" if line else f"{path}:"
    assert message.startswith(where), message
    for word in words:
        assert word in message, message
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / "HACKED").exists()  # nothing ran


def test_the_object_tag_never_runs_code(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    text = f'name: tiny\ndescription: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ["{marker}"]]\n'
    path = write(tmp_path, "evil.yaml", text)
    with pytest.raises(zoo.PresetError, match="line 2: the tag !!python/object/apply:pathlib.Path.touch is not allowed"):
        zoo.create(path)
    assert not marker.exists()


def test_a_broken_user_preset_breaks_loudly(tmp_path, monkeypatch):
    write(tmp_path, "tiny.yaml", GOOD.replace("cnf4 m r8", "cnf4 m r8_3_2_9"))
    monkeypatch.setenv("ZOO_PRESET_PATH", str(tmp_path))
    with pytest.warns(zoo.ZooWarning, match=r"tiny\.yaml, line 4: the blocks do not parse:\ntoo many values"):
        assert "tiny" not in zoo.list_models()  # skipped: the other presets keep working
    with pytest.raises(zoo.PresetError, match=r"tiny\.yaml, line 4: the blocks do not parse:\ntoo many values"):
        zoo.create("tiny")  # asking for it by name is its error


# -- the wheel -------------------------------------------------------------------------------


@pytest.mark.slow  # builds and installs a wheel (about 12 s)
def test_the_wheel_ships_the_presets(tmp_path):
    """Build the wheel, install it in a fresh virtual environment and create a preset there."""
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(dist), str(ROOT)],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, f"pip wheel failed (is hatchling installed? it is in the test extra):\n{build.stderr}"
    (wheel,) = dist.glob("zoo_cnn-*.whl")  # the distribution zoo-cnn; the import name zoo
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr
    # torch, yaml, rich, pluggy come from this environment (and its base's, through
    # --system-site-packages), after the venv's own packages; a .pth adds the folder
    # without running this environment's editable-install hook, so zoo is the wheel's
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZOO_PRESET_PATH")}
    env["ZOO_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    code = (
        "import zoo, torch; from zoo.presets import get_preset; p = get_preset('resnet18_cifar'); "
        "m = zoo.create('resnet18_cifar', num_classes=7); "
        "print(zoo.__file__); print(p.path); print(sum(t.numel() for t in m.parameters())); "
        "print(tuple(m(torch.zeros(2, 3, 32, 32)).shape)); print(' '.join(zoo.list_models()))"
    )
    run = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    module, preset_path, params, shape, names = run.stdout.splitlines()
    assert Path(module).is_relative_to(site / "zoo")
    assert Path(preset_path) == site / "zoo" / "preset_files" / "resnet18_cifar.yaml"
    assert int(params) == 11_173_962 - 513 * 3
    assert shape == "(2, 7)"
    assert names.split() == sorted(EXPECTED)
    listing = subprocess.run([str(venv / "bin" / "zoo"), "list", "resnet34"], capture_output=True, text=True, env=env)
    assert listing.returncode == 0 and "21,797,672" in listing.stdout, listing.stderr
    # as packagers test an installed wheel: the source tree's doctests are collected
    # (not mistaken for the installed zoo: --import-mode=importlib in pyproject.toml)
    collect = subprocess.run([str(python), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                              str(ROOT / "src" / "zoo")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert collect.returncode == 0, collect.stdout + collect.stderr
    assert "zoo/presets/__init__.py::zoo.presets.create" in collect.stdout


def test_head_activation_is_checked_like_the_options():
    with pytest.raises(zoo.PresetError, match=r"head.fun='relux': not an activation; did you mean 'relu'"):
        zoo.create("r32m", head={"fun": "relux"})


def test_a_block_string_is_parsed_once_per_create(monkeypatch):
    """Checked, counted on meta and built: one parse for the three."""
    from zoo import language

    zoo.create("r32m")  # the catalog is read (each file's blocks are checked) before counting
    calls = []
    real = language._Parser.parse
    monkeypatch.setattr(language._Parser, "parse", lambda self: calls.append(self.text) or real(self))
    zoo.create("r32m", blocks="cnf16 m r32_3_2 r")
    assert calls == ["cnf16 m r32_3_2 r"]
