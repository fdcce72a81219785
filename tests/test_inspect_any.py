"""zoo inspect for any model and any input (issue 14): timm, torchvision and Python
models from the terminal; several, typed and keyword inputs, real tensors; every MAC
in a row (tied modules, work in a model's own forward, the remainder row)."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

import zoo
from zoo.cli import main
from zoo.inputs import InputSpec, parse_inputs
from zoo.inspector.inspection import input_specs, takes_images
from zoo.inspector.report import IN_FORWARD

# -- small hand-written models -------------------------------------------------------------


class TiedLM(nn.Module):
    """An embedding tied to the output projection, and one Linear under two names."""

    def __init__(self, vocab: int = 100, dim: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.block = nn.Linear(dim, dim)
        self.again = self.block
        self.proj = nn.Linear(dim, vocab, bias=False)
        self.proj.weight = self.embed.weight

    def forward(self, ids):
        return self.proj(self.again(self.block(self.embed(ids))))


class WorkInForward(nn.Module):
    """A convolution done in the model's own forward, between its children."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.mix = nn.Parameter(torch.randn(8, 8, 1, 1))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.conv2d(self.conv(x), self.mix)  # 8 x 8 MACs per pixel, in no child
        return self.fc(x.mean((2, 3)))


class TwoInputs(nn.Module):
    """An image and a vector of features, the second also as a keyword."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.meta = nn.Linear(5, 4)
        self.head = nn.Linear(8, 2)

    def forward(self, image, features, scale=None):
        x = torch.cat([self.conv(image).mean((2, 3)), self.meta(features)], 1)
        return self.head(x if scale is None else x * scale)


class Encoder(nn.Module):
    """Embedding + TransformerEncoder, fed token ids (int64) and a padding mask."""

    def __init__(self, vocab: int = 50, dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, 4, 64, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 3)

    def forward(self, ids, mask=None):
        return self.head(self.encoder(self.embed(ids), src_key_padding_mask=mask)[:, 0])


class Gate(nn.Module):
    """A data-dependent branch: the big convolution for non-negative activations
    (what a ReLU before it gives), the small one otherwise (what random noise gives)."""

    def __init__(self, channels: int = 16):
        super().__init__()
        self.small = nn.Conv2d(channels, channels, 1)
        self.big = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.big(x) if x.min() >= 0 else self.small(x)


def gated() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), Gate(), nn.Flatten(), nn.Linear(1024, 10))


class TopBranch(nn.Module):
    """The branch in the model's own forward, and a large head after it."""

    def __init__(self, wide: int = 4096):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
        self.big = nn.Conv2d(16, 16, 3, padding=1)
        self.small = nn.Conv2d(16, 16, 1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(1024, wide), nn.Linear(wide, wide))

    def forward(self, x):
        x = self.stem(x)
        x = self.big(x) if x.sum() > 0 else self.small(x)
        return self.head(x)


def lstm() -> nn.Module:
    return nn.LSTM(8, 16, num_layers=2, batch_first=True)


def lstm_macs(steps: int) -> int:  # per sequence: 4 gates x hidden x (input + hidden) per step
    return steps * (4 * 16 * (8 + 16) + 4 * 16 * (16 + 16))


def encoder_layer_macs(tokens: int, dim: int = 32, ff: int = 64) -> int:
    projections = tokens * dim * 3 * dim + tokens * dim * dim  # q, k, v and out
    attention = 2 * tokens * tokens * dim  # q @ k^T and weights @ v
    return projections + attention + 2 * tokens * dim * ff


# -- 1. any model from the terminal ---------------------------------------------------------


def run_json(capsys, *args: str) -> dict:
    code = main(["inspect", *args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_timm_and_torchvision_models_from_the_terminal(capsys):
    data = run_json(capsys, "timm:efficientnet_b0")
    assert data["input"] == [1, 3, 224, 224]  # timm's pretrained_cfg
    assert (data["params"], data["macs"], data["output"]) == (5_288_548, 385_814_752, [1, 1000])
    data = run_json(capsys, "torchvision:resnet50")
    assert data["input"] == [1, 3, 224, 224]  # the crop size of its weights' transforms
    assert (data["params"], data["macs"]) == (25_557_032, 4_089_184_256)
    assert run_json(capsys, "tv:inception_v3", "--set", "aux_logits=false")["input"] == [1, 3, 299, 299]
    data = run_json(capsys, "timm:resnet18", "--set", "num_classes=7", "--input", "1,3,64,64")
    assert data["output"] == [1, 7] and data["params"] == 11_689_512 - 1000 * 513 + 7 * 513


FACTORY = '''
from torch import nn

def build(width=8, depth=2):
    layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))

def broken():
    return 42
'''


def factory_macs(width: int, depth: int, size: int) -> int:
    return size * size * 9 * (3 * width + (depth - 1) * width * width) + width * 10


def test_python_factories_from_the_terminal(tmp_path, monkeypatch, capsys):
    (tmp_path / "mynets.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)  # module:function finds modules of the working folder, as uvicorn does
    monkeypatch.syspath_prepend(str(tmp_path))
    data = run_json(capsys, "mynets:build", "--set", "width=16", "--input", "3,32,32")
    assert data["name"] == "build" and data["macs"] == factory_macs(16, 2, 32)
    data = run_json(capsys, f"{tmp_path / 'mynets.py'}:build", "--set", "depth=3", "--input", "3,16,16")
    assert data["macs"] == factory_macs(8, 3, 16)
    for args, code, message in [
        (("mynets.py:build", "--set", "widht=4"), 2,
         "zoo inspect: error: --set: mynets.py:build takes no option 'widht'; did you mean 'width'? "
         "(it takes depth, width)"),
        (("mynets:bild",), 1, "zoo: error: mynets has no function 'bild'; did you mean 'build'?"),
        (("mynets:broken",), 1, "zoo: error: mynets:broken returned int, not a torch nn.Module"),
        (("nosuchmod:build",), 1, "zoo: error: nosuchmod:build: no module 'nosuchmod'"),
        (("timm:efficientnet_b9x",), 1, "zoo: error: timm has no model 'efficientnet_b9x'; did you mean"),
        (("timm:resnet18", "--set", "colour=1"), 2, "zoo inspect: error: --set: timm:resnet18: "),
        (("tv:resnet18", "--set", "colour=1"), 2, "zoo inspect: error: --set: torchvision:resnet18: "),
    ]:
        assert main(["inspect", *args]) == code, args
        out = capsys.readouterr()
        assert out.err.startswith(message), (args, out.err)
        assert "Traceback" not in out.err


# -- 2. any input ---------------------------------------------------------------------------


def test_input_texts():
    assert parse_inputs("3,224,224") == [InputSpec((3, 224, 224))]
    assert parse_inputs("3×64×64") == [InputSpec((3, 64, 64))]
    assert parse_inputs("[2,10,8]") == [InputSpec((2, 10, 8), exact=True)]
    assert parse_inputs("ids:int64[1,128]; mask:bool[1,128]") == [
        InputSpec((1, 128), "int64", "ids", True), InputSpec((1, 128), "bool", "mask", True)]
    assert [str(s) for s in parse_inputs("x:3,32,32;float16[1,3,8,8]")] == ["x:3,32,32", "float16[1,3,8,8]"]
    for text, message in [
        ("3,x", "'3,x' is not an input size; write e.g. 3,224,224"),
        ("ids:int46[1,128]", "unknown dtype 'int46'; did you mean 'int64'"),
        ("3,0,2", "sizes are whole numbers >= 1"),
        ("a:[1]; a:[2]", "input 'a' is given twice"),
    ]:
        with pytest.raises(zoo.ShapeError, match=message.replace("(", r"\(").replace("[", r"\[")):
            parse_inputs(text)


def test_a_three_number_input_is_an_image_only_for_an_image_model():
    assert takes_images(nn.Sequential(nn.Conv2d(3, 8, 3))) and takes_images(zoo.CNN(blocks="c8"))
    assert not takes_images(lstm()) and not takes_images(Encoder())
    report = zoo.inspect(lstm(), input_size=(2, 10, 8))  # (B, T, F) or (T, B, F): zoo cannot know
    assert report.input == (2, 10, 8) and report.output[0] == (2, 10, 16)
    assert report.macs == 2 * lstm_macs(10) and report.per == "forward"  # the whole input's
    assert zoo.inspect(nn.Conv2d(3, 8, 3), input_size=(3, 8, 8)).input == (1, 3, 8, 8)
    assert zoo.inspect(nn.Conv2d(3, 8, 3), input_size="[3,8,8]").input == (3, 8, 8)  # unbatched, as written


def test_token_ids_and_a_mask_for_an_embedding_and_transformer_encoder():
    report = zoo.inspect(Encoder(), input_size={"ids": "int64[2,16]", "mask": "bool[2,16]"})
    assert report.inputs == ["ids: (2, 16) int64", "mask: (2, 16) bool"]
    assert report.output == (2, 3)
    assert report.macs == 2 * encoder_layer_macs(16) + 32 * 3
    same = zoo.inspect(Encoder(), input_size="ids:int64[2,16]")  # one input: no batch zoo knows
    assert same.macs == 2 * report.macs and same.per == "forward" and report.per == "sample"
    assert str(report).startswith("Encoder  ids: (2, 16) int64, mask: (2, 16) bool -> (2, 3)  ")
    assert "MACs per sample" in str(report)


def test_several_and_keyword_inputs(tmp_path, monkeypatch, capsys):
    model = TwoInputs()
    expected = 8 * 8 * 27 * 4 + 5 * 4 + 8 * 2
    assert zoo.inspect(model, input_size=[(3, 8, 8), "[1,5]"]).macs == expected
    report = zoo.inspect(model, input_size=[(3, 8, 8), "[1,5]", "scale:[1,8]"])
    assert report.inputs == ["(1, 3, 8, 8)", "(1, 5)", "scale: (1, 8)"] and report.macs == expected
    (tmp_path / "two.py").write_text("from test_inspect_any import TwoInputs as make\n")
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    data = run_json(capsys, f"{tmp_path / 'two.py'}:make", "--input", "3,8,8", "--input", "features:[1,5]")
    assert data["inputs"] == ["(1, 3, 8, 8)", "features: (1, 5)"] and data["macs"] == expected


def test_real_tensors_from_python():
    batch = torch.randint(0, 50, (4, 12))
    report = zoo.inspect(Encoder(), input_data=batch)
    assert report.input == (4, 12) and report.macs == 4 * (2 * encoder_layer_macs(12) + 32 * 3)
    image, features = torch.randn(2, 3, 8, 8), torch.randn(2, 5)
    assert zoo.inspect(TwoInputs(), input_data=(image, features)).output == (2, 2)
    assert zoo.inspect(TwoInputs(), input_data={"image": image, "features": features}).output == (2, 2)
    with pytest.raises(zoo.ShapeError, match="input_size or input_data, not both"):
        zoo.inspect(TwoInputs(), (3, 8, 8), input_data=image)
    with pytest.raises(zoo.ShapeError, match="input_data must be a tensor"):
        zoo.inspect(TwoInputs(), input_data=3)


# -- 3. data-dependent control flow -----------------------------------------------------------

STEM, BIG, SMALL = 8 * 8 * 27 * 16, 8 * 8 * 16 * 16 * 9, 8 * 8 * 16 * 16


def test_a_branch_is_taken_on_the_activations_that_really_reach_it():
    report = zoo.inspect(gated(), input_size=(3, 8, 8))
    assert report.macs == STEM + BIG + 1024 * 10  # random noise instead would take the small branch
    rows = {r.path: r for r in report.tree}
    assert [r.path for r in report.tree if r.needs_values] == ["2"]
    assert rows["2.small"].calls == 0 and rows["2.big"].macs == BIG
    # real values up to the read in Gate's forward; the convolution it then calls and
    # everything after run on meta, with no weights
    assert {p: rows[p].device for p in ("0", "1", "2", "2.big", "4")} == {
        "0": "cpu", "1": "cpu", "2": "cpu", "2.big": "meta", "4": "meta"}
    assert "Gate  [real values]" in str(report)
    assert report.notes == ["needed real values: 2 (ran for real on a random input up to the last value read: "
                            "4 of 8 modules; the rest on meta, without weights)"]


def test_a_branch_in_the_models_own_forward_leaves_the_rest_on_meta():
    with torch.device("meta"):  # as zoo builds models: no weights at all
        model = TopBranch(wide=50_000)  # a 2.5-billion-parameter head: 10 GB if it ever got weights
    report = zoo.inspect(model, input_size=(3, 8, 8))
    assert report.macs == STEM + BIG + 1024 * 50_000 + 50_000 ** 2
    assert [r.path for r in report.tree if r.device == "cpu"] == ["", "stem", "stem.0", "stem.1"]


def test_input_data_decides_the_branch():
    model = TopBranch(wide=8)
    model.stem = nn.Identity()  # the branch now reads the input itself
    model.big, model.small = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(3, 16, 1)
    positive = zoo.inspect(model, input_data=torch.ones(1, 3, 8, 8))
    negative = zoo.inspect(model, input_data=-torch.ones(1, 3, 8, 8))
    assert positive.macs - negative.macs == 8 * 8 * 16 * 3 * 9 - 8 * 8 * 16 * 3
    assert [r.needs_values for r in positive.tree][:1] == [True]


class Anchored(nn.Module):
    """Moves its anchors to the input's device in forward (as torchvision's
    AnchorGenerator does), then reads a value."""

    def __init__(self):
        super().__init__()
        self.anchors = [torch.ones(4)]

    def forward(self, x):
        self.anchors = [a.to(x.device) for a in self.anchors]
        return x * self.anchors[0].sum().item()


def test_what_a_forward_sets_on_its_module_does_not_reach_the_next_attempt():
    model = nn.Sequential(nn.Linear(4, 4), Anchored())
    report = zoo.inspect(model, input_size=(1, 4))  # on meta the anchors became meta: the real pass starts afresh
    assert report.output == (1, 4) and [r.path for r in report.tree if r.needs_values] == ["1"]
    assert model[1].anchors[0].device.type == "cpu"  # and the model's own stay as they were


# -- 4. every MAC in a row --------------------------------------------------------------------


def test_tied_modules_keep_their_macs_and_tied_weights_are_marked():
    report = zoo.inspect(TiedLM(), input_size="int64[1,12]")
    rows = {r.path: r for r in report.tree}
    assert report.params == 100 * 16 + 16 * 16 + 16  # the tied weight once
    assert (rows["block"].macs, rows["again"].macs, rows["proj"].macs) == (12 * 256, 12 * 256, 12 * 1600)
    assert rows["again"].same_as == "block" and rows["proj"].shared_with == {"weight": "embed.weight"}
    assert [(b.name, b.macs) for b in report.blocks] == [
        ("embed", 0), ("block", 3072), ("again", 3072), ("proj", 19200)]
    assert "└─ proj: Linear(16->100, F)  (weight shared with embed.weight)" in str(report)


def test_work_in_a_models_own_forward_gets_a_row():
    report = zoo.inspect(WorkInForward(), input_size=(3, 16, 16))
    rows = {r.path: r for r in report.tree}
    assert rows[IN_FORWARD].macs == 16 * 16 * 64 and rows[IN_FORWARD].level == 1
    assert [(b.name, b.params, b.macs) for b in report.blocks] == [
        ("conv", 224, 16 * 16 * 27 * 8), ("fc", 90, 80), (IN_FORWARD, 64, 16 * 16 * 64)]
    assert report.macs == 16 * 16 * 27 * 8 + 80 + 16 * 16 * 64


def assert_every_mac_in_a_row(report: zoo.Report) -> None:
    """The cost table adds up to the totals, and each module's MACs to its children's."""
    assert sum(b.macs for b in report.blocks) == report.macs, [(b.name, b.macs) for b in report.blocks]
    assert sum(b.params for b in report.blocks) == report.params
    rows = report.tree
    for i, row in enumerate(rows):
        if row.same_as is not None or not row.calls:
            continue
        children = []
        for below in rows[i + 1:]:
            if below.level <= row.level:
                break
            if below.level == row.level + 1:
                children.append(below)
        if children:
            assert sum(c.macs or 0 for c in children) == row.macs, row.path


HAND_WRITTEN = {
    "tied": (TiedLM, "int64[1,12]"),
    "in forward": (WorkInForward, (3, 16, 16)),
    "two inputs": (TwoInputs, [(3, 8, 8), "[1,5]"]),
    "lstm": (lstm, (2, 10, 8)),
    "encoder": (Encoder, "ids:int64[2,16]"),
    "branch": (gated, (3, 8, 8)),
    "top branch": (TopBranch, (3, 8, 8)),
}


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_rows_sum_to_the_total_on_hand_written_models(name):
    make, size = HAND_WRITTEN[name]
    assert_every_mac_in_a_row(zoo.inspect(make(), input_size=size))


# the comparison set of issue 14 that zoo can build without weights
LIBRARY_MODELS = {
    "timm:mobilenetv3_small_100": 56_510_400,
    "timm:efficientnet_b0": 385_814_752,
    "timm:vit_tiny_patch16_224": 1_253_683_200,
    "timm:resnet18": 1_814_073_344,
    "torchvision:resnet50": 4_089_184_256,
    "resnet18_cifar": 140_186_624,
    "resnet18": 1_814_073_344,
}


@pytest.mark.parametrize("target", LIBRARY_MODELS)
def test_rows_sum_to_the_total_on_the_comparison_set(target):
    report = zoo.inspect(target)
    assert report.macs == LIBRARY_MODELS[target]
    assert_every_mac_in_a_row(report)


def test_vit_attention_products_are_an_in_forward_row():
    report = zoo.inspect("timm:vit_tiny_patch16_224")
    attention = next(r for r in report.tree if r.path == f"blocks.0.attn.{IN_FORWARD}")
    assert attention.macs == 2 * 197 * 197 * 192  # q @ k^T and weights @ v, 3 heads of 64
    assert report.blocks[-1].name == IN_FORWARD and report.blocks[-1].params == 197 * 192 + 192  # pos_embed, cls
    assert math.isclose(report.macs / 1e9, 1.254, abs_tol=1e-3)


def test_input_specs_from_python():
    assert input_specs((3, 32, 32)) == [InputSpec((3, 32, 32))]
    assert input_specs(torch.Size([2, 3])) == [InputSpec((2, 3))]
    assert input_specs({"x": (1, 4)}) == [InputSpec((1, 4), name="x")]
    with pytest.raises(zoo.ShapeError, match="input_size must be a tuple of whole numbers"):
        input_specs([(3, 32, 32), 1.5])


# -- 5. 80 columns, and print() that knows the terminal ---------------------------------------


def text(renderable, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


MOBILENET_80 = """\
mobilenetv3_small_100  3×224×224 -> 1000  2,542,856 params  56.5 M MACs

module                                                params     MACs
MobileNetV3                                                    56.5 M
├─ conv_stem: Conv2d(3->16, k:3, s:2, p:1, F)            432    5.4 M
├─ bn1: BatchNormAct2d(16)                                32
│  ├─ drop: Identity
│  └─ act: Hardswish
├─ blocks: Sequential                                          49.5 M
│  ├─ Sequential                                         744    1.3 M
│  ├─ Sequential                                       9,280    9.4 M
│  ├─ Sequential                                     128,264   13.0 M
│  ├─ Sequential                                      51,768    6.1 M
│  ├─ Sequential                                     680,040   17.0 M
│  └─ Sequential                                      56,448    2.7 M
├─ global_pool: SelectAdaptivePool2d
│  ├─ pool: AdaptiveAvgPool2d(1)
│  └─ flatten: Identity
├─ conv_head: Conv2d(576->1024, k:1, s:1, p:0, T)    590,848  589.8 k
├─ norm_head: Identity
├─ act2: Hardswish
├─ flatten: Flatten
└─ classifier: Linear(1024->1000, T)               1,025,000    1.0 M

#   block          pars k   ops M     w    V0/V   output
───────────────────────────────────────────────────────────────────
    input                           224       1   (1, 3, 224, 224)
1   conv_stem         0.4     5.4   112    0.75   (1, 16, 112, 112)
2   bn1               0.0       -   112    0.75   (1, 16, 112, 112)
3   blocks          926.5    49.5     7    5.33   (1, 576, 7, 7)
4   global_pool         -       -     1   261.3   (1, 576, 1, 1)
5   conv_head       590.8     0.6     1     147   (1, 1024, 1, 1)
6   norm_head           -       -     1     147   (1, 1024, 1, 1)
7   act2                -       -     1     147   (1, 1024, 1, 1)
8   flatten             -       -     -     147   (1, 1024)
9   classifier    1,025.0     1.0     -   150.5   (1, 1000)
───────────────────────────────────────────────────────────────────
    total         2,542.9    56.5

2,542,856 parameters (2,542,856 trainable, 0 frozen), 56,510,400 MACs per image
"""

MOBILENET_120_TREE = """\
mobilenetv3_small_100  (1, 3, 224, 224) -> (1, 1000)  2,542,856 params  56.5 M MACs

module                                                params  share     MACs  input -> output
MobileNetV3                                                           56.5 M  (1, 3, 224, 224)  -> (1, 1000)
├─ conv_stem: Conv2d(3->16, k:3, s:2, p:1, F)            432           5.4 M  (1, 3, 224, 224)  -> (1, 16, 112, 112)
├─ bn1: BatchNormAct2d(16)                                32                  (1, 16, 112, 112) -> (1, 16, 112, 112)
│  ├─ drop: Identity                                                          (1, 16, 112, 112) -> (1, 16, 112, 112)
│  └─ act: Hardswish                                                          (1, 16, 112, 112) -> (1, 16, 112, 112)
├─ blocks: Sequential                                                 49.5 M  (1, 16, 112, 112) -> (1, 576, 7, 7)
│  ├─ Sequential                                         744           1.3 M  (1, 16, 112, 112) -> (1, 16, 56, 56)
│  ├─ Sequential                                       9,280           9.4 M  (1, 16, 56, 56)   -> (1, 24, 28, 28)
│  ├─ Sequential                                     128,264  ~  5%   13.0 M  (1, 24, 28, 28)   -> (1, 40, 14, 14)
│  ├─ Sequential                                      51,768  ~  2%    6.1 M  (1, 40, 14, 14)   -> (1, 48, 14, 14)
│  ├─ Sequential                                     680,040  ~ 27%   17.0 M  (1, 48, 14, 14)   -> (1, 96, 7, 7)
│  └─ Sequential                                      56,448  ~  2%    2.7 M  (1, 96, 7, 7)     -> (1, 576, 7, 7)
├─ global_pool: SelectAdaptivePool2d                                          (1, 576, 7, 7)    -> (1, 576, 1, 1)
│  ├─ pool: AdaptiveAvgPool2d(1)                                              (1, 576, 7, 7)    -> (1, 576, 1, 1)
│  └─ flatten: Identity                                                       (1, 576, 1, 1)    -> (1, 576, 1, 1)
├─ conv_head: Conv2d(576->1024, k:1, s:1, p:0, T)    590,848  ~ 23%  589.8 k  (1, 576, 1, 1)    -> (1, 1024, 1, 1)
├─ norm_head: Identity                                                        (1, 1024, 1, 1)   -> (1, 1024, 1, 1)
├─ act2: Hardswish                                                            (1, 1024, 1, 1)   -> (1, 1024, 1, 1)
├─ flatten: Flatten                                                           (1, 1024, 1, 1)   -> (1, 1024)
└─ classifier: Linear(1024->1000, T)               1,025,000  ~ 40%    1.0 M  (1, 1024)         -> (1, 1000)
"""

ENCODER_80 = """\
Encoder  ids: (2, 16) int64 -> (2, 3)  18,787 params  590.0 k MACs

module                                     params     MACs  output
Encoder                                            590.0 k  2×3
├─ embed: Embedding(50, 32)                 1,600           2×16×32
├─ encoder: TransformerEncoder                     589.8 k  2×16×32
│  └─ layers: ModuleList                           589.8 k
│     └─ TransformerEncoderLayer x 2               294.9 k  2×16×32
│        ├─ self_attn: MultiheadAttention   4,224  163.8 k  2×16×32
│        ├─ linear1: Linear(32->64, T)      2,112   65.5 k  2×16×64
│        ├─ dropout: Dropout(0.1)                           2×16×64
│        ├─ linear2: Linear(64->32, T)      2,080   65.5 k  2×16×32
│        ├─ norm1: LayerNorm(32)               64           2×16×32
│        ├─ norm2: LayerNorm(32)               64           2×16×32
│        ├─ dropout1: Dropout(0.1)                          2×16×32
│        └─ dropout2: Dropout(0.1)                          2×16×32
└─ head: Linear(32->3, T)                      99      192  2×3
x N: N identical modules in a row, numbers per copy
"""

ENCODER_120 = """\
Encoder  ids: (2, 16) int64 -> (2, 3)  18,787 params  590.0 k MACs

module                                     params  share     MACs  input -> output
Encoder                                                   590.0 k  2×16                      -> 2×3
├─ embed: Embedding(50, 32)                 1,600  ~  9%           2×16                      -> 2×16×32
├─ encoder: TransformerEncoder                            589.8 k  2×16×32                   -> 2×16×32
│  └─ layers: ModuleList                                  589.8 k
│     └─ TransformerEncoderLayer x 2                      294.9 k  2×16×32                   -> 2×16×32
│        ├─ self_attn: MultiheadAttention   4,224  ~ 22%  163.8 k  2×16×32, 2×16×32, 2×16×32 -> 2×16×32
│        ├─ linear1: Linear(32->64, T)      2,112  ~ 11%   65.5 k  2×16×32                   -> 2×16×64
│        ├─ dropout: Dropout(0.1)                                  2×16×64                   -> 2×16×64
│        ├─ linear2: Linear(64->32, T)      2,080  ~ 11%   65.5 k  2×16×64                   -> 2×16×32
│        ├─ norm1: LayerNorm(32)               64                  2×16×32                   -> 2×16×32
│        ├─ norm2: LayerNorm(32)               64                  2×16×32                   -> 2×16×32
│        ├─ dropout1: Dropout(0.1)                                 2×16×32                   -> 2×16×32
│        └─ dropout2: Dropout(0.1)                                 2×16×32                   -> 2×16×32
└─ head: Linear(32->3, T)                      99  ~  1%      192  2×32                      -> 2×3
x N: N identical modules in a row, numbers per copy
"""

FAILING_80 = """\
(cnf64_7_2 m3_2_1) 2r r128_3_2 r r256_3_2 r r512_3_2 r  3×16×16 -> failed
11,176,512 params

module                                           params     MACs  output
CNN                                                        5.1 M  fails
└─ blocks: ModuleList                                      5.1 M
   ├─ Sequential  (cnf64_7_2 m3_2_1)              9,536  602.1 k  64×4×4
   ├─ Residual(p=0) x 2  r                       73,984    1.2 M  64×4×4
   ├─ Residual  r128_3_2                        230,144  917.5 k  128×2×2
   ├─ Residual(p=0)  r                          295,424    1.2 M  128×2×2
   └─ Residual  r256_3_2                                  32.8 k  fails
      ├─ block: Sequential                      885,760
      └─ align: Sequential                                32.8 k  fails
         ├─ Conv2d(128->256, k:1, s:2, p:0, F)   32,768   32.8 k  256×1×1
         └─ InstanceNorm2d(256)                     512           fails
x N: N identical modules in a row, numbers per copy

11,176,512 parameters (11,176,512 trainable, 0 frozen)
"""

FAILING_60 = """\
(cnf64_7_2 m3_2_1) 2r r128_3_2 r r256_3_2 r r512_3_2 r
3×16×16 -> failed  11,176,512 params

module                                       params     MACs
CNN                                                    5.1 M
└─ blocks: ModuleList                                  5.1 M
   ├─ Sequential  (cnf64_7_2 m3_2_1)          9,536  602.1 k
   ├─ Residual(p=0) x 2  r                   73,984    1.2 M
   ├─ Residual  r128_3_2                    230,144  917.5 k
   ├─ Residual(p=0)  r                      295,424    1.2 M
   └─ Residual  r256_3_2                              32.8 k
      ├─ block: Sequential                  885,760
      └─ align: Sequential                            32.8 k
         ├─ Conv2d(128->256, k:1, s:2, p:…   32,768   32.8 k
         └─ InstanceNorm2d(256)                 512    fails
x N: N identical modules in a row, numbers per copy

11,176,512 parameters (11,176,512 trainable, 0 frozen)
"""



def test_a_timm_model_at_80_and_120_columns():
    """At 80 columns the share and the shapes go, never a number; at 120 all of it."""
    report = zoo.inspect("timm:mobilenetv3_small_100")
    assert text(report, 80) == MOBILENET_80
    assert text(report, 120).split("\n#")[0] == MOBILENET_120_TREE


def test_a_transformer_at_80_and_120_columns_says_folded_rows_are_per_copy():
    report = zoo.inspect(Encoder(), input_size="ids:int64[2,16]")
    assert text(report.render(depth=3), 80).split("\n#")[0] == ENCODER_80
    assert text(report.render(depth=3), 120).split("\n#")[0] == ENCODER_120


def test_a_failure_keeps_its_marker_in_a_narrow_terminal():
    from zoo.inspector.render import render_report

    with pytest.raises(zoo.ShapeError) as caught:
        zoo.inspect("(cnf64_7_2 m3_2_1) 2r r128_3_2 r r256_3_2 r r512_3_2 r", input_size=(3, 16, 16), norm_align=3)
    partial = render_report(caught.value.report, costs=False, error=False)
    assert text(partial, 80) == FAILING_80
    assert text(partial, 60) == FAILING_60  # labels end in an ellipsis, the numbers and "fails" stay


def test_print_draws_at_the_terminals_width(monkeypatch, capsys):
    report = zoo.inspect("timm:mobilenetv3_small_100")
    monkeypatch.setenv("COLUMNS", "80")
    print(report)
    out = capsys.readouterr().out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    assert "\n".join(line.rstrip() for line in out.splitlines()) + "\n" == MOBILENET_80 + "\n"
    monkeypatch.delenv("COLUMNS")  # a file or a pipe: as wide as the report needs
    assert "(1, 3, 224, 224)  -> (1, 1000)" in str(report)
