"""Feature noise (token s, shift_inside, shift_after, Change.shift) and the residual
branch's multiplicative noise (branch_noise, Change.branch_noise): the original's
ShiftFeatures and set_block_drops, with their statistics checked."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo import CNN, Change, Residual
from zoo.layers import ShiftFeatures


def test_a_shift_has_the_documented_statistics_and_is_the_identity_in_eval():
    torch.manual_seed(0)
    channels, std = 16, 0.8
    layer = ShiftFeatures(std).train()
    x = torch.randn(4096, channels, 3, 3)
    shift = layer(x) - x  # (B, C, H, W)
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6)  # one value per image and channel
    per_channel = shift[:, :, 0, 0]  # (B, C)
    assert per_channel.mean().abs().item() < 0.01
    assert per_channel.std(dim=0) == pytest.approx(torch.full((channels,), std / math.sqrt(channels)), rel=0.06)
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(ShiftFeatures(0.0).train()(x), x)


def test_shift_token_options_and_change_shift():
    cnn = CNN(blocks="cnf8 s s0.5 r s0.2", shift_inside=0.1, shift_after=0.3)
    shifts = [m for m in cnn.modules() if isinstance(m, ShiftFeatures)]
    assert [s.std for s in shifts] == [0.0, 0.5, 0.1, 0.3, 0.2]  # s takes option shift (0) when given none
    assert [s.std for s in CNN(blocks="s r", shift=0.4).modules() if isinstance(s, ShiftFeatures)] == [0.4]
    assert Change.shift(cnn, [0.1, 0.2]) == 5
    assert [s.std for s in shifts] == [0.1, 0.2, 0.2, 0.2, 0.2]
    assert not any(isinstance(m, ShiftFeatures) for m in CNN(blocks="cnf8 r").modules())  # off by default
    with pytest.raises(zoo.OptionError, match=r"option shift_inside=-0.1: must be at least 0"):
        CNN(blocks="r", shift_inside=-0.1)
    with pytest.raises(zoo.OptionError, match=r"Change.shift: std=-1 must be a finite number >= 0"):
        Change.shift(cnn, -1)
    with pytest.raises(zoo.TokenValueError, match=r"bad value for token 's': std must be at most 100, not 101"):
        CNN(blocks="s101")


def test_branch_noise_multiplies_each_images_branch_and_works_in_debug_mode():
    torch.manual_seed(0)
    residual = Residual(torch.nn.Identity(), channels=4, noise=0.5).train()
    x = torch.ones(8192, 4, 1, 1)
    branch = x
    factor = residual(x) - x  # (B, 4, 1, 1): the branch (ones) times 1 + 0.5 * N(0, 1)
    assert torch.equal(factor, factor[:, :1].expand_as(factor))  # one factor per image
    assert factor.mean().item() == pytest.approx(1.0, abs=0.02)
    assert factor[:, 0].std().item() == pytest.approx(0.5, rel=0.05)
    assert torch.equal(residual.eval()(x), x + branch)  # eval: no noise
    cnn = CNN(blocks="c8 r r", branch_noise=0.2).debug(True)  # the original raises outside debug mode
    cnn.train()(torch.randn(4, 3, 8, 8))
    assert [s["forwards"] for s in cnn.block_stats()] == [1, 1]
    assert Change.branch_noise(cnn, 0.0) == 2 and all(r.noise == 0.0 for r in cnn.modules() if isinstance(r, Residual))


def test_noise_layers_are_inspected_and_listed():
    report = zoo.inspect("cnf8 s0.1 r", input_size=(3, 8, 8), shift_after=0.1)
    assert [b.name for b in report.blocks] == ["cnf8", "s0.1", "r", "head"] and report.output == (1, 8)
