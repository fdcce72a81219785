"""``f`` (the activation of option ``fun``) and one token per activation name."""

from __future__ import annotations

from functools import partial

from ..options import ACTIVATIONS
from ..registry import Token


def build_fun(ctx):
    from ..layers import create_activation

    return create_activation(ctx.options.fun)


def build_named(name, ctx):
    from ..layers import create_activation

    return create_activation(name)


_MODULES = {"swish": "SiLU", "hswish": "Hardswish", "hsigmoid": "Hardsigmoid"}

TOKENS = [
    Token("f", (), "the activation of option `fun` (nothing when fun=\"\")", build_fun),
    *(
        Token(name, (), f"activation {_MODULES.get(name, name)}", partial(build_named, name))
        for name in ACTIVATIONS
    ),
]
