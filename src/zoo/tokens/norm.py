"""``n``: a normalisation layer of the kind given, or of option ``norm``."""

from __future__ import annotations

from ..kinds import NORMS, describe
from ..specs import Token, Value


def build_norm(ctx, kind):
    from ..layers import create_norm

    return create_norm(ctx.options.norm if kind is None else kind, ctx.channels)


TOKENS = [
    Token(
        "n",
        (Value("kind", int, None, doc="norm", choices=tuple(NORMS)),),
        f"norm: {describe(NORMS)}",
        build_norm,
    ),
]
