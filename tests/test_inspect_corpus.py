"""zoo inspect on the kinds of model torchinfo's own test corpus holds (issue 21):
TorchScript and lazy modules, attention on the real-values path, modules shared or
reached past their container, inputs without a batch dimension, inputs that hold no
top-level tensor, 0-d and numpy inputs, the width when piped, and the passes a
detector needs. Each model is zoo's own small version of the corpus's case.

Every test here runs under the ``inspected_models_stay_unchanged`` guard of
``conftest.py``: each model handed to the inspector is snapshotted before and
compared after (weights, gradients, flags, devices, classes, hooks).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.cli import main
from zoo.inspector import inspection
from zoo.inspector.counting import MacCounter
from zoo.inspector.report import IN_FORWARD


def real_macs(model: nn.Module, *args) -> int:
    """The oracle: MACs of a real forward of a private copy (eval mode)."""
    import copy

    twin = copy.deepcopy(model).eval()
    with torch.no_grad(), MacCounter() as counter:
        twin(*args)
    return counter.macs


def rows_of(report) -> dict:
    return {r.path: r for r in report.tree}


def assert_levels_add_up(report) -> None:
    """Each called row's MACs are its children's plus its own ``(in forward)`` row."""
    rows = report.tree
    for i, row in enumerate(rows):
        if row.macs is None or row.same_as is not None:
            continue
        kids, j = 0, i + 1
        found = False
        while j < len(rows) and rows[j].level > row.level:
            if rows[j].level == row.level + 1 and rows[j].macs is not None:
                kids += rows[j].macs
                found = True
            j += 1
        if found:
            assert kids == row.macs, (row.path, kids, row.macs)


# -- the guard itself ----------------------------------------------------------------------------


def test_the_guard_catches_an_inspection_that_changes_the_model(monkeypatch, inspected_models_stay_unchanged):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    zoo.inspect(model, input_size="[2,4]")
    assert inspected_models_stay_unchanged == ["Sequential"]
    monkeypatch.setattr(inspection, "meta_copy", lambda m: m)  # inspect the model itself: eval() flips its flags
    with pytest.raises(AssertionError, match="changed"):
        zoo.inspect(model, input_size="[2,4]")
    model.train()


# -- 1. TorchScript ------------------------------------------------------------------------------


class Digits(nn.Module):
    """Two convolutions and two linear layers on a 28x28 digit."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 12, 5)
        self.drop = nn.Dropout2d(0.25)
        self.fc1, self.fc2 = nn.Linear(192, 32), nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.drop(self.conv2(x))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


DIGITS_PARAMS = 156 + 1_812 + 6_176 + 330
DIGITS_MACS = 6 * 24 * 24 * 25 + 12 * 8 * 8 * 6 * 25 + 192 * 32 + 32 * 10


def script(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated, and still in use
        return torch.jit.script(module)


def test_a_scripted_model_is_inspected_and_keeps_its_training_flags():
    model = script(Digits())
    report = zoo.inspect(model, input_size=(1, 28, 28))
    assert (report.params, report.macs, report.output) == (DIGITS_PARAMS, DIGITS_MACS, (1, 10))
    assert report.tree[0].description == "Digits (TorchScript)" and report.name == "Digits"
    assert all(m.training for m in model.modules())  # the copy's eval() never reached its C++ object


def test_a_scripted_part_is_one_leaf_with_its_macs():
    model = Digits()
    model.fc1, model.fc2 = script(model.fc1), script(model.fc2)
    report = zoo.inspect(model, input_size=(1, 28, 28))
    rows = rows_of(report)
    assert (report.params, report.macs) == (DIGITS_PARAMS, DIGITS_MACS)
    assert (rows["fc1"].description, rows["fc1"].macs, rows["fc1"].output) == ("Linear (TorchScript)", 6_144, (1, 32))
    assert rows["fc2"].macs == 320 and rows["conv1"].macs == 86_400
    assert model.fc1.training and model.training


# -- 2. lazy parameters --------------------------------------------------------------------------


class CreatesItsParameter(nn.Module):
    """An uninitialised parameter that the forward replaces."""

    def __init__(self):
        super().__init__()
        self.scale = nn.UninitializedParameter()

    def forward(self, x):
        self.scale = nn.Parameter(torch.ones(x.shape[-1], device=x.device))
        return x * self.scale


def test_lazy_parameters_are_sized_on_a_copy_and_stay_uninitialised():
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2))
    report = zoo.inspect(model, input_size="[4,16]")
    assert (report.params, report.trainable, report.macs) == (16 * 8 + 8 + 18, 154, 4 * (16 * 8 + 8 * 2))
    assert rows_of(report)["0"].params == 136 and rows_of(report)["0"].output == (4, 8)
    assert "2 lazy parameters: sized by the forward on a copy" in " ".join(report.notes)
    assert isinstance(model[0], nn.LazyLinear) and isinstance(model[0].weight, nn.UninitializedParameter)
    before = zoo.inspect(model)  # no forward: what has a size, and a note
    assert before.params == 18 and "lazy parameters uninitialised" in before.notes[0]
    made = zoo.inspect(CreatesItsParameter(), input_size="[2,128]")
    assert made.params == 128 and made.output == (2, 128)


# -- 3. attention on the real-values path ----------------------------------------------------------


class Attention(nn.Module):
    """Two heads of scaled dot-product attention; ``reads``: a value read first (as T5's
    relative positions do), so the model runs on real values, on the CPU."""

    def __init__(self, reads: bool):
        super().__init__()
        self.reads = reads
        self.qkv, self.out = nn.Linear(16, 48), nn.Linear(16, 16)

    def forward(self, x):
        if self.reads and x.abs().sum().item() < 0:
            x = -x
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, 2, 8).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, 16))


def test_attention_counts_the_same_on_meta_and_on_real_values():
    x = torch.randn(1, 10, 16)
    hand = 10 * 16 * 48 + 2 * (2 * 10 * 10 * 8) + 10 * 16 * 16
    on_meta = zoo.inspect(Attention(reads=False), input_data=x)
    on_cpu = zoo.inspect(Attention(reads=True), input_data=x)
    assert [r.path for r in on_cpu.tree if r.needs_values] == [""] and on_cpu.tree[0].device == "cpu"
    assert on_meta.macs == on_cpu.macs == hand == real_macs(Attention(reads=True), x)
    assert rows_of(on_cpu)[IN_FORWARD].macs == 3_200  # the two products, in the model's own forward


# -- 4. shared and bypassed modules ------------------------------------------------------------------


class SharedLinear(nn.Module):
    """One Linear registered under four names, called three times through one of them."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 10)
        self.model = nn.Sequential(*[m for _ in range(3) for m in (self.linear, nn.ReLU())])

    def forward(self, x):
        return self.model(x)


def test_a_shared_module_is_booked_at_the_names_it_was_called_through():
    report = zoo.inspect(SharedLinear(), input_size="[2,10]")
    rows = rows_of(report)
    assert report.macs == 600 and report.params == 110
    assert rows["linear"].macs is None and rows["linear"].calls == 0  # registered, never called by that name
    assert [rows[p].macs for p in ("model", "model.0", "model.2", "model.4")] == [600, 200, 200, 200]
    assert not any(r.type == IN_FORWARD for r in report.tree) and all(r.macs is None or r.macs >= 0 for r in report.tree)
    assert [b.name for b in report.blocks] == ["linear", "model"] and report.blocks[0].params == 110
    assert_levels_add_up(report)


def test_hooks_of_the_model_stay_and_never_see_the_inspection():
    seen = []
    plain, hooked = SharedLinear(), SharedLinear()
    hooked.linear.register_forward_pre_hook(lambda m, a: seen.append("pre"))
    hooked.linear.register_forward_hook(lambda m, a, o: seen.append("post"))
    first, second = zoo.inspect(plain, input_size="[2,10]"), zoo.inspect(hooked, input_size="[2,10]")
    assert str(first).replace("SharedLinear", "") == str(second).replace("SharedLinear", "")
    assert seen == [] and len(hooked.linear._forward_hooks) == len(hooked.linear._forward_pre_hooks) == 1


class Inner(nn.Module):
    """Calls its Sequential, and also the Sequential's children one by one."""

    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(5, 5), nn.Linear(5, 5))
        self.between = nn.Linear(5, 5)

    def forward(self, x):
        out = self.between(self.seq(x))
        for layer in self.seq:
            out = layer(out)
        out = self.seq(x)
        for layer in self.seq:
            out = layer(out)
        return out


class Container(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(5, 5), Inner(), nn.Linear(5, 5)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def test_children_called_past_their_container_are_booked_under_it():
    report = zoo.inspect(Container(), input_size=(5,))
    rows = rows_of(report)
    assert report.macs == 11 * 25 == real_macs(Container(), torch.randn(5))
    assert [rows[p].macs for p in ("layers", "layers.1", "layers.1.seq", "layers.1.seq.0", "layers.1.between")] == [
        275, 225, 200, 100, 25]
    assert rows["layers.1.seq"].calls == 2 and rows["layers.1.seq.0"].calls == 4
    assert not any(r.type == IN_FORWARD for r in report.tree)
    assert_levels_add_up(report)


# -- 5. what MACs are divided by ------------------------------------------------------------------


def test_macs_are_totals_where_no_batch_is_known():
    report = zoo.inspect(nn.Linear(10, 20), input_size=(10,))
    assert (report.macs, report.per) == (200, "forward")
    assert "MACs in all: no batch dimension known in (10,)" in report.notes[-1]
    assert str(report).splitlines()[-2].endswith("200 MACs in all")
    lstm = nn.LSTM(8, 16)  # sequence first: (T, B, F)
    steps = zoo.inspect(lstm, input_size="[10,2,8]")
    assert (steps.macs, steps.per) == (10 * 2 * 4 * 16 * (8 + 16), "forward")  # 2 sequences of 10 steps
    assert real_macs(lstm, torch.randn(10, 2, 8)) == steps.macs  # the CPU's fused layer counts the same


def shapes(value):
    return tuple(value.shape) if isinstance(value, torch.Tensor) else [shapes(v) for v in value]


@pytest.mark.parametrize("make, size, macs", [
    (lambda: nn.LSTM(8, 16, 2), (10, 2, 8), 20 * 4 * 16 * (8 + 16 + 16 + 16)),
    (lambda: nn.LSTM(8, 16, 2, batch_first=True, bidirectional=True), (2, 10, 8),
     20 * 2 * 4 * 16 * (8 + 16 + 32 + 16)),
    (lambda: nn.LSTM(8, 16, proj_size=4), (5, 3, 8), 15 * (4 * 16 * (8 + 4) + 16 * 4)),
    (lambda: nn.GRU(8, 16), (10, 8), 10 * 3 * 16 * (8 + 16)),
    (lambda: nn.RNN(8, 16, 3, bidirectional=True), (4, 2, 8), 8 * 2 * 16 * (8 + 16 + 2 * (32 + 16))),
])
def test_a_recurrent_layer_on_meta_has_the_shapes_and_macs_of_a_real_forward(make, size, macs):
    model = make()
    report = zoo.inspect(model, input_size=f"[{','.join(map(str, size))}]")
    with torch.no_grad():
        real = model(torch.randn(size))
    assert report.output == shapes(real) and report.macs == macs


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(10, 10), nn.Linear(10, 10)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


def test_a_batch_is_known_from_images_and_from_inputs_that_agree():
    pair = zoo.inspect(Pair(), input_data=(torch.randn(3, 10), torch.randn(3, 10)))
    assert (pair.macs, pair.per) == (200, "sample") and "MACs per sample" in str(pair)
    images = zoo.inspect(nn.Conv2d(3, 4, 3), input_size=(2, 3, 8, 8))
    assert (images.macs, images.per) == (4 * 36 * 27, "image")


# -- 6. inputs with no top-level tensor -----------------------------------------------------------------


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(10, 4)

    def forward(self, batch, mode="sum"):
        x = batch["inputs"]["x"][0] if isinstance(batch, dict) else batch[0]
        return self.lin(x).sum(-1) if mode == "sum" else self.lin(x)


def test_macs_and_shapes_come_from_whatever_the_forward_received():
    x = torch.randn(3, 10)
    report = zoo.inspect(Nested(), input_data={"batch": {"inputs": {"x": [x, None]}}})
    assert (report.macs, report.output) == (120, (3,))
    assert report.inputs == ["batch: dict of [(3, 10)]"]
    assert rows_of(report)["lin"].output == (3, 4)
    listed = zoo.inspect(Nested(), input_data=([x, None], "each"))
    assert (listed.macs, listed.output) == (120, (3, 4))
    assert str(listed).startswith("Nested  list of [(3, 10)], str -> (3, 4)  44 params  120 MACs")


# -- 7. inputs the forward accepts -----------------------------------------------------------------------


class FromScalar(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 4)

    def forward(self, x):
        return self.lin(x.reshape(1, 1))


class FromNumpy(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, array):
        assert isinstance(array, np.ndarray)
        return self.lin(torch.from_numpy(array)).detach().numpy()


def test_a_0d_input_and_a_numpy_array():
    for size in ((), "float32[]"):
        report = zoo.inspect(FromScalar(), input_size=size)
        assert (report.input, report.output, report.macs) == ((), (1, 4), 4)
    report = zoo.inspect(FromNumpy(), input_data=np.ones((2, 3), dtype=np.float32))
    assert (report.input, report.macs, report.inputs) == ((2, 3), 18, ["(2, 3) numpy float32"])


# -- 10. the width when piped -----------------------------------------------------------------------------


def test_columns_is_honoured_when_piped(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["inspect", "resnet18_cifar"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80 and not any(line != line.rstrip() for line in lines)
    assert lines[0] == "resnet18_cifar  (1, 3, 32, 32) -> (1, 10)  11,173,962 params  140.2 M MACs"
    assert lines[3].startswith("Classifier") and "3×32×32" in lines[3]  # short shapes: the tree fits
    monkeypatch.delenv("COLUMNS")  # no COLUMNS: as wide as the report needs
    assert main(["inspect", "resnet18_cifar"]) == 0
    wide = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in wide) > 80 and not any(line != line.rstrip() for line in wide)


# -- 8. passes ----------------------------------------------------------------------------------------------


class ManyReads(nn.Module):
    """Reads a value in each of five modules, as a detector's stages do."""

    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList(nn.Linear(8, 8) for _ in range(5))

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
            if x.abs().sum().item() < 0:
                x = -x
        return x


def test_a_model_reading_values_many_times_takes_at_most_three_passes():
    report = zoo.inspect(ManyReads(), input_size="[2,8]")
    assert report.passes == 3 and report.macs == 5 * 2 * 64
    assert report.notes[-1].startswith("needed real values: ManyReads (ran for real on a random input, all 6")
    assert zoo.inspect(nn.Linear(8, 8), input_size="[2,8]").passes == 1


class TwoReads(nn.Module):
    """A backbone of ``width`` channels, then two reads of what it made, each before a head."""

    def __init__(self, width: int, head: int):
        super().__init__()
        self.backbone = nn.Linear(8, width)
        self.heads = nn.ModuleList([nn.Linear(width, head), nn.Linear(head, head)])

    def forward(self, x):
        x = self.backbone(x)
        for layer in self.heads:
            if x.abs().sum().item() < 0:
                x = -x
            x = layer(x)
        return x


def test_a_first_read_after_half_the_weights_makes_the_second_pass_real_to_the_end():
    # the backbone holds 576 of 8,896 weights: its read is early, the next pass goes back
    # to meta after it and meets the second read there (3 passes, as ManyReads)
    assert zoo.inspect(TwoReads(64, 64), input_size="[2,8]").passes == 3
    # 36,864 of 53,272 weights (a detector's backbone): real to the end on the second pass
    report = zoo.inspect(TwoReads(4096, 4), input_size="[2,8]")
    assert report.passes == 2 and report.macs == 2 * (8 * 4096 + 4096 * 4 + 4 * 4)


@pytest.mark.slow
def test_faster_rcnn_in_two_passes():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()
    images = [torch.rand(3, 320, 320)]
    report = zoo.inspect(model, input_data=(images,))  # its time against torchinfo: bench/bench_inspect.py
    assert report.passes == 2 and report.params == sum(p.numel() for p in model.parameters())
    rows = rows_of(report)
    assert rows["backbone"].macs > 1e9 and rows["rpn"].needs_values
    assert_levels_add_up(report)
