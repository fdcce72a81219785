"""`zoo tokens` and `zoo plugins`: the real command in a subprocess, exact output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest


def zoo(*args: str, columns: int = 100, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(COLUMNS=str(columns), **variables)
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, timeout=60)


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


RULE = "─" * 100


def test_tokens_table_for_chosen_tokens():
    out = zoo("tokens", "se", "r", "rb")
    assert out.returncode == 0 and out.stderr == ""
    assert lines(out.stdout) == [
        "token   values                           help                                              plugin",
        RULE,
        "r       channels=C kernel=3 stride=1     residual block: align(x) + scale * block(x),      zoo",
        "                                         then the after-layers (options align=pad:",
        "                                         option A skip; preact: pre-activation)",
        "rb      channels=C/4 kernel=3 stride=1   bottleneck residual block (ResNet-50): 1x1 ->     zoo-extra",
        "                                         kxk -> 1x1, output 4*channels; with",
        "                                         stride_first=True (the default) the stride sits",
        "                                         on the kxk convolution (ResNet v1.5,",
        "                                         torchvision, timm), else on the first 1x1",
        "se      reduction=16                     squeeze-and-excitation: scale each channel by a   zoo-extra",
        "                                         gate of the channel means (C // reduction",
        "                                         hidden)",
    ]


def test_tokens_table_lists_every_token_once_sorted():
    out = zoo("tokens")
    assert out.returncode == 0
    first_words = [line.split()[0] for line in lines(out.stdout)[2:] if line and not line.startswith(" ")]
    assert first_words == sorted(first_words)
    assert {"a", "b", "c", "cnf", "d", "f", "m", "n", "r", "relu6", "rb", "se", "mish"} <= set(first_words)
    assert re.search(r"^d +dim=drop \(1\|2\) +dropout with p=0: 1 Dropout", out.stdout, re.M)  # choices shown
    assert re.search(r"^n +kind=norm +norm: 1 BatchNorm2d", out.stdout, re.M)  # plugins add kinds: no fixed list


def test_tokens_json_by_plugin_normalises_the_distribution_name():
    out = zoo("tokens", "--plugin", "Zoo_Extra", "--json")
    assert out.returncode == 0
    rows = json.loads(out.stdout)
    assert [(r["name"], r["plugin"], r["signature"]) for r in rows] == [
        ("mish", "zoo-extra", "mish"),  # the token of its activation
        ("rb", "zoo-extra", "rb[channels=C/4]_[kernel=3]_[stride=1]"),
        ("se", "zoo-extra", "se[reduction=16]"),
    ]
    assert set(rows[0]) == {"name", "signature", "values", "help", "plugin"}


def test_tokens_json_of_a_built_in_with_choices():
    out = zoo("tokens", "d", "n", "--json")
    assert json.loads(out.stdout) == [{
        "name": "d",
        "signature": "d[dim=drop (1|2)]",
        "values": [{"name": "dim", "type": "int", "default": None, "doc": "drop", "min": None, "max": None,
                    "choices": [1, 2]}],
        "help": "dropout with p=0: 1 Dropout, 2 Dropout2d (set p with Change.dropout)",
        "plugin": "zoo",
    }, {
        "name": "n",  # plugins add norm kinds (zoo_norms): the kind is checked against them all
        "signature": "n[kind=norm]",
        "values": [{"name": "kind", "type": "int", "default": None, "doc": "norm", "min": 0, "max": 99,
                    "choices": None}],
        "help": "norm: 1 BatchNorm2d, 2 LayerNormChannels, 3 InstanceNorm2d, 0 nothing (and the plugins' kinds: "
                "zoo options norm)",
        "plugin": "zoo",
    }]


@pytest.mark.parametrize(
    "args, message",
    [
        (("tokens", "sx"), "zoo: error: unknown token 'sx' (column 1)\n    sx\n    ^^\n"
                           "did you mean 's', 'se'? ('zoo tokens' lists every token)\n"),
        (("tokens", "--plugin", "zoo-extar"), "zoo: error: no plugin is named 'zoo-extar'; did you mean "
                                              "'zoo-extra', 'zoo'? ('zoo plugins' lists them)\n"),
    ],
)
def test_tokens_bad_names_exit_1_with_a_suggestion(args, message):
    out = zoo(*args)
    assert (out.returncode, out.stdout, out.stderr) == (1, "", message)


def test_tokens_json_piped_into_a_closed_reader_is_quiet():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    out = subprocess.run(f"{sys.executable} -m zoo tokens --json | head -1", shell=True, capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.stdout == "[\n" and out.stderr == ""


def test_plugins_table_exact_at_80_and_120_columns():
    """Names wrap between words, never inside one (resnet18_cifar_nopool stays whole);
    zoo's own options are a plugin's too (declared through the zoo_options hook)."""
    narrow = zoo("plugins", columns=80)
    assert narrow.returncode == 0 and narrow.stderr == ""
    assert narrow.stdout == (
        "plugin     version  status\n"
        + "─" * 80 + "\n"
        "zoo        0.1.0    ok\n"
        "    tokens: a b c cnf d f gelu hsigmoid hswish m n r relu relu6 s sigmoid swish\n"
        "      tanh\n"
        "    presets: mnist_cnn preact_resnet18 r128m r32m r64m r64m_lite resnet110\n"
        "      resnet18 resnet18_cifar resnet18_cifar_nopool resnet18_cifar_v2\n"
        "      resnet18_cifar_v3 resnet20 resnet32 resnet34 resnet44 resnet56 vgg11_bn\n"
        "      vgg16_bn wrn16_4 wrn16_8 wrn28_10 wrn40_4\n"
        "    options: align bias blocks branch_noise drop drop_after drop_inside flat fun\n"
        "      fun_after fun_before fun_inside input mult norm norm_after norm_align\n"
        "      norm_before norm_block norm_inside pool preact scale shift shift_after\n"
        "      shift_inside stride_first\n"
        "zoo-extra  0.1.0    ok\n"
        "    tokens: mish rb se\n"
        "    presets: resnet50\n"
        "    options: rb_expansion se_gate\n"
    )
    wide = zoo("plugins", columns=120)
    assert wide.stdout.splitlines()[3:6] == [
        "    tokens: a b c cnf d f gelu hsigmoid hswish m n r relu relu6 s sigmoid swish tanh",
        "    presets: mnist_cnn preact_resnet18 r128m r32m r64m r64m_lite resnet110 resnet18 resnet18_cifar resnet18_cifar_nopool",
        "      resnet18_cifar_v2 resnet18_cifar_v3 resnet20 resnet32 resnet34 resnet44 resnet56 vgg11_bn vgg16_bn wrn16_4 wrn16_8",
    ]


def test_every_help_fits_80_columns_without_splitting_a_word():
    for command in ([], ["list"], ["inspect"], ["tokens"], ["options"], ["plugins"]):
        out = zoo(*command, "--help", columns=80)
        assert out.returncode == 0, out.stderr
        lines_ = out.stdout.splitlines()
        assert max(len(line) for line in lines_) <= 80, (command, max(lines_, key=len))
    text = zoo("inspect", "--help", columns=80).stdout
    assert "Show the module tree (parameters, share, input -> output shapes, MACs) and the\n" in text


def test_plugins_json_shows_presets_of_zoo_itself():
    out = zoo("plugins", "--json")
    rows = {row["distribution"]: row for row in json.loads(out.stdout)}
    assert {"resnet18", "resnet18_cifar", "r64m"} <= set(rows["zoo"]["presets"])
    assert "resnet50" not in rows["zoo"]["presets"] and rows["zoo-extra"]["presets"] == ["resnet50"]
    assert set(rows["zoo"]) == {"distribution", "version", "status", "reason", "tokens", "presets", "options"}


def test_help_lists_both_commands():
    out = zoo("--help")
    assert "tokens" in out.stdout and "plugins" in out.stdout
    out = zoo("plugins", "--help")
    assert "ZOO_DISABLE_PLUGIN_AUTOLOAD=1, ZOO_DISABLE_PLUGINS=name1,name2" in out.stdout


def test_options_lists_every_option_with_its_type_default_and_meaning():
    narrow = zoo("options", "norm", "fun", "se_gate", columns=80)
    assert narrow.returncode == 0, narrow.stderr
    assert narrow.stdout == (
        "option   type        default    allowed\n"
        + "─" * 74 + "\n"
        "norm     int         1          0|1|2|3|4\n"
        "    norm kind of `n` and `cnf`: 1 BatchNorm2d, 2 LayerNormChannels, 3\n"
        "      InstanceNorm2d, 0 nothing\n"
        "fun      activation  'relu'     a name, ''\n"
        "    activation of `f` and `cnf` (relu gelu relu6 sigmoid tanh swish hswish\n"
        "      hsigmoid mish; '' none)\n"
        "se_gate  str         'sigmoid'  sigmoid|hsigmoid\n"
        "    gate of the `se` token [zoo-extra]\n"
    )
    wide = zoo("options", "bias", "flat", "se_gate", columns=120)
    assert wide.stdout == (
        "option   type  default    allowed           meaning\n"
        + "─" * 78 + "\n"
        "bias     bool  False                        Conv2d layers get a bias\n"
        "flat     bool  True                         Flatten() after the pool\n"
        "se_gate  str   'sigmoid'  sigmoid|hsigmoid  gate of the `se` token [zoo-extra]\n"
    )
    every = json.loads(zoo("options", "--json").stdout)
    names = [row["name"] for row in every]
    from zoo.tokens.options import OPTIONS

    assert names == [*(o.name for o in OPTIONS), "rb_expansion", "se_gate"]
    assert every[names.index("norm")] == {"name": "norm", "type": "int", "default": 1, "choices": [0, 1, 2, 3, 4],
                                          "minimum": None, "maximum": None, "plugin": "zoo",
                                          "help": every[names.index("norm")]["help"]}
    bad = zoo("options", "nrom")
    assert (bad.returncode, bad.stderr) == (2, "zoo options: error: unknown option 'nrom'; did you mean 'norm', "
                                               "'drop'? ('zoo options' lists them)\n")
    timing = subprocess.run([sys.executable, "-X", "importtime", "-m", "zoo", "options"], capture_output=True, text=True)
    assert timing.returncode == 0 and "torch" not in {line.split("|")[-1].strip() for line in timing.stderr.splitlines()}
