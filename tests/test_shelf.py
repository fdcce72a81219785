"""The shelf: the classic CIFAR baselines, each equal to a plain-PyTorch reference of
the architecture as its paper describes it (weights copied by order, outputs equal in
eval and in training mode), with the papers' parameter counts; and the options of `r`
they need (align="pad", fun_before, preact)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import zoo_extra
from torch import nn

import zoo
from zoo import CNN, Change, Residual
from zoo.errors import BuildError, OptionError
from zoo.layers import PadAlign
from zoo.plugin import isolated_registry, register_plugin
from zoo.presets import get_preset, list_presets

# name -> (parameters, MACs of one 3x32x32 image); the papers' rounded figures after #
SHELF = {
    "resnet20": (269_722, 40_551_040),  # 0.27M
    "resnet32": (464_154, 68_862_592),  # 0.46M
    "resnet44": (658_586, 97_174_144),  # 0.66M
    "resnet56": (853_018, 125_485_696),  # 0.85M
    "resnet110": (1_727_962, 252_887_680),  # 1.7M
    "preact_resnet18": (11_172_170, 555_422_720),
    "wrn16_4": (2_748_890, 392_612_352),  # 2.7M
    "wrn16_8": (10_961_370, 1_548_145_664),  # 11.0M
    "wrn28_10": (36_479_194, 5_243_328_768),  # 36.5M
    "wrn40_4": (8_949_210, 1_298_582_016),  # 8.9M
    "vgg11_bn": (9_231_114, 152_769_536),
    "vgg16_bn": (14_728_266, 313_201_664),
}
HEAVY = {"wrn16_8", "wrn28_10", "wrn40_4"}  # over 1 G MACs an image: over a second each


# -- the references: plain PyTorch, as the papers describe them -------------------------


class BasicBlockA(nn.Module):
    """He et al. 2016, CIFAR: conv-BN-ReLU-conv-BN, + option A skip, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        skip = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))
        return F.relu(out + skip)


class PreActBlock(nn.Module):
    """He et al. 2016b / Zagoruyko & Komodakis 2016: BN-ReLU-conv-BN-ReLU-[dropout]-conv;
    a 1x1 projection of the pre-activated input where the shape changes, else x."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.drop = nn.BatchNorm2d(cout), nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.proj = nn.Conv2d(cin, cout, 1, stride, bias=False) if cin != cout or stride != 1 else None

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        skip = x if self.proj is None else self.proj(pre)
        return self.conv2(self.drop(F.relu(self.bn2(self.conv1(pre))))) + skip


def stages(block, cin: int, widths, per_stage: int, **kw) -> list[nn.Module]:
    layers = []
    for i, width in enumerate(widths):
        for j in range(per_stage):
            layers.append(block(cin, width, 2 if i > 0 and j == 0 else 1, **kw))
            cin = width
    return layers


def head(width: int) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10)]


def resnet(depth: int) -> nn.Module:
    stem = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    return nn.Sequential(*stem, *stages(BasicBlockA, 16, (16, 32, 64), (depth - 2) // 6), *head(64))


def preact_resnet18() -> nn.Module:
    body = stages(PreActBlock, 64, (64, 128, 256, 512), 2)
    return nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), *body, nn.BatchNorm2d(512), nn.ReLU(), *head(512))


def wrn(depth: int, k: int, dropout: float = 0.0) -> nn.Module:
    body = stages(PreActBlock, 16, (16 * k, 32 * k, 64 * k), (depth - 4) // 6, dropout=dropout)
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), *body, nn.BatchNorm2d(64 * k), nn.ReLU(),
                         *head(64 * k))


def vgg(config) -> nn.Module:
    layers, cin = [], 3
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, 1, 1), nn.BatchNorm2d(v), nn.ReLU()]
            cin = v
    return nn.Sequential(*layers, *head(512))


REFERENCES = {
    "resnet20": lambda: resnet(20), "resnet32": lambda: resnet(32), "resnet44": lambda: resnet(44),
    "resnet56": lambda: resnet(56), "resnet110": lambda: resnet(110),
    "preact_resnet18": preact_resnet18,
    "wrn16_4": lambda: wrn(16, 4), "wrn16_8": lambda: wrn(16, 8),
    "wrn28_10": lambda: wrn(28, 10), "wrn40_4": lambda: wrn(40, 4),
    "vgg11_bn": lambda: vgg([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]),
    "vgg16_bn": lambda: vgg([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                             512, 512, 512, "M"]),
}


def copy_by_order(source: nn.Module, target: nn.Module) -> None:
    """Every parameter and buffer of ``source`` into ``target``, in module order."""
    ours, theirs = list(source.state_dict().values()), target.state_dict()
    assert [tuple(t.shape) for t in ours] == [tuple(t.shape) for t in theirs.values()]
    target.load_state_dict(dict(zip(theirs, ours)))


def macs(model: nn.Module) -> int:
    """Multiply-accumulates of one image, counted by hand: each output value of a
    convolution or Linear costs its fan-in."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        fan_in = module.weight[0].numel()  # in/groups * kh * kw, or in_features
        total += output.numel() * fan_in

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model(torch.empty(1, 3, 32, 32, device="meta"))
    for hook in hooks:
        hook.remove()
    return total


# -- the presets -------------------------------------------------------------------------


@pytest.mark.slow  # ~3 s on an idle core
def test_the_shelf_counts_and_papers():
    for name, (params, n_macs) in SHELF.items():
        preset = get_preset(name)
        assert (preset.params, preset.macs, preset.input) == (params, n_macs, (3, 32, 32)), name
        assert preset.plugin == "zoo" and "cifar" in preset.tags
        paper = {"res": "He et al. 2016", "pre": "He et al. 2016b", "wrn": "Zagoruyko & Komodakis 2016",
                 "vgg": "Simonyan & Zisserman 2015"}[name[:3]]
        assert paper in preset.description, name
        with torch.device("meta"):
            reference = REFERENCES[name]()
        assert sum(p.numel() for p in reference.parameters()) == params, name
        # the reference's own count (tests/test_presets.py: zoo.inspect reports the file's)
        assert macs(reference) == n_macs, name
    assert [p.name for p in list_presets("resnet*", tag="cifar") if p.name[6:].isdigit()] == [
        "resnet110", "resnet20", "resnet32", "resnet44", "resnet56"]
    assert zoo.list_models(tag=["cifar", "wrn"]) == ["wrn16_4", "wrn16_8", "wrn28_10", "wrn40_4"]
    assert zoo.list_models(tag="vgg") == ["vgg11_bn", "vgg16_bn"]
    assert zoo.list_models("resnet3*", tag="imagenet") == ["resnet34"]


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in SHELF])
def test_the_shelf_equals_its_reference(name):
    """zoo's preset and the reference compute the same function: weights copied by
    order, outputs equal in eval and in training mode (batch statistics), and the
    running statistics updated alike."""
    torch.manual_seed(0)
    model, reference = zoo.create(name), REFERENCES[name]()
    copy_by_order(model, reference)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference.eval()(x))
        assert torch.equal(model.train()(x), reference.train()(x))
    after = list(reference.state_dict().values())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), after))  # BN ran once each


def test_wrn_dropout_sits_between_the_convolutions():
    """Change.dropout sets the one dropout of each block, where the paper has it."""
    torch.manual_seed(0)
    model, reference = zoo.create("wrn16_4"), wrn(16, 4, dropout=0.3)
    assert Change.dropout(model, 0.3) == 6  # one per block, no others
    copy_by_order(model, reference)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.manual_seed(1)
        ours = model.train()(x)
        torch.manual_seed(1)
        assert torch.equal(ours, reference.train()(x))
        assert not torch.equal(ours, model(x))  # the dropout draws


# -- the options of r --------------------------------------------------------------------


def test_align_pad_is_option_a():
    block = CNN(input=4, blocks="r8_3_2", align="pad", pool=0, flat=False).blocks[0]
    assert isinstance(block.align, PadAlign) and str(block.align) == "PadAlign(4->8, s:2)"
    assert sum(p.numel() for p in block.align.parameters()) == 0
    x = torch.arange(2 * 4 * 5 * 5, dtype=torch.float).view(2, 4, 5, 5)
    skip = block.align(x)  # every second pixel (ceil(5/2) = 3 rows), then 4 zero channels
    assert skip.shape == (2, 8, 3, 3) == block(x).shape
    assert torch.equal(skip[:, :4], x[:, :, ::2, ::2]) and not skip[:, 4:].any()
    kept = CNN(input=4, blocks="r", align="pad").blocks[0]
    assert kept.identity_align  # the shape is kept: the identity, with drop-block
    assert CNN(input=4, blocks="r8", align="pad").blocks[0].align(x).shape == (2, 8, 5, 5)


def test_align_pad_cannot_remove_channels():
    with pytest.raises(BuildError) as info:
        CNN(input=8, blocks="cnf8 r4_3_2", align="pad")
    assert str(info.value).splitlines() == [
        "token 'r4_3_2': align='pad' cannot take 8 channels down to 4: zero padding only adds channels "
        "(column 6)",
        "    cnf8 r4_3_2",
        "         ^^^^^^",
        "give at least 8 channels, or use align='conv'",
    ]
    with pytest.raises(OptionError, match="align='pad' cannot take 8 channels down to 4"):
        PadAlign(8, 4, 1)
    with pytest.raises(OptionError, match=r"align='skip': must be one of 'conv', 'pad'"):
        CNN(blocks="r", align="skip")


def test_preact_shares_the_pre_activation_with_the_projection():
    kw = dict(norm_before=1, fun_before="relu", preact=True, norm_block=0, norm_align=0, pool=0, flat=False)
    down, same = CNN(input=4, blocks="r8_3_2 r", **kw).blocks
    assert [type(m).__name__ for m in down.before] == ["BatchNorm2d", "ReLU"]
    assert [type(m).__name__ for m in down.block] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    assert [name for name, _ in down.named_children()][:3] == ["before", "block", "align"]
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    down.eval()
    with torch.no_grad():
        pre = down.before(x)
        assert torch.equal(down(x), down.align(pre) + down.block(pre))
        y = torch.randn(2, 8, 3, 3)
        assert torch.equal(same.eval()(y), y + same.block(same.before(y)))  # the identity skip keeps x
    # without preact, the same layers open the branch and the projection takes x
    plain = CNN(input=4, blocks="r8_3_2", **{**kw, "preact": False}).blocks[0]
    assert plain.before is None and [type(m).__name__ for m in plain.block][:3] == ["BatchNorm2d", "ReLU", "Conv2d"]


def test_fun_before_never_changes_the_input_in_place():
    for preact in (False, True):
        block = CNN(input=4, blocks="r", fun_before="relu", preact=preact, drop_after=0).blocks[0]
        x = torch.randn(2, 4, 5, 5)
        copy = x.clone()
        block.eval()(x)
        assert torch.equal(x, copy), preact


def test_preact_blocks_keep_drop_block_and_the_monitor():
    cnn = CNN(input=3, blocks="c8 r r16_3_2", norm_before=1, fun_before="relu", preact=True)
    assert Change.drop_block(cnn, 0.2) == 1  # the identity-skip block only
    cnn.debug(True)
    cnn.train()(torch.randn(4, 3, 8, 8))
    stats = cnn.block_stats()
    assert [s["name"] for s in stats] == ["r", "r16_3_2"] and all(s["ratio"] > 0 for s in stats)
    assert isinstance(cnn.blocks[1], Residual)


# -- the comparison the issue asks for ---------------------------------------------------


@pytest.mark.slow  # two trainings of 3 epochs on digits: about a minute on one core
def test_train_a_design_next_to_resnet20(tmp_path):
    import json
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "zoo", "train", "resnet20", "cnf16 r16 r32_3_2 r64_3_2", "--data", "digits",
         "--epochs", "3", "--out", str(tmp_path / "runs"), "--json"],
        capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["model"] for r in rows] == ["resnet20", "cnf16 r16 r32_3_2 r64_3_2"]
    assert [r["params"] for r in rows] == [269_434, 77_754]  # the stem takes 1 channel: 432 - 288 + 0
    assert [r["blocks"] for r in rows] == ["cnf16 3r r32_3_2 2r r64_3_2 2r", "cnf16 r16 r32_3_2 r64_3_2"]
    assert all(r["val_acc"] > 0.8 for r in rows), rows  # 0.98 and 0.96 on the machine that wrote this


def test_plugin_residual_tokens_get_the_options_too():
    """zoo-extra's bottleneck `rb` takes align="pad" and preact through ctx.residual and
    ctx.before_layers(), as a third party's residual token would."""
    with isolated_registry(), register_plugin(zoo_extra, name="zoo-extra"):
        padded = CNN(input=16, blocks="rb8_3_2", align="pad", pool=0, flat=False).blocks[0]
        assert isinstance(padded.align, PadAlign) and (padded.align.in_channels, padded.align.out_channels) == (16, 32)
        pre = CNN(input=16, blocks="rb8_3_2", norm_before=1, fun_before="relu", preact=True, norm_block=0,
                  norm_align=0).blocks[0]
        assert [type(m).__name__ for m in pre.before] == ["BatchNorm2d", "ReLU"]
        assert type(pre.block[0]).__name__ == "Conv2d"
        x = torch.randn(2, 16, 6, 6)
        pre.eval()
        with torch.no_grad():
            assert torch.equal(pre(x), pre.align(pre.before(x)) + pre.block(pre.before(x)))


def test_zoo_options_and_tokens_document_them():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(COLUMNS="100", ZOO_DISABLE_PLUGIN_AUTOLOAD="1")
    run = subprocess.run([sys.executable, "-m", "zoo", "options", "align", "preact", "fun_before"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert [line.rstrip() for line in run.stdout.splitlines()] == [
        "option      type        default  allowed",
        "─" * 97,
        "align       str         'conv'   conv|pad",
        "    the skip where a residual block changes the shape: conv (a 1x1 Conv2d and norm_align) or pad",
        "      (every stride-th pixel, zero channels added: He et al. 2016's option A)",
        "preact      bool        False",
        "    norm_before and fun_before run before the skip's projection too: both take the pre-activated",
        "      input (He et al. 2016b); an identity skip keeps x",
        "fun_before  activation  ''       a name, ''",
        "    activation after norm_before, opening a residual block's branch (relu gelu relu6 sigmoid tanh",
        "      swish hswish hsigmoid; '' none)",
    ]


def test_bad_tags_name_the_file_and_line(tmp_path):
    from zoo.errors import PresetError
    from zoo.presets import load_preset_file

    path = tmp_path / "tiny.yaml"
    path.write_text('name: tiny\ndescription: a tiny net\ntags: cifar\ninput: [1, 8, 8]\nblocks: "cnf4"\n'
                    "head: {num_classes: 3}\n")
    with pytest.raises(PresetError) as info:
        load_preset_file(path)
    assert str(info.value) == (
        f"{path}, line 3: tags must be a list of up to 16 lower-case words (letters, digits, '_' and '-', "
        "at most 32 characters), such as [cifar, resnet], not 'cifar'"
    )
    path.write_text(path.read_text().replace("tags: cifar", "tags: [cifar, Wide Nets, cifar]"))
    with pytest.raises(PresetError, match=r"line 3: tags must be .* not \['cifar', 'Wide Nets', 'cifar'\]"):
        load_preset_file(path)
    path.write_text(path.read_text().replace("Wide Nets", "wide-nets"))
    assert load_preset_file(path).tags == ("cifar", "wide-nets")  # a repeated tag counts once
