"""``zoo bench`` and ``zoo.benchmark.timing.benchmark``: alternation, the numbers and how they
relate, the 80-column table, bad input. Timings themselves are the machine's: the tests
check what follows from them (medians, ratios, GFLOP/s, share of peak), never a speed.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch
from rich.console import Console

import zoo
from zoo.benchmark.timing import BenchReport, BenchResult, benchmark, check_device, split_variants
from zoo.cli import main
from zoo.errors import DeviceError, OptionError
from zoo.target import _load_factory

FIXTURE = Path(__file__).parent / "fixtures" / "bench_models.py"
A, B = f"{FIXTURE}:build_a", f"{FIXTURE}:build_b"
TINY = "cnf8 m r16_3_2"
QUICK = {"batch": 2, "steps": 1, "warmup": 1, "peak_size": 128, "threads": 1}  # 1: calm on a busy machine


def test_models_are_timed_alternately_in_a_rotating_order():
    calls = _load_factory(A).__globals__["CALLS"]
    calls.clear()
    report = benchmark([A, B], mode="infer", repeats=3, input_size=(3, 8, 8), **QUICK)
    # built and warmed one after the other (the inspector's meta pass, a check forward,
    # 1 warm-up step), one memory step each, then the repeats: a b, b a, a b
    assert calls == ["a", "a", "a", "b", "b", "b", "a", "b", "a", "b", "b", "a", "a", "b"]
    assert [len(r.images_per_s) for r in report.results] == [3, 3]


def test_the_numbers_follow_from_the_timings_and_the_model():
    threads = torch.get_num_threads()
    report = benchmark([TINY, f"{TINY}@channels_last"], mode="train", repeats=3, input_size=(3, 16, 16),
                       **QUICK)
    first, second = report.results
    inspected = zoo.inspect(TINY, input_size=(3, 16, 16))
    assert (first.params, first.macs) == (inspected.params, inspected.macs) == (3912, 112640)
    assert (first.channels_last, second.channels_last, second.label) == (False, True, f"{TINY}@channels_last")
    assert first.flops_per_image == 6 * first.macs  # a training step: forward + backward
    assert first.median == statistics.median(first.images_per_s)
    assert first.seconds_per_million == pytest.approx(1e6 / first.median)
    assert first.gflops == pytest.approx(first.median * 6 * 112640 / 1e9)
    paired = statistics.median(b / a for a, b in zip(first.images_per_s, second.images_per_s))
    assert (first.ratio, second.ratio) == (1.0, pytest.approx(paired))
    assert report.peak_gflops > 0 and report.peak_what == "float32 128x128 matrix product, best of 3"
    assert second.fraction_of_peak == pytest.approx(second.gflops / report.peak_gflops)
    # weights + gradients + SGD momentum, float32, at the least
    assert first.peak_memory >= 3 * 4 * 3912
    data = report.to_dict()
    assert data["mode"] == "train" and data["results"][1]["channels_last"] is True
    assert report.threads == 1 and torch.get_num_threads() == threads  # set for the run only
    assert data["results"][0]["images_per_s_repeats"] == first.images_per_s


def _report() -> BenchReport:
    results = [
        BenchResult("resnet18_cifar", "resnet18_cifar", 11_173_962, 140_186_624, (3, 32, 32),
                    [100.0, 104.0, 98.0], 512 * 2**20, 1.0, 0.25, 6 * 140_186_624),
        BenchResult("resnet18_cifar@channels_last", "resnet18_cifar", 11_173_962, 140_186_624, (3, 32, 32),
                    [110.0, 112.0, 111.0], 498 * 2**20, 1.11, 0.28, 6 * 140_186_624),
    ]
    return BenchReport("train", 32, 5, 3, 2, "cpu", "Example CPU", 2, "2.14.1", None, 336.4,
                       "float32 2048x2048 matrix product, best of 3", results)


def test_the_table_is_readable_at_80_columns():
    console = Console(width=80, color_system=None, record=True)
    console.print(_report().render())
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert max(map(len, lines)) <= 80
    assert lines[:9] == [
        "training (forward, backward, SGD step), batch 32",
        "Example CPU (cpu, 2 threads), torch 2.14.1",
        "3 repeats of 5 steps, models alternating, after 2 warm-up steps each",
        "peak 336.4 GFLOP/s (float32 2048x2048 matrix product, best of 3, same run)",
        "model               img/s ±    s/10⁶   mem MB   GMACs   GFLOP/s   peak   ratio",
        "──────────────────────────────────────────────────────────────────────────────",
        "resnet18_cifar    100.0  3%   10,000      512    0.14      84.1    25%    1.00",
        "resnet18_cifar    111.0  1%    9,009      498    0.14      93.4    28%    1.11",
        " @channels_last",
    ]


def test_command_json(capsys):
    code = main(["bench", TINY, "--vs", f"{TINY}@bf16", "--infer", "--batch", "2", "--steps", "1",
                 "--repeats", "2", "--warmup", "1", "--input", "3,16,16", "--no-peak", "--threads", "1", "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["mode"], data["batch"], data["peak_gflops"]) == ("infer", 2, None)
    assert [(r["label"], r["amp"], len(r["images_per_s_repeats"])) for r in data["results"]] == [
        (TINY, None, 2), (f"{TINY}@bf16", "bf16", 2)]
    assert data["results"][0]["flops_per_image"] == 2 * 112640  # inference: forward only


def test_command_table(capsys):
    code = main(["bench", TINY, "--batch", "2", "--steps", "1", "--repeats", "1", "--warmup", "0",
                 "--input", "3,16,16", "--threads", "1"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.startswith("training (forward, backward, SGD step), batch 2\n")
    assert "1 repeat of 1 step, models alternating, after 0 warm-up steps each" in out
    row = next(line for line in out.splitlines() if line.startswith(TINY))
    assert row.split()[-1] == "1.00" and row.split()[-4] == "0.11M"  # ratio, GMACs of 112,640


@pytest.mark.parametrize("args, message", [
    (["--device", "cuda"], "zoo bench: error: device 'cuda' is not available: "),
    (["--device", "tpu"], "zoo bench: error: unknown device 'tpu': give cpu, cuda, cuda:N or mps"),
    (["--vs", "r32m@compiled"], "zoo bench: error: r32m@compiled: unknown variant 'compiled'; did you mean "
                                "'compile'?"),
    (["--set", "nrom=1"], "zoo bench: error: --set: unknown option 'nrom'; did you mean 'norm'"),
])
def test_bad_arguments_exit_2(capsys, args, message):
    code = main(["bench", "r32m", *args])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith(message), err


def test_an_unknown_timm_name_is_exit_1_with_the_nearest(capsys):
    code = main(["bench", "r32m", "--vs", "timm:resnet81"])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("zoo: error: timm has no model 'resnet81'; did you mean 'resnet18'")


def test_library_checks():
    assert split_variants("resnet18_cifar@channels_last,compile") == ("resnet18_cifar",
                                                                       ("channels_last", "compile"))
    assert split_variants("nets.py:build") == ("nets.py:build", ())
    with pytest.raises(OptionError, match="choose one of bf16 and fp16"):
        split_variants("r32m@bf16,fp16")
    with pytest.raises(DeviceError, match="is not available"):
        check_device("cuda:0")
    with pytest.raises(OptionError, match="steps=0"):
        benchmark([TINY], steps=0)
    with pytest.raises(OptionError, match="mode='fit'"):
        benchmark([TINY], mode="fit")


@pytest.mark.parametrize("options", [{}, {"mult": 2, "fun_after": "relu", "norm_inside": 0},
                                     {"norm_block": 2, "drop_inside": 1}])
def test_in_place_relu_and_sum_compute_what_the_out_of_place_ones_do(options):
    """The speed fix of zoo bench's profile (timm's in-place ReLU and residual sum): the
    same outputs and gradients as fresh tensors everywhere, debug statistics included."""
    import copy

    from zoo import Residual

    torch.manual_seed(0)
    model = zoo.CNN(blocks="cnf16 r r32_3_2 r", **options).train()
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    residuals = [m for m in model.modules() if isinstance(m, Residual)]
    assert relus and all(m.inplace for m in relus)
    assert [r.sum_in_place for r in residuals] == [True, True, True]
    plain = copy.deepcopy(model)
    for m in plain.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
        if isinstance(m, Residual):
            m.sum_in_place = False
    model.debug(True)
    plain.debug(True)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    x_plain = x.detach().clone().requires_grad_(True)
    out, out_plain = model(x), plain(x_plain)
    out.square().sum().backward()
    out_plain.square().sum().backward()
    assert torch.equal(out, out_plain) and torch.equal(x.grad, x_plain.grad)
    for p, q in zip(model.parameters(), plain.parameters()):
        assert torch.equal(p.grad, q.grad)
    assert [s["ratio"] for s in model.block_stats()] == [s["ratio"] for s in plain.block_stats()]


def test_a_token_never_overwrites_the_input_it_is_given():
    x = torch.randn(2, 3, 8, 8)
    before = x.clone()
    zoo.CNN(blocks="relu cnf8 r relu", norm=0)(x)
    assert torch.equal(x, before)


@pytest.mark.slow  # inductor compiles C++ for the CPU: tens of seconds
def test_a_compiled_variant_is_timed_beside_the_eager_model():
    report = benchmark([TINY, f"{TINY}@compile"], repeats=2, input_size=(3, 16, 16), **QUICK)
    eager, compiled = report.results
    assert (eager.compiled, compiled.compiled) == (False, True)
    assert len(compiled.images_per_s) == 2 and compiled.macs == eager.macs == 112640
