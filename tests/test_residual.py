"""The residual block and how each option of spec §5 changes it (spec §4)."""

import pytest
import torch
from torch import nn

from zoo import CNN, Change, LayerNormChannels, Residual


def r(blocks="r16_3_2", input=8, **options) -> Residual:
    block = CNN(input=input, blocks=blocks, **options).blocks[0]
    assert isinstance(block, Residual)
    return block


def kinds(seq) -> list[str]:
    return [type(m).__name__ for m in seq] if seq is not None else []


def test_default_block_layout():
    block = r()
    assert kinds(block.block) == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
    assert kinds(block.align) == ["Conv2d", "BatchNorm2d"]
    assert block.align[0].kernel_size == (1, 1) and block.align[0].stride == (2, 2)
    assert block.align[0].bias is None
    assert kinds(block.after) == ["Dropout2d"]  # drop_after=2: a dropout with p=0 exists by default
    assert block.after[0].p == 0
    assert block.scale is None and block.p == 0


def test_identity_align_when_shape_is_kept():
    block = r("r", input=8)
    assert isinstance(block.align, nn.Identity) and block.identity_align
    assert not r("r8_3_2").identity_align and not r("r16").identity_align


def test_stride_first_puts_the_stride_on_the_first_convolution():
    first, second = r(stride_first=True).block, r(stride_first=False).block
    assert (first[0].stride, first[3].stride) == ((2, 2), (1, 1))
    assert (second[0].stride, second[3].stride) == ((1, 1), (2, 2))
    x = torch.randn(2, 8, 8, 8)
    assert r(stride_first=False)(x).shape == r(stride_first=True)(x).shape == (2, 16, 4, 4)


def test_norm_options():
    assert kinds(r(norm_before=2).block)[0] == "LayerNormChannels"
    assert r(norm_before=2).block[0].channels == 8  # on the input, before the branch
    assert kinds(r(norm_inside=3).block) == ["Conv2d", "InstanceNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
    assert kinds(r(norm_block=0).block) == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    assert kinds(r(norm_block=2).block)[-1] == "LayerNormChannels"
    assert kinds(r(norm_align=0).align) == ["Conv2d"]
    assert kinds(r(norm_after=1, fun_after="gelu").after) == ["BatchNorm2d", "GELU", "Dropout2d"]
    assert r(drop_after=0).after is None
    assert kinds(r(drop_after=1).after) == ["Dropout"]


def test_inside_options():
    assert kinds(r(fun_inside="tanh").block) == ["Conv2d", "BatchNorm2d", "Tanh", "Conv2d", "BatchNorm2d"]
    assert kinds(r(fun_inside="").block) == ["Conv2d", "BatchNorm2d", "Conv2d", "BatchNorm2d"]
    assert kinds(r(drop_inside=2).block) == ["Conv2d", "BatchNorm2d", "ReLU", "Dropout2d", "Conv2d", "BatchNorm2d"]


def test_bias_option():
    block = r(bias=True)
    assert block.block[0].bias is not None and block.block[3].bias is not None
    assert block.align[0].bias is None  # the skip's 1x1 convolution never has a bias
    assert CNN(blocks="c8 cnf8", bias=True).blocks[1][0].bias is not None


def test_mult_adds_a_scale_sized_by_output_channels():
    plain, scalar, vector = r(), r(mult=1, scale=0.5), r(mult=2, scale=0.25)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(scalar) == count(plain) + 1 and scalar.scale.shape == ()
    assert count(vector) == count(plain) + 16 and vector.scale.shape == (1, 16, 1, 1)
    assert scalar.scale.item() == 0.5 and torch.all(vector.scale == 0.25)
    assert vector(torch.randn(2, 8, 8, 8)).shape == (2, 16, 4, 4)


def test_forward_is_align_plus_scaled_branch_then_after():
    block = r(mult=1, scale=0.5, norm_after=1, fun_after="relu").eval()
    x = torch.randn(2, 8, 8, 8)
    expected = block.after(block.align(x) + 0.5 * block.block(x))
    assert torch.allclose(block(x), expected)


def test_b_is_the_branch_alone():
    b = CNN(input=8, blocks="b16_3_2", norm_before=1, mult=2).blocks[0]
    assert kinds(b) == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
    assert b(torch.randn(2, 8, 8, 8)).shape == (2, 16, 4, 4)


def test_drop_block_only_on_identity_align_blocks():
    cnn = CNN(blocks="(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r")
    assert Change.drop_block(cnn, 0.1) == 5
    residuals = [m for m in cnn.modules() if isinstance(m, Residual)]
    assert [m.p for m in residuals] == [0.1, 0.1, 0.0, 0.1, 0.0, 0.1, 0.0, 0.1]
    assert Change.drop_block(cnn, [0.1, 0.2]) == 5
    assert [m.p for m in residuals if m.identity_align] == [0.1, 0.2, 0.2, 0.2, 0.2]
    assert repr(residuals[1]).startswith("Residual(\n  p=0.2")


def test_drop_block_statistics():
    torch.manual_seed(0)
    block = r("r", input=4)
    x = torch.randn(2000, 4, 3, 3)
    full = block(x) - x  # training mode, p = 0: the whole branch
    block.p = 0.3
    delta = block(x) - x
    dropped = delta.flatten(1).abs().amax(1) < 1e-6
    assert abs(dropped.float().mean().item() - 0.3) < 0.05  # each sample dropped with probability p
    kept = ~dropped
    assert torch.allclose(delta[kept], full[kept] / 0.7, atol=1e-5)  # kept ones scaled by 1/(1-p)
    block.eval()
    assert torch.allclose(block(x), x + block.block(x))  # identity drop-path in eval


def test_drop_block_keeps_after_layers():
    block = r("r", input=4, fun_after="relu")
    block.p = 0.99
    x = torch.randn(64, 4, 3, 3)
    assert (block(x) >= 0).all()


@pytest.mark.parametrize("p", [1.0, -0.1, [0.1, 1.5], "x", []])
def test_change_checks_probabilities(p):
    cnn = CNN(blocks="r d")
    import zoo

    with pytest.raises(zoo.OptionError, match="p"):
        Change.dropout(cnn, p)
    with pytest.raises(zoo.OptionError, match="p"):
        Change.drop_block(cnn, p)


def test_change_dropout_list_repeats_its_last_value():
    cnn = CNN(blocks="d r d1 d r", drop_inside=1)
    layers = [m for m in cnn.modules() if isinstance(m, (nn.Dropout, nn.Dropout2d))]
    assert Change.dropout(cnn, [0.1, 0.2, 0.3]) == len(layers) == 7
    assert [m.p for m in layers] == [0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3]
    assert Change.dropout(cnn, 0.5) == 7 and {m.p for m in layers} == {0.5}


def test_layer_norm_channels_in_residual():
    block = r(norm_inside=2)
    assert isinstance(block.block[1], LayerNormChannels)
