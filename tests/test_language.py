"""The block language: structure, columns, values, repeats (spec §2)."""

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.language import GroupNode, TokenNode, expand, parse_blocks


def test_resnet18_cifar_tree():
    nodes = parse_blocks("(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r")
    assert [n.text for n in nodes] == ["(cnf64 m)", "r", "r128_3_2", "r", "r256_3_2", "r", "r512_3_2", "r"]
    assert [n.count for n in nodes] == [1, 2, 1, 1, 1, 1, 1, 1]
    group = nodes[0]
    assert isinstance(group, GroupNode) and group.column == 1
    assert group.items[0] == TokenNode("cnf", (("channels", 64),), "cnf64", column=2)
    assert group.items[1] == TokenNode("m", (), "m", column=8)
    assert nodes[1].column == 12  # the token after the count "2"
    assert nodes[2].kwargs == {"channels": 128, "kernel": 3, "stride": 2}


@pytest.mark.parametrize(
    "text, name, values",
    [
        ("cnf64", "cnf", {"channels": 64}),
        ("relu6", "relu6", {}),
        ("relu", "relu", {}),
        ("r128_3_2", "r", {"channels": 128, "kernel": 3, "stride": 2}),
        ("c_5", "c", {"kernel": 5}),  # an empty value keeps its default
        ("c__2", "c", {"stride": 2}),
        ("c64_7_2_3", "c", {"channels": 64, "kernel": 7, "stride": 2, "padding": 3}),
        ("m3_2_1", "m", {"kernel": 3, "stride": 2, "padding": 1}),
        ("n2", "n", {"kind": 2}),
        ("n0", "n", {"kind": 0}),
        ("d1", "d", {"dim": 1}),
        ("c_", "c", {}),
    ],
)
def test_longest_name_and_values(text, name, values):
    (node,) = parse_blocks(text)
    assert (node.name, node.kwargs, node.text) == (name, values, text)


def test_any_whitespace_and_parentheses_without_spaces():
    a = parse_blocks("(cnf64 m)2r\tr128_3_2\n r")
    b = parse_blocks("(cnf64 m) 2r r128_3_2 r")
    assert [n.text for n in a] == [n.text for n in b]
    assert [n.count for n in a] == [n.count for n in b]


def test_repeated_and_nested_groups():
    (node,) = parse_blocks("3(cnf64 2(r m))")
    assert isinstance(node, GroupNode) and node.count == 3
    inner = node.items[1]
    assert isinstance(inner, GroupNode) and inner.count == 2
    assert node.text == "(cnf64 2(r m))"
    assert len(list(expand(parse_blocks("3(cnf64 2(r m)) 2r")))) == 5


def test_empty_string_has_no_blocks():
    assert parse_blocks("") == ()
    assert parse_blocks("  \n\t ") == ()


def test_parser_does_not_import_torch():
    code = "import sys, zoo; zoo.parse_blocks('(cnf64 m) 2r r128_3_2'); zoo.Config(norm=2); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


TOKEN_TEXTS = ["c", "c64", "cnf32_5", "r", "r128_3_2", "m", "m3_2_1", "a", "n", "n2", "f", "d", "d1", "gelu", "b16"]


@st.composite
def block_strings(draw, depth=0):
    items = draw(st.lists(st.one_of(
        st.tuples(st.integers(1, 3), st.sampled_from(TOKEN_TEXTS)).map(lambda t: (f"{t[0]}" if t[0] > 1 else "") + t[1]),
        *([st.deferred(lambda: block_strings(depth + 1)).map(lambda s: f"({s})" if s else "(c)")] if depth < 2 else []),
    ), min_size=1, max_size=4))
    seps = draw(st.lists(st.sampled_from([" ", "\t", "\n", "  "]), min_size=len(items), max_size=len(items)))
    return "".join(item + sep for item, sep in zip(items, seps)).strip()


@settings(max_examples=150, deadline=None)
@given(block_strings())
def test_valid_strings_round_trip(text):
    nodes = parse_blocks(text)
    canonical = " ".join((f"{n.count}" if n.count > 1 else "") + n.text for n in nodes)
    assert " ".join(text.split()) == canonical


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="cnfrmadb0123456789_() \t²١２\u00a0\u200b.-", max_size=20))
def test_any_text_parses_or_raises_a_zoo_error(text):
    try:
        parse_blocks(text)
    except zoo.ZooError as exc:
        assert isinstance(exc, (ValueError, LookupError))
        assert exc.column >= 1
