"""Loggers: a run watched in TensorBoard or MLflow, as :class:`zoo.train.Callback` objects.

``zoo train --log tensorboard --log mlflow`` (or ``Trainer(callbacks=[...])``):

- :class:`TensorBoardLogger` writes event files with torch's ``SummaryWriter`` into
  ``<run>/tensorboard``: the loss and learning rate per step, the epoch's losses and
  accuracies, the residual blocks' statistics (dx/x, scale), the curves and block
  plots as images, the model's spec and the recipe as text. ``tensorboard --logdir
  runs/`` shows every run of a comparison.
- :class:`MLflowLogger` logs a run to MLflow: the recipe and the model as parameters,
  the epochs' metrics, ``best.pt``/``last.pt`` as artifacts. Without a tracking URI
  (``--mlflow-uri``, ``MLFLOW_TRACKING_URI``) the store is local, beside the runs:
  ``<out>/mlflow.db`` (SQLite; MLflow 3 retired its plain-file store) with the
  artifacts in ``<out>/mlartifacts``: ``mlflow ui --backend-store-uri
  sqlite:///runs/mlflow.db`` shows them. A resumed run continues the same MLflow run.

tensorboard and mlflow are extras (``pip install 'zoo-cnn[tensorboard]'``,
``'zoo-cnn[mlflow]'``); mlflow is imported only when a run starts with it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..errors import OptionError, did_you_mean
from ..extras import check_installed
from .callbacks import Callback, Step

__all__ = ["LOGGERS", "TensorBoardLogger", "MLflowLogger", "make_loggers", "check_loggers"]

LOGGERS = ("tensorboard", "mlflow")
_MODULES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
EPOCH_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_loss_ema", "val_acc_ema", "lr", "seconds")


def check_loggers(names: list[str]) -> list[str]:
    """The logger names, checked (known, installed) before any training: an unknown
    name is an :class:`OptionError`, a missing package a :class:`MissingExtraError`."""
    chosen: list[str] = []
    for text in names:
        for name in (part.strip().lower() for part in text.split(",") if part.strip()):
            if name not in LOGGERS:
                raise OptionError(f"--log {name!r} is not a logger{did_you_mean(name, LOGGERS)} "
                                  f"(one of {', '.join(LOGGERS)})")
            check_installed(_MODULES[name], f"--log {name}")
            if name not in chosen:
                chosen.append(name)
    return chosen


def make_loggers(names: list[str], *, mlflow_uri: str | None = None) -> list[Callback]:
    """The callbacks of ``--log`` names (see :func:`check_loggers`)."""
    made: list[Callback] = []
    for name in check_loggers(names):
        made.append(TensorBoardLogger() if name == "tensorboard" else MLflowLogger(tracking_uri=mlflow_uri))
    return made


def _figure_image(figure: Any) -> Any:
    """A matplotlib figure as an (H, W, 3) uint8 array (rendered off-screen, no pyplot)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _spec_text(trainer: Any) -> str:
    if trainer.spec is not None:
        return json.dumps(trainer.spec.to_dict(), indent=1, default=str)
    return repr(trainer.model)


class _FigureLog:
    """The figures of :attr:`Trainer.figures` not logged yet (``curves`` is redrawn
    under the same name, so a new object counts as new)."""

    def __init__(self):
        self.logged: dict[str, int] = {}

    def new(self, trainer: Any) -> list[tuple[str, Any]]:
        fresh = [(name, figure) for name, figure in trainer.figures.items() if self.logged.get(name) != id(figure)]
        for name, figure in fresh:
            self.logged[name] = id(figure)
        return fresh


class TensorBoardLogger(Callback):
    """Event files for TensorBoard (torch's ``SummaryWriter``) in ``folder`` (default:
    ``<run>/tensorboard``). Tags: ``step/loss``, ``step/lr`` (per step), ``epoch/<key>``
    (per epoch: ``train_loss``, ``val_acc``...), ``blocks/<i>_<token>/ratio`` and
    ``.../scale`` (the block statistics), images ``curves`` and ``blocks`` (the plots),
    text ``model/spec`` and ``recipe``."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else None
        self.writer: Any = None
        self._figures = _FigureLog()
        self._last_step = 0

    def on_train_start(self, trainer: Any) -> None:
        if not trainer.distributed.main:
            return
        folder = self.folder
        if folder is None:
            if trainer.out is None:
                raise OptionError("TensorBoardLogger: give it a folder, or give the trainer out=RUN_FOLDER")
            folder = trainer.out / "tensorboard"
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder))
        self._last_step = trainer.global_step
        self.writer.add_text("model/spec", _spec_text(trainer), trainer.global_step)
        recipe = {**trainer.recipe.to_dict(), "optimizer": trainer.optimizer_name, **trainer.extra}
        self.writer.add_text("recipe", json.dumps(recipe, indent=1, default=str), trainer.global_step)

    def on_step(self, trainer: Any, step: Step) -> None:
        if self.writer is None or step.numbers is None:
            return
        for global_step, loss in step.numbers.losses:
            self.writer.add_scalar("step/loss", loss, global_step)
        self._last_step = step.global_step
        self.writer.add_scalar("step/lr", trainer.optimizer.param_groups[0]["lr"], step.global_step)

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        writer = self.writer
        if writer is None:
            return
        # the steps after the last reading (a GPU's numbers come a reading late)
        first = trainer.global_step - len(trainer.epoch_losses)
        for index, loss in enumerate(trainer.epoch_losses):
            if first + index + 1 > self._last_step:
                writer.add_scalar("step/loss", loss, first + index + 1)
        self._last_step = trainer.global_step
        epoch = row["epoch"]
        for key in EPOCH_KEYS:
            value = row.get(key)
            if value is not None and math.isfinite(value):
                writer.add_scalar(f"epoch/{key}", value, epoch)
        for index, block in enumerate(_block_stats(trainer.model)):
            for key in ("ratio", "scale", "scale_grad"):
                if block.get(key) is not None:
                    writer.add_scalar(f"blocks/{index:02d}_{block['name']}/{key}", block[key], epoch)
        self._log_figures(trainer, epoch)
        writer.flush()

    def _log_figures(self, trainer: Any, epoch: int) -> None:
        for name, figure in self._figures.new(trainer):
            tag = name.rsplit("_", 1)[0] if name.rsplit("_", 1)[-1].isdigit() else name  # blocks_003 -> blocks
            self.writer.add_image(tag, _figure_image(figure), epoch, dataformats="HWC")

    def on_train_end(self, trainer: Any) -> None:
        if self.writer is not None:
            self._log_figures(trainer, trainer.epoch)
            self.writer.close()
            self.writer = None


def _block_stats(model: Any) -> list[dict[str, Any]]:
    from ..monitor.stats import block_stats, find_cnn

    cnn = find_cnn(model)
    if cnn is None:
        return []
    return [row for row in block_stats(cnn) if row.get("ratio") is not None]


class MLflowLogger(Callback):
    """A run in MLflow: parameters (the recipe, the model), the metrics of each epoch,
    the checkpoints as artifacts (``checkpoints/best.pt``, ``last.pt``) and the plots.

    ``tracking_uri``: a server (``http://mlflow.lab:5000``) or store; default
    ``MLFLOW_TRACKING_URI`` or a local SQLite store beside the run folders
    (``<out>/mlflow.db``). ``experiment``: the MLflow experiment (``zoo``)."""

    def __init__(self, tracking_uri: str | None = None, experiment: str = "zoo"):
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.client: Any = None
        self.run_id: str | None = None
        self.checkpoints: dict[str, Path] = {}

    def _store(self, trainer: Any) -> tuple[str, str | None]:
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            return uri, None
        if trainer.out is None:
            raise OptionError("MLflowLogger: give it a tracking_uri, or give the trainer out=RUN_FOLDER")
        root = trainer.out.resolve().parent
        return f"sqlite:///{root / 'mlflow.db'}", (root / "mlartifacts").as_uri()

    def on_train_start(self, trainer: Any) -> None:
        if not trainer.distributed.main:
            return
        import logging

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its store set-up talks at INFO
        from mlflow.tracking import MlflowClient

        uri, artifacts = self._store(trainer)
        self.client = client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(self.experiment)
        experiment_id = experiment.experiment_id if experiment is not None else \
            client.create_experiment(self.experiment, artifact_location=artifacts)
        marker = trainer.out / "mlflow_run.json" if trainer.out is not None else None
        previous = json.loads(marker.read_text()) if marker is not None and marker.is_file() else {}
        if previous.get("tracking_uri") == uri and trainer.epoch + trainer.step_in_epoch > 0:
            self.run_id = previous["run_id"]  # --resume: the same MLflow run goes on
            client.update_run(self.run_id, status="RUNNING")
            return
        run = client.create_run(experiment_id, run_name=trainer.name or None, tags={"zoo.folder": str(trainer.out)})
        self.run_id = run.info.run_id
        if marker is not None:
            marker.write_text(json.dumps({"tracking_uri": uri, "run_id": self.run_id}) + "\n")
        from mlflow.entities import Param

        params = {**trainer.recipe.to_dict(), "optimizer": trainer.optimizer_name, **trainer.extra}
        if trainer.spec is not None:
            params["model"] = trainer.spec.name
        params["parameters"] = sum(p.numel() for p in trainer.model.parameters())
        client.log_batch(self.run_id, params=[Param(k, str(v)[:500]) for k, v in params.items()])
        client.log_text(self.run_id, _spec_text(trainer), "model_spec.json")

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        if self.client is None:
            return
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(row[key]), now, row["epoch"]) for key in EPOCH_KEYS
                   if row.get(key) is not None and math.isfinite(row[key])]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        self.checkpoints[path.name] = path

    def on_train_end(self, trainer: Any) -> None:
        if self.client is None:
            return
        for path in self.checkpoints.values():
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path), "checkpoints")
        for name in trainer.figures:
            if trainer.out is not None and (trainer.out / f"{name}.png").is_file():
                self.client.log_artifact(self.run_id, str(trainer.out / f"{name}.png"), "plots")
        status = {"finished": "FINISHED", "interrupted": "KILLED"}.get(trainer.outcome or "", "FAILED")
        self.client.set_terminated(self.run_id, status)
        self.client = None
