"""CNN: the document's examples, parameter counts, and what each option builds (spec §2-§5)."""

import pytest
import torch
from torch import nn

import zoo
from zoo import CNN, Change, Config, LayerNormChannels, Residual


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


RESNET18_CIFAR = "(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r"


@pytest.mark.parametrize(
    "blocks, options, classes, params",
    [
        (RESNET18_CIFAR, {}, 10, 11_173_962),
        ("(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2", {}, 10, 6_453_322),
        ("r32 m r r64 m r r128 m r r256 m", {}, 10, 1_607_818),
        ("r64 m r r128 m r r256 m r r512 m", {}, 10, 6_416_650),
        ("r128 m r r256 m r r512 m r r1024 m", {}, 10, 25_637_386),
        ("(cnf64_7_2 m3_2_1) 2r r128_3_2 r r256_3_2 r r512_3_2 r", {"fun_after": "relu"}, 1000, 11_689_512),
        ("(cnf64_7_2 m3_2_1) 3r r128_3_2 3r r256_3_2 5r r512_3_2 2r", {"fun_after": "relu"}, 1000, 21_797_672),
    ],
)
def test_parameter_counts_of_the_document(blocks, options, classes, params):
    with torch.device("meta"):
        cnn = CNN(blocks=blocks, **options)
        model = nn.Sequential(cnn, nn.Linear(cnn.out_channels, classes))
    assert n_params(model) == params


def test_document_resnet18_builds_and_gives_its_shapes():
    cnn = CNN(input=3, blocks="(c64_7_2 n f  m3_2) 2r r128_3_2 r r256_3_2 r r512_3_2 r")
    assert cnn.block_names == ["(c64_7_2 n f m3_2)", "r", "r", "r128_3_2", "r", "r256_3_2", "r", "r512_3_2", "r"]
    x = torch.randn(2, 3, 64, 64)
    assert cnn(x).shape == (2, 512)
    r128 = cnn.blocks[3]  # (B,64,H,W) -> (B,128,H/2,W/2), with Conv2d(64,128,1) on the skip
    assert r128(torch.randn(2, 64, 8, 8)).shape == (2, 128, 4, 4)
    assert isinstance(r128.align[0], nn.Conv2d) and r128.align[0].kernel_size == (1, 1)
    assert (r128.align[0].in_channels, r128.align[0].out_channels) == (64, 128)
    model = nn.Sequential(
        CNN(input=3, pool=1, flat=True, blocks="(cnf64_7_2  m3_2) 2r r128_3_2 r r256_3_2 r r512_3_2 r"),
        nn.Linear(512, 10),
    )
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize(
    "token, kernel, stride, padding",
    [("c64", 3, 1, 1), ("c64_5", 5, 1, 2), ("c64_7_2", 7, 2, 3), ("c64_3_2", 3, 2, 1), ("c64_3_1_0", 3, 1, 0)],
)
def test_conv_token(token, kernel, stride, padding):
    conv = CNN(input=3, blocks=token).blocks[0]
    assert isinstance(conv, nn.Conv2d)
    assert (conv.in_channels, conv.out_channels) == (3, 64)
    assert (conv.kernel_size, conv.stride, conv.padding) == ((kernel,) * 2, (stride,) * 2, (padding,) * 2)
    assert conv.bias is None


def test_mnist_example_of_the_document():
    cfg = Config(input=1, fun="gelu", blocks="cnf32 m d cnf64 m d")
    m = CNN(cfg)
    assert Change.dropout(m, [0.1, 0.2]) == 2
    kinds = [type(b).__name__ for b in m.blocks]
    assert kinds == ["Sequential", "MaxPool2d", "Dropout2d", "Sequential", "MaxPool2d", "Dropout2d",
                     "AdaptiveAvgPool2d", "Flatten"]
    assert [type(x).__name__ for x in m.blocks[0]] == ["Conv2d", "BatchNorm2d", "GELU"]
    assert (m.blocks[2].p, m.blocks[5].p) == (0.1, 0.2)
    shapes = []
    x = torch.randn(1, 1, 28, 28)
    for block in m.blocks:
        x = block(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(1, 32, 28, 28), (1, 32, 14, 14), (1, 32, 14, 14), (1, 64, 14, 14), (1, 64, 7, 7),
                      (1, 64, 7, 7), (1, 64, 1, 1), (1, 64)]
    assert [n_params(b) for b in m.blocks[:4]] == [288 + 64, 0, 0, 18_432 + 128]


def test_norm_tokens_follow_option_or_their_value():
    cnn = CNN(input=4, blocks="c32 n c32 n2 n3 n0")
    assert isinstance(cnn.blocks[1], nn.BatchNorm2d)
    assert isinstance(cnn.blocks[3], LayerNormChannels)
    assert isinstance(cnn.blocks[4], nn.InstanceNorm2d) and cnn.blocks[4].affine
    assert cnn.block_names == ["c32", "n", "c32", "n2", "n3"]  # n0 adds nothing: no entry
    assert isinstance(CNN(blocks="n", norm=2).blocks[0], LayerNormChannels)
    assert isinstance(CNN(blocks="n", norm=3).blocks[0], nn.InstanceNorm2d)


def test_activation_tokens_and_f():
    cnn = CNN(blocks="r n f r n gelu")
    assert isinstance(cnn.blocks[2], nn.ReLU) and isinstance(cnn.blocks[5], nn.GELU)
    assert isinstance(CNN(blocks="f", fun="swish").blocks[0], nn.SiLU)
    assert [type(b).__name__ for b in CNN(blocks="f", fun="").blocks] == ["AdaptiveAvgPool2d", "Flatten"]
    assert [type(m).__name__ for m in CNN(blocks="cnf8", fun="").blocks[0]] == ["Conv2d", "BatchNorm2d"]
    assert [type(m).__name__ for m in CNN(blocks="cnf8", norm=0).blocks[0]] == ["Conv2d", "ReLU"]


def test_layer_norm_channels_normalises_each_pixel_over_channels():
    norm = LayerNormChannels(6)
    assert n_params(norm) == 12 and norm.weight.shape == (1, 6, 1, 1)
    y = norm(torch.randn(3, 6, 5, 5) * 4 + 2)
    assert torch.allclose(y.mean(1), torch.zeros(3, 5, 5), atol=1e-5)
    assert torch.allclose(y.std(1, unbiased=False), torch.ones(3, 5, 5), atol=1e-3)


# every built-in token builds and runs: (blocks, output shape from (2, 4, 8, 8))
TOKEN_CASES = [
    ("c", (2, 4, 8, 8)), ("c8_3_2", (2, 8, 4, 4)), ("cnf8_5", (2, 8, 8, 8)), ("n", (2, 4, 8, 8)),
    ("n2", (2, 4, 8, 8)), ("n3", (2, 4, 8, 8)), ("n0", (2, 4, 8, 8)), ("f", (2, 4, 8, 8)),
    ("relu", (2, 4, 8, 8)), ("gelu", (2, 4, 8, 8)), ("relu6", (2, 4, 8, 8)), ("sigmoid", (2, 4, 8, 8)),
    ("tanh", (2, 4, 8, 8)), ("swish", (2, 4, 8, 8)), ("hswish", (2, 4, 8, 8)), ("hsigmoid", (2, 4, 8, 8)),
    ("m", (2, 4, 4, 4)), ("m3_2_1", (2, 4, 4, 4)), ("a", (2, 4, 4, 4)), ("a4_4", (2, 4, 2, 2)),
    ("d", (2, 4, 8, 8)), ("d1", (2, 4, 8, 8)), ("r", (2, 4, 8, 8)), ("r8_3_2", (2, 8, 4, 4)),
    ("r8_5", (2, 8, 8, 8)), ("b", (2, 4, 8, 8)), ("b8_3_2", (2, 8, 4, 4)),
]


@pytest.mark.parametrize("blocks, shape", TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_every_token_builds_and_runs(blocks, shape):
    cnn = CNN(input=4, blocks=blocks, pool=0, flat=False)
    assert cnn(torch.randn(2, 4, 8, 8)).shape == shape
    assert cnn.out_channels == shape[1]


def test_drop_option_sets_the_kind_of_d():
    assert type(CNN(blocks="d").blocks[0]) is nn.Dropout2d  # drop=2 by default
    assert type(CNN(blocks="d", drop=1).blocks[0]) is nn.Dropout
    assert CNN(blocks="d", drop=0).block_names == []  # no dropout: no entry
    assert type(CNN(blocks="d1", drop=2).blocks[0]) is nn.Dropout  # its own value wins


def test_activation_tokens_are_modules():
    names = {"relu": "ReLU", "gelu": "GELU", "relu6": "ReLU6", "sigmoid": "Sigmoid", "tanh": "Tanh",
             "swish": "SiLU", "hswish": "Hardswish", "hsigmoid": "Hardsigmoid"}
    for token, cls in names.items():
        assert type(CNN(blocks=token).blocks[0]).__name__ == cls
        assert type(CNN(blocks="f", fun=token).blocks[0]).__name__ == cls


def test_groups_are_sequential_and_copies_are_separate():
    cnn = CNN(input=3, blocks="3(cnf8 2(r m)) 2r")
    assert len(cnn.blocks) == 5 + 2  # 3 group copies, 2 r copies, pool, flatten
    group = cnn.blocks[0]
    assert isinstance(group, nn.Sequential) and len(group) == 3
    assert isinstance(group[1], nn.Sequential) and [type(m) for m in group[1]] == [Residual, nn.MaxPool2d]
    weights = {id(cnn.blocks[i][0][0].weight) for i in range(3)} | {id(cnn.blocks[3].block[0].weight),
                                                                     id(cnn.blocks[4].block[0].weight)}
    assert len(weights) == 5  # copies never share weights
    assert cnn.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 8)


def test_channels_flow_from_copy_to_copy():
    cnn = CNN(input=3, blocks="2r128_3_2", pool=0, flat=False)
    assert cnn(torch.randn(1, 3, 16, 16)).shape == (1, 128, 4, 4)
    assert cnn.blocks[0].align[0].in_channels == 3 and cnn.blocks[1].align[0].in_channels == 128


def test_pool_and_flat():
    assert [type(b).__name__ for b in CNN(blocks="c8").blocks] == ["Conv2d", "AdaptiveAvgPool2d", "Flatten"]
    assert [type(b).__name__ for b in CNN(blocks="c8", pool=2).blocks] == ["Conv2d", "AdaptiveMaxPool2d", "Flatten"]
    assert CNN(blocks="c8", pool=0, flat=False)(torch.randn(1, 3, 5, 5)).shape == (1, 8, 5, 5)
    assert CNN(blocks="c8", flat=False)(torch.randn(1, 3, 5, 5)).shape == (1, 8, 1, 1)


def test_cnn_accepts_config_options_and_overrides():
    cfg = Config(input=1, blocks="cnf8 r")
    a, b, c = CNN(cfg), CNN(input=1, blocks="cnf8 r"), CNN(cfg, fun="gelu")
    assert a.cfg == b.cfg == cfg
    assert c.cfg.fun == "gelu" and cfg.fun == "relu"
    assert isinstance(c.blocks[0][2], nn.GELU)
    assert CNN(dict(cfg), norm=2).cfg.norm == 2
    assert cfg.replace(norm=3).norm == 3 and cfg["input"] == 1
    assert repr(cfg) == "Config(input=1, blocks='cnf8 r')"


def test_builds_on_the_meta_device():
    with torch.device("meta"):
        cnn = CNN(blocks=RESNET18_CIFAR, mult=2)
        out = cnn(torch.empty(2, 3, 32, 32))
    assert out.shape == (2, 512) and out.device.type == "meta"
    assert all(p.device.type == "meta" for p in cnn.parameters())


def test_models_deepcopy_and_pickle(tmp_path):
    import copy

    cnn = CNN(blocks="cnf8 r16_3_2", mult=1, fun="gelu")
    twin = copy.deepcopy(cnn)
    assert twin.cfg == cnn.cfg and twin.block_names == cnn.block_names
    torch.save(cnn, tmp_path / "cnn.pt")
    loaded = torch.load(tmp_path / "cnn.pt", weights_only=False)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(loaded.eval()(x), cnn.eval()(x))
    assert loaded.cfg.fun == "gelu"


def test_config_repr_shows_only_changed_options():
    assert repr(Config(norm=2, blocks="r")) == "Config(blocks='r', norm=2)"
    assert Config().changed() == {}


def test_a_plugin_option_at_its_default_is_not_a_change():
    # se_gate is an option of the installed example plugin zoo-extra (default "sigmoid")
    assert Config(se_gate="sigmoid").changed() == {}
    assert Config(se_gate="hsigmoid").changed() == {"se_gate": "hsigmoid"}


def test_the_documents_own_words_and_merged_configs():
    """The document writes res=2, scale=1. for the trainable scale: zoo says what to write."""
    for call in (lambda: CNN(blocks="r", res=2, scale=1.0), lambda: zoo.create("r32m", res=2)):
        with pytest.raises(zoo.UnknownOptionError, match=r"unknown option 'res': the document's res is zoo's mult "
                           r"\(res=2 -> mult=2, a trainable scale per channel"):
            call()
    cnn = CNN(zoo.Config(fun="gelu", blocks="c8 r"), {"norm": 2, "fun": "relu6"}, input=1)
    assert (cnn.cfg.fun, cnn.cfg.norm, cnn.cfg.input, cnn.cfg.blocks) == ("relu6", 2, 1, "c8 r")
    with pytest.raises(zoo.OptionError, match=r"Config\(\.\.\.\) takes Configs or dicts of options, not list"):
        CNN(zoo.Config(blocks="c8"), ["norm"])


def test_change_linear_and_init_reinitialise_convolutions_and_linears():
    import math

    torch.manual_seed(0)
    model = torch.nn.Sequential(CNN(blocks="c64 r64", bias=True), torch.nn.Linear(64, 512))
    norms = [p.detach().clone() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()]
    assert Change.linear(model) == 4  # c64, the block's two convolutions, the Linear (identity skip)
    linear = model[1]
    assert linear.weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.05)
    conv = model[0].blocks[0]
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (3 * 9)), rel=0.1)
    assert torch.count_nonzero(linear.bias) == 0 and torch.count_nonzero(conv.bias) == 0
    after = [p for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(norms, after))  # norms untouched
    Change.init(model, "xavier_uniform")
    assert linear.weight.abs().max().item() <= math.sqrt(6 / (64 + 512)) + 1e-6
    Change.init(model, "trunc_normal")
    assert linear.weight.abs().max().item() <= 0.04 + 1e-6 and linear.weight.std().item() == pytest.approx(0.0176, rel=0.1)
    with pytest.raises(zoo.OptionError, match="Change.init: unknown kind 'kaiming'; did you mean 'kaiming_normal', 'kaiming_uniform'"):
        Change.init(model, "kaiming")


@pytest.mark.parametrize("blocks", [
    "cnf32 c32_3_1_1_32 c64_1",          # MobileNet's depthwise-separable pair
    "c32 c_3_2__4",                       # 4 groups, stride 2
    "c16 c32_3_1__2_2 cnf_5_1__1_3",      # dilation 2 and 3, padding that keeps the size
    "c24 c48_3_1_0_3_2",                  # explicit padding 0 with dilation
])
def test_grouped_and_dilated_convolutions_and_their_macs(blocks):
    from torch.utils.flop_counter import FlopCounterMode

    cnn = CNN(blocks=blocks, pool=0, flat=False).eval()
    x = torch.randn(1, 3, 16, 16)
    with FlopCounterMode(display=False) as counter:
        out = cnn(x)
    report = zoo.inspect(cnn, input_size=(3, 16, 16))
    assert report.macs == counter.get_total_flops() // 2
    assert report.output == tuple(out.shape)
    convs = [m for m in cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert report.params == sum(c.weight.numel() for c in convs) + sum(
        p.numel() for m in cnn.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters())


def test_depthwise_convolution_values_and_mistakes():
    conv = CNN(blocks="c32 c_3_1_1_32_2", pool=0, flat=False).blocks[1]
    assert (conv.groups, conv.dilation, conv.padding, conv.weight.shape) == (32, (2, 2), (1, 1), (32, 1, 3, 3))
    with pytest.raises(zoo.BuildError, match=r"token 'c32_3_1_1_4': 4 groups do not divide the 30 incoming channels"):
        CNN(blocks="c30 c32_3_1_1_4")
    with pytest.raises(zoo.BuildError, match=r"3 groups do not divide the 32 outgoing channels"):
        CNN(blocks="c30 c32_3_1_1_3")


def test_any_activation_an_nn_module_class_or_a_function_returning_one():
    from torch import nn

    cnn = CNN(blocks="cnf8 f r", fun=nn.Mish, fun_inside=lambda: nn.LeakyReLU(0.1), fun_after=nn.Mish)
    kinds = [type(m).__name__ for m in cnn.modules() if isinstance(m, (nn.Mish, nn.LeakyReLU, nn.ReLU))]
    assert kinds == ["Mish", "Mish", "LeakyReLU", "Mish"]  # cnf's, f's, the branch's, after the sum
    assert cnn(torch.randn(2, 3, 8, 8)).shape == (2, 8)
    assert zoo.inspect(cnn, input_size=(3, 8, 8)).output == (1, 8)
    with pytest.raises(zoo.OptionError, match=r"option fun=3: not an activation.*or an nn.Module such as nn.Mish or nn.Mish\(\)"):
        CNN(blocks="f", fun=3)
    with pytest.raises(zoo.OptionError, match=r"activation <function .*<lambda> at .*> made int, not an nn.Module"):
        CNN(blocks="f", fun=lambda: 3)
