"""``Recipe``: the knobs of a training run in one place, as nanoGPT keeps its config.

:class:`zoo.Trainer` takes one; ``zoo train`` builds one from its flags; every
checkpoint stores :meth:`Recipe.to_dict` under ``"config"``, and ``--resume``
compares it with the flags given again (a run continued with another learning rate
is not the run it claims to be).

The optimizer and the schedule are timm's, by name (``timm.optim.list_optimizers()``;
``create_scheduler_v2``'s ``cosine``, ``tanh``, ``step``, ``multistep``, ``poly``,
``wsd``, ``rsqrt``, ``constant``, or ``none``); weight decay leaves
norms, biases and the residual branch scales alone.

>>> recipe = Recipe(lr=3e-3, wd=0.05, warmup="200steps")
>>> recipe.optimizer, recipe.wd, recipe.warmup_epochs, recipe.warmup_steps
('adam', 0.05, 0.0, 200)
>>> Recipe.from_knobs(optimizr="adamw")
Traceback (most recent call last):
...
zoo.errors.OptionError: unknown training knob 'optimizr'; did you mean 'optimizer'?
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import OptionError, did_you_mean

# one import path per name: Recipe is zoo.train.Recipe
__all__ = ["SCHEDULES", "AMP", "list_optimizers", "no_decay_names", "make_optimizer", "make_scheduler"]

# timm's create_scheduler_v2 names but "plateau", which timm deprecates (its state is not saved: no exact resume)
SCHEDULES = ("none", "cosine", "tanh", "step", "multistep", "poly", "wsd", "rsqrt", "constant")
AMP = ("bf16", "fp16")


@dataclass
class Recipe:
    """How a model is trained (the data, devices and files are the :class:`Trainer`'s).

    Give the fields by name (``Recipe(lr=1e-2, wd=0.05)``) or straight to the trainer
    (``Trainer(model, data, lr=1e-2)``); an unknown name is an :class:`OptionError`
    with the nearest knob.
    """

    batch_size: int = 100  # examples per step, over all processes
    optimizer: str = "adam"  # any name of timm.optim.list_optimizers() ("adam": the document's)
    lr: float = 1e-3  # the peak learning rate
    wd: float = 0.0  # weight decay; never on norms, biases and residual branch scales
    momentum: float = 0.9  # for the optimizers that take one (sgd, momentum, rmsprop, lars...)
    schedule: str = "none"  # timm's create_scheduler_v2 name, stepped per optimizer update
    min_lr: float = 0.0  # where cosine/tanh/poly schedules end
    warmup: float | int | str = 0  # linear warm-up: epochs (2, 0.5) or optimizer updates ("300steps")
    warmup_lr: float = 1e-5  # the learning rate of the first warm-up step (timm's default)
    label_smoothing: float = 0.0  # of the cross-entropy's targets
    clip_grad: float | None = None  # clip the gradients' global L2 norm to this value
    accum: int = 1  # steps whose gradients add up before one optimizer update
    ema: float | None = None  # decay of an EMA of the weights (timm's ModelEmaV3), e.g. 0.999
    mixup: float = 0.0  # mixup's alpha (timm's Mixup); 0: off
    cutmix: float = 0.0  # cutmix's alpha; with mixup too, each batch takes one of the two
    amp: str | None = None  # mixed precision: "bf16" or "fp16" (with a gradient scaler)
    seed: int = 0  # weights' and data order's random seed
    limit: int | None = None  # examples per epoch (quick runs); None: all
    warmup_epochs: float = field(init=False, default=0.0)
    warmup_steps: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise OptionError(f"batch_size={self.batch_size!r}: must be a whole number >= 1")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):
            raise OptionError(f"limit={self.limit!r}: must be a whole number of examples >= 1")
        if isinstance(self.accum, bool) or not isinstance(self.accum, int) or self.accum < 1:
            raise OptionError(f"accum={self.accum!r}: must be a whole number of steps >= 1")
        for name, low, high in (("lr", 0.0, math.inf), ("wd", 0.0, math.inf), ("momentum", 0.0, 1.0),
                                ("min_lr", 0.0, math.inf), ("warmup_lr", 0.0, math.inf),
                                ("label_smoothing", 0.0, 1.0), ("mixup", 0.0, math.inf),
                                ("cutmix", 0.0, math.inf)):
            _number(name, getattr(self, name), low, high)
        self.lr = float(self.lr)
        if self.clip_grad is not None and _number("clip_grad", self.clip_grad, 0.0, math.inf) <= 0:
            raise OptionError(f"clip_grad={self.clip_grad!r}: must be > 0 (None: no clipping)")
        if self.ema is not None and (isinstance(self.ema, bool) or not isinstance(self.ema, (int, float))
                                     or not 0.0 < self.ema < 1.0):
            raise OptionError(f"ema={self.ema!r}: the decay must be between 0 and 1, e.g. 0.999 (None: no EMA)")
        _choice("schedule", self.schedule, SCHEDULES)
        if self.amp is not None:
            _choice("amp", self.amp, AMP)
        self.optimizer = str(self.optimizer).lower()
        _choice("optimizer", self.optimizer, list_optimizers())
        self.warmup_epochs, self.warmup_steps = parse_warmup(self.warmup)

    @classmethod
    def from_knobs(cls, base: Recipe | None = None, **knobs: Any) -> Recipe:
        """``base`` (or the defaults) with ``knobs`` changed; an unknown name is an
        :class:`OptionError` naming the nearest."""
        names = [f.name for f in fields(cls) if f.init]
        for name in knobs:
            if name not in names:
                raise OptionError(f"unknown training knob {name!r}{did_you_mean(name, names)}")
        return dataclasses.replace(base, **knobs) if base is not None else cls(**knobs)

    def to_dict(self) -> dict[str, Any]:
        """The knobs as plain values: what checkpoints store under ``"config"`` and
        ``--resume`` compares."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    @property
    def uses_mixing(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
            or value != value:
        bounds = f">= {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise OptionError(f"{name}={value!r}: must be a number {bounds}")
    return float(value)


def _choice(what: str, value: Any, choices: Any) -> str:
    if value not in choices:
        shown = ", ".join(choices) if len(choices) <= 12 else "timm.optim.list_optimizers()"
        raise OptionError(f"{what} {value!r} is not known{did_you_mean(str(value), choices)} (one of {shown})")
    return value


def parse_warmup(value: float | int | str) -> tuple[float, int]:
    """``(epochs, steps)`` of a warm-up: a number is epochs, ``"300steps"`` (or
    ``"300s"``) optimizer updates.

    >>> parse_warmup(2), parse_warmup("0.5"), parse_warmup("300steps")
    ((2.0, 0), (0.5, 0), (0.0, 300))
    """
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+)\s*(steps?|s)", text)
    if match:
        return 0.0, int(match.group(1))
    try:
        epochs = float(text.removesuffix("epochs").removesuffix("epoch"))
    except ValueError:
        epochs = -1.0
    if not 0 <= epochs < math.inf:
        raise OptionError(f"warmup={value!r}: give epochs (2, 0.5) or optimizer updates (300steps)")
    return epochs, 0


def list_optimizers() -> list[str]:
    """timm's optimizer names (``create_optimizer_v2``)."""
    from timm.optim import list_optimizers as timm_list

    return list(timm_list())


def no_decay_names(model: Any) -> set[str]:
    """The parameters weight decay must leave alone: norms and biases (every parameter
    of one dimension or none) and the residual branch scales (a scale per channel is
    4-d, but decaying it would pull the branch towards zero)."""
    from torch import nn

    from ..layers.residual import Residual

    names = {name for name, p in model.named_parameters() if p.ndim <= 1 or name.endswith(".bias")}
    for path, module in model.named_modules():
        if isinstance(module, Residual) and isinstance(module.scale, nn.Parameter):
            names.add(f"{path}.scale" if path else "scale")
    return names


def make_optimizer(model: Any, recipe: Recipe) -> Any:
    """timm's ``create_optimizer_v2`` with two groups: decayed, and not."""
    from timm.optim import create_optimizer_v2

    skip = no_decay_names(model)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and n not in skip]
    plain = [p for n, p in model.named_parameters() if p.requires_grad and n in skip]
    groups = [{"params": decay, "weight_decay": recipe.wd}, {"params": plain, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    return create_optimizer_v2(groups, opt=recipe.optimizer, lr=recipe.lr, weight_decay=recipe.wd,
                               momentum=recipe.momentum)


def make_scheduler(optimizer: Any, recipe: Recipe, epochs: int, updates_per_epoch: int) -> Any:
    """timm's ``create_scheduler_v2`` over ``epochs``, stepped per optimizer update (the
    warm-up in updates when the recipe gives steps); ``None`` without a schedule or
    warm-up. ``step`` decays tenfold every third of the epochs, ``multistep`` at half
    and three quarters."""
    from timm.scheduler import create_scheduler_v2

    name = recipe.schedule
    warmup = recipe.warmup_epochs or recipe.warmup_steps / max(updates_per_epoch, 1)
    if name == "none":
        if not warmup:
            return None
        name = "constant"  # warm up, then hold the learning rate
    scheduler, _ = create_scheduler_v2(
        optimizer, sched=name, num_epochs=epochs, min_lr=recipe.min_lr, warmup_lr=recipe.warmup_lr,
        warmup_epochs=warmup, step_on_epochs=False, updates_per_epoch=updates_per_epoch,
        decay_epochs=None if name not in ("step",) else max(1, epochs // 3), decay_milestones=
        [max(1, epochs * k // 4) for k in (2, 3)] if name == "multistep" else (90, 180, 270),
    )
    if recipe.warmup_steps and "warmup_steps" in vars(scheduler):
        # the warm-up in whole updates, not epochs x updates with its rounding
        scheduler.warmup_t = recipe.warmup_steps
        scheduler.warmup_steps = [(v - recipe.warmup_lr) / recipe.warmup_steps for v in scheduler.base_values]
    return scheduler
