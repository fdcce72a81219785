"""timm <-> zoo: weights through the explicit key map, presets as timm models."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import zoo
import zoo.plugin
from zoo.testing import register_plugin
from zoo.timm_bridge import timm_key_map

timm = pytest.importorskip("timm")  # a dependency of zoo: always there


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine values, so a wrongly mapped norm shows."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.num_batches_tracked.fill_(7)
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.2, generator=g)
    return model


def same_outputs(theirs: nn.Module, ours: nn.Module, x: torch.Tensor) -> float:
    theirs.eval(), ours.eval()
    with torch.no_grad():
        a, b = theirs(x), ours(x)
    assert a.shape == b.shape
    return (a - b).abs().max().item()


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_timm_resnet_weights_give_the_same_outputs(name):
    torch.manual_seed(0)
    theirs = randomize_norms(timm.create_model(name, pretrained=False))
    ours = zoo.create(name)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert zoo.load_timm_weights(ours, theirs.state_dict()) is ours
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    assert same_outputs(theirs, ours, x) < 1e-4
    # every tensor arrived, buffers included
    state, mapping = ours.state_dict(), timm_key_map(ours, theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert torch.equal(state[mapping[key]], value), key


def test_torchvision_resnet18_weights():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    theirs = randomize_norms(torchvision.models.resnet18(weights=None), seed=3)
    ours = zoo.load_timm_weights(zoo.create("resnet18"), theirs)  # a module works too
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    assert same_outputs(theirs, ours, x) < 1e-4


def test_the_key_map_is_explicit():
    theirs = timm.create_model("resnet18", pretrained=False).state_dict()
    mapping = timm_key_map(zoo.create("resnet18"), theirs)
    assert len(mapping) == len(theirs) == 122
    assert mapping["conv1.weight"] == "cnn.blocks.0.0.0.weight"
    assert mapping["bn1.running_mean"] == "cnn.blocks.0.0.1.running_mean"
    assert mapping["layer1.0.conv1.weight"] == "cnn.blocks.1.block.0.weight"
    assert mapping["layer1.1.bn2.num_batches_tracked"] == "cnn.blocks.2.block.4.num_batches_tracked"
    assert mapping["layer2.0.downsample.0.weight"] == "cnn.blocks.3.align.0.weight"
    assert mapping["layer2.0.downsample.1.running_var"] == "cnn.blocks.3.align.1.running_var"
    assert mapping["layer4.1.conv2.weight"] == "cnn.blocks.8.block.3.weight"
    assert mapping["fc.bias"] == "head.fc.bias"


# -- a bottleneck block (conv1..conv3) maps with no change --------------------------------


def build_bottleneck(ctx, channels, stride):
    from zoo import Residual

    width, out = channels, 4 * channels
    block = nn.Sequential(
        nn.Conv2d(ctx.channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out),
    )
    align = None
    if ctx.channels != out or stride != 1:
        align = nn.Sequential(nn.Conv2d(ctx.channels, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    return Residual(block, align, channels=out, after=nn.ReLU()), out


class Bottleneck:
    @zoo.plugin.hookimpl
    def zoo_tokens(self):
        return [zoo.plugin.Token("bneck", [("channels", int, 64), ("stride", int, 1)], build=build_bottleneck)]


def test_a_plugin_bottleneck_maps_timm_resnet26(tmp_path):
    (tmp_path / "bneck26.yaml").write_text(textwrap.dedent("""
        name: bneck26
        description: timm's resnet26 from a bottleneck token
        input: [3, 224, 224]
        blocks: "(cnf64_7_2 m3_2_1) bneck64 bneck64 bneck128_2 bneck128 bneck256_2 bneck256 bneck512_2 bneck512"
        head: {num_classes: 1000}
    """))
    torch.manual_seed(0)
    theirs = randomize_norms(timm.create_model("resnet26", pretrained=False), seed=5)
    with register_plugin(Bottleneck(), name="test-bottleneck"):
        ours = zoo.load_timm_weights(zoo.create(tmp_path / "bneck26.yaml"), theirs.state_dict())
    mapping = timm_key_map(ours, theirs.state_dict())
    assert mapping["layer1.0.conv3.weight"] == "cnn.blocks.1.block.6.weight"
    assert mapping["layer1.0.bn3.running_var"] == "cnn.blocks.1.block.7.running_var"
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    assert same_outputs(theirs, ours, x) < 1e-4


# -- mismatches: the first one is named, nothing is copied ------------------------------


@pytest.fixture(scope="module")
def resnet18_state():
    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False).state_dict()


def unchanged(model: nn.Module):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    return lambda: all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_wrong_depth(resnet18_state):
    theirs = timm.create_model("resnet34", pretrained=False).state_dict()
    model = zoo.create("resnet18")
    same = unchanged(model)
    with pytest.raises(zoo.WeightsError, match=r"the state dict has 16 residual blocks \(layerN.M\), the zoo model 8"):
        zoo.load_timm_weights(model, theirs)
    assert same()


def test_wrong_shape_names_both_keys(resnet18_state):
    model = zoo.create("resnet18_cifar")
    same = unchanged(model)
    with pytest.raises(zoo.WeightsError) as info:
        zoo.load_timm_weights(model, resnet18_state)
    assert str(info.value).startswith(
        "shape mismatch: the state dict's 'conv1.weight' is 64x3x7x7, the zoo model's "
        "'cnn.blocks.0.0.0.weight' is 64x3x3x3"
    )
    assert same()


def test_missing_and_extra_keys(resnet18_state):
    model = zoo.create("resnet18")
    missing = dict(resnet18_state)
    del missing["layer3.1.bn2.running_var"]
    with pytest.raises(zoo.WeightsError) as info:
        zoo.load_timm_weights(model, missing)
    assert str(info.value) == (
        "the zoo model's key 'cnn.blocks.6.block.4.running_var' gets no weight: the state dict has no "
        "'layer3.1.bn2.running_var' (121 keys in the state dict, 122 in the zoo model)"
    )
    extra = {**resnet18_state, "layer1.0.se.fc1.weight": torch.zeros(4, 64, 1, 1)}
    with pytest.raises(zoo.WeightsError, match=r"'layer1.0.se.fc1.weight': a block layer 'se.fc1'"):
        zoo.load_timm_weights(model, extra)
    foreign = {**resnet18_state, "head.weight": torch.zeros(3)}
    with pytest.raises(zoo.WeightsError, match="'head.weight', which is not part of a plain timm/torchvision ResNet"):
        zoo.load_timm_weights(model, foreign)
    with pytest.raises(zoo.WeightsError, match="the zoo model's key 'cnn.blocks.0.0.0.bias' gets no weight"):
        zoo.load_timm_weights(zoo.create("resnet18", bias=True), resnet18_state)


def test_wrong_targets(resnet18_state):
    with pytest.raises(zoo.WeightsError, match="needs a zoo model"):
        zoo.load_timm_weights(nn.Linear(2, 2), resnet18_state)
    with pytest.raises(zoo.WeightsError, match="needs a state dict"):
        zoo.load_timm_weights(zoo.create("resnet18"), [1, 2])
    cnn = zoo.CNN(blocks=zoo.presets.get_preset("resnet18").blocks, fun_after="relu")
    with pytest.raises(zoo.WeightsError, match="has a classifier \\(fc\\), the zoo model has no Linear head"):
        zoo.load_timm_weights(cnn, resnet18_state)
    features = {k: v for k, v in resnet18_state.items() if not k.startswith("fc.")}
    assert zoo.load_timm_weights(cnn, features) is cnn
    assert torch.equal(cnn.blocks[0][0][0].weight, resnet18_state["conv1.weight"])


# -- presets as timm models --------------------------------------------------------------


def test_register_timm_lists_every_preset():
    names = zoo.register_timm()
    assert names == [f"zoo_{n}" for n in zoo.list_models()]
    assert sorted(timm.list_models("zoo_*")) == sorted(names)
    assert zoo.register_timm() == names  # again: nothing changes, no warnings
    cfg = timm.models.get_pretrained_cfg("zoo_resnet18")
    assert (cfg.first_conv, cfg.classifier, cfg.num_classes, cfg.input_size) == (
        "cnn.blocks.0.0.0", "head.fc", 1000, (3, 224, 224)
    )


def test_timm_create_model_follows_the_contract():
    zoo.register_timm()
    model = timm.create_model("zoo_resnet18_cifar", num_classes=7, in_chans=1)
    assert isinstance(model, zoo.Classifier)
    x = torch.randn(2, 1, 32, 32)
    model.eval()
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
    assert logits.shape == (2, 7)
    assert (model.num_classes, model.num_features, model.head_hidden_size) == (7, 512, 512)
    assert features.shape == (2, 512, 2, 2)
    assert torch.allclose(model.forward_head(features), logits)
    assert model.forward_head(features, pre_logits=True).shape == (2, 512)
    modules = dict(model.named_modules())
    first = modules[model.default_cfg["first_conv"]]
    assert isinstance(first, nn.Conv2d) and first.in_channels == 1
    assert modules[model.pretrained_cfg["classifier"]] is model.get_classifier()
    assert model.pretrained_cfg["input_size"] == (1, 32, 32)
    assert timm.data.resolve_model_data_config(model)["input_size"] == (1, 32, 32)
    model.reset_classifier(3)
    assert model.forward_head(features).shape == (2, 3) and model.num_classes == 3
    assert model.pretrained_cfg["num_classes"] == 3
    model.reset_classifier(0)
    assert model.forward_head(features).shape == (2, 512)
    model.reset_classifier(4, global_pool="max")
    assert isinstance(model.cnn.blocks[len(model.cnn.block_names)], nn.AdaptiveMaxPool2d)
    assert model.cnn.cfg.pool == 2
    assert torch.equal(model.forward_head(features, pre_logits=True), features.amax(dim=(2, 3)))
    model.reset_classifier(4, global_pool="catavgmax")  # timm's SelectAdaptivePool2d: twice the width
    assert model.head_hidden_size == 1024 and model.forward_head(features).shape == (2, 4)
    assert torch.equal(model.forward_head(features, pre_logits=True),
                       torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], 1))
    model.reset_classifier(0, global_pool="")  # no pool, no flatten: the feature map
    assert torch.equal(model.forward_head(features), features)
    with pytest.raises(zoo.OptionError, match="global_pool='token'"):
        model.reset_classifier(4, global_pool="token")


def test_timm_kwargs():
    zoo.register_timm()
    model = timm.create_model("zoo_r32m", drop_rate=0.2, drop_path_rate=0.1, fun="gelu")
    assert [m.p for m in model.head.hidden] == [0.2]
    assert [r.p for r in model.cnn.modules() if isinstance(r, zoo.Residual) and r.identity_align] == [0.1] * 3
    assert model.cnn.cfg.fun == "gelu"
    with pytest.raises(zoo.PresetError, match="zoo_r32m: no pretrained weights"):
        timm.create_model("zoo_r32m", pretrained=True)
    with pytest.raises(zoo.UnknownOptionError, match="zoo_r32m: unknown option 'feature_only'") as info:
        timm.create_model("zoo_r32m", feature_only=True)
    assert isinstance(info.value, TypeError)  # timm's contract for an unknown keyword


def test_import_zoo_does_not_import_timm_or_torch():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import zoo"],
                         capture_output=True, text=True, check=True).stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in out.splitlines() if line.startswith("import time:")}
    assert "zoo" in modules
    for heavy in ("timm", "torch", "torchvision", "matplotlib"):
        assert heavy not in modules and not any(m.startswith(heavy + ".") for m in modules), heavy


# -- timm's conventions where zoo meets timm -------------------------------------------------


def test_a_gray_zoo_model_goes_through_timms_data_helpers():
    from PIL import Image

    zoo.register_timm()
    model = timm.create_model("zoo_resnet18_cifar", in_chans=1)
    cfg = timm.data.resolve_data_config({}, model=model)
    assert (cfg["input_size"], cfg["mean"], cfg["std"]) == ((1, 32, 32), (0.449,), (0.226,))
    transform = timm.data.create_transform(**cfg)
    image = transform(Image.new("L", (40, 40), color=128))
    assert image.shape == (1, 32, 32)
    assert model(image[None]).shape == (1, 10)
    colour = timm.data.resolve_data_config({}, model=timm.create_model("zoo_resnet18_cifar"))
    assert colour["mean"] == zoo.classifier.IMAGENET_MEAN and colour["std"] == zoo.classifier.IMAGENET_STD


def test_features_only_gives_timms_stages():
    zoo.register_timm()
    ours = timm.create_model("zoo_resnet18", features_only=True)
    theirs = timm.create_model("resnet18", features_only=True, out_indices=(1, 2, 3, 4))
    assert ours.feature_info.channels() == theirs.feature_info.channels() == [64, 128, 256, 512]
    assert ours.feature_info.reduction() == theirs.feature_info.reduction() == [4, 8, 16, 32]
    x = torch.randn(1, 3, 64, 64)
    assert [tuple(f.shape) for f in ours(x)] == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]
    last_two = timm.create_model("zoo_resnet18_cifar", features_only=True, out_indices=(2, 3))
    assert last_two.feature_info.channels() == [256, 512] and len(last_two(torch.randn(1, 3, 32, 32))) == 2
    with pytest.raises(zoo.PresetError, match=r"out_indices=\(7,\): this model has 4 stages \(reductions 4, 8, 16, 32\)"):
        timm.create_model("zoo_resnet18", features_only=True, out_indices=(7,))


def test_grad_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = zoo.create("resnet18_cifar")
    x = torch.randn(2, 3, 32, 32)
    model(x).sum().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing()
    assert model.grad_checkpointing
    torch.manual_seed(0)  # the same dropout masks (p=0 here, but the state stays the same)
    model(x).sum().backward()
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(plain, model.parameters()))


def test_timm_words_in_zoo_create_name_zoos_option():
    with pytest.raises(zoo.UnknownOptionError, match=r"unknown option 'in_chans': timm's in_chans is input \(input=1"):
        zoo.create("resnet18_cifar", in_chans=1)
    with pytest.raises(zoo.UnknownOptionError, match=r"timm's drop_rate is the head's dropout"):
        zoo.create("resnet18_cifar", drop_rate=0.2)


def test_imagenet_weights_into_a_ten_class_model_skip_the_head_with_a_warning(resnet18_state):
    model = zoo.create("resnet18", num_classes=10)
    fc = model.head.fc.weight.detach().clone()
    with pytest.warns(zoo.ZooWarning, match=r"the state dict's classifier is for 1000 classes, the model's for 10: "
                      r"head.fc keeps its fresh initialisation"):
        zoo.load_timm_weights(model, resnet18_state)
    assert torch.equal(model.head.fc.weight, fc)
    assert torch.equal(model.cnn.blocks[0][0][0].weight, resnet18_state["conv1.weight"])


# -- the rest of timm's contract, quickly (timm's own tests: tests/test_timm_models.py) ------


def test_feature_info_and_forward_intermediates_follow_timms_resnet():
    ours = zoo.create("resnet18").eval()
    # timm's resnet18: the same stages after its stem's (act1, reduction 2)
    assert [(f["num_chs"], f["reduction"], f["module"]) for f in ours.feature_info] == [
        (64, 4, "cnn.blocks.2"), (128, 8, "cnn.blocks.4"), (256, 16, "cnn.blocks.6"), (512, 32, "cnn.blocks.8")]
    assert ours.pretrained_cfg["pool_size"] == (7, 7)
    assert ours.in_chans == 3
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final, taps = ours.forward_intermediates(x)
        assert torch.equal(final, ours.forward_features(x))
        assert [t.shape[1] for t in taps] == [64, 128, 256, 512]
        assert [t.shape[-1] for t in ours.forward_intermediates(x, indices=2, intermediates_only=True)] == [4, 2]
        kept = ours.prune_intermediate_layers([1])
        assert kept == [1] and ours.num_features == ours.head_hidden_size == 128
        assert torch.equal(ours(x), taps[1])  # the head went with the later blocks
    with pytest.raises(zoo.OptionError, match=r"indices=\[9\]: this model has 4 feature stages"):
        ours.forward_intermediates(x, indices=[9])


@pytest.mark.slow
def test_torchscript_and_fx_give_the_models_outputs():
    from torch.fx import symbolic_trace

    zoo.register_timm()
    model = zoo.create("resnet18_cifar").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(torch.jit.script(model)(x), expected)
        assert torch.equal(torch.jit.script(symbolic_trace(model))(x), expected)
        features = timm.create_model("zoo_resnet18_cifar", features_only=True).eval()
        assert [f.shape[1] for f in torch.jit.script(features)(x)] == [64, 128, 256, 512]
