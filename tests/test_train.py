"""zoo.Trainer, the data sets, batch augmentation and ModelState's statistics: the
library under ``zoo train``, with real models and scikit-learn's digits."""

from __future__ import annotations

import io
import json
import math
import os
import signal

import pytest
import torch

import zoo
from zoo import Trainer
from zoo.errors import DataError, OptionError, TrainingError
from zoo.target import resolve_model
from zoo.train import BatchAugment, Callback, Interrupted, fit_to_data
from zoo.train.augment import random_crop, random_erasing, random_flip

pytestmark = pytest.mark.usefixtures("one_thread")


def build(blocks: str, seed: int = 0, dropout: float = 0.0, **options):
    torch.manual_seed(seed)
    model = resolve_model(blocks, **options).with_data(num_classes=10, channels=1).build()
    if dropout:
        zoo.Change.dropout(model, dropout)
    return model


def make_trainer(digits, model, **kwargs):
    options = dict(batch_size=50, limit=300, progress="none", schedule="cosine", seed=5,
                   augment=BatchAugment("basic", digits.mean, digits.std))
    options.update(kwargs)
    return Trainer(model, digits.train, digits.val, **options)


def test_zoo_trainer_is_the_library_class():
    assert zoo.Trainer is Trainer and "Trainer" in zoo.__all__


def test_digits_split_and_statistics(digits):
    assert digits.shape == (1, 8, 8) and digits.num_classes == 10
    assert (len(digits.train), len(digits.val)) == (1437, 360)
    assert digits.train.images.dtype == torch.uint8 and int(digits.train.images.max()) == 255
    assert digits.mean[0] == pytest.approx(digits.train.images.float().div(255).mean().item(), abs=1e-3)


def test_an_interrupted_epoch_resumes_exactly(digits, tmp_path):
    """Ctrl-C (a real SIGINT) in the middle of epoch 2: last.pt, then load() + fit()
    give the weights of an uninterrupted run (dropout, augmentation and a cosine
    schedule all draw random numbers or depend on the step)."""
    straight = make_trainer(digits, build("cnf16 m d r32", dropout=0.2))
    straight.fit(3)

    class CtrlC(Callback):
        def on_step(self, trainer, step):
            if step.global_step == 9:  # epoch 2 of 6 steps, its third step
                os.kill(os.getpid(), signal.SIGINT)

    trainer = make_trainer(digits, build("cnf16 m d r32", dropout=0.2), out=tmp_path, callbacks=[CtrlC()])
    with pytest.raises(Interrupted, match=r"interrupted in epoch 2 after step 3 of 6; saved .*last\.pt"):
        trainer.fit(3)
    stored = torch.load(tmp_path / "last.pt", weights_only=True)
    assert (stored["epoch"], stored["step_in_epoch"], stored["global_step"]) == (1, 3, 9)

    resumed = make_trainer(digits, build("cnf16 m d r32", seed=99, dropout=0.2)).load(tmp_path / "last.pt")
    resumed.fit(2)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6, rtol=0), name
    assert [r["val_acc"] for r in straight.history] == [r["val_acc"] for r in resumed.history]
    assert resumed.history[1]["examples"] == straight.history[1]["examples"] == 300
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(straight.optimizer.param_groups[0]["lr"])


def test_stat_gives_best_smoothed_last_and_times(digits):
    trainer = make_trainer(digits, build("cnf8 m"), schedule="none", limit=200)
    trainer.fit(3)
    stat = trainer.stat()
    accs = [row["val_acc"] for row in trainer.history]
    assert stat["val_acc"] == {"best": max(accs), "smoothed": pytest.approx(sum(accs) / 3), "last": accs[-1]}
    seconds = sum(row["seconds"] for row in trainer.history)
    assert stat["seconds_per_1e6"] == pytest.approx(seconds / 600 * 1e6)
    assert stat["seconds_per_1e3_steps"] == pytest.approx(seconds / 12 * 1e3)
    assert stat["seconds_per_epoch"] == pytest.approx(seconds / 3)


def test_curves_plot_draws_earlier_runs_semi_transparent(digits):
    trainer = make_trainer(digits, build("cnf8 m"), schedule="none", limit=100)
    trainer.fit(2)
    earlier = [("older", [{"epoch": 1, "train_loss": 2.0, "val_loss": 2.1, "train_acc": 0.1, "val_acc": 0.2}])]
    figure = trainer.plot(earlier=earlier)
    loss_axis, acc_axis = figure.axes
    alphas = sorted({line.get_alpha() for line in loss_axis.get_lines()})
    assert alphas == [0.55, 1.0]
    assert [line.get_ydata()[0] for line in acc_axis.get_lines() if line.get_alpha() == 0.55] == [0.1, 0.2]
    (legend,) = figure.legends  # beside the plots: every curve's colour and style named
    assert [t.get_text() for t in legend.get_texts()] == ["training", "validation", "run (this run)", "older"]


def test_curves_have_whole_epochs_a_zoomed_accuracy_and_few_named_runs():
    from zoo.train.runs import plot_curves

    def history(offset: float, epochs: int = 8):
        return [{"epoch": e, "train_loss": 2 / (e + offset), "val_loss": 2.2 / (e + offset),
                 "train_acc": 0.95 - 0.5 / (e + offset), "val_acc": 0.1 if e == 1 else 0.93 - 0.5 / (e + offset)}
                for e in range(1, epochs + 1)]

    earlier = [(f"run{i}", history(1 + i / 4)) for i in range(9)]
    figure = plot_curves("r32m", history(1), earlier)
    loss_axis, acc_axis = figure.axes
    figure.canvas.draw()
    assert all(float(t).is_integer() for t in acc_axis.get_xticks())
    low, high = acc_axis.get_ylim()
    assert 0.7 < low < 0.76 and high <= 1.0  # the first epoch's 0.1 does not squash the range
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "training", "validation", "r32m (this run)", "run8", "run7", "run6", "run5", "5 older runs"]
    short = plot_curves("r32m", history(1, epochs=3))
    short.canvas.draw()
    assert [float(t) for t in short.axes[0].get_xticks() if 1 <= t <= 3] == [1.0, 2.0, 3.0]
    assert short.axes[1].get_ylim()[0] < 0.1  # a short run keeps every epoch in view


def test_a_nan_loss_stops_training_with_the_step(digits):
    model = build("cnf8 c8", norm=0)
    trainer = make_trainer(digits, model, optimizer="sgd", lr=1e12, schedule="none", limit=None)
    with pytest.raises(TrainingError, match=r"the loss is (nan|inf) at step \d+ \(epoch 1, batch \d+ of 29\)"):
        trainer.fit(1)


def test_trainer_takes_tensors_and_checks_its_arguments():
    x = torch.rand(64, 3, 8, 8)
    y = (x.mean(dim=(1, 2, 3)) > 0.5).long()
    torch.manual_seed(0)
    model = resolve_model("cnf8 m").with_data(num_classes=2, channels=3).build()
    trainer = Trainer(model, (x, y), (x, y), batch_size=16, progress="none")
    history = trainer.fit(1)
    assert history[0]["examples"] == 64 and history[0]["steps"] == 4
    with pytest.raises(OptionError, match="schedule 'cosin' is not known; did you mean 'cosine'"):
        Trainer(model, (x, y), schedule="cosin")
    with pytest.raises(DataError, match="zoo.Trainer takes data as"):
        Trainer(model, 42)


def test_fit_to_data_adapts_channels_and_says_so(digits):
    fitted = fit_to_data(resolve_model("resnet18_cifar"), digits)
    assert fitted.notes == [
        "resnet18_cifar declares 3 input channels; digits has 1: its first layer takes 1 (zoo adapts "
        "channels and classes, never the image size)",
        "resnet18_cifar is declared for 3x32x32 images; digits has 1x8x8: it trains on 8x8",
    ]
    assert (fitted.spec.channels, fitted.spec.num_classes) == (1, 10)
    assert fitted.params == 11_172_810  # 11,173,962 less the first convolution's 2 x 64 x 9
    assert fitted.blocks == "(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r"


# -- augmentation --------------------------------------------------------------------------------


def test_random_crop_shifts_each_image_on_its_own():
    torch.manual_seed(0)
    x = torch.arange(1.0, 17.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = random_crop(x, 1)
    assert out.shape == x.shape
    # every crop is the image shifted by (dy, dx) in -1..1 with zeros coming in
    shifts = set()
    for image in out[:, 0]:
        found = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if torch.equal(image, torch.roll(torch.nn.functional.pad(x[0, 0], (1, 1, 1, 1)), (dy, dx), (0, 1))[1:5, 1:5])]
        assert found
        shifts.add(found[0])
    assert len(shifts) == 9  # per image, not one shift for the batch


def test_random_flip_and_erasing_per_image():
    torch.manual_seed(0)
    x = torch.arange(8.0).view(1, 1, 1, 8).repeat(200, 1, 1, 1)
    flipped = random_flip(x)
    share = (flipped[:, 0, 0, 0] == 7).float().mean().item()
    assert 0.35 < share < 0.65
    ones = torch.ones(200, 3, 16, 16)
    erased = random_erasing(ones, p=0.5)
    hit = (erased == 0).flatten(1).any(1).float().mean().item()
    assert 0.35 < hit < 0.65
    areas = (erased[:, 0] == 0).flatten(1).sum(1)
    assert areas.max().item() <= 0.33 * 256 * 1.3 and torch.equal(erased[:, 0] == 0, erased[:, 2] == 0)


def test_document_augmentation_normalises_and_varies():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8)
    augment = BatchAugment("document", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    val = augment(x, train=False)
    assert torch.allclose(val, (x.float() / 255 - 0.5) / 0.25)
    train = augment(x, train=True)
    assert train.shape == (32, 3, 32, 32) and train.dtype == torch.float32
    assert not torch.allclose(train, val)
    with pytest.raises(OptionError, match="unknown augmentation 'documnet'; did you mean 'document'"):
        BatchAugment("documnet")


# -- ModelState ------------------------------------------------------------------------------------


def test_model_state_update_params_and_plot():
    from rich.console import Console
    from torch import nn

    model = nn.Sequential(nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
    state = zoo.ModelState(model, beta=0.5)
    model(torch.ones(1, 2)).sum().backward()  # grad of each weight: 1
    state.update()
    with torch.no_grad():
        model[0].weight.mul_(2)
    state.update()
    stats = state.stats()["0.weight"]
    mean_sq = (1 + 4 + 9 + 0.25) / 4
    assert stats["w_sq"] == pytest.approx(0.5 * mean_sq + 0.5 * 4 * mean_sq)
    assert (stats["w_min"], stats["w_max"], stats["grad_sq"]) == (1.0, 6.0, 1.0)
    assert (stats["count"], stats["shape"]) == (4, (2, 2))
    console = Console(width=100, record=True, color_system=None)
    state.params(console)
    text = console.export_text()
    assert "ModelState: 2 updates" in text and "0.weight" in text and "2×2" in text
    assert f"{math.sqrt(stats['w_sq']):.3g}" in text
    figure = state.plot()
    axis, values = figure.axes
    assert [p.get_height() for p in axis.patches] == [4]
    assert values.get_yscale() == "log" and len(values.get_lines()) == 2


def test_a_torchvision_dataset_channels_last_and_bf16_autocast():
    """A torch Dataset (torchvision's FakeData) is read as it is, by index; channels-last
    and bf16 autocast train on the CPU too."""
    from torchvision.datasets import FakeData
    from torchvision.transforms import PILToTensor

    data = FakeData(size=48, image_size=(3, 16, 16), num_classes=4, transform=PILToTensor(), random_offset=0)
    torch.manual_seed(0)
    model = resolve_model("cnf8 m r16").with_data(num_classes=4, channels=3).build()
    trainer = Trainer(model, data, data, batch_size=16, amp="bf16", channels_last=True, progress="none", workers=0)
    assert trainer.train_split.dataset is data and trainer.train_split.shape == (3, 16, 16)
    history = trainer.fit(1)
    assert history[0]["examples"] == 48 and math.isfinite(history[0]["train_loss"])
    assert trainer.model.cnn.blocks[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    assert 0.0 <= history[0]["val_acc"] <= 1.0


def test_the_documents_fit_call_with_states_writes_block_and_parameter_plots(digits, tmp_path):
    """``trainer.fit(epochs, states=[model.cnn, state], period_state=..., period_plot=...)``."""
    model = build("(cnf8 m) r r16_3_2", mult=1)
    model.cnn.debug(True)
    state = zoo.ModelState(model)
    trainer = make_trainer(digits, model, out=tmp_path, limit=200, schedule="none")
    trainer.fit(2, states=[model.cnn, state], period_state=2, period_plot=2)
    assert state.updates == 4  # 2 epochs of 4 steps, every second step
    assert [row["updates"] for row in model.cnn.block_stats()] == [4, 4]
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["blocks_002.png", "curves.png", "params_002.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in tmp_path.glob("*.png"))
    assert sorted(trainer.figures) == ["blocks_002", "curves", "params_002"]


def test_a_nan_in_epoch_two_keeps_the_checkpoint_of_epoch_one(digits, tmp_path):
    cross_entropy = torch.nn.CrossEntropyLoss()

    def loss(output, labels):  # a loss that turns NaN at the 7th step
        value = cross_entropy(output, labels)
        return value * float("nan") if trainer.global_step == 6 else value

    trainer = make_trainer(digits, build("cnf8 m"), out=tmp_path, limit=200, schedule="none", loss=loss)
    with pytest.raises(TrainingError) as error:
        trainer.fit(3)
    assert str(error.value).startswith("the loss is nan at step 7 (epoch 2, batch 3 of 4): training stopped; "
                                       f"the last good checkpoint is kept: {tmp_path / 'last.pt'} (epoch 1)")
    kept = torch.load(tmp_path / "last.pt", weights_only=True)
    assert kept["epoch"] == 1 and all(torch.isfinite(v.float()).all() for v in kept["model"].values())
    assert [row["epoch"] for row in json.loads((tmp_path / "history.json").read_text())] == [1]


def test_a_terminal_gets_a_bar_per_epoch_then_its_line(digits):
    from rich.console import Console

    from zoo.train.progress import Progress

    console = Console(force_terminal=True, width=80, record=True, color_system=None)
    progress = Progress("auto", console, "cnf8")
    assert progress.mode == "bar"
    trainer = make_trainer(digits, build("cnf8 m"), limit=200, schedule="none", progress=progress)
    trainer.fit(1)
    text = console.export_text()
    *frames, line = text.splitlines()
    assert line.startswith("epoch 1/1  loss ") and line.endswith("s  lr 1.0e-03") and len(line) <= 80
    bars = frames[0].split("cnf8 epoch 1/1")[1:]  # the bar's redraws, one after another
    assert bars and all(len("cnf8 epoch 1/1" + bar) <= 80 for bar in bars)
    assert Progress("auto", Console(file=io.StringIO())).mode == "lines"
