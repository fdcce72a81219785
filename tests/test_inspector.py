"""zoo.inspect and ModelState (spec §7): the document's tree and cost table as exact
text, the meta device (no memory, no change to the model), shared parameters,
failures at the block where they happen, and the fast shape rules against torch's
own meta kernels."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import textwrap
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from torch import nn

import zoo
from zoo import CNN, Change, Config, ModelState, ShapeError
from zoo.inspector.describe import describe
from zoo.inspector.render import cost_table, tree_table
from zoo.inspector.trace import meta_copy
from zoo.layers.meta_shapes import MetaShapeMode
from zoo.monitor.stats import top_level

RESNET18_CIFAR = "(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r"


def text(renderable, width: int = 120) -> str:
    """What a terminal without colour shows, trailing spaces removed."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def mnist_cnn() -> CNN:
    m = CNN(Config(input=1, fun="gelu", blocks="cnf32 m d cnf64 m d"))
    Change.dropout(m, [0.1, 0.2])
    return m


def resnet18_cifar() -> nn.Module:
    try:
        return zoo.create("resnet18_cifar")
    except zoo.UnknownPresetError:  # the preset is the document's network + Linear(512, 10)
        return nn.Sequential(CNN(blocks=RESNET18_CIFAR), nn.Linear(512, 10))


# -- the document's ModelState example ---------------------------------------------------

MNIST_TREE = """\
CNN:  (1, 1, 28, 28) -> (1, 64)
CNN                                        params         input -> output shapes
└─ ModuleList
   ├─ Sequential  cnf32                                   (1, 1, 28, 28)  -> (1, 32, 28, 28)
   │  ├─ Conv2d(1->32, k:3, s:1, p:1, F)      288  ~  2%  (1, 1, 28, 28)  -> (1, 32, 28, 28)
   │  ├─ BatchNorm2d(32)                       64         (1, 32, 28, 28) -> (1, 32, 28, 28)
   │  └─ GELU                                             (1, 32, 28, 28) -> (1, 32, 28, 28)
   ├─ MaxPool2d(k:2, s:2, p:0)  m                         (1, 32, 28, 28) -> (1, 32, 14, 14)
   ├─ Dropout2d(0.1)  d                                   (1, 32, 14, 14) -> (1, 32, 14, 14)
   ├─ Sequential  cnf64                                   (1, 32, 14, 14) -> (1, 64, 14, 14)
   │  ├─ Conv2d(32->64, k:3, s:1, p:1, F)  18,432  ~ 97%  (1, 32, 14, 14) -> (1, 64, 14, 14)
   │  ├─ BatchNorm2d(64)                      128  ~  1%  (1, 64, 14, 14) -> (1, 64, 14, 14)
   │  └─ GELU                                             (1, 64, 14, 14) -> (1, 64, 14, 14)
   ├─ MaxPool2d(k:2, s:2, p:0)  m                         (1, 64, 14, 14) -> (1, 64, 7, 7)
   ├─ Dropout2d(0.2)  d                                   (1, 64, 7, 7)   -> (1, 64, 7, 7)
   ├─ AdaptiveAvgPool2d(1)                                (1, 64, 7, 7)   -> (1, 64, 1, 1)
   └─ Flatten                                             (1, 64, 1, 1)   -> (1, 64)
params: 18,912
"""


def test_model_state_prints_the_documents_tree():
    buffer = io.StringIO()
    ModelState(mnist_cnn()).layers(2, input_size=(1, 1, 28, 28),
                                   console=Console(file=buffer, width=100, color_system=None))
    assert "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n" == MNIST_TREE


def test_model_state_depth_and_no_input_size():
    buffer = io.StringIO()
    ModelState(mnist_cnn()).layers(1, console=Console(file=buffer, width=100, color_system=None))
    assert "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) == textwrap.dedent("""\
        CNN:
        CNN                                params
        └─ ModuleList
           ├─ Sequential  cnf32               352  ~  2%
           ├─ MaxPool2d(k:2, s:2, p:0)  m
           ├─ Dropout2d(0.1)  d
           ├─ Sequential  cnf64            18,560  ~ 98%
           ├─ MaxPool2d(k:2, s:2, p:0)  m
           ├─ Dropout2d(0.2)  d
           ├─ AdaptiveAvgPool2d(1)
           └─ Flatten
        params: 18,912""")
    assert ModelState(mnist_cnn()).num_params() == 18_912


# -- the document's cost table -----------------------------------------------------------

RESNET18_COSTS = """\
#   block         pars k   ops M    w    V0/V   output
───────────────────────────────────────────────────────────────
    input                          32       1   (1, 3, 32, 32)
1   (cnf64 m)        1.9     1.8   16    0.19   (1, 64, 16, 16)
2   r               74.0    18.9   16    0.19   (1, 64, 16, 16)
3   r               74.0    18.9   16    0.19   (1, 64, 16, 16)
4   r128_3_2       230.1    14.7    8    0.38   (1, 128, 8, 8)
5   r              295.4    18.9    8    0.38   (1, 128, 8, 8)
6   r256_3_2       919.0    14.7    4    0.75   (1, 256, 4, 4)
7   r            1,180.7    18.9    4    0.75   (1, 256, 4, 4)
8   r512_3_2     3,673.1    14.7    2     1.5   (1, 512, 2, 2)
9   r            4,720.6    18.9    2     1.5   (1, 512, 2, 2)
    head             5.1     0.0    -   307.2   (1, 10)
───────────────────────────────────────────────────────────────
    total       11,174.0   140.2
"""


def test_resnet18_cifar_cost_table_reproduces_the_document():
    report = zoo.inspect(resnet18_cifar(), input_size=(3, 32, 32))
    assert text(cost_table(report)) == RESNET18_COSTS
    blocks = report.blocks[:-1]
    assert [b.name for b in blocks] == ["(cnf64 m)", "r", "r", "r128_3_2", "r", "r256_3_2", "r", "r512_3_2", "r"]
    assert [round(b.macs / 1e6, 1) for b in blocks] == [1.8, 18.9, 18.9, 14.7, 18.9, 14.7, 18.9, 14.7, 18.9]
    assert [b.width for b in blocks] == [16, 16, 16, 8, 8, 4, 4, 2, 2]
    assert [round(b.v0_over_v, 2) for b in blocks] == [0.19, 0.19, 0.19, 0.38, 0.38, 0.75, 0.75, 1.5, 1.5]
    assert (report.params, report.trainable, report.macs) == (11_173_962, 11_173_962, 140_186_624)
    assert round(report.macs / 1e6, 1) == 140.2
    assert sum(b.params for b in report.blocks) == report.params
    assert sum(b.macs for b in report.blocks) == report.macs


def test_preset_report_title_tree_and_totals():
    report = zoo.inspect("resnet18_cifar")
    assert report.name == "resnet18_cifar" and report.input == (1, 3, 32, 32) and report.output == (1, 10)
    built = zoo.inspect(zoo.create("resnet18_cifar"))  # a built model: its pretrained_cfg's size, its name
    assert (built.name, built.input, built.macs) == ("resnet18_cifar", (1, 3, 32, 32), 140_186_624)
    assert built.notes == ["input size 3x32x32: the model's pretrained_cfg"]
    rendered = text(report)
    assert rendered.startswith("resnet18_cifar  (1, 3, 32, 32) -> (1, 10)  11,173,962 params  140.2 M MACs\n")
    assert "│     ├─ Residual(p=0) x 2  r      73,984  ~  1%   18.9 M  (1, 64, 16, 16) -> (1, 64, 16, 16)\n" in rendered
    assert "│     ├─ Residual  r512_3_2     3,673,088  ~ 33%   14.7 M  (1, 256, 4, 4)  -> (1, 512, 2, 2)\n" in rendered
    assert "   └─ fc: Linear(512->10, T)        5,130           5.1 k  (1, 512)        -> (1, 10)\n" in rendered
    assert rendered.endswith("11,173,962 parameters (11,173,962 trainable, 0 frozen), 140,186,624 MACs per image\n")


def test_a_narrow_terminal_gets_short_shapes_and_nothing_cut():
    report = zoo.inspect("resnet18_cifar")
    narrow = text(report, width=80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "│     ├─ Residual  r128_3_2       230,144  ~  2%   14.7 M  64×16×16 -> 128×8×8\n" in narrow
    assert "(1, 64, 16, 16) -> (1, 128, 8, 8)" in text(report, width=120)
    bundle = report._repr_mimebundle_()
    assert "11,173,962 params" in bundle["text/plain"] and "text/html" in bundle


def test_second_table_of_the_document():
    report = zoo.inspect("r64 m r128 m r256 m r512 m", input_size=(3, 32, 32))
    rows = {b.name: b for b in report.blocks}
    assert [round(rows[n].params / 1e3) for n in ("r64", "r128", "r256", "r512")] == [39, 230, 919, 3673]
    assert [round(rows[n].macs / 1e6) for n in ("r64", "r128", "r256", "r512")] == [40, 59, 59, 59]
    assert [b.width for b in report.blocks[:-1]] == [32, 16, 16, 8, 8, 4, 4, 2]


def test_to_dict_is_json_with_the_agreed_keys():
    data = json.loads(json.dumps(zoo.inspect("cnf32 m r64_3_2", input_size=(3, 32, 32)).to_dict()))
    assert {"params", "trainable", "macs", "blocks", "tree"} <= set(data)
    assert (data["params"], data["macs"]) == (928 + 57_728, 884_736 + 3_670_016)
    assert [b["name"] for b in data["blocks"]] == ["cnf32", "m", "r64_3_2", "head"]
    first = data["blocks"][0]
    assert {k: first[k] for k in ("params", "macs", "width", "v0_over_v", "shape")} == {
        "params": 928, "macs": 884_736, "width": 32, "v0_over_v": 0.09375, "shape": [1, 32, 32, 32]}
    conv = next(r for r in data["tree"] if r["path"] == "blocks.0.0")
    assert conv["description"] == "Conv2d(3->32, k:3, s:1, p:1, F)"
    assert (conv["params"], conv["macs"], conv["input"], conv["output"]) == (864, 884_736, [1, 3, 32, 32], [1, 32, 32, 32])


def test_batch_in_input_size_gives_the_same_per_image_counts():
    one = zoo.inspect(RESNET18_CIFAR, input_size=(3, 32, 32))
    two = zoo.inspect(RESNET18_CIFAR, input_size=(2, 3, 32, 32))
    assert two.input == (2, 3, 32, 32) and two.output == (2, 512)
    assert one.macs == two.macs == 140_181_504
    assert [b.macs for b in one.blocks] == [b.macs for b in two.blocks]


def test_repeated_blocks_fold_and_depth_limits_the_tree():
    report = zoo.inspect("cnf8 3r", input_size=(3, 8, 8))
    assert text(tree_table(report, depth=1)) == textwrap.dedent("""\
        module                      params  share     MACs  input -> output
        CNN                                        235.0 k  (1, 3, 8, 8) -> (1, 8)
        └─ blocks: ModuleList                      235.0 k
           ├─ Sequential  cnf8         232  ~  6%   13.8 k  (1, 3, 8, 8) -> (1, 8, 8, 8)
           ├─ Residual(p=0) x 3  r   1,184  ~ 31%   73.7 k  (1, 8, 8, 8) -> (1, 8, 8, 8)
           ├─ AdaptiveAvgPool2d(1)                          (1, 8, 8, 8) -> (1, 8, 1, 1)
           └─ Flatten                                       (1, 8, 1, 1) -> (1, 8)
        """)
    assert text(tree_table(report, depth=0)) == textwrap.dedent("""\
        module                 params  share     MACs  input -> output
        CNN                                   235.0 k  (1, 3, 8, 8) -> (1, 8)
        └─ blocks: ModuleList   3,784  ~100%  235.0 k
        """)
    assert (report.params, report.macs) == (232 + 3 * 1_184, 216 * 64 + 3 * 2 * 576 * 64)
    assert len(report.tree) == 1 + 1 + 4 + 3 * 10 + 2  # every module is a row of .tree


def test_descriptions():
    assert describe(nn.Conv2d(1, 32, 3, padding=1, bias=False)) == "Conv2d(1->32, k:3, s:1, p:1, F)"
    assert describe(nn.Conv2d(8, 16, (3, 5), stride=2, groups=2, dilation=2)) == "Conv2d(8->16, k:(3, 5), s:2, p:0, d:2, g:2, T)"
    assert describe(nn.BatchNorm2d(32)) == "BatchNorm2d(32)"
    assert describe(nn.Dropout2d(0.1)) == "Dropout2d(0.1)"
    assert describe(nn.MaxPool2d(2)) == "MaxPool2d(k:2, s:2, p:0)"
    assert describe(nn.AdaptiveAvgPool2d(1)) == "AdaptiveAvgPool2d(1)"
    assert describe(nn.Linear(512, 10)) == "Linear(512->10, T)"
    assert describe(nn.GELU()) == "GELU"
    residual = CNN(blocks="r").blocks[0]
    Change.drop_block(residual, 0.1)
    assert describe(residual) == "Residual(p=0.1)"
    assert describe(CNN(blocks="r8").blocks[0]) == "Residual"
    assert describe(zoo.LayerNormChannels(8)) == "LayerNormChannels(8, eps=1e-05)"


# -- parameters: shared ones count once --------------------------------------------------


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.encode = nn.Linear(16, 8, bias=False)
        self.decode = nn.Linear(8, 16, bias=False)
        self.decode.weight = nn.Parameter(self.encode.weight.data.t().clone())
        self.same = self.encode  # the same module reachable twice
        self.decode2 = nn.Linear(8, 16)
        self.decode2.weight = self.decode.weight  # a parameter in two modules

    def forward(self, x):
        return self.decode2(self.same(self.encode(x)[..., :16].repeat(1, 2)[:, :16]))


def test_shared_parameters_count_once():
    model = Tied()
    report = zoo.inspect(model, input_size=(2, 16))
    unique = sum(p.numel() for p in model.parameters())
    assert report.params == unique == 128 + 128 + 16
    assert sum(r.params for r in report.tree) == unique
    rows = {r.path: r for r in report.tree}
    assert rows["same"].same_as == "encode" and rows["same"].params == 0
    assert (rows["decode"].params, rows["decode2"].params) == (128, 16)  # the bias is decode2's own
    assert rows["encode"].calls == 1 and rows["same"].calls == 1  # two calls of one module, one per place
    assert "(same module as encode)" in text(report)


# -- the meta device: no memory, no change -----------------------------------------------


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict(keep_vars=True).items()},
        "ids": [id(p) for p in model.parameters()],
        "training": [m.training for m in model.modules()],
        "devices": {p.device.type for p in model.parameters()},
        "grad": [p.requires_grad for p in model.parameters()],
        "hooks": [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()],
        "p": [getattr(m, "p", None) for m in model.modules()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "stats": [copy.deepcopy(vars(m.stats)) for m in model.modules() if getattr(m, "stats", None) is not None],
    }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("training", [True, False])
def test_inspect_never_changes_the_model(training):
    model = nn.Sequential(CNN(blocks="(cnf16 m d) r32_3_2 r n2", mult=2), nn.Linear(32, 10))
    Change.dropout(model, 0.3)
    Change.drop_block(model, 0.2)
    model[0].debug(True)  # residual statistics, updated by training forwards: must stay
    model(torch.randn(2, 3, 16, 16)).sum().backward()  # gradients: must stay
    model.train(training)
    model[0].blocks[0][0][1].running_mean.fill_(0.5)  # BatchNorm statistics that must stay
    tracked = model[0].blocks[0][0][1].num_batches_tracked.item()
    before = snapshot(model)
    assert len(before["stats"]) == 2 and all(g is not None for g in before["grads"])
    report = zoo.inspect(model, input_size=(3, 16, 16))
    after = snapshot(model)
    assert report.output == (1, 10) and report.params == before["state"]["1.weight"].numel() + 10 + sum(
        p.numel() for p in model[0].parameters())
    assert before.keys() == after.keys()
    for key in before:
        assert same(before[key], after[key]), key
    assert model[0].blocks[0][0][1].num_batches_tracked.item() == tracked == 1


def test_a_model_holding_what_deepcopy_cannot_copy_is_inspected():
    # the meta copy copies modules and tensors, and shares every other attribute (a
    # lock, a file, a config object): no deep copy to fail, and none to wait for
    model = nn.Sequential(nn.Linear(2, 2))
    model.lock = threading.Lock()
    assert zoo.inspect(model, input_size=(1, 2)).macs == 4
    clone = meta_copy(model)
    assert clone.lock is model.lock and clone[0] is not model[0] and clone[0].weight.is_meta


def test_meta_copy_shares_no_data_and_keeps_ties():
    model = Tied()
    clone = meta_copy(model)
    assert {p.device.type for p in clone.parameters()} == {"meta"}
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert clone.decode2.weight is clone.decode.weight and clone.same is clone.encode
    assert sum(p.numel() for p in clone.parameters()) == sum(p.numel() for p in model.parameters())


def test_billions_of_parameters_cost_no_memory():
    report = zoo.inspect("r4096 6r", input_size=(3, 64, 64))
    assert report.params == 1_963_180_032
    assert report.macs == 8_040_682_094_592
    assert [round(b.params / 1e6, 1) for b in report.blocks[:2]] == [151.1, 302.0]


@pytest.mark.slow  # ~4 s on an idle core
def test_inspecting_a_zoo_network_imports_neither_dynamo_nor_sympy():
    # torch's Python meta kernels import torch._dynamo and sympy on first use (~1 s);
    # the fast shape rules must answer every operator zoo's own tokens use
    code = textwrap.dedent(f"""
        import sys, zoo
        from torch import nn
        zoo.inspect({RESNET18_CIFAR!r}, input_size=(2, 3, 32, 32))
        zoo.inspect("cnf16 n1 n2 n3 f relu gelu relu6 sigmoid tanh swish hswish hsigmoid d1 d2 m a3_1_1 "
                    "r32 b r32_3_2 c8_5", input_size=(3, 32, 32), mult=2, norm_before=3, norm_after=2,
                    fun_after="gelu", drop_inside=1, pool=2)
        model = zoo.create("resnet18_cifar").eval()
        zoo.Change.dropout(model, 0.1)
        zoo.inspect(model)
        print(sorted(m for m in ("torch._dynamo", "sympy") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- failures ----------------------------------------------------------------------------


def test_failure_names_the_block_its_input_and_why():
    # InstanceNorm on a 1x1 image has one value per channel and image: a real failure,
    # in eval mode as in training, with any batch
    blocks = "(cnf64_7_2 m3_2_1) 2r r128_3_2 r r256_3_2 r r512_3_2 r"
    with pytest.raises(ShapeError) as info:
        zoo.inspect(blocks, input_size=(3, 16, 16), norm_align=3)
    assert str(info.value) == textwrap.dedent("""\
        block 'r256_3_2' (blocks.5, 6 of 9) cannot take its input (1, 128, 2, 2)
          in blocks.5.align.1: InstanceNorm2d(256) with input (1, 256, 1, 1)
          Expected more than 1 spatial element when training, got input size torch.Size([1, 256, 1, 1])
        the image is down to 1x1, so this norm has one value per channel and image to normalise: \
give a larger input, or take out a stride or pool before it""")
    report = info.value.report
    assert report.tree[-1].path == "blocks.5.align.1" and report.tree[-1].failed
    assert [r.path for r in report.tree if r.failed] == ["", "blocks.5", "blocks.5.align", "blocks.5.align.1"]
    assert [b.name for b in report.blocks] == ["(cnf64_7_2 m3_2_1)", "r", "r", "r128_3_2", "r", "r256_3_2"]
    assert report.blocks[-1].failed
    assert text(tree_table(report, depth=1)) == textwrap.dedent("""\
        module                                           params  share     MACs  input -> output
        CNN                                                               5.1 M  (1, 3, 16, 16) -> fails
        └─ blocks: ModuleList                                             5.1 M
           ├─ Sequential  (cnf64_7_2 m3_2_1)              9,536         602.1 k  (1, 3, 16, 16) -> (1, 64, 4, 4)
           ├─ Residual(p=0) x 2  r                       73,984  ~  1%    1.2 M  (1, 64, 4, 4)  -> (1, 64, 4, 4)
           ├─ Residual  r128_3_2                        230,144  ~  2%  917.5 k  (1, 64, 4, 4)  -> (1, 128, 2, 2)
           ├─ Residual(p=0)  r                          295,424  ~  3%    1.2 M  (1, 128, 2, 2) -> (1, 128, 2, 2)
           └─ Residual  r256_3_2                                         32.8 k  (1, 128, 2, 2) -> fails
              ├─ block: Sequential                      885,760  ~  8%
              └─ align: Sequential                                       32.8 k  (1, 128, 2, 2) -> fails
                 ├─ Conv2d(128->256, k:1, s:2, p:0, F)   32,768          32.8 k  (1, 128, 2, 2) -> (1, 256, 1, 1)
                 └─ InstanceNorm2d(256)                     512                  (1, 256, 1, 1) -> fails
        """)
    with pytest.raises(ShapeError, match="blocks.5.align.1: InstanceNorm2d"):  # a batch does not help
        zoo.inspect(blocks, input_size=(2, 3, 16, 16), norm_align=3)


def test_shapes_are_those_of_eval_mode_so_a_working_model_is_no_failure():
    # BatchNorm in training mode cannot normalise a 1x1 image of a batch of 1, but the
    # model serves such an image in eval mode: the inspector follows eval mode (spec §7:
    # only shapes that cannot work are failures)
    report = zoo.inspect("resnet18", input_size=(3, 32, 32))
    assert (report.output, report.error) == ((1, 1000), None)
    assert [b.width for b in report.blocks[:-1]] == [8, 8, 8, 4, 4, 2, 2, 1, 1]
    model = zoo.create("resnet18_cifar").train()
    small = zoo.inspect(model, input_size=(3, 8, 8))  # down to 1x1 at r512_3_2
    assert small.output == (1, 10) and small.blocks[-2].shape == (1, 512, 1, 1)
    assert all(m.training for m in model.modules())  # the model's own flags stay
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 8, 8)).shape == (1, 10)  # it really works


class ForcedBatchStats(nn.Module):
    """Batch statistics even in eval mode: one value per channel cannot be normalised."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return nn.functional.batch_norm(x, None, None, self.bn.weight, self.bn.bias, training=True)


def test_the_batch_of_2_hint_stays_where_it_helps():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), ForcedBatchStats())
    with pytest.raises(ShapeError) as info:
        zoo.inspect(model, input_size=(3, 3, 3))
    assert str(info.value).splitlines()[-1] == (
        "the image is down to 1x1 and the batch is 1, so the norm has one value per channel to normalise: "
        "give a larger input, take out a stride, or use a batch of 2 (input B,C,H,W)")
    assert zoo.inspect(model, input_size=(2, 3, 3, 3)).output == (2, 4, 1, 1)


def test_failure_image_below_one_pixel():
    with pytest.raises(ShapeError) as info:
        zoo.inspect("cnf8_7_2 m3_2", input_size=(3, 4, 4))
    assert str(info.value).splitlines() == [
        "block 'm3_2' (blocks.1, 2 of 2) cannot take its input (1, 8, 2, 2)",
        "  Given input size: (8x2x2). Calculated output size: (8x0x0). Output size is too small",
        "the image is too small for this block: give a larger input, or take out a stride or pool before it",
    ]
    assert isinstance(info.value, ValueError) and isinstance(info.value, zoo.ZooError)


def test_failure_channels_that_do_not_fit():
    with pytest.raises(ShapeError) as info:
        zoo.inspect(mnist_cnn(), input_size=(3, 28, 28))
    assert str(info.value).splitlines() == [
        "block 'cnf32' (blocks.0, 1 of 6) cannot take its input (1, 3, 28, 28)",
        "  in blocks.0.0: Conv2d(1->32, k:3, s:1, p:1, F) with input (1, 3, 28, 28)",
        "  Conv2d(1->32, k:3, s:1, p:1, F) takes 1 channels, and 3 arrive",
        "  (torch: Invalid channel dimensions)",
        "the model takes 1 input channels: give an input size of 1,H,W, or build it with input=3 (zoo inspect --set input=3)",
    ]
    model = nn.Sequential(CNN(blocks="cnf32 m r64"), nn.Linear(32, 10))
    with pytest.raises(ShapeError, match=r"layer '1', Linear\(32->10, T\), cannot take its input \(1, 64\)\n"
                                         r"  Linear\(32->10, T\) takes 32 features, and 64 arrive"):
        zoo.inspect(model, input_size=(3, 16, 16))


def test_model_state_prints_the_tree_up_to_the_failure_then_raises():
    buffer = io.StringIO()
    with pytest.raises(ShapeError):
        ModelState(CNN(blocks="cnf8_7_2 m3_2")).layers(3, input_size=(1, 3, 4, 4),
                                                       console=Console(file=buffer, width=100, color_system=None))
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    assert lines[0] == "CNN:  (1, 3, 4, 4) -> failed"
    assert lines[-2:] == ["   └─ MaxPool2d(k:3, s:2, p:0)  m3_2                    (1, 8, 2, 2) -> fails",
                          "params: 1,192"]


# -- modules that need real values run on the CPU ----------------------------------------


class KeepPositive(nn.Module):
    """Data-dependent: the output's size depends on the values (no meta kernel can know)."""

    def forward(self, x):
        kept = x.flatten(1)[:, : int((x > -1e9).sum().item()) // x.shape[0]]
        return kept.view(x.shape[0], -1)


def test_modules_that_need_real_values_run_on_the_cpu_and_say_so():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), KeepPositive(), nn.Linear(4 * 8 * 8, 10))
    before = snapshot(model)
    report = zoo.inspect(model, input_size=(3, 8, 8))
    assert report.output == (1, 10)
    rows = {r.path: r for r in report.tree}
    # the activations that reach it are real: the convolution before it runs for real too,
    # the Linear after it (no value read after the module's) on meta, without weights
    assert (rows["0"].device, rows["1"].device, rows["2"].device) == ("cpu", "cpu", "meta")
    assert [r.path for r in report.tree if r.needs_values] == ["1"]
    assert rows["1"].output == (1, 256)
    assert report.macs == 3 * 4 * 9 * 64 + 256 * 10
    assert report.notes == ["needed real values: 1 (ran for real on a random input up to the last value read: "
                            "3 of 4 modules; the rest on meta, without weights)"]
    assert "Sequential  (1, 3, 8, 8) -> (1, 10)" in text(report)
    assert snapshot(model)["devices"] == before["devices"] == {"cpu"}


# -- target resolution -------------------------------------------------------------------


def test_targets_and_their_errors():
    assert zoo.inspect("cnf8", input_size=(1, 8, 8), fun="gelu").tree[2].description == "Sequential"
    assert any(r.description == "GELU" for r in zoo.inspect("cnf8", (1, 8, 8), fun="gelu").tree)
    report = zoo.inspect("cnf8")
    assert report.input == (1, 3, 32, 32)
    assert report.notes == ["input size not given: 3x32x32 assumed (zoo inspect --input C,H,W)"]
    with pytest.raises(zoo.UnknownPresetError, match="; did you mean 'resnet18_cifar'"):
        zoo.inspect("resnet18_cifr")
    with pytest.raises(zoo.UnknownTokenError):
        zoo.inspect("cnf8 q12")
    with pytest.raises(zoo.OptionError, match="apply to presets and block strings"):
        zoo.inspect(nn.Linear(2, 2), (2,), fun="gelu")
    with pytest.raises(ShapeError, match="input_size"):
        zoo.inspect("cnf8", input_size=(3, 0, 8))
    plain = zoo.inspect(nn.Sequential(nn.Linear(4, 8), nn.ReLU()))
    assert plain.params == 40 and plain.input == () and plain.macs == 0
    assert plain.notes[-1] == "no input size: shapes and MACs need input_size=(C, H, W)"


def test_yaml_preset_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\ndescription: a tiny test net\ninput: [1, 12, 12]\nblocks: \"cnf8 m r16_3_2\"\n"
                    "head: {num_classes: 3}\n")
    report = zoo.inspect(str(path))
    assert report.name == "tiny" and report.input == (1, 1, 12, 12) and report.output == (1, 3)
    assert [b.name for b in report.blocks] == ["cnf8", "m", "r16_3_2", "head"]


# -- the fast shape rules agree with torch's meta kernels --------------------------------


def run_both(make, shape):
    """Output shapes (or the error type) with the fast rules and with torch's kernels."""
    results = []
    for fast in (True, False):
        with torch.device("meta"):
            module = make()
        x = torch.empty(shape, device="meta")
        try:
            if fast:
                with MetaShapeMode():
                    out = module(x)
            else:
                out = module(x)
            results.append(tuple(out.shape))
        except Exception as error:  # noqa: BLE001 - the same failure is the point
            results.append(type(error).__name__)
    return results


@settings(max_examples=60, deadline=None)
@given(
    channels=st.integers(1, 4), size=st.integers(1, 9), out=st.integers(1, 4), kernel=st.integers(1, 5),
    stride=st.integers(1, 3), padding=st.integers(0, 3), dilation=st.integers(1, 2), batched=st.booleans(),
)
def test_fast_convolution_shapes_match_torch(channels, size, out, kernel, stride, padding, dilation, batched):
    shape = (2, channels, size, size + 1) if batched else (channels, size, size + 1)
    fast, slow = run_both(lambda: nn.Conv2d(channels, out, kernel, stride, padding, dilation), shape)
    assert fast == slow


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 9), kernel=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       ceil=st.booleans(), kind=st.sampled_from(["max", "avg"]))
def test_fast_pool_shapes_match_torch(size, kernel, stride, padding, ceil, kind):
    if kind == "max":
        make = lambda: nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil)  # noqa: E731
    else:
        make = lambda: nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil)  # noqa: E731
    fast, slow = run_both(make, (1, 2, size, size + 2))
    assert fast == slow


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.BatchNorm2d(4), (2, 4, 3, 3)),
    (lambda: nn.BatchNorm2d(4), (2, 5, 3, 3)),
    (lambda: nn.BatchNorm2d(4).eval(), (1, 4, 1, 1)),
    (lambda: nn.InstanceNorm2d(4, affine=True), (2, 4, 3, 3)),
    (lambda: zoo.LayerNormChannels(4), (2, 4, 3, 3)),
    (lambda: nn.LayerNorm(6), (2, 4, 6)),
    (lambda: nn.Linear(6, 3), (2, 6)),
    (lambda: nn.Linear(6, 3), (2, 5, 6)),
    (lambda: nn.Linear(6, 3), (2, 5)),
    (lambda: nn.AdaptiveAvgPool2d(1), (2, 4, 3, 3)),
    (lambda: nn.AdaptiveMaxPool2d((2, 3)), (2, 4, 5, 7)),
    (lambda: nn.Dropout(0.5), (2, 4)),
    (lambda: nn.Dropout2d(0.5), (2, 4, 3, 3)),
    (lambda: nn.Flatten(), (2, 4, 3, 3)),
    (lambda: nn.Softmax(dim=1), (2, 4)),
    (lambda: nn.ZeroPad2d((1, 2, 0, 1)), (2, 4, 3, 3)),
] + [(lambda cls=cls: cls(), (2, 3, 4, 4)) for cls in (nn.ReLU, nn.GELU, nn.ReLU6, nn.Sigmoid, nn.Tanh, nn.SiLU,
                                                      nn.Hardswish, nn.Hardsigmoid)])
def test_fast_layer_shapes_match_torch(make, shape):
    fast, slow = run_both(make, shape)
    assert fast == slow


@settings(max_examples=40, deadline=None)
@given(a=st.lists(st.integers(1, 3), min_size=0, max_size=3), b=st.lists(st.integers(1, 3), min_size=0, max_size=3),
       op=st.sampled_from(["add", "mul", "sub", "div"]))
def test_fast_broadcasting_matches_torch(a, b, op):
    x, y = torch.empty(a, device="meta"), torch.empty(b, device="meta")
    results = []
    for fast in (True, False):
        try:
            if fast:
                with MetaShapeMode():
                    results.append(tuple(getattr(torch, op)(x, y).shape))
            else:
                results.append(tuple(getattr(torch, op)(x, y).shape))
        except RuntimeError:
            results.append("error")
    assert results[0] == results[1]


def test_report_str_and_repr():
    report = zoo.inspect("cnf8 m", input_size=(1, 8, 8))
    assert repr(report) == "<zoo.Report cnf8 m: 88 params, 4,608 MACs>"
    assert str(report).startswith("cnf8 m  (1, 1, 8, 8) -> (1, 8)  88 params  4.6 k MACs\n")


def test_deepcopy_of_a_model_after_inspection_still_works():
    model = mnist_cnn()
    zoo.inspect(model, input_size=(1, 28, 28))
    assert tuple(copy.deepcopy(model)(torch.zeros(2, 1, 28, 28)).shape) == (2, 64)


def test_options_of_a_block_string_target_get_their_own_errors():
    with pytest.raises(zoo.OptionError, match=r"blocks='m': the block string is the target itself"):
        zoo.inspect("c8", blocks="m")
    with pytest.raises(zoo.UnknownOptionError, match=r"unknown option 'fnu'; did you mean 'fun'"):
        zoo.inspect("c8", fnu=1)
    with pytest.raises(zoo.OptionError, match=r"option norm=7: must be one of 0, 1, 2, 3"):
        zoo.inspect("c8", norm=7)
    with pytest.raises(zoo.UnknownOptionError, match=r"head is an override of a preset; a block string takes "
                                                     r"num_classes \(a classifier's head\)"):
        zoo.inspect("c8", head={"hidden": [3]})
    assert tuple(zoo.inspect("c8", num_classes=10, input_size=(3, 8, 8)).output) == (1, 10)  # a classifier
    for call in (lambda: zoo.inspect("c8", fnu=1), lambda: zoo.inspect("c8", norm=7)):
        with pytest.raises(zoo.ZooError) as info:
            call()
        assert not isinstance(info.value, zoo.UnknownPresetError) and "unknown preset" not in str(info.value)
    # only text that is neither a preset nor a block string reads as an unknown preset
    with pytest.raises(zoo.UnknownPresetError, match=r"unknown preset 'q12'.*\nNot a block string either: "
                                                     r"unknown token 'q12' \(column 1\)"):
        zoo.inspect("q12", fnu=1)
    with pytest.raises(zoo.UnknownPresetError, match=r"unknown preset 'resnet18_cfar'; did you mean 'resnet18_cifar'"):
        zoo.inspect("resnet18_cfar", num_classes=10)  # a misspelt preset, not a block string's option


def test_a_preset_target_takes_the_preset_overrides():
    report = zoo.inspect("r32m", num_classes=100, head={"hidden": [64]}, fun="gelu")
    assert report.output == (1, 100)
    assert report.params == 1_607_818 - 2_570 + 256 * 64 + 64 + 64 * 100 + 100
    assert zoo.inspect("r32m", blocks="r16 m").blocks[0].name == "r16"
    with pytest.raises(zoo.PresetError, match=r"create\('r32m'\): blocks must be a block string .*, not ''"):
        zoo.inspect("r32m", blocks="")


def test_model_state_argument_mistakes_are_zoo_errors():
    state = ModelState(CNN(blocks="c8"))
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None)
    with pytest.raises(ShapeError, match=r"input_size must be a tuple of whole numbers, e\.g\. \(3, 32, 32\), not 'abc'"):
        state.layers(2, input_size="abc", console=console)
    for depth in ("x", -1, 1.5, True):
        with pytest.raises(zoo.OptionError, match=r"depth=.*: the depth of the tree must be a whole number >= 0"):
            state.layers(depth, input_size=(3, 8, 8), console=console)
    assert buffer.getvalue() == ""  # nothing printed for a call that cannot run
    with pytest.raises(zoo.OptionError, match="the depth of the tree"):
        zoo.inspect("c8", input_size=(3, 8, 8)).render(depth="2")


def test_numbers_read_the_same_as_in_zoo_list():
    # one formatter (spec §10): 1.81 G, 140.2 M, 5.1 k, here as in `zoo list`
    report = zoo.inspect("resnet18")
    assert text(report).startswith("resnet18  (1, 3, 224, 224) -> (1, 1000)  11,689,512 params  1.81 G MACs\n")
    assert "5.1 k" in text(zoo.inspect("resnet18_cifar"))


def test_inspector_and_monitor_find_the_same_network():
    with pytest.raises(ShapeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d") as info:
        zoo.inspect(nn.Sequential(CNN(blocks="c8 r"), CNN(input=8, blocks="c16")), input_size=(3, 8, 8))
    assert "channels" not in str(info.value)  # a flat (1, 8) is no channel mismatch
    two = nn.Sequential(CNN(blocks="c8 r", pool=0, flat=False), CNN(input=8, blocks="c16"))
    report = zoo.inspect(two, input_size=(3, 8, 8))  # which network's blocks? neither: the children
    assert [b.name for b in report.blocks] == ["0", "1"]
    assert top_level(two)[0] is two
    one = nn.Sequential(CNN(blocks="c8 r"), nn.Linear(8, 2))
    assert [b.name for b in zoo.inspect(one, input_size=(3, 8, 8)).blocks] == ["c8", "r", "head"]
    assert top_level(one)[0] is one[0]


def test_frozen_parameters_are_counted_apart():
    model = zoo.create("r32m")
    model.cnn.requires_grad_(False)
    report = zoo.inspect(model)
    assert (report.params, report.trainable) == (1_607_818, 2_570)
    assert report.to_dict()["trainable"] == 2_570
    assert "(2,570 trainable, 1,605,248 frozen)" in text(report)
