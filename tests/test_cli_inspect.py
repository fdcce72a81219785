"""``zoo inspect``, run as a real command: the document's tables, JSON, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ZOO = [sys.executable, "-m", "zoo", "inspect"]


def zoo_inspect(*args: str) -> subprocess.CompletedProcess:
    # no COLUMNS (pytest may leave one in the environment it passes on): piped, the
    # report is as wide as it needs; with COLUMNS it keeps to it (test_inspect_corpus)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run([*ZOO, *args], capture_output=True, text=True, timeout=120, env=env)


def lines(out: str) -> list[str]:
    return [line.rstrip() for line in out.splitlines()]


@pytest.mark.slow  # ~6 s on an idle core
def test_the_documents_second_table_from_the_command_line():
    out = zoo_inspect("r64 m r128 m r256 m r512 m", "--input", "3,32,32")
    assert out.returncode == 0, out.stderr
    table = lines(out.stdout)
    start = table.index("#   block    pars k   ops M    w   V0/V   output")
    assert table[start + 2 : start + 14] == [
        "    input                     32      1   (1, 3, 32, 32)",
        "1   r64        39.2    39.7   32   0.05   (1, 64, 32, 32)",
        "2   m             -       -   16   0.19   (1, 64, 16, 16)",
        "3   r128      230.1    58.7   16   0.09   (1, 128, 16, 16)",
        "4   m             -       -    8   0.38   (1, 128, 8, 8)",
        "5   r256      919.0    58.7    8   0.19   (1, 256, 8, 8)",
        "6   m             -       -    4   0.75   (1, 256, 4, 4)",
        "7   r512    3,673.1    58.7    4   0.38   (1, 512, 4, 4)",
        "8   m             -       -    2    1.5   (1, 512, 2, 2)",
        "    head          -       -    -      6   (1, 512)",
        "──────────────────────────────────────────────────────────",
        "    total   4,861.4   215.9",
    ]
    assert out.stderr == ""

    data = json.loads(zoo_inspect("r64 m r128 m r256 m r512 m", "--input", "3,32,32", "--json").stdout)
    blocks = [b for b in data["blocks"] if b["name"].startswith("r")]
    # the document: pars 39, 230, 919, 3,672 (3,673 with norm_align=1), ops 40, 59, 59, 59
    assert [round(b["params"] / 1e3) for b in blocks] == [39, 230, 919, 3673]
    assert [round(b["macs"] / 1e6) for b in blocks] == [40, 59, 59, 59]
    assert (data["params"], data["macs"]) == (4_861_440, 215_875_584)


def test_resnet18_cifar_is_the_readme_command():
    out = zoo_inspect("resnet18_cifar")
    assert out.returncode == 0, out.stderr
    text = lines(out.stdout)
    assert text[0] == "resnet18_cifar  (1, 3, 32, 32) -> (1, 10)  11,173,962 params  140.2 M MACs"
    assert "│     ├─ Residual(p=0) x 2  r      73,984  ~  1%   18.9 M  (1, 64, 16, 16) -> (1, 64, 16, 16)" in text
    assert "8   r512_3_2     3,673.1    14.7    2     1.5   (1, 512, 2, 2)" in text
    assert "    total       11,174.0   140.2" in text
    assert text[-1] == "11,173,962 parameters (11,173,962 trainable, 0 frozen), 140,186,624 MACs per image"


@pytest.mark.slow  # ~5 s on an idle core
def test_json_options_and_depth():
    out = zoo_inspect("cnf8 m r16_3_2", "--input", "1,12,12", "--set", "fun=gelu", "--set", "mult=1", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["input"] == [1, 1, 12, 12] and data["output"] == [1, 16]
    assert {"params", "trainable", "macs", "blocks", "tree"} <= set(data)
    assert [b["name"] for b in data["blocks"]] == ["cnf8", "m", "r16_3_2", "head"]
    assert any(row["description"] == "GELU" for row in data["tree"])
    assert data["params"] == data["trainable"] == 72 + 16 + 1_152 + 32 + 2_304 + 32 + 128 + 32 + 1
    shallow = lines(zoo_inspect("cnf8 m r16_3_2", "--input", "1,12,12", "--depth", "0").stdout)
    assert shallow[2:5] == [
        "module                 params  share    MACs  input -> output",
        "CNN                                   42.6 k  (1, 1, 12, 12) -> (1, 16)",
        "└─ blocks: ModuleList   3,768  ~100%  42.6 k",  # without --set mult=1: no scale
    ]
    assert data["macs"] == 72 * 144 + (1_152 + 2_304 + 128) * 9  # cnf8 on 12x12, r16_3_2 on 3x3


@pytest.mark.slow  # ~5 s on an idle core
def test_a_failing_model_shows_the_tree_up_to_the_block_and_exits_1():
    # InstanceNorm (norm kind 3) cannot normalise a 1x1 image: a shape that cannot work
    out = zoo_inspect("(cnf64_7_2 m3_2_1) 2r r128_3_2 r r256_3_2 r r512_3_2 r", "--input", "3,16,16",
                      "--set", "norm_align=3")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.splitlines()[:2] == [
        "zoo: error: block 'r256_3_2' (blocks.5, 6 of 9) cannot take its input (1, 128, 2, 2)",
        "  in blocks.5.align.1: InstanceNorm2d(256) with input (1, 256, 1, 1)",
    ]
    tree = lines(out.stdout)
    assert tree[0].endswith("(1, 3, 16, 16) -> failed  11,176,512 params")
    assert tree[-8:] == [
        "   └─ Residual  r256_3_2                                         32.8 k  (1, 128, 2, 2) -> fails",
        "      ├─ block: Sequential                      885,760  ~  8%",
        "      └─ align: Sequential                                       32.8 k  (1, 128, 2, 2) -> fails",
        "         ├─ Conv2d(128->256, k:1, s:2, p:0, F)   32,768          32.8 k  (1, 128, 2, 2) -> (1, 256, 1, 1)",
        "         └─ InstanceNorm2d(256)                     512                  (1, 256, 1, 1) -> fails",
        "x N: N identical modules in a row, numbers per copy",  # its 2r
        "",
        "11,176,512 parameters (11,176,512 trainable, 0 frozen)",
    ]
    assert "r512_3_2" not in "\n".join(tree[1:])  # the tree stops at the failing block
    # with BatchNorm the same network serves a 16x16 image (eval mode), so it is no failure
    out = zoo_inspect("(cnf64_7_2 m3_2_1) 2r r128_3_2 r r256_3_2 r r512_3_2 r", "--input", "3,16,16", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["output"] == [1, 512]


@pytest.mark.slow  # ~5 s on an idle core
def test_set_takes_a_presets_overrides_and_a_block_strings_options():
    out = zoo_inspect("r32m", "--set", "num_classes=100", "--set", "head={hidden: [64]}", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["output"] == [1, 100] and data["params"] == 1_607_818 - 2_570 + 256 * 64 + 64 + 64 * 100 + 100
    for args, message in [
        (("c8", "--set", "blocks=zz"), "zoo inspect: error: --set: blocks='zz': the block string is the target itself"),
        (("c8", "--set", "head={hidden: [3]}"),
         "zoo inspect: error: --set: head is an override of a preset; a block string takes num_classes "
         "(a classifier's head) and the options of zoo.Config, e.g. fun=gelu"),
        (("r32m", "--set", "nrom=1"), "zoo inspect: error: --set: unknown option 'nrom'; did you mean 'norm'"),
        (("r32m", "--set", "num_classes=-1"),
         "zoo inspect: error: --set: create('r32m'): head.num_classes=-1: must be at least 0"),
        (("r32m", "--set", "head={hiden: [3]}"),
         "zoo inspect: error: --set: create('r32m'): head: unknown head key 'hiden'; did you mean 'hidden'?"),
        (("r32m", "--set", "head={hidden: [3]"),
         "zoo inspect: error: --set: head='{hidden: [3]' is not a YAML mapping"),
        (("r32m", "--set", "blocks="),
         "zoo inspect: error: --set: create('r32m'): blocks must be a block string"),
    ]:
        out = zoo_inspect(*args)
        assert (out.returncode, out.stdout) == (2, ""), args
        assert out.stderr.startswith(message), (args, out.stderr)


def test_bad_arguments_exit_2_and_bad_models_exit_1():
    for args, fragment in [
        (("cnf8", "--input", "3,x"), "argument --input: '3,x' is not an input size"),
        (("cnf8", "--depth", "-1"), "argument --depth: '-1' is not a depth"),
        (("cnf8", "--set", "nrom"), "write an option as name=value"),
        (("cnf8", "--set", "nrom=1"), "--set: unknown option 'nrom'; did you mean 'norm'"),
        ((), "the following arguments are required: MODEL"),
        (("",), "argument MODEL: an empty model name; give a preset name"),
        (("  ",), "argument MODEL: an empty model name"),
    ]:
        out = zoo_inspect(*args)
        assert out.returncode == 2, args
        assert fragment in out.stderr, (args, out.stderr)
    out = zoo_inspect("resnet18_cfar")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("zoo: error: unknown preset 'resnet18_cfar'; did you mean 'resnet18_cifar'")
    out = zoo_inspect("cnf8 q7")
    assert out.returncode == 1 and out.stderr.startswith("zoo: error: unknown token 'q7' (column 6)")


@pytest.mark.slow  # ~5 s on an idle core
def test_set_input_changes_the_channels_of_the_presets_input_and_printed_sizes_paste_back():
    """README: ``--set input=C`` for a preset; any size zoo prints (3×64×64) is an --input."""
    out = zoo_inspect("resnet18_cifar", "--set", "input=1", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["input"] == [1, 1, 32, 32] and data["params"] == 11_173_962 - 2 * 64 * 9
    out = zoo_inspect("cnf8 m", "--input", "3×64×64", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["input"] == [1, 3, 64, 64]


def test_yaml_file_target(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\ndescription: a tiny net\ninput: [1, 12, 12]\nblocks: \"cnf8 m r16_3_2\"\n"
                    "head: {num_classes: 3}\n")
    out = zoo_inspect(str(path), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["name"], data["input"], data["output"]) == ("tiny", [1, 1, 12, 12], [1, 3])


@pytest.mark.slow  # ~3 s on an idle core
def test_the_command_skips_triton_and_the_slow_meta_kernels():
    # `zoo inspect` must cost little more than `import torch`: no triton (imported by
    # torch.utils.flop_counter), no torch._dynamo or sympy (torch's Python meta kernels)
    code = ("import sys\nfrom zoo.cli import main\nassert main(['inspect', 'resnet18_cifar', '--json']) == 0\n"
            "print('LOADED', sorted(m for m in ('triton', 'torch._dynamo', 'sympy', 'timm', 'torchvision') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "LOADED []"
