"""One resolver decides what a MODEL argument names: zoo.target.resolve_model."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.checkpoint import FORMAT as CHECKPOINT_FORMAT
from zoo.target import ModelSpec, load_checkpoint, resolve_model

FACTORY = '''
from torch import nn

def tiny(width=4, num_classes=3):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
'''


def test_one_decision_for_each_kind_of_target(tmp_path):
    (tmp_path / "nets.py").write_text(FACTORY)
    preset_file = tmp_path / "mine.yaml"
    preset_file.write_text(
        "name: mine\ndescription: a small one\ninput: [1, 28, 28]\nblocks: cnf8 m\nhead: {num_classes: 10}\n"
    )
    table = [
        ("r32m", "preset", "r32m", (3, 32, 32)),
        ("resnet18_cifar", "preset", "resnet18_cifar", (3, 32, 32)),
        (str(preset_file), "file", "mine", (1, 28, 28)),
        ("cnf32 m r64", "blocks", "cnf32 m r64", None),
        ("c8", "blocks", "c8", None),  # one word that is no preset but a block string
        ("(cnf8)", "blocks", "(cnf8)", None),
        (f"{tmp_path / 'nets.py'}:tiny", "factory", "tiny", None),
        ("torch.nn:Identity", "factory", "Identity", None),
    ]
    for target, kind, name, size in table:
        spec = resolve_model(target)
        assert (spec.kind, spec.name, spec.input_size) == (kind, name, size), target


def test_library_targets_and_their_nearest_names():
    spec = resolve_model("timm:resnet18")
    assert (spec.kind, spec.name) == ("timm", "resnet18")
    assert resolve_model("torchvision:resnet18").kind == "torchvision"
    with pytest.raises(zoo.UnknownModelError, match=r"timm has no model 'resnt18'; did you mean 'resnet18'"):
        resolve_model("timm:resnt18")
    with pytest.raises(zoo.UnknownModelError, match=r"torchvision has no model 'resnet19'; did you mean"):
        resolve_model("torchvision:resnet19")
    model = resolve_model("timm:resnet18").with_data(num_classes=7, channels=1).build()
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)


def test_options_are_checked_for_the_kind_and_are_option_errors():
    with pytest.raises(zoo.UnknownOptionError, match="unknown option 'nrom'"):
        resolve_model("r32m", nrom=1)
    with pytest.raises(zoo.UnknownOptionError, match="head is an override of a preset"):
        resolve_model("cnf8", head={"hidden": [8]})
    with pytest.raises(zoo.OptionError, match=r"head.num_classes=-1: must be at least 0"):
        resolve_model("r32m", num_classes=-1)
    with pytest.raises(zoo.PresetError):  # also a preset's error, as zoo.create raises it
        resolve_model("r32m", num_classes=-1)
    with pytest.raises(zoo.UnknownPresetError, match="unknown preset 'resnet18_cfar'; did you mean 'resnet18_cifar'"):
        resolve_model("resnet18_cfar")
    with pytest.raises(zoo.UnknownModelError, match="no module 'no_such_package'"):
        resolve_model("no_such_package.nets:build")
    with pytest.raises(zoo.UnknownModelError, match="torch.nn has no function 'Identiti'; did you mean 'Identity'"):
        resolve_model("torch.nn:Identiti")
    with pytest.raises(zoo.UnknownModelError, match="a model is named by a preset name"):
        resolve_model("  ")


def test_with_data_sets_classes_and_channels_for_every_zoo_kind(tmp_path):
    (tmp_path / "nets.py").write_text(FACTORY)
    for target in ("r32m", "cnf8 m r16", f"{tmp_path / 'nets.py'}:tiny"):
        spec = resolve_model(target).with_data(num_classes=5, channels=1 if "nets" not in target else 3)
        model = spec.build()
        channels = spec.default_channels or 3
        assert model(torch.zeros(2, channels, 16, 16)).shape == (2, 5), target
    assert resolve_model("r32m").with_data(channels=1).input_size == (1, 32, 32)
    with pytest.raises(zoo.OptionError, match="num_classes=0: must be a whole number >= 1"):
        resolve_model("r32m").with_data(num_classes=0)


def test_a_checkpoint_rebuilds_its_model_from_the_stored_spec(tmp_path):
    spec = resolve_model("r32m", fun="gelu").with_data(num_classes=4, channels=1)
    model = spec.build()
    path = tmp_path / "best.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "spec": spec.to_dict(), "model": model.state_dict()}, path)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    again = resolve_model(str(path))
    assert (again.kind, again.name) == ("checkpoint", tmp_path.name)  # named after its run folder
    rebuilt = again.build()
    x = torch.randn(2, 1, 32, 32)
    model.eval(), rebuilt.eval()
    assert torch.equal(model(x), rebuilt(x)) and rebuilt.cnn.cfg.fun == "gelu"
    assert torch.equal(model(x), zoo.create(str(path)).eval()(x))  # zoo.create takes every kind of target
    assert type(zoo.create("cnf8 m r16")).__name__ == "CNN"
    with pytest.raises(zoo.OptionError, match="a checkpoint's weights fix its model"):
        resolve_model(str(path), fun="relu")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(zoo.WeightsError, match="not a zoo checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    assert isinstance(zoo.inspect(str(path)).params, int)
