"""The options of a network, declared by the built-in plugin through the same
``zoo_options()`` hook that third-party plugins use (``zoo options`` lists them)."""

from __future__ import annotations

from typing import Any

from .. import kinds
from ..errors import OptionError
from ..registry.limits import MAX_CHANNELS
from ..registry.specs import Option, Param


def check_blocks(value: Any, where: str) -> str:
    """The check of ``blocks``: text (parsed when the network is built)."""
    if not isinstance(value, str):
        raise OptionError(f"{where}: must be a block string, e.g. \"cnf32 m r64\"")
    return value


def _kind(name: str, default: int, table: dict[int, str], help: str) -> Param:
    if table is kinds.NORMS:  # plugins add norm kinds: checked against the tables passed in
        return Param(name, int, default, help=help, table="norms")
    return Option(name, default, help, choices=tuple(table))


def _fun(name: str, default: str, help: str) -> Param:
    return Param(name, str, default, help=help, table="activations")


def _std(name: str, help: str) -> Param:
    return Option(name, 0.0, help, min=0)


NORMS = kinds.describe(kinds.NORMS)

OPTIONS = [
    Option("input", 3, "channels of the input image", min=1, max=MAX_CHANNELS),
    Param("blocks", str, "", help="the block string", validate=check_blocks),
    Option("bias", False, "Conv2d layers get a bias"),
    _kind("norm", 1, kinds.NORMS, f"norm kind of `n` and `cnf`: {NORMS}"),
    _kind("drop", 2, kinds.DROPOUTS, f"dropout kind of `d`: {kinds.describe(kinds.DROPOUTS)}"),
    _fun("fun", "relu", "activation of `f` and `cnf`"),
    Option("stride_first", True, "residual blocks stride in their first Conv2d (else the second)"),
    _kind("drop_inside", 0, kinds.DROPOUTS, "dropout kind between a residual block's convolutions (0 none)"),
    _fun("fun_inside", "relu", "activation between a residual block's convolutions"),
    _kind("norm_before", 0, kinds.NORMS, "norm kind before a residual block's branch"),
    _fun("fun_before", "", "activation after norm_before, opening a residual block's branch"),
    Option("preact", False, "norm_before and fun_before run before the skip's projection too: both take "
           "the pre-activated input (He et al. 2016b); an identity skip keeps x"),
    _kind("norm_inside", 1, kinds.NORMS, "norm kind between a residual block's convolutions"),
    _kind("norm_block", 1, kinds.NORMS, "norm kind at the end of a residual block's branch"),
    _kind("norm_align", 1, kinds.NORMS, "norm kind after the 1x1 convolution of the skip"),
    Option("align", "conv", "the skip where a residual block changes the shape: conv (a 1x1 Conv2d and "
           "norm_align) or pad (every stride-th pixel, zero channels added: He et al. 2016's option A)",
           choices=("conv", "pad")),
    _kind("mult", 0, kinds.SCALES, f"scale of the branch: {kinds.describe(kinds.SCALES)}"),
    Option("scale", 1.0, "initial value of the scale (mult > 0)"),
    _kind("norm_after", 0, kinds.NORMS, "norm kind after the sum of a residual block"),
    _fun("fun_after", "", "activation after the sum of a residual block (\"\" none)"),
    _kind("drop_after", 2, kinds.DROPOUTS, "dropout kind after the sum of a residual block (0 none)"),
    _std("shift", "std of the `s` token's feature shift when it gives none (0: set later by Change.shift)"),
    _std("shift_inside", "std of a feature shift between a residual block's convolutions (0 none)"),
    _std("shift_after", "std of a feature shift after the sum of a residual block (0 none)"),
    _std("branch_noise", "std of the multiplicative noise on each residual branch in training (0 none)"),
    _kind("pool", 1, kinds.POOLS, f"after the blocks: {kinds.describe(kinds.POOLS)}"),
    Option("flat", True, "Flatten() after the pool"),
]
