"""Pretrained weights through timm's loader, safetensors files, timm's local-dir folders.

Offline: the weights are made here (timm's resnet18 with random weights and BatchNorm
statistics), saved as timm would ship them, and loaded into zoo's resnet18, whose
outputs must then equal timm's exactly. The download path is timm's own: a local
HTTP server stands in for the weights' site.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import warnings

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import zoo
from zoo.cli import main

timm = pytest.importorskip("timm")


def randomize_norms(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.2, generator=g)
    return model


@pytest.fixture(scope="module")
def resnet18_files(tmp_path_factory):
    """timm's resnet18 (eval mode) and its state dict as .safetensors, .pth and .bin."""
    torch.manual_seed(0)
    theirs = randomize_norms(timm.create_model("resnet18", pretrained=False)).eval()
    folder = tmp_path_factory.mktemp("weights")
    state = theirs.state_dict()
    save_file(state, folder / "resnet18.safetensors")
    torch.save(state, folder / "resnet18.pth")
    torch.save(state, folder / "resnet18.bin")
    return theirs, folder


def outputs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("suffix", ["safetensors", "pth", "bin"])
def test_a_local_timm_file_gives_timms_outputs_exactly(resnet18_files, suffix):
    theirs, folder = resnet18_files
    ours = zoo.create("resnet18", pretrained=folder / f"resnet18.{suffix}")
    assert torch.equal(outputs(ours, X), outputs(theirs, X))


def test_timm_create_model_loads_through_timms_builder(resnet18_files):
    theirs, folder = resnet18_files
    zoo.register_timm()
    ours = timm.create_model("zoo_resnet18", pretrained=True,
                             pretrained_cfg_overlay={"file": str(folder / "resnet18.safetensors")})
    assert torch.equal(outputs(ours, X), outputs(theirs, X))
    assert ours.pretrained_cfg["first_conv"] == "cnn.blocks.0.0.0"
    tagged = timm.create_model("zoo_resnet18.tv_in1k", pretrained=True,  # a tag, its cfg pointed at the file
                               pretrained_cfg_overlay={"file": str(folder / "resnet18.pth")})
    assert tagged.pretrained_cfg["tag"] == "tv_in1k" and torch.equal(outputs(tagged, X), outputs(theirs, X))
    zoo_file = folder / "r32m.safetensors"  # a preset without timm weights takes a file of its own
    r32m = zoo.create("r32m")
    save_file({k: v.contiguous() for k, v in r32m.state_dict().items()}, zoo_file)
    loaded = timm.create_model("zoo_r32m", pretrained=True, pretrained_cfg_overlay={"file": str(zoo_file)})
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(outputs(loaded, x), outputs(r32m, x))


def test_a_torchvision_state_dict_loads_too(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    theirs = randomize_norms(torchvision.models.resnet18(weights=None), seed=3).eval()
    torch.save(theirs.state_dict(), tmp_path / "tv.pth")
    ours = zoo.create("resnet18", pretrained=tmp_path / "tv.pth")
    assert torch.equal(outputs(ours, X), outputs(theirs, X))


def test_other_classes_and_channels_adapt_as_timm_adapts(resnet18_files):
    theirs, folder = resnet18_files
    path = str(folder / "resnet18.pth")
    with pytest.warns(zoo.ZooWarning, match=r"the weights' classifier is for 1000 classes, the model's for 7: "
                      r"head.fc keeps its fresh initialisation"):
        ours = zoo.create("resnet18", num_classes=7, input=1, pretrained=path)
    gray = timm.create_model("resnet18", pretrained=True, num_classes=7, in_chans=1,
                             pretrained_cfg_overlay={"file": path})
    x = X[:, :1]
    with torch.no_grad():  # the same first convolution for one channel, the same features
        assert torch.equal(ours.eval().forward_features(x), gray.eval().forward_features(x))


def test_pretrained_names_what_it_cannot_load(resnet18_files, tmp_path):
    _, folder = resnet18_files
    with pytest.raises(zoo.PresetError, match=r"pretrained=True: r32m is not a timm architecture with weights"):
        zoo.create("r32m", pretrained=True)
    with pytest.raises(zoo.WeightsError, match=r"pretrained='timm:resnet18.nope': timm has no weights of that name"):
        zoo.create("resnet18", pretrained="timm:resnet18.nope")
    with pytest.raises(zoo.WeightsError, match=r"the state dict has 8 residual blocks \(layerN.M\), the zoo model 16"):
        zoo.create("resnet34", pretrained=folder / "resnet18.safetensors")
    with pytest.raises(zoo.WeightsError, match="no such file"):
        zoo.create("resnet18", pretrained=tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(zoo.WeightsError, match="junk.pth'?: not a state dict"):
        zoo.create("resnet18", pretrained=tmp_path / "junk.pth")
    zoo.register_timm()
    with pytest.raises(zoo.PresetError, match="zoo_r32m: no pretrained weights"):
        timm.create_model("zoo_r32m", pretrained=True)


def test_presets_named_after_timm_get_timms_tags():
    zoo.register_timm()
    tags = timm.list_pretrained("zoo_resnet18.*")
    assert "zoo_resnet18.a1_in1k" in tags and "zoo_resnet18.tv_in1k" in tags
    cfg = timm.models.get_pretrained_cfg("zoo_resnet18.a1_in1k")
    assert (cfg.hf_hub_id, cfg.first_conv, cfg.classifier) == ("timm/resnet18.a1_in1k", "cnn.blocks.0.0.0", "head.fc")
    assert timm.models.get_pretrained_cfg("zoo_resnet18").tag == timm.models.get_pretrained_cfg("resnet18").tag
    assert timm.list_pretrained("zoo_r32m*") == []


def test_the_download_is_timms(resnet18_files, tmp_path):
    """pretrained=True fetches the cfg's url with timm's own download and cache."""
    theirs, folder = resnet18_files
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        zoo.register_timm()
        url = f"http://127.0.0.1:{server.server_port}/resnet18.pth"
        ours = timm.create_model("zoo_resnet18", pretrained=True, cache_dir=tmp_path / "cache",
                                 pretrained_cfg_overlay={"url": url, "hf_hub_id": ""})
    finally:
        server.shutdown()
    assert torch.equal(outputs(ours, X), outputs(theirs, X))
    assert [p.name for p in (tmp_path / "cache").rglob("*.pth")] == ["resnet18.pth"]  # timm's cache


# -- safetensors: weights, spec and preprocessing in one file ------------------------------


@pytest.mark.slow
def test_export_safetensors_round_trip(tmp_path, capsys):
    path = tmp_path / "r32m.safetensors"
    code = main(["export", "r32m", "--set", "num_classes=5", "--set", "fun=gelu", "-o", str(path)])
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[0] == (
        f"exported r32m to {path} (safetensors, dynamic batch, input 3×32×32)")
    assert "checked with zoo.create (rebuilt from its metadata): max abs difference 0.0e+00" in out
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "zoo-safetensors/1"
    spec = json.loads(metadata["zoo.spec"])
    assert (spec["kind"], spec["text"], spec["options"]) == ("preset", "r32m", {"num_classes": 5, "fun": "gelu"})
    assert spec["preset"]["blocks"] == zoo.get_preset("r32m").blocks
    assert json.loads(metadata["zoo.preprocessing"]) == {
        "input_size": [3, 32, 32], "channels": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "interpolation": "bilinear", "crop_pct": 1.0, "num_classes": 5, "class_names": None, "dataset": None}
    model = zoo.create(str(path))
    assert model.num_classes == 5 and model.cnn.cfg.fun == "gelu"
    torch.manual_seed(0)
    reference = zoo.create("r32m", num_classes=5, fun="gelu")
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in reference.state_dict().items()) is False  # its own weights
    assert main(["inspect", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("r32m  (1, 3, 32, 32) -> (1, 5)")


def test_a_safetensors_file_is_data_only(tmp_path):
    tensors = {"w": torch.zeros(2)}
    save_file(tensors, tmp_path / "plain.safetensors")
    with pytest.raises(zoo.WeightsError, match="a safetensors file without zoo's metadata"):
        zoo.create(str(tmp_path / "plain.safetensors"))
    code = {"kind": "factory", "text": "os:system", "options": {}, "num_classes": None, "channels": None}
    save_file(tensors, tmp_path / "code.safetensors",
              metadata={"format": "zoo-safetensors/1", "zoo.spec": json.dumps(code)})
    with pytest.raises(zoo.WeightsError, match=r"its spec names code \('os:system'\); zoo does not run code"):
        zoo.create(str(tmp_path / "code.safetensors"))


# -- timm's folder layout: save_for_hf, local-dir: ----------------------------------------------


def test_save_for_hf_loads_back_with_timms_local_dir(tmp_path):
    torch.manual_seed(0)
    model = randomize_norms(zoo.create("resnet18_cifar", num_classes=5, fun="gelu"))
    folder = zoo.save_for_hf(model, tmp_path / "hf")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "zoo_resnet18_cifar"
    assert config["model_args"] == {"num_classes": 5, "in_chans": 3, "fun": "gelu", "global_pool": "avg"}
    zoo.register_timm()
    loaded = timm.create_model(f"local-dir:{folder}", pretrained=True)
    x = torch.randn(2, 3, 32, 32)
    assert isinstance(loaded, zoo.Classifier) and loaded.cnn.cfg.fun == "gelu"
    assert torch.equal(outputs(loaded, x), outputs(model, x))
    with pytest.raises(zoo.WeightsError, match="save_for_hf writes a zoo preset's model"):
        zoo.save_for_hf(zoo.CNN(blocks="cnf8 m"), tmp_path / "other")


@pytest.mark.slow
def test_zoo_train_fine_tunes_pretrained_weights_with_a_new_head(resnet18_files, tmp_path, monkeypatch, capsys):
    from PIL import Image

    _, folder = resnet18_files
    for part in ("train", "val"):
        for k, color in enumerate(((250, 10, 10), (10, 10, 250))):
            images = tmp_path / "imgs" / part / f"class{k}"
            images.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (20, 20), color).save(images / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", zoo.ZooWarning)  # said as a note, not warned
        code = main(["train", "resnet18", "--pretrained", str(folder / "resnet18.pth"), "--data", "folder:imgs",
                     "--size", "32", "--epochs", "1", "--batch", "4", "--workers", "0", "--out", "o"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"resnet18: pretrained weights from {folder / 'resnet18.pth'}" in out
    assert ("note: the weights' classifier is for 1000 classes, the model's for 2: head.fc keeps its fresh "
            "initialisation") in out
