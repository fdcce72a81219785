"""Debug statistics of residual blocks: how much each branch adds to its skip.

In debug mode every :class:`zoo.Residual` holds a :class:`BlockStats` in its
``stats`` attribute and calls ``stats.observe(skip, branch)`` on each TRAINING forward.
Nothing here runs while debug is off: the block's forward then checks one attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import OptionError
from ..layers.residual import Residual
from ..network import find_cnn  # also imported from here by .block_monitor

# one import path per name: BlockStats, block_stats, residual_blocks, set_debug, update_scales from zoo.monitor
__all__ = [
    "ResidualSite",
    "top_level",
]

DEFAULT_BETA = 0.9
_KEPT = "_zoo_debug_stats"  # where a block keeps its statistics while debug is off


def _channel_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean over (batch, height, width) of the squared channel norm: sum(x**2) / (B*H*W)."""
    x = x.detach()
    low = x.dtype in (torch.float16, torch.bfloat16)
    # vector_norm reduces without a squared temporary; half precision sums in float32
    norm = torch.linalg.vector_norm(x, dtype=torch.float32 if low else None)
    positions = x.numel() // x.shape[1] if x.dim() > 1 else x.numel()
    return norm.float().square() / positions


class BlockStats:
    """Running statistics of one residual block, updated with EMA factor ``beta``.

    ``observe(skip, branch)`` (every training forward) tracks the mean over (batch,
    height, width) of the squared channel norm of ``align(x)`` and of the scaled
    branch; ``record_scale(scale)`` (``update()`` after ``backward()``) tracks
    ``scale**2`` and ``scale.grad**2``, each averaged over the scale's elements.
    The first value starts an EMA; later ones are mixed in as
    ``ema = beta * ema + (1 - beta) * value``. A batch whose energies are not finite
    (a NaN or inf pixel, an overflow) is left out and counted in ``skipped``: one bad
    batch must not turn every ratio into 0 or NaN for good. Everything stays on the
    block's device: no ``.item()``, no host synchronisation until the numbers are read.

    >>> stats = BlockStats(beta=0.5)
    >>> stats.observe(torch.ones(1, 4, 2, 2), torch.ones(1, 4, 2, 2))
    >>> stats.observe(torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 2))
    >>> stats.ratio  # sqrt(0.5 * 4 + 0.5 * 0) / sqrt(4)
    0.7071067811865476
    """

    def __init__(self, beta: float = DEFAULT_BETA):
        self.beta = check_beta(beta)
        self.forwards = 0  # training forwards observed
        self.updates = 0  # update() calls that recorded the scale
        self.energy: torch.Tensor | None = None  # (2,): EMA of align energy, branch energy
        self.kept: torch.Tensor | None = None  # (): batches mixed into `energy` (finite ones)
        self.scale_sq: torch.Tensor | None = None  # (): EMA of mean(scale**2)
        self.grad_sq: torch.Tensor | None = None  # (): EMA of mean(scale.grad**2)

    def _mix(self, ema: torch.Tensor | None, value: torch.Tensor) -> torch.Tensor:
        if ema is None:
            return value
        if ema.device != value.device:  # the model moved
            ema = ema.to(value.device)
        # out of place: safe under inference_mode and when the old tensor is shared
        return torch.lerp(value, ema, self.beta)  # beta * ema + (1 - beta) * value

    def observe(self, skip: torch.Tensor, branch: torch.Tensor) -> None:
        """Mix one training batch in: ``skip = align(x)``, ``branch = scale * block(x)``
        (the block's own contribution: before the branch noise, as the original measures)."""
        if skip.numel() == 0 or branch.numel() == 0:
            return
        with torch.no_grad():
            value = torch.stack((_channel_energy(skip), _channel_energy(branch)))  # (2,)
            finite = torch.isfinite(value).all()  # on the device: no synchronisation
            if self.energy is None:
                self.energy, self.kept = torch.where(finite, value, 0.0), finite.long()
            else:
                energy = self.energy.to(value.device)
                kept = (torch.tensor(self.forwards) if self.kept is None else self.kept).to(value.device)
                mixed = torch.where(kept > 0, torch.lerp(value, energy, self.beta), value)
                self.energy = torch.where(finite, mixed, energy)
                self.kept = kept + finite.long()
        self.forwards += 1

    def record_scale(self, scale: torch.Tensor) -> None:
        """Mix in ``scale**2`` and, when it has one, its gradient squared."""
        with torch.no_grad():
            self.scale_sq = self._mix(self.scale_sq, scale.detach().float().square().mean())
            if scale.grad is not None:
                self.grad_sq = self._mix(self.grad_sq, scale.grad.detach().float().square().mean())
        self.updates += 1

    def _kept_count(self) -> int:
        """Batches in the energies (all forwards when set from outside, without ``kept``)."""
        if self.energy is None:
            return 0
        return self.forwards if self.kept is None else int(self.kept.item())

    def reset(self) -> None:
        """Forget everything observed so far."""
        self.__init__(self.beta)

    @property
    def ratio(self) -> float | None:
        """``sqrt(ema_branch / ema_align)``: dx/x of the block; None before any batch."""
        if not self._kept_count():
            return None
        align, branch = self.energy.tolist()
        if align > 0:
            return math.sqrt(branch / align)
        return math.inf if branch > 0 else 0.0

    def values(self) -> dict[str, Any]:
        """The numbers as Python floats (this reads them from the device)."""
        align = branch = scale = grad = None
        kept = self._kept_count()
        if kept:
            align, branch = (math.sqrt(v) for v in self.energy.tolist())
        if self.scale_sq is not None:
            scale = math.sqrt(self.scale_sq.item())
        if self.grad_sq is not None:
            grad = math.sqrt(self.grad_sq.item())
        return {
            "ratio": self.ratio,
            "align": align,  # RMS channel norm of align(x)
            "branch": branch,  # RMS channel norm of scale * block(x)
            "scale": scale,  # RMS of the scale
            "scale_grad": grad,  # RMS of the scale's gradient
            "forwards": self.forwards,
            "skipped": self.forwards - kept,  # forwards left out: not finite
            "updates": self.updates,
        }

    def __repr__(self) -> str:
        ratio = self.ratio
        shown = "-" if ratio is None else f"{ratio:.4g}"
        return f"BlockStats(beta={self.beta:g}, forwards={self.forwards}, ratio={shown})"


def check_beta(beta: Any) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
        raise OptionError(
            f"debug: beta={beta!r} is not an EMA factor; it must satisfy 0 <= beta < 1 "
            f"(0.9 averages over about the last 10 batches, 0.99 over 100)"
        )
    return float(beta)


@dataclass(frozen=True)
class ResidualSite:
    """Where a residual block sits: its module path, token text and top-level slot."""

    path: str  # module path inside the network, e.g. "blocks.3" or "blocks.2.1"
    name: str  # token text of the nearest module built from a token, e.g. "r128_3_2"
    top: int  # index of the top-level block (entry of ``cnn.blocks``) holding it
    module: Residual


def top_level(model: nn.Module) -> tuple[nn.Module, list[tuple[str, str, nn.Module]]]:
    """The network whose blocks are plotted, and its top-level blocks as
    ``(label, path, module)``.

    A :class:`zoo.CNN` gives ``cnn.blocks`` labelled by token text (``avg``, ``max``,
    ``flat`` for the pool and the flatten); a model with a ``.cnn`` (``zoo.create``)
    gives its CNN's, as does a model holding exactly one CNN (``nn.Sequential(cnn,
    head)``); any other module gives its children.
    """
    cnn = find_cnn(model)
    if cnn is not None:
        root, children, prefix = cnn, cnn.blocks.named_children(), "blocks."
    else:
        root, children, prefix = model, model.named_children(), ""
    slots = []
    tokens = getattr(cnn, "token_texts", {}) if cnn is not None else {}
    for name, child in children:
        label = tokens.get(prefix + name)
        if label is None:
            label = _ENDING_LABELS.get(type(child), name if not prefix else type(child).__name__)
        slots.append((label, prefix + name, child))
    return root, slots


_ENDING_LABELS = {nn.AdaptiveAvgPool2d: "avg", nn.AdaptiveMaxPool2d: "max", nn.Flatten: "flat"}


def residual_blocks(model: nn.Module) -> list[ResidualSite]:
    """Every residual block of ``model`` at any depth (inside groups, inside plugin
    tokens, one Residual inside another), in module order."""
    seen: set[int] = set()
    found: list[ResidualSite] = []
    root = top_level(model)[0]
    tokens = getattr(root, "token_texts", {})  # a zoo network's: path -> token text

    def walk(module: nn.Module, path: str, name: str, top: int) -> None:
        if id(module) in seen:  # a module registered twice is one block
            return
        seen.add(id(module))
        name = tokens.get(path, name)
        if isinstance(module, Residual):
            found.append(ResidualSite(path, name, top, module))
        for child_name, child in module.named_children():
            walk(child, f"{path}.{child_name}", name, top)

    for top, (label, path, module) in enumerate(top_level(model)[1]):
        walk(module, path, label, top)
    return found


def _kept(module: Residual) -> BlockStats | None:
    return module.stats if module.stats is not None else module.__dict__.get(_KEPT)


def set_debug(model: nn.Module, on: bool = True, beta: float | None = None, reset: bool = False) -> int:
    """Turn the statistics of every residual block on or off; returns how many blocks.

    Turning them off stops the updates and keeps the numbers (``block_stats`` and
    the plot still show them); turning them on again goes on from there, unless
    ``reset``. ``beta`` (default 0.9) is the EMA factor; None keeps the current one.

    >>> from zoo import CNN
    >>> set_debug(CNN(blocks="c8 2r (r r16_3_2)"), True)
    4
    """
    if beta is not None:
        beta = check_beta(beta)
    sites = residual_blocks(model)
    for site in sites:
        block = site.module
        stats = _kept(block)
        if stats is None:
            stats = BlockStats(DEFAULT_BETA if beta is None else beta)
        elif beta is not None:
            stats.beta = beta
        if reset:
            stats.reset()
        block.__dict__[_KEPT] = stats
        block.stats = stats if on else None  # None: the forward skips observe()
    return len(sites)


def update_scales(model: nn.Module) -> int:
    """Record ``scale**2`` and its gradient squared in every block in debug mode
    that has a scale (``mult > 0``); call it after ``backward()``, before the next
    ``zero_grad()``. Returns how many blocks recorded."""
    count = 0
    for site in residual_blocks(model):
        block = site.module
        if block.stats is not None and block.scale is not None:
            block.stats.record_scale(block.scale)
            count += 1
    return count


def block_stats(model: nn.Module) -> list[dict[str, Any]]:
    """One dict per residual block, in module order.

    Keys: ``name`` (token text), ``path`` (module path), ``top`` (index of its
    top-level block), ``debug`` (statistics on), ``ratio`` (dx/x), ``align`` and
    ``branch`` (their RMS channel norms), ``scale`` and ``scale_grad`` (RMS of the
    scale and of its gradient), ``forwards``, ``skipped`` (forwards left out of the
    statistics because a value was NaN or infinite), ``updates``, ``p`` (drop-block
    probability), ``noise`` (the std of the branch noise, ``Change.branch_noise``).
    Values not measured, or not applicable, are None.

    >>> from zoo import CNN
    >>> cnn = CNN(blocks="c8 r", mult=1).debug(True)
    >>> _ = cnn(torch.randn(2, 3, 8, 8))
    >>> [(s["name"], s["path"], s["ratio"] > 0, s["scale_grad"]) for s in block_stats(cnn)]
    [('r', 'blocks.1', True, None)]
    """
    rows = []
    for site in residual_blocks(model):
        block = site.module
        stats = _kept(block)
        values = stats.values() if stats is not None else dict.fromkeys(
            ("ratio", "align", "branch", "scale", "scale_grad", "forwards", "skipped", "updates")
        )
        rows.append({
            "name": site.name,
            "path": site.path,
            "top": site.top,
            "debug": block.stats is not None,
            **values,
            "p": block.p if block.identity_align else None,
            "noise": block.noise,
        })
    return rows
