"""TensorBoard and MLflow loggers: what a run logs, read back by each tool's own reader
(tensorboard's EventAccumulator, MLflow's client)."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import zoo
from zoo import Trainer
from zoo.target import resolve_model
from zoo.train import BatchAugment
from zoo.train.loggers import MLflowLogger, TensorBoardLogger

pytestmark = pytest.mark.usefixtures("one_thread")


def trainer_for(digits, out, callbacks, **knobs):
    torch.manual_seed(0)
    fitted = resolve_model("cnf8 m r16").with_data(num_classes=10, channels=1)
    model = fitted.build()
    monitor = zoo.BlockMonitor(model, every=10**9, table=False, plot_epochs=1)
    return Trainer(model, digits.train, digits.val, batch_size=50, limit=300, progress="none", out=out,
                   spec=fitted, name="r16", augment=BatchAugment("none", digits.mean, digits.std),
                   callbacks=[monitor, *callbacks], **knobs)


def events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


@pytest.mark.slow  # matplotlib renders 5 figures twice: ~4 s on an idle core
def test_tensorboard_gets_steps_epochs_blocks_plots_and_the_spec(digits, tmp_path):
    trainer = trainer_for(digits, tmp_path / "r16", [TensorBoardLogger()], ema=0.9, wd=0.01)
    trainer.fit(2, period_plot=1)
    read = events(tmp_path / "r16" / "tensorboard")
    tags = read.Tags()
    history = trainer.history
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_acc_ema", "lr"):
        scalars = read.Scalars(f"epoch/{key}")
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx([row[key] for row in history], rel=1e-6)
    steps = read.Scalars("step/loss")
    assert [s.step for s in steps] == list(range(1, 13))  # 2 epochs of 6 steps, each step once
    assert [s.value for s in steps][-6:] == pytest.approx(trainer.epoch_losses, rel=1e-6)
    ratios = [tag for tag in tags["scalars"] if tag.startswith("blocks/") and tag.endswith("/ratio")]
    assert ratios == ["blocks/00_r16/ratio"]
    assert read.Scalars(ratios[0])[-1].value == pytest.approx(trainer.model.cnn.block_stats()[0]["ratio"], rel=1e-5)
    assert sorted(tags["images"]) == ["blocks", "curves"]
    assert [image.step for image in read.Images("blocks")] == [1, 2]
    image = read.Images("curves")[-1]
    assert image.encoded_image_string[:4] == b"\x89PNG" and (image.width, image.height) == (1200, 420)  # plot_curves: 12 x 4.2 in at 100 dpi
    texts = {tag: read.Tensors(tag)[0].tensor_proto.string_val[0].decode() for tag in tags["tensors"]}
    assert json.loads(texts["model/spec/text_summary"]) == json.loads(json.dumps(trainer.spec.to_dict()))
    assert json.loads(texts["recipe/text_summary"])["wd"] == 0.01


def test_logger_names_are_checked_before_training(monkeypatch):
    from zoo.errors import MissingExtraError, OptionError
    from zoo.train.loggers import check_loggers

    assert check_loggers(["tensorboard,mlflow", "tensorboard"]) == ["tensorboard", "mlflow"]
    with pytest.raises(OptionError, match=r"--log 'tensorbord' is not a logger; did you mean 'tensorboard'"):
        check_loggers(["tensorbord"])
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with pytest.raises(MissingExtraError, match=r"--log mlflow needs mlflow") as error:
        check_loggers(["mlflow"])
    assert "pip install 'zoo-cnn[mlflow]'" in error.value.hint


@pytest.mark.slow
def test_mlflow_gets_params_metrics_and_checkpoints_and_a_resume_continues_the_run(digits, tmp_path):
    """The local store beside the run folder (``<out>/mlflow.db``), read with MLflow's client."""
    from mlflow.tracking import MlflowClient

    trainer = trainer_for(digits, tmp_path / "r16", [MLflowLogger()], lr=2e-3, label_smoothing=0.1)
    trainer.fit(2, period_plot=2)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("zoo")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "r16"
    params = run.data.params
    assert (params["lr"], params["label_smoothing"], params["batch_size"], params["model"]) == (
        "0.002", "0.1", "50", "cnf8 m r16")
    history = client.get_metric_history(run.info.run_id, "val_acc")
    assert [(m.step, m.value) for m in history] == [(row["epoch"], row["val_acc"]) for row in trainer.history]
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")]
    assert artifacts == ["checkpoints/best.pt", "checkpoints/last.pt"]
    local = client.download_artifacts(run.info.run_id, "checkpoints/last.pt", str(tmp_path))
    assert torch.load(local, weights_only=True)["epoch"] == 2
    assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == [
        "plots/blocks_001.png", "plots/blocks_002.png", "plots/curves.png"]

    resumed = trainer_for(digits, tmp_path / "r16", [MLflowLogger()], lr=2e-3, label_smoothing=0.1)
    resumed.load(tmp_path / "r16" / "last.pt").fit(1)
    (again,) = client.search_runs([experiment.experiment_id])
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")] == [1, 2, 3]
