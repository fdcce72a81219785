"""Hostile input (issue 12): files, strings and plugins that users download from others.

Each case names the zoo error class and the words its message must hold. The YAML
cases are files in ``tests/hostile/``, each saying on its first line what it expects
(``# expect: PresetError | line 9 | anchors and aliases``); the plugins are real
distributions laid out with an entry point (``zoo.testing.install_distribution``) and
run in a subprocess, as ``tests/test_plugins.py`` does.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo
import zoo.plugin
from zoo.errors import (
    BlockSyntaxError,
    BuildError,
    OptionError,
    PluginClashError,
    PresetError,
    ShapeError,
    UnknownPresetError,
    UnknownTokenError,
    ZooError,
    ZooWarning,
)
from zoo.plugin import Option, Token
from zoo.presets import MAX_FILE_BYTES, load_preset_file
from zoo.registry.limits import MAX_DEPTH
from zoo.testing import install_distribution, register_plugin

HERE = Path(__file__).parent
CORPUS = HERE / "hostile"
REPO = HERE.parent
FAST = 10.0  # seconds: a blow-up (an alias bomb expanded, a deep recursion) takes minutes; a refusal takes ms

TINY = """\
name: tiny
description: a tiny test network
input: [1, 8, 8]
blocks: "cnf4 m r8"
head: {num_classes: 3}
"""


def expectation(path: Path) -> tuple[type, list[str]]:
    """``# expect: PresetError | words | more words`` on a corpus file's first line."""
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: the first line must say what it expects"
    name, *words = (part.strip() for part in first.removeprefix("# expect: ").split("|"))
    return getattr(zoo.errors, name), words


def refused(call, kind: type, words: list[str]) -> str:
    """Run ``call``; it must raise ``kind`` holding every word, fast."""
    start = time.perf_counter()
    with pytest.raises(kind) as caught:
        call()
    assert time.perf_counter() - start < FAST
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in:\n{message}"
    return message


# -- 1, 2: preset files ----------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_yaml_corpus(path):
    kind, words = expectation(path)
    message = refused(lambda: load_preset_file(path), kind, words)
    assert message.startswith(str(path)) and message.count(str(path)) == 1  # names the file, once


def test_an_alias_bomb_in_the_preset_path_costs_nothing(tmp_path, monkeypatch):
    (tmp_path / "alias_bomb.yaml").write_text((CORPUS / "alias_bomb.yaml").read_text())
    monkeypatch.setenv("ZOO_PRESET_PATH", str(tmp_path))
    start = time.perf_counter()
    with pytest.warns(ZooWarning, match="alias_bomb.yaml, line 9: .*anchors and aliases are not allowed"):
        names = zoo.list_models()
    assert "r32m" in names and "alias_bomb" not in names
    assert zoo.get_preset("r32m").params == 1_607_818
    assert time.perf_counter() - start < FAST
    refused(lambda: zoo.get_preset("alias_bomb"), PresetError, ["anchors and aliases"])
    refused(lambda: zoo.get_preset(str(tmp_path / "alias_bomb.yaml")), PresetError, ["anchors and aliases"])


@pytest.mark.parametrize("text", [
    "input: " + "[" * 5000 + "]" * 5000,  # flow style
    "input:\n" + "".join("  " * i + "-\n" for i in range(1, 200)),  # block style (5000: over 64 KiB)
], ids=["flow", "block"])
def test_deep_lists_are_a_preset_error(tmp_path, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    refused(lambda: load_preset_file(path), PresetError, [str(path), "nest"])


def test_only_regular_files_of_bounded_size_are_read(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    refused(lambda: load_preset_file(fifo), PresetError, ["fifo.yaml", "a FIFO, not a preset file"])
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")  # reading it would never end
    refused(lambda: load_preset_file(zero), PresetError, ["zero.yaml", "a device, not a preset file"])
    big = tmp_path / "big.yaml"
    with open(big, "wb") as file:
        file.truncate(50 * 1024 * 1024)  # 50 MB (sparse: nothing written)
    refused(lambda: load_preset_file(big), PresetError, ["big.yaml", "over 64 KiB", "really a preset"])
    (tmp_path / "edge.yaml").write_text(TINY.replace("tiny", "edge") + "#" * (MAX_FILE_BYTES - len(TINY) - 20))
    assert load_preset_file(tmp_path / "edge.yaml").name == "edge"  # just under the limit reads


def test_line_numbers_survive_the_c_loader(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY + "options: {fun: gleu}\n")
    refused(lambda: load_preset_file(path), PresetError, ["tiny.yaml, line 6", "did you mean 'gelu'"])


# -- 4: one bad source does not take zoo down ------------------------------------------------
def test_bad_sources_are_skipped_with_one_warning_each(tmp_path, monkeypatch):
    good, pair, broken = tmp_path / "good", tmp_path / "pair", tmp_path / "broken"
    for folder in (good, pair, broken):
        folder.mkdir()
    (good / "tiny.yaml").write_text(TINY)
    (pair / "twin.yaml").write_text(TINY.replace("tiny", "twin"))
    (pair / "twin.yml").write_text(TINY.replace("tiny", "twin"))
    (broken / "oops.yaml").write_text("name: oops\n  bad: [")
    path = os.pathsep.join(map(str, [good, tmp_path / "missing", good, pair, broken]))
    monkeypatch.setenv("ZOO_PRESET_PATH", path)
    with pytest.warns(ZooWarning) as caught:
        names = zoo.list_models()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3, messages  # the folder listed twice is read once, silently
    assert "missing" in messages[0] and "it is skipped (remove it from ZOO_PRESET_PATH" in messages[0]
    assert "oops.yaml, line 2: this is not valid YAML" in messages[1] and "fix or remove the file" in messages[1]
    assert "two sources define the preset 'twin'" in messages[2] and "twin.yml" in messages[2]
    assert "tiny" in names and "r32m" in names and "twin" not in names and "oops" not in names
    assert zoo.create("r32m").cnn.cfg.blocks.startswith("r32")  # every other preset still works
    assert zoo.create("tiny")(torch.zeros(1, 1, 8, 8)).shape == (1, 3)
    refused(lambda: zoo.create("twin"), PluginClashError, ["twin.yaml", "twin.yml", "Keep one"])
    refused(lambda: zoo.create("oops"), PresetError, ["oops.yaml, line 2"])


def test_zoos_own_presets_win_over_a_plugins(tmp_path):
    (tmp_path / "r32m.yaml").write_text(TINY.replace("tiny", "r32m"))

    class Impostor:
        @zoo.plugin.hookimpl
        def zoo_presets(self):
            return [tmp_path]

    with register_plugin(Impostor(), name="zoo-impostor"), pytest.warns(ZooWarning) as caught:
        assert zoo.get_preset("r32m").source == "zoo"
    assert "plugin 'zoo-impostor'" in str(caught[0].message) and "ZOO_DISABLE_PLUGINS=zoo-impostor" in str(
        caught[0].message)


# -- 5: nesting and sizes ---------------------------------------------------------------------
def nested(depth: int, inner: str = "r8") -> str:
    return "(" * depth + inner + ")" * depth


BLOCK_STRINGS = [
    (nested(MAX_DEPTH + 1), BlockSyntaxError, ["groups nest deeper than the limit of 64 levels", "column 65"]),
    (nested(5000), BlockSyntaxError, ["limit of 64"]),  # was a RecursionError
    ("cnf8 m\n  r q", UnknownTokenError, ["unknown token 'q' (line 2, column 5)", "\n      r q\n        ^\n"]),
    ("c8\tq", UnknownTokenError, ["(column 4)", "\n    c8 q\n       ^\n"]),
    ("漢字 r", UnknownTokenError, ["(column 1)", "\n    漢字 r\n    ^^^^\n"]),  # wide: two columns each
    ("r 漢 q", UnknownTokenError, ["(column 3)", "\n    r 漢 q\n      ^^\n"]),
    ("1001r", BlockSyntaxError, ["a repeat count of 1001 is beyond the limit of 1000"]),
]


@pytest.mark.parametrize("text, kind, words", BLOCK_STRINGS, ids=range(len(BLOCK_STRINGS)))
def test_the_block_string_corpus(text, kind, words):
    refused(lambda: zoo.parse_blocks(text), kind, words)


def test_the_deepest_nesting_allowed_works_everywhere_downstream():
    text = nested(MAX_DEPTH)
    cnn = zoo.CNN(blocks=text)
    assert cnn(torch.zeros(1, 3, 4, 4)).shape == (1, 8)
    twin = copy.deepcopy(cnn)  # broke at 170 levels
    assert sum(p.numel() for p in twin.parameters()) == sum(p.numel() for p in cnn.parameters())
    report = zoo.inspect(cnn, (3, 4, 4))
    assert report.params == sum(p.numel() for p in cnn.parameters())
    assert zoo.inspect(text, (3, 4, 4)).params == report.params


def test_a_network_beyond_the_token_limit_is_refused_before_building():
    refused(lambda: zoo.CNN(blocks="3(1000r)"), BuildError, ["3,000 tokens, beyond the limit of 2,000"])


SIZES = [
    (lambda: zoo.inspect("c8", (3, 10**9, 10**9)), ShapeError, ["height or width of 1000000000", "65,536"]),
    (lambda: zoo.inspect("c8", (3, 10**20, 9)), ShapeError, ["beyond the limit of 65,536"]),
    (lambda: zoo.inspect("c8", (70_000, 8, 8)), ShapeError, ["70000 channels are beyond the limit of 65,536"]),
    (lambda: zoo.create("r32m", num_classes=2**70), PresetError, ["num_classes", "at most 1,048,576"]),
    (lambda: zoo.create("r32m", num_classes=10**12), PresetError, ["num_classes", "at most 1,048,576"]),
    (lambda: zoo.create("r32m", head={"hidden": [10**12]}), PresetError, ["head.hidden", "at most 1,048,576 each"]),
    (lambda: zoo.create("r32m", input=10**6), PresetError, ["input=1000000", "from 1 to 65,536"]),
    (lambda: zoo.CNN(input=10**6, blocks="c8"), OptionError, ["input=1000000", "at most 65,536"]),
    (lambda: zoo.create("r32m", head={"hidden": [2**20, 2**20]}), BuildError,
     ["the model needs about", "TB for its 1,099,", "parameters, more than this machine's"]),
]


@pytest.mark.parametrize("call, kind, words", SIZES, ids=range(len(SIZES)))
def test_sizes_are_checked_up_front(call, kind, words):
    refused(call, kind, words)


def test_a_model_too_big_for_memory_is_still_inspected_on_meta():
    report = zoo.inspect("r32m", head={"hidden": [2**20, 2**20]})
    assert report.params == 1_607_818 - 2_570 + 256 * 2**20 + 2**20 + 2**40 + 2**20 + 2**20 * 10 + 10


def test_the_command_checks_input_sizes_as_arguments(capsys):
    from zoo.cli import main

    assert main(["inspect", "c8", "--input", "3,99999999999999999999,9"]) == 2
    assert "a height or width of 99999999999999999999 is beyond the limit of 65,536" in capsys.readouterr().err


# -- 3 and 6: plugins ---------------------------------------------------------------------------
HOSTILE_PLUGINS = {
    # token r1 would make `r128_3_2` read as r1 + 28_3_2 (resnet18_cifar: 10,558,538 parameters)
    "zoo-r-one": """
import zoo.plugin
@zoo.plugin.hookimpl
def zoo_tokens():
    return [zoo.plugin.Token("r1", [("channels", int, None)], "shadows r", build=lambda ctx, channels: None)]
""",
    # zoo's own token, option and preset names: zoo stays authoritative
    "zoo-usurper": """
import zoo.plugin
from pathlib import Path
@zoo.plugin.hookimpl
def zoo_tokens():
    return [zoo.plugin.Token("r", build=lambda ctx: None)]
@zoo.plugin.hookimpl
def zoo_options():
    return [zoo.plugin.Option("norm", 1)]
""",
    "zoo-preset-usurper": """
import zoo.plugin
from pathlib import Path
@zoo.plugin.hookimpl
def zoo_presets():
    folder = Path(__file__).parent / "usurper_presets"
    folder.mkdir(exist_ok=True)
    (folder / "r32m.yaml").write_text(
        "name: r32m\\ndescription: not zoo's\\ninput: [1, 8, 8]\\nblocks: c4\\nhead: {num_classes: 2}\\n")
    return [folder]
""",
    # a BaseException subclass at import (pytest.skip raises one)
    "zoo-base-exception": """
class Skipped(BaseException):
    pass
raise Skipped("not today")
""",
    # prints on import and in its hook; its tokens build badly
    "zoo-chatty": """
import sys
import zoo.plugin
print("hello from zoo-chatty")
def tup(ctx):
    from torch import nn
    return nn.Identity(), 3, 4
def huge(ctx):
    from torch import nn
    return nn.Identity(), 10**12
def leave(ctx):
    sys.exit(7)
@zoo.plugin.hookimpl
def zoo_tokens():
    print("zoo_tokens() called")
    return [zoo.plugin.Token("tup", build=tup), zoo.plugin.Token("huge", build=huge), zoo.plugin.Token("leave", build=leave)]
""",
}


def module_name(dist: str) -> str:
    return dist.replace("-", "_")


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("hostile-site")
    for dist, source in HOSTILE_PLUGINS.items():
        install_distribution(site, dist, {f"{module_name(dist)}.py": source}, {"plugin": module_name(dist)})
    return site


def run(args: list[str], site: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    env["COLUMNS"] = "100"
    env.update(variables)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)


def test_hostile_plugins_leave_the_listings_clean(hostile_site):
    out = run(["-m", "zoo", "list", "--json"], hostile_site)
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}  # stdout is clean JSON
    assert rows["r32m"]["source"] == "zoo" and rows["resnet18_cifar"]["params"] == 11_173_962
    err = out.stderr
    assert "hello from zoo-chatty" in err and "zoo_tokens() called" in err
    assert ("zoo: warning: plugin 'zoo-r-one' failed to load and is skipped: plugin 'zoo-r-one' provides the "
            "token 'r1', which clashes with zoo's token 'r': 'r128' would read as 'r1' with the value 28 "
            "instead of 'r' with 128") in err
    assert "plugin 'zoo-usurper' provides the token 'r', which zoo itself has" in err
    assert "plugin 'zoo-usurper' provides the option 'norm', which zoo itself has" in err
    assert "plugin 'zoo-base-exception' failed to load and is skipped: importing 'zoo_base_exception' " \
           "raised Skipped: not today" in err
    assert "plugin 'zoo-preset-usurper'" in err and "defines the preset 'r32m', which zoo itself has" in err
    assert err.count("plugin 'zoo-r-one' failed to load") == 1  # one warning each

    out = run(["-m", "zoo", "tokens", "--json"], hostile_site)
    assert out.returncode == 0, out.stderr
    tokens = {row["name"]: row["plugin"] for row in json.loads(out.stdout)}
    assert tokens["r"] == "zoo" and "r1" not in tokens and tokens["tup"] == "zoo-chatty"


BUILD_CHECK = """
import json, warnings, zoo
warnings.simplefilter("ignore", zoo.ZooWarning)
out = {"params": sum(p.numel() for p in zoo.create("resnet18_cifar").parameters())}
for blocks in ("c8 tup", "c8 huge", "c8 leave"):
    try:
        zoo.CNN(blocks=blocks)
    except zoo.BuildError as e:
        out[blocks] = str(e)
print(json.dumps(out))
"""


@pytest.mark.slow  # ~4 s on an idle core
def test_hostile_plugins_cannot_change_a_preset_or_escape_a_build(hostile_site):
    out = run(["-c", BUILD_CHECK], hostile_site)
    assert out.returncode == 0, out.stderr  # sys.exit(7) in a build did not end the process
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["params"] == 11_173_962  # the file's count, with plugins loaded
    assert "token 'tup': the build function of plugin 'zoo-chatty' returned (Identity(), 3, 4)" in result["c8 tup"]
    assert "1 <= out_channels <= 65,536" in result["c8 huge"] and "ZOO_DISABLE_PLUGINS=zoo-chatty" in result["c8 huge"]
    assert "could not be built (the build function of plugin 'zoo-chatty'): SystemExit: 7" in result["c8 leave"]


def test_keyboard_interrupt_in_a_plugin_still_interrupts(tmp_path):
    source = "raise KeyboardInterrupt\n"
    install_distribution(tmp_path, "zoo-ctrl-c", {"zoo_ctrl_c.py": source}, {"plugin": "zoo_ctrl_c"})
    out = run(["-m", "zoo", "list"], tmp_path)
    assert out.returncode == 130 and out.stdout == ""


def test_a_token_name_that_changes_how_another_reads_is_refused_naming_both():
    class Shadow:
        @zoo.plugin.hookimpl
        def zoo_tokens(self):
            return [Token("se2", build="nowhere:build")]

    message = refused(lambda: register_plugin(Shadow(), name="zoo-shadow").__enter__(), PluginClashError,
                      ["'zoo-shadow' provides the token 'se2'", "the token of plugin 'zoo-extra' 'se'",
                       "ZOO_DISABLE_PLUGINS=zoo-shadow"])
    assert "'se228' would read as 'se2' with the value 28 instead of 'se' with 228" in message


def test_plugin_option_choices_refuse_true_and_floats():
    class Choosy:
        @zoo.plugin.hookimpl
        def zoo_options(self):
            return [Option("groups_of", 1, "groups", choices=(1, 2, 4, 8))]

    with register_plugin(Choosy(), name="zoo-choosy"):
        assert zoo.Config(groups_of=4).groups_of == 4
        for bad in (True, 4.0, np.float64(4.0)):
            refused(lambda bad=bad: zoo.Config(groups_of=bad), OptionError, ["groups_of", "one of 1, 2, 4, 8"])


def test_a_presets_built_count_equals_its_file_with_a_plugin_loaded(tmp_path):
    assert "zoo-extra" in zoo.registry.registry.get_registry().plugins  # installed: its tokens are loaded
    for name in ("resnet18_cifar", "r32m", "mnist_cnn"):
        model = zoo.create(name)
        assert sum(p.numel() for p in model.parameters()) == zoo.get_preset(name).params
    wrong = tmp_path / "tiny.yaml"
    wrong.write_text(TINY + "params: 12345\n")
    refused(lambda: zoo.create(wrong), PresetError, [
        "tiny.yaml, line 6): built with 1,015 parameters", "but its file says 12,345", "Plugins loaded: zoo-extra 0.1.0",
        "ZOO_DISABLE_PLUGIN_AUTOLOAD=1",
    ])
    assert zoo.create(wrong, num_classes=5).head.fc.out_features == 5  # an override changes the count


# -- 7: statistics survive a bad batch ---------------------------------------------------------
def test_a_non_finite_batch_is_skipped_and_counted():
    torch.manual_seed(0)
    cnn = zoo.CNN(blocks="c8 r r").debug(True)
    good = torch.randn(4, 3, 8, 8)
    cnn(good)
    before = [s["ratio"] for s in cnn.block_stats()]
    for value in (math.nan, math.inf):
        bad = good.clone()
        bad[0, 0, 0, 0] = value
        cnn(bad)
    stats = cnn.block_stats()
    assert [s["ratio"] for s in stats] == pytest.approx(before)  # never a plausible wrong number
    assert [(s["forwards"], s["skipped"]) for s in stats] == [(3, 2), (3, 2)]
    cnn(good)  # and the statistics go on
    assert all(0 < s["ratio"] < 10 and s["skipped"] == 2 for s in cnn.block_stats())
    from rich.console import Console

    console = Console(width=100, color_system=None, record=True)
    console.print(zoo.monitor.block_table(cnn))
    assert "2 batches with NaN or inf left out" in console.export_text()
    fresh = zoo.CNN(blocks="c8 r").debug(True)
    fresh(bad)  # only bad batches: nothing measured
    assert [(s["ratio"], s["forwards"], s["skipped"]) for s in fresh.block_stats()] == [(None, 1, 1)]


# -- 8: small things ----------------------------------------------------------------------------
def test_wrong_types_are_zoo_errors():
    refused(lambda: zoo.list_models(None), UnknownPresetError, ["a preset pattern is text", "NoneType"])
    refused(lambda: zoo.CNN({1: 2}), OptionError, ["option names are text, not int 1"])


def test_numpy_scalars_are_taken_as_the_numbers_they_are():
    cfg = zoo.Config(norm=np.int64(2), input=np.int32(1), bias=np.bool_(True), scale=np.float32(0.5))
    assert (cfg.norm, cfg.input, cfg.bias, cfg.scale) == (2, 1, True, 0.5)
    assert [type(v) for v in (cfg.norm, cfg.input, cfg.bias, cfg.scale)] == [int, int, bool, float]
    assert zoo.create("r32m", num_classes=np.int64(7)).head.fc.out_features == 7
    refused(lambda: zoo.Config(norm=np.float64(1.0)), OptionError, ["norm=", "must be a whole number"])


def test_block_monitor_checks_its_folder_at_creation(tmp_path):
    cnn = zoo.CNN(blocks="c8 r")
    (tmp_path / "file").write_text("")
    refused(lambda: zoo.BlockMonitor(cnn, out=tmp_path / "file" / "plots"), OptionError,
            ["BlockMonitor: out=", "is a file", "give a folder"])
    assert zoo.BlockMonitor(cnn, out=tmp_path / "new" / "plots").out == tmp_path / "new" / "plots"


def test_an_early_closed_pipe_and_columns_0(capsys, monkeypatch):
    process = subprocess.Popen([sys.executable, "-m", "zoo", "list"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=REPO)
    process.stdout.close()  # `zoo list | head -0`
    assert process.wait(timeout=60) == 0 and process.stderr.read() == b""
    process.stderr.close()
    from zoo.cli import main

    monkeypatch.setenv("COLUMNS", "0")
    assert main(["list", "r32m"]) == 0
    assert "r32m" in capsys.readouterr().out


# -- hypothesis: nested groups, and YAML documents from random nodes -------------------------
ITEMS = ["c8", "r", "m", "2r", "n", "r16_3_2", "3c8"]


@st.composite
def group_strings(draw) -> tuple[str, int]:
    """A block string whose deepest group is ``depth`` levels down, with tokens at random levels."""
    depth = draw(st.integers(0, MAX_DEPTH + 8))
    text = draw(st.sampled_from(ITEMS))
    for _ in range(depth):
        before = draw(st.lists(st.sampled_from(ITEMS), max_size=1))
        after = draw(st.lists(st.sampled_from(ITEMS), max_size=1))
        count = draw(st.sampled_from(["", "", "2"]))
        text = " ".join([*before, f"{count}({text})", *after])
    return text, depth


def depth_of(nodes) -> int:
    return max((1 + depth_of(n.items) if isinstance(n, zoo.language.GroupNode) else 0 for n in nodes), default=0)


@pytest.mark.slow  # ~3 s on an idle core
@settings(max_examples=40, derandomize=True, deadline=None)
@given(group_strings(), st.integers(0, 400))
def test_nested_groups_parse_or_fail_as_zoo_errors(case, cut):
    text, depth = case
    if depth <= MAX_DEPTH:
        assert depth_of(zoo.parse_blocks(text)) == depth
    else:
        with pytest.raises(BlockSyntaxError, match="groups nest deeper than the limit of 64"):
            zoo.parse_blocks(text)
    broken = text[: cut % (len(text) + 1)]  # cut anywhere: a zoo error or a parse, nothing else
    try:
        zoo.parse_blocks(broken)
    except ZooError:
        pass


HOSTILE_SCALARS = ["1:30", "!foo r", "!!python/object/apply:os.system [ls]", "*undefined", "&a [*a]",
                   "[" * 30 + "]" * 30, "1e20", "-0", "0x1F", "~", "yes", "2001-12-14", "'''", "{a: b"]
KEYS = ["name", "description", "input", "blocks", "options", "head", "params", "macs", "num_classes",
        "hidden", "fun", "norm", "<<", "x"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(ITEMS))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=5)), max_leaves=25)


@pytest.mark.slow  # ~3 s on an idle core
@settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents, st.booleans(), st.sampled_from(["", *HOSTILE_SCALARS]), st.booleans())
def test_yaml_documents_of_random_nodes_give_a_preset_or_a_preset_error(tmp_path, data, share, raw, tiny):
    import yaml

    document = yaml.safe_load(TINY) if tiny else {}
    document["x"] = data
    if share and isinstance(data, (list, dict)):
        document["y"] = [data, data]  # the same object twice: safe_dump writes an anchor and aliases
    text = yaml.safe_dump(document, allow_unicode=True)
    if raw:
        text += f"z: {raw}\n"
    path = tmp_path / "random.yaml"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    try:
        load_preset_file(path)
    except PresetError as error:
        assert str(error).startswith(str(path))
    assert time.perf_counter() - start < FAST
