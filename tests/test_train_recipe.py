"""The recipe's knobs (zoo.train.Recipe), each checked by what it does to the training:
weight decay spares norms, biases and branch scales, clipping bounds the gradient norm,
the EMA follows its formula, warm-up's first learning rates, accumulation equals the
large batch, mixup's soft targets; and the callback protocol that carries them."""

from __future__ import annotations

import math
import os
import signal

import pytest
import torch
from torch import nn

from zoo import Trainer
from zoo.errors import OptionError
from zoo.target import resolve_model
from zoo.train import BatchAugment, Callback, Interrupted, Recipe
from zoo.train.recipe import make_optimizer, no_decay_names

pytestmark = pytest.mark.usefixtures("one_thread")


def build(blocks: str = "cnf8 m r16", seed: int = 0, **options):
    torch.manual_seed(seed)
    return resolve_model(blocks, **options).with_data(num_classes=10, channels=1).build()


def trainer_for(digits, model, **kwargs):
    options = dict(batch_size=50, limit=300, progress="none", seed=3,
                   augment=BatchAugment("none", digits.mean, digits.std))
    options.update(kwargs)
    return Trainer(model, digits.train, digits.val, **options)


class Record(Callback):
    """What each step leaves: the learning rate, the gradient norm, the weights."""

    def __init__(self):
        self.lrs, self.norms, self.weights, self.start_lr = [], [], [], None

    def on_train_start(self, trainer):
        self.start_lr = trainer.optimizer.param_groups[0]["lr"]

    def on_step(self, trainer, step):
        self.lrs.append(trainer.optimizer.param_groups[0]["lr"])
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        self.weights.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})


def test_weight_decay_leaves_norms_biases_and_branch_scales_untouched():
    model = build("cnf8 m r8", mult=2)  # mult=2: a trainable scale per channel, a 4-d parameter
    skipped = no_decay_names(model)
    scales = [n for n, p in model.named_parameters() if n.endswith(".scale")]
    assert scales and all(model.get_parameter(n).ndim == 4 for n in scales)
    assert set(scales) <= skipped
    assert {n for n, p in model.named_parameters() if p.ndim <= 1} <= skipped
    optimizer = make_optimizer(model, Recipe(optimizer="adamw", lr=0.1, wd=0.5))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # Adam's step is 0: what changes is the decay alone
    optimizer.step()
    for name, p in model.named_parameters():
        factor = 1.0 if name in skipped else 1 - 0.1 * 0.5
        assert torch.equal(p.detach(), before[name] * factor) or torch.allclose(p, before[name] * factor), name
    decayed = [n for n in before if n not in skipped]
    assert decayed and all(not torch.equal(model.get_parameter(n), before[n]) for n in decayed)


def test_clipping_bounds_the_gradient_norm(digits):
    free, clipped = Record(), Record()
    trainer_for(digits, build(), lr=1e-2, callbacks=[free]).fit(1)
    trainer_for(digits, build(), lr=1e-2, clip_grad=0.05, callbacks=[clipped]).fit(1)
    assert min(free.norms) > 0.05  # the test means something: every step's norm is above the bound
    assert max(clipped.norms) == pytest.approx(0.05, rel=1e-4)


def test_the_ema_follows_its_formula_and_best_pt_takes_the_better_weights(digits, tmp_path):
    model = build()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    record = Record()
    trainer = trainer_for(digits, model, ema=0.8, out=tmp_path, callbacks=[record])
    trainer.fit(1)
    expected = start
    for weights in record.weights:  # one update per step: ema = 0.8 ema + 0.2 w
        expected = {n: 0.8 * expected[n] + 0.2 * weights[n] for n in expected}
    ema = dict(trainer.ema.module.named_parameters())
    for name, value in expected.items():
        assert torch.allclose(ema[name], value, atol=1e-6), name
    row = trainer.history[0]
    assert {"val_acc_ema", "val_loss_ema"} <= set(row)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    ema_better = row["val_acc_ema"] > row["val_acc"]
    source = trainer.ema.module if ema_better else trainer.model
    assert best.get("weights") == ("ema" if ema_better else None)
    assert all(torch.equal(best["model"][k], v) for k, v in source.state_dict().items())
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert all(torch.equal(last["ema"][k], v) for k, v in trainer.ema.module.state_dict().items())
    header = (tmp_path / "history.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,train_acc,val_loss,val_acc,val_loss_ema,val_acc_ema,seconds")


@pytest.mark.parametrize("warmup, steps", [("4steps", 4), (1, 6)])
def test_warm_up_rises_linearly_from_warmup_lr(digits, warmup, steps):
    record = Record()
    trainer = trainer_for(digits, build(), lr=1e-2, schedule="cosine", warmup=warmup, callbacks=[record])
    trainer.fit(2)
    assert record.start_lr == 1e-5  # the first update's rate
    rising = [1e-5 + k * (1e-2 - 1e-5) / steps for k in range(1, steps)]
    assert record.lrs[:steps - 1] == pytest.approx(rising, rel=1e-9)
    total = 12  # 2 epochs of 6 updates; cosine over all of them, the warm-up inside
    assert record.lrs[steps - 1] == pytest.approx(0.5 * 1e-2 * (1 + math.cos(math.pi * steps / total)), rel=1e-9)


def test_warm_up_alone_holds_the_rate_after_it(digits):
    record = Record()
    trainer_for(digits, build(), lr=1e-2, warmup="2steps", callbacks=[record]).fit(1)
    assert record.lrs == pytest.approx([1e-5 + (1e-2 - 1e-5) / 2] + [1e-2] * 5, rel=1e-9)


def test_accumulating_two_half_batches_equals_the_whole_batch(digits):
    torch.manual_seed(0)
    whole = trainer_for(digits, nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), optimizer="momentum", lr=0.05)
    torch.manual_seed(0)
    halves = trainer_for(digits, nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), optimizer="momentum", lr=0.05,
                         batch_size=25, accum=2)
    whole.fit(1)
    halves.fit(1)
    assert (whole.history[0]["steps"], halves.history[0]["steps"], whole.updates, halves.updates) == (6, 12, 6, 6)
    for a, b in zip(whole.model.parameters(), halves.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_label_smoothing_is_the_losss():
    trainer = Trainer(nn.Linear(3, 4), (torch.randn(8, 1, 1, 3), torch.zeros(8, dtype=torch.long)),
                      label_smoothing=0.2, progress="none")
    logits, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    target = torch.full((5, 4), 0.2 / 4).scatter_(1, labels[:, None], 1 - 0.2 + 0.2 / 4)
    expected = -(target * logits.log_softmax(1)).sum(1).mean()
    assert trainer.loss_fn(logits, labels) == pytest.approx(float(expected), rel=1e-6)


def test_mixup_and_cutmix_train_on_soft_targets(digits):
    seen = []

    def loss(output, target):
        if target.ndim == 1:  # the validation's labels
            return nn.functional.cross_entropy(output, target)
        seen.append(target)
        return -(target * output.log_softmax(1)).sum(1).mean()

    trainer = trainer_for(digits, build(), mixup=0.4, cutmix=1.0, loss=loss)
    trainer.fit(1)
    assert len(seen) == 6 and all(t.shape == (50, 10) for t in seen)
    assert all(torch.allclose(t.sum(1), torch.ones(50)) for t in seen)
    assert all(float(t.max(1).values.min()) < 1.0 for t in seen)  # every batch is mixed
    assert math.isfinite(trainer.history[0]["train_loss"])


@pytest.mark.parametrize("name, kind", [("lamb", "Lamb"), ("adamw", "AdamW"), ("momentum", "SGD"),
                                        ("lion", "Lion"), ("rmsprop", "RMSprop")])
def test_every_timm_optimizer_by_name(name, kind):
    trainer = Trainer(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), (torch.randn(8, 1, 1, 3), torch.zeros(8).long()),
                      optimizer=name, progress="none", batch_size=4)
    assert type(trainer.optimizer).__name__ == kind
    trainer.fit(1)


@pytest.mark.parametrize("schedule", ["cosine", "tanh", "step", "multistep", "poly", "wsd", "rsqrt", "constant"])
def test_every_timm_schedule_by_name(schedule):
    x, y = torch.randn(16, 1, 1, 3), torch.randint(0, 2, (16,))
    record = Record()
    trainer = Trainer(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), (x, y), (x, y), schedule=schedule,
                      warmup="2steps", lr=0.1, batch_size=4, progress="none", callbacks=[record])
    trainer.fit(4)
    assert type(trainer.scheduler).__module__.startswith("timm.scheduler")
    assert record.start_lr == 1e-5 and record.lrs[0] == pytest.approx(1e-5 + (0.1 - 1e-5) / 2)  # warming up
    assert max(record.lrs) > 0.09
    assert (record.lrs[-1] < 0.1) == (schedule != "constant")  # and down again, but for constant


def test_unknown_knobs_and_names_say_the_nearest():
    data = (torch.randn(8, 1, 1, 3), torch.zeros(8, dtype=torch.long))
    with pytest.raises(OptionError, match=r"optimizer 'adamx' is not known; did you mean .*'adam'"):
        Trainer(nn.Linear(3, 2), data, optimizer="adamx")
    with pytest.raises(OptionError, match=r"schedule 'cosin' is not known; did you mean 'cosine'"):
        Trainer(nn.Linear(3, 2), data, schedule="cosin")
    with pytest.raises(OptionError, match=r"unknown training knob 'weight_decay'"):
        Trainer(nn.Linear(3, 2), data, weight_decay=0.1)
    with pytest.raises(OptionError, match=r"warmup='soon': give epochs"):
        Recipe(warmup="soon")
    with pytest.raises(OptionError, match=r"ema=1.5: the decay must be between 0 and 1"):
        Recipe(ema=1.5)


def test_the_recipe_is_the_checkpoints_config(digits, tmp_path):
    trainer = trainer_for(digits, build(), wd=0.01, label_smoothing=0.1, out=tmp_path, extra={"data": "digits"})
    trainer.fit(1)
    config = torch.load(tmp_path / "last.pt", weights_only=True)["config"]
    assert config == {**trainer.recipe.to_dict(), "data": "digits"}
    assert (config["wd"], config["label_smoothing"], config["batch_size"], config["ema"]) == (0.01, 0.1, 50, None)


def test_an_interrupted_run_with_every_knob_resumes_exactly(digits, tmp_path):
    """Ctrl-C in epoch 2 with EMA, mixup/cutmix (numpy's random numbers), accumulation,
    clipping, warm-up and weight decay: load() + fit() give the uninterrupted weights."""
    knobs = dict(optimizer="adamw", wd=0.05, ema=0.9, mixup=0.4, cutmix=1.0, accum=2, clip_grad=1.0, warmup=1,
                 schedule="cosine", label_smoothing=0.1, batch_size=50, limit=300)
    straight = trainer_for(digits, build(), **knobs)
    straight.fit(3)

    class CtrlC(Callback):
        def on_step(self, trainer, step):
            if step.global_step == 9:
                os.kill(os.getpid(), signal.SIGINT)

    trainer = trainer_for(digits, build(), out=tmp_path, callbacks=[CtrlC()], **knobs)
    with pytest.raises(Interrupted, match=r"interrupted in epoch 2 after step 4 of 6"):  # after an update
        trainer.fit(3)
    resumed = trainer_for(digits, build(seed=9), **knobs).load(tmp_path / "last.pt")
    resumed.fit(2)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6, rtol=0), name
    for a, b in zip(straight.ema.module.parameters(), resumed.ema.module.parameters()):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)
    assert [r["val_acc"] for r in straight.history] == [r["val_acc"] for r in resumed.history]
