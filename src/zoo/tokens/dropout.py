"""``d``: Dropout (1) or Dropout2d (2), created with p=0 and set by ``Change.dropout``."""

from __future__ import annotations

from ..registry import Token, Value


def build_dropout(ctx, dim):
    from ..layers import create_dropout

    return create_dropout(ctx.options.drop if dim is None else dim)


TOKENS = [
    Token(
        "d",
        (Value("dim", int, None, doc="drop", choices=(1, 2)),),
        "dropout with p=0: 1 Dropout, 2 Dropout2d (set p with Change.dropout)",
        build_dropout,
    ),
]
