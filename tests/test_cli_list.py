"""``zoo list``, run as the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from zoo.format import format_count

EXPECTED_NAMES = [
    "mnist_cnn", "preact_resnet18", "r128m", "r32m", "r64m", "r64m_lite", "resnet110", "resnet18",
    "resnet18_cifar", "resnet18_cifar_nopool", "resnet18_cifar_v2", "resnet18_cifar_v3", "resnet20",
    "resnet32", "resnet34", "resnet44", "resnet56", "vgg11_bn", "vgg16_bn", "wrn16_4", "wrn16_8",
    "wrn28_10", "wrn40_4",
]


def zoo_cmd(*args: str, env: dict | None = None, importtime: bool = False) -> subprocess.CompletedProcess:
    # fixed width and no installed plugins: the output depends on zoo alone
    full_env = {k: v for k, v in os.environ.items() if k not in ("ZOO_PRESET_PATH", "ZOO_DISABLE_PLUGINS")}
    full_env.update({"COLUMNS": "120", "ZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "TERM": "dumb"}, **(env or {}))
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "zoo", *args], capture_output=True, text=True, env=full_env)


def test_list_table_exact_at_120_and_at_80_columns():
    """One line per preset where it fits; at 80 columns the description goes below."""
    wide = zoo_cmd("list", "resnet18_cifar_v*")
    assert wide.returncode == 0, wide.stderr
    assert wide.stdout == (
        "zoo presets (2)\n"
        "name               input    parameters     MACs  description\n"
        + "─" * 102 + "\n"
        "resnet18_cifar_v2  3×32×32   6,453,322  121.3 M  resnet18_cifar without its last residual block\n"
        "resnet18_cifar_v3  3×32×32  11,175,882  140.2 M  resnet18_cifar with a trainable branch scale (mult=2)\n"
    )
    narrow = zoo_cmd("list", "resnet18_cifar_v*", env={"COLUMNS": "80"})
    assert narrow.stdout == (
        "zoo presets (2)\n"
        "name               input    parameters     MACs\n"
        + "─" * 57 + "\n"
        "resnet18_cifar_v2  3×32×32   6,453,322  121.3 M\n"
        "    resnet18_cifar without its last residual block\n"
        "resnet18_cifar_v3  3×32×32  11,175,882  140.2 M\n"
        "    resnet18_cifar with a trainable branch scale (mult=2)\n"
    )
    for width in (80, 100, 120, 200):
        every = zoo_cmd("list", env={"COLUMNS": str(width)})
        assert max(len(line) for line in every.stdout.splitlines()) <= width, width


def test_list_everything():
    run = zoo_cmd("list")
    assert run.returncode == 0, run.stderr
    rows = [line.split("  ") for line in run.stdout.splitlines()[3:]]
    assert [row[0].strip() for row in rows] == EXPECTED_NAMES
    resnet18 = next(row for row in rows if row[0].strip() == "resnet18")
    assert [cell.strip() for cell in resnet18 if cell.strip()] == [
        "resnet18", "3×224×224", "11,689,512", "1.81 G", "ResNet-18, identical to torchvision's and timm's"
    ]
    cifar = next(line for line in run.stdout.splitlines() if line.startswith("resnet18_cifar "))
    assert "11,173,962" in cifar and "140.2 M" in cifar


@pytest.mark.slow  # ~8 s on an idle core
def test_user_presets_without_counts_say_how_to_write_them(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "name: mine\ndescription: my first net\ninput: [1, 28, 28]\nblocks: cnf8 m\nhead: {num_classes: 10}\n")
    env = {"ZOO_PRESET_PATH": str(tmp_path), "COLUMNS": "80"}
    before = zoo_cmd("list", "mine", env=env)
    assert before.stdout == (
        "zoo presets (1)\n"
        "name  input    parameters  MACs  from  description\n"
        + "─" * 51 + "\n"
        "mine  1×28×28           ?     ?  user  my first net\n"
        "\n"
        "? = not written in the preset file; 'zoo inspect mine --write-counts' computes\n"
        "them and writes them there\n"
    )
    wrote = zoo_cmd("inspect", "mine", "--write-counts", env=env)
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stderr == f"wrote params: 178 and macs: 56528 into {tmp_path / 'mine.yaml'}\n"
    assert (tmp_path / "mine.yaml").read_text().endswith("head: {num_classes: 10}\nparams: 178\nmacs: 56528\n")
    after = zoo_cmd("list", "mine", env=env)
    assert after.stdout.splitlines()[3] == "mine  1×28×28         178  56.5 k  user  my first net"
    refused = zoo_cmd("inspect", "r32m", "--write-counts")
    assert refused.returncode == 1 and "r32m comes from 'zoo', whose counts are written and tested" in refused.stderr


def test_list_json():
    run = zoo_cmd("list", "r*m", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [d["name"] for d in data] == ["r128m", "r32m", "r64m"]
    r32m = data[1]
    assert r32m["params"] == 1_607_818 and r32m["macs"] == 68_618_752
    assert r32m["input"] == [3, 32, 32] and r32m["head"] == {"num_classes": 10}
    assert r32m["blocks"] == "r32 m r r64 m r r128 m r r256 m"
    assert r32m["source"] == "zoo" and r32m["path"].endswith("r32m.yaml")
    every = json.loads(zoo_cmd("list", "--json").stdout)
    assert [d["name"] for d in every] == EXPECTED_NAMES


def test_list_no_match():
    run = zoo_cmd("list", "alexnet*")
    assert (run.returncode, run.stdout) == (0, "")
    assert "no preset matches 'alexnet*'" in run.stderr
    run = zoo_cmd("list", "alexnet*", "--json")
    assert (run.returncode, json.loads(run.stdout)) == (0, [])


def test_list_by_tag():
    """--tag keeps the presets with that tag; repeated, with every tag given."""
    run = zoo_cmd("list", "--tag", "wrn", env={"COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    assert run.stdout == (
        "zoo presets (4)\n"
        "name      input    parameters     MACs\n"
        + "─" * 66 + "\n"
        "wrn16_4   3×32×32   2,748,890  392.6 M\n"
        "    WRN-16-4 (Zagoruyko & Komodakis 2016, Wide Residual Networks)\n"
        "wrn16_8   3×32×32  10,961,370   1.55 G\n"
        "    WRN-16-8 (Zagoruyko & Komodakis 2016, Wide Residual Networks)\n"
        "wrn28_10  3×32×32  36,479,194   5.24 G\n"
        "    WRN-28-10 (Zagoruyko & Komodakis 2016, Wide Residual Networks)\n"
        "wrn40_4   3×32×32   8,949,210   1.30 G\n"
        "    WRN-40-4 (Zagoruyko & Komodakis 2016, Wide Residual Networks)\n"
    )
    names = [d["name"] for d in json.loads(zoo_cmd("list", "--tag", "cifar", "--tag", "resnet", "--json").stdout)]
    assert names == ["preact_resnet18", "resnet110", "resnet20", "resnet32", "resnet44", "resnet56"]
    every = json.loads(zoo_cmd("list", "--json").stdout)
    assert {d["name"]: d["tags"] for d in every}["resnet20"] == ["cifar", "resnet"]
    assert all(d["tags"] for d in every)  # every preset of zoo says what it is for
    typo = zoo_cmd("list", "--tag", "cifr")
    assert (typo.returncode, typo.stdout) == (0, "")
    assert typo.stderr == (
        "no preset matches '*' with the tag 'cifr'; no preset has the tag 'cifr'; did you mean 'cifar'? "
        "(the tags: cifar, document, imagenet, mnist, preact, resnet, vgg, wrn)\n"
    )


def test_list_shows_user_presets_and_their_source(tmp_path):
    (tmp_path / "tiny.yaml").write_text(
        'name: tiny\ndescription: a tiny test network\ninput: [1, 8, 8]\nblocks: "cnf4 m r8"\n'
        "head: {num_classes: 3}\n"
    )
    run = zoo_cmd("list", "tiny", env={"ZOO_PRESET_PATH": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[3].split() == ["tiny", "1×8×8", "?", "?", "user", "a", "tiny", "test", "network"]


def test_a_bad_preset_file_is_a_warning_and_exit_1_when_asked_for(tmp_path):
    (tmp_path / "tiny.yaml").write_text("name: tiny\ndescription: x\ninput: [1, 8, 8]\nblocks: cnf4 q\nhead: {num_classes: 3}\n")
    run = zoo_cmd("list", env={"ZOO_PRESET_PATH": str(tmp_path)})  # the other presets still list
    assert run.returncode == 0 and "r32m" in run.stdout and "tiny" not in run.stdout
    assert run.stderr.startswith(
        f"zoo: warning: a preset file of ZOO_PRESET_PATH is skipped: {tmp_path / 'tiny.yaml'}, line 4: "
        "the blocks do not parse"
    )
    run = zoo_cmd("inspect", "tiny", env={"ZOO_PRESET_PATH": str(tmp_path)})
    assert run.returncode == 1
    assert f"zoo: error: {tmp_path / 'tiny.yaml'}, line 4: the blocks do not parse" in run.stderr
    assert "Traceback" not in run.stderr


def test_list_does_not_import_torch():
    run = zoo_cmd("list", importtime=True)
    assert run.returncode == 0
    modules = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "zoo.presets" in modules and "yaml" in modules
    for heavy in ("torch", "timm", "torchvision", "matplotlib"):
        assert heavy not in modules and not any(m.startswith(heavy + ".") for m in modules), heavy


def test_help_lists_the_command():
    run = zoo_cmd("--help")
    assert run.returncode == 0 and "list" in run.stdout
    run = zoo_cmd("list", "--help")
    assert run.returncode == 0 and "PATTERN" in run.stdout and "--json" in run.stdout


@pytest.mark.parametrize(
    "n, text",
    [(None, "?"), (0, "0"), (999, "999"), (5_130, "5.1 k"), (19_562, "19.6 k"), (999_960, "1.0 M"),
     (3_839_104, "3.8 M"), (140_186_624, "140.2 M"), (999_999_999, "1.00 G"), (1_814_073_344, "1.81 G"),
     (3_663_761_408, "3.66 G"), (8_040_682_094_592, "8.04 T"), (-5_130, "-5.1 k"), (12.5, "12.5")],
)
def test_format_count(n, text):
    # one formatter for zoo list and zoo inspect (spec §10 style: 1.81 G, 140.2 M, 5.1 k)
    assert format_count(n) == text


def test_list_and_inspect_write_a_count_alike():
    import zoo.cli.list
    import zoo.inspector.render

    assert zoo.cli.list.format_count is zoo.inspector.render.format_count is format_count
    assert format_count(None, missing="") == "" and format_count(2_000_000_000, "B") == "2.00 GB"
