"""``n``: a normalisation layer of the kind given, or of option ``norm``."""

from __future__ import annotations

from ..kinds import NORMS, describe
from ..registry.specs import Norm, Token, Value


def build_norm(ctx, kind):
    return ctx.norm(ctx.options.norm if kind is None else kind)


TOKENS = [
    Token(
        "n",
        (Value("kind", int, None, doc="norm", min=0, max=99, table="norms"),),
        f"norm: {describe(NORMS)} (and the plugins' kinds: zoo options norm)",
        build_norm,
    ),
]

# zoo's norm kinds, declared as any plugin's (kind 0, none, is no layer)
NORM_SPECS = [Norm(kind, name, f"zoo.layers.norm:{name}") for kind, name in NORMS.items() if kind]
