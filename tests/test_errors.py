"""Bad input: a zoo exception that says what, where and how to fix it (spec §8)."""

import pytest
import torch

import zoo
from zoo import CNN, Config

# (blocks, exception class, words the message must contain)
MALFORMED = [
    ("c64 q", zoo.UnknownTokenError, ["unknown token 'q'", "column 5", "zoo tokens"]),
    ("cnf64 rr", zoo.UnknownTokenError, ["unknown token 'rr'", "did you mean", "r"]),
    ("cx", zoo.UnknownTokenError, ["unknown token 'cx'", "column 1"]),
    ("c-1", zoo.UnknownTokenError, ["unknown token 'c-1'"]),
    ("conv64", zoo.UnknownTokenError, ["unknown token 'conv64'", "did you mean"]),
    ("cnf64 (m", zoo.BlockSyntaxError, ["never closed", "column 7", "add the missing ')'"]),
    ("c64 ((m)", zoo.BlockSyntaxError, ["never closed", "column 5"]),
    ("2(", zoo.BlockSyntaxError, ["never closed"]),
    ("cnf64 m)", zoo.BlockSyntaxError, ["without a matching '('", "column 8"]),
    (")", zoo.BlockSyntaxError, ["without a matching '('", "column 1"]),
    ("c64 ()", zoo.BlockSyntaxError, ["empty group", "column 5"]),
    ("0r", zoo.BlockSyntaxError, ["repeat count must be at least 1", "column 1"]),
    ("r 0(c m)", zoo.BlockSyntaxError, ["repeat count must be at least 1", "column 3"]),
    ("2 r", zoo.BlockSyntaxError, ["count 2 with nothing to repeat", "2r"]),
    ("r 3", zoo.BlockSyntaxError, ["count 3 with nothing to repeat", "column 3"]),
    ("5000r", zoo.BlockSyntaxError, ["beyond the limit of 1000"]),
    ("c64(m)", zoo.BlockSyntaxError, ["only a count may stand right before '('"]),
    ("c64_3_2_1_1_1_5", zoo.TokenValueError, ["too many values for token 'c'", "7 given", "takes 6 values", "c[channels=C]"]),
    ("relu6_1", zoo.TokenValueError, ["too many values for token 'relu6'", "takes no values"]),
    ("relu7", zoo.TokenValueError, ["too many values for token 'relu'"]),
    ("m3_2_1_1", zoo.TokenValueError, ["too many values for token 'm'", "takes 3 values"]),
    ("c_x", zoo.TokenValueError, ["kernel must be a whole number, not 'x'", "column 3"]),
    ("cnf64_3_1.5", zoo.TokenValueError, ["stride must be a whole number, not '1.5'", "column 9"]),
    ("c0", zoo.TokenValueError, ["channels must be at least 1, not 0"]),
    ("c_0", zoo.TokenValueError, ["kernel must be at least 1"]),
    ("r_3_0", zoo.TokenValueError, ["stride must be at least 1"]),
    ("c64_3_2_-1", zoo.TokenValueError, ["padding must be at least 0"]),
    ("r100000", zoo.TokenValueError, ["channels must be at most 65,536", "r[channels=C]_[kernel=3]_[stride=1]"]),
    ("r64_3_64", zoo.TokenValueError, ["stride must be at most 63"]),
    ("n7", zoo.TokenValueError, ["kind: must be one of 0, 1, 2, 3", "not 7"]),
    ("d3", zoo.TokenValueError, ["dim must be one of 1, 2, not 3"]),
    ("c64\t(m", zoo.BlockSyntaxError, ["never closed", "column 5"]),
    ("²r", zoo.UnknownTokenError, ["unknown token '²r'", "column 1"]),  # only ASCII digits count
    ("r\u0661\u0662", zoo.UnknownTokenError, ["unknown token 'r١٢'"]),
    ("c_\u0665", zoo.TokenValueError, ["kernel must be a whole number, not '٥'"]),
    ("r64\u200bm", zoo.TokenValueError, ["channels must be a whole number, not '64\\u200bm'"]),  # zero-width space
]


@pytest.mark.parametrize("blocks, error, words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_block_strings(blocks, error, words):
    with pytest.raises(error) as info:
        CNN(blocks=blocks)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in:\n{message}"
    assert isinstance(info.value, zoo.ZooError)
    assert isinstance(info.value, (ValueError, LookupError))


def test_syntax_errors_are_value_errors_and_unknown_names_lookup_errors():
    assert issubclass(zoo.BlockSyntaxError, ValueError)
    assert issubclass(zoo.TokenValueError, ValueError)
    assert issubclass(zoo.UnknownTokenError, LookupError)
    assert issubclass(zoo.UnknownOptionError, LookupError)


def test_message_draws_a_caret_under_the_token():
    with pytest.raises(zoo.UnknownTokenError) as info:
        zoo.parse_blocks("(cnf64 m) 2q r128_3_2")
    assert str(info.value) == (
        "unknown token 'q' (column 12)\n"
        "    (cnf64 m) 2q r128_3_2\n"
        "               ^\n"
        "('zoo tokens' lists every token)"
    )
    assert info.value.column == 12


def test_value_error_caret_points_at_the_value():
    with pytest.raises(zoo.TokenValueError) as info:
        zoo.parse_blocks("cnf64 r128_x_2")
    lines = str(info.value).splitlines()
    assert lines[0] == "bad value for token 'r': kernel must be a whole number, not 'x' (column 12)"
    assert lines[1] == "    cnf64 r128_x_2"
    assert lines[2] == "               ^"
    assert lines[3] == "the token takes r[channels=C]_[kernel=3]_[stride=1]"


# build-time errors: the token parses, but cannot be built
@pytest.mark.parametrize(
    "blocks, words",
    [
        ("r64_4", ["token 'r64_4'", "odd kernel, not 4", "use kernel 3 or 5", "column 1"]),
        ("c8 r_2", ["token 'r_2'", "odd kernel"]),
        ("m3_2_2", ["padding 2 is more than half the kernel 3", "m3_2_1"]),
        ("c8 a2_2_2", ["padding 2 is more than half the kernel 2"]),
        ("10(10(10(11r)))", ["11,000 tokens", "beyond the limit"]),
    ],
)
def test_build_errors(blocks, words):
    with pytest.raises(zoo.BuildError) as info:
        CNN(blocks=blocks)
    for word in words:
        assert word in str(info.value)
    assert isinstance(info.value, ValueError)


def test_huge_repeat_is_refused_before_allocating(monkeypatch):
    built = []
    monkeypatch.setattr(torch.nn.Conv2d, "__init__", lambda *a, **k: built.append(1))
    with pytest.raises(zoo.BuildError):
        CNN(blocks="1000(1000r)")
    assert built == []


# options
@pytest.mark.parametrize(
    "options, error, words",
    [
        ({"nrom": 1}, zoo.UnknownOptionError, ["unknown option 'nrom'", "did you mean 'norm'", "known options: input, blocks, bias"]),
        ({"stride_frist": False}, zoo.UnknownOptionError, ["did you mean 'stride_first'"]),
        ({"fun": "relux"}, zoo.OptionError, ["fun='relux'", "not an activation", "did you mean 'relu'"]),
        ({"fun_inside": "elu"}, zoo.OptionError, ["fun_inside='elu'", "gelu"]),
        ({"norm": 9}, zoo.OptionError, ["norm=9", "one of 0, 1, 2, 3"]),
        ({"norm_align": "1"}, zoo.OptionError, ["norm_align='1'", "whole number"]),
        ({"drop": 3}, zoo.OptionError, ["drop=3", "one of 0, 1, 2"]),
        ({"mult": 3}, zoo.OptionError, ["mult=3", "one of 0, 1, 2"]),
        ({"pool": 5}, zoo.OptionError, ["pool=5"]),
        ({"input": 0}, zoo.OptionError, ["input=0", "at least 1"]),
        ({"bias": "yes"}, zoo.OptionError, ["bias='yes'", "True or False"]),
        ({"scale": "x"}, zoo.OptionError, ["scale='x'", "number"]),
        ({"scale": float("nan")}, zoo.OptionError, ["scale=nan", "finite number"]),
        ({"scale": float("inf")}, zoo.OptionError, ["scale=inf", "finite number"]),
        ({"blocks": 5}, zoo.OptionError, ["blocks=5", "block string"]),
    ],
)
def test_bad_options(options, error, words):
    with pytest.raises(error) as info:
        CNN(**options)
    for word in words:
        assert word in str(info.value)
    with pytest.raises(error):
        Config(**options)


def test_config_rejects_non_mapping():
    with pytest.raises(zoo.OptionError, match=r"takes Configs or dicts of options, not str \(a block string "
                       r"goes in blocks=: CNN\(blocks='r64'\)\)"):
        CNN("r64")


def test_residual_refuses_a_bad_mult_with_a_zoo_error():
    from torch import nn

    from zoo import Residual

    with pytest.raises(zoo.OptionError, match="mult=5: must be 0"):
        Residual(nn.Identity(), channels=4, mult=5)
