"""``f`` (the activation of option ``fun``) and one token per activation name."""

from __future__ import annotations

from functools import partial

from ..kinds import ACTIVATIONS
from ..specs import Token


def build_fun(ctx):
    from ..layers import create_activation

    return create_activation(ctx.options.fun)


def build_named(name, ctx):
    from ..layers import create_activation

    return create_activation(name)


TOKENS = [
    Token("f", (), "the activation of option `fun` (nothing when fun=\"\")", build_fun),
    *(
        Token(name, (), f"activation {module}", partial(build_named, name))
        for name, module in ACTIVATIONS.items()
    ),
]
