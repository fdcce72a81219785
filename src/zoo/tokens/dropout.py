"""``d``: a dropout layer of :data:`zoo.kinds.DROPOUTS`, created with p=0 and set by
``Change.dropout``."""

from __future__ import annotations

from ..kinds import DROPOUTS, describe
from ..registry.specs import Token, Value


def build_dropout(ctx, dim):
    from ..layers.dropout import create_dropout

    return create_dropout(ctx.options.drop if dim is None else dim)


TOKENS = [
    Token(
        "d",
        (Value("dim", int, None, doc="drop", choices=tuple(k for k in DROPOUTS if k)),),
        f"dropout with p=0: {describe({k: v for k, v in DROPOUTS.items() if k})} (set p with Change.dropout)",
        build_dropout,
    ),
]
