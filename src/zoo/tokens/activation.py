"""``f`` (the activation of option ``fun``), and zoo's named activations (each is a
token of its name too, made by the registry as for a plugin's)."""

from __future__ import annotations

from ..kinds import ACTIVATIONS
from ..registry.specs import Activation, Token


def build_fun(ctx):
    return ctx.activation(ctx.options.fun)


def build_named(name, ctx):
    return ctx.activation(name)


TOKENS = [Token("f", (), "the activation of option `fun` (nothing when fun=\"\")", build_fun)]

# zoo's activations, declared as any plugin's: each is also a token of its name
ACTIVATION_SPECS = [Activation(name, f"torch.nn:{module}", module) for name, module in ACTIVATIONS.items()]
