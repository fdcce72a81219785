"""zoo.Trainer on any data: a torch Dataset or DataLoader used as it is (nothing copied
into memory), with the same checkpoints and resume as zoo's own splits."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from zoo import Trainer
from zoo.errors import DataError
from zoo.target import resolve_model
from zoo.train import BatchAugment, Callback, Interrupted

pytestmark = pytest.mark.usefixtures("one_thread")


class Digits(Dataset):
    """The first ``n`` digits as (uint8 image, label) pairs, counting the items read."""

    def __init__(self, split, n: int):
        self.images, self.labels = split.images[:n], split.labels[:n]
        self.reads = 0

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        self.reads += 1
        return self.images[i], int(self.labels[i])


def build(seed: int = 0):
    torch.manual_seed(seed)
    return resolve_model("cnf8 m r16").with_data(num_classes=10, channels=1).build()


def trainer(digits, model, train, val, **kwargs):
    return Trainer(model, train, val, progress="none", schedule="cosine", seed=5, workers=0,
                   augment=BatchAugment("basic", digits.mean, digits.std), **kwargs)


def weights(trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_a_dataset_is_read_as_it_is_not_copied_into_memory(digits):
    train, val = Digits(digits.train, 200), Digits(digits.val, 60)
    run = trainer(digits, build(), train, val, batch_size=50)
    assert (train.reads, val.reads) == (1, 1)  # the first item, for the image shape; no copy
    history = run.fit(1)
    assert history[0]["examples"] == 200 and history[0]["steps"] == 4
    assert (train.reads, val.reads) == (201, 61)  # each image read once per epoch, by index


class CtrlC(Callback):
    """A real SIGINT after global step ``at``."""

    def __init__(self, at: int):
        self.at = at

    def on_step(self, trainer, step):
        if step.global_step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def interrupted(run, epochs: int, at: int, match: str) -> None:
    run.callbacks.append(CtrlC(at))
    with pytest.raises(Interrupted, match=match):
        run.fit(epochs)


def test_a_dataloader_whose_sampler_replays_its_order_resumes_exactly_within_an_epoch(digits, tmp_path):
    def loader(data):
        return DataLoader(data, batch_size=50, sampler=DistributedSampler(data, num_replicas=1, rank=0, seed=3))

    straight = trainer(digits, build(), loader(Digits(digits.train, 300)), Digits(digits.val, 60))
    assert straight.batch_size == 50  # the DataLoader's own
    straight.fit(3)

    run = trainer(digits, build(), loader(Digits(digits.train, 300)), Digits(digits.val, 60), out=tmp_path)
    interrupted(run, 3, at=9, match=r"interrupted in epoch 2 after step 3 of 6; saved .*last\.pt")
    stored = torch.load(tmp_path / "last.pt", weights_only=True)
    assert (stored["epoch"], stored["step_in_epoch"]) == (1, 3)

    data = Digits(digits.train, 300)
    resumed = trainer(digits, build(seed=99), loader(data), Digits(digits.val, 60)).load(tmp_path / "last.pt")
    resumed.fit(2)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert data.reads == 150 + 300  # the three batches done before Ctrl-C were skipped, not loaded
    expected = weights(straight)
    for key, value in weights(resumed).items():
        assert torch.equal(value, expected[key]), key


def test_a_dataloader_that_cannot_replay_its_order_resumes_at_the_epoch_start_and_says_so(digits, tmp_path):
    train = DataLoader(Digits(digits.train, 300), batch_size=50, shuffle=True)
    run = trainer(digits, build(), train, Digits(digits.val, 60), out=tmp_path)
    interrupted(run, 3, at=9, match=r"interrupted in epoch 2 after step 3 of 6; this DataLoader's order cannot be "
                r"replayed, so a resume trains epoch 2 again from its start; saved .*last\.pt")
    stored = torch.load(tmp_path / "last.pt", weights_only=True)
    assert (stored["epoch"], stored["step_in_epoch"]) == (1, 0)
    resumed = trainer(digits, build(), train, Digits(digits.val, 60)).load(tmp_path / "last.pt")
    resumed.fit(2)
    assert [(row["epoch"], row["examples"], row["steps"]) for row in resumed.history] == [
        (1, 300, 6), (2, 300, 6), (3, 300, 6)]


def test_data_zoo_cannot_plan_with_is_refused_with_the_reason(digits):
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield from ((digits.train.images[i], 0) for i in range(10))

    with pytest.raises(DataError, match="a DataLoader for zoo.Trainer has a length"):
        trainer(digits, build(), DataLoader(Stream(), batch_size=5), None)
    with pytest.raises(DataError, match=r"yields images of \(C, H, W\); its first is \(8, 8\)"):
        trainer(digits, build(), [(torch.zeros(8, 8), 0)] * 3, None)


def test_zoo_runs_lists_a_run_stopped_with_ctrl_c(digits, tmp_path, capsys):
    from zoo.cli import main

    train = DataLoader(Digits(digits.train, 100), batch_size=50)
    run = trainer(digits, build(), train, Digits(digits.val, 60), out=tmp_path / "runs" / "cnf8_m_r16", name="cnf8")
    interrupted(run, 3, at=3, match="interrupted in epoch 2 after step 1 of 2")
    assert not (tmp_path / "runs" / "cnf8_m_r16" / "summary.json").exists()
    capsys.readouterr()
    assert main(["runs", str(tmp_path / "runs"), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["run"], row["epochs"], row["stopped"]) == ("cnf8_m_r16", 1, True)
    assert row["val_acc"] == run.history[0]["val_acc"]
    assert main(["runs", str(tmp_path / "runs")]) == 0
    assert "│    - │    - │ 1 stopped │ cnf8_m_r16 │" in capsys.readouterr().out
