"""The built-in tokens: an ordinary zoo plugin, registered through the same hook as
any third-party one. One file per family; none of them imports torch at import time
(the build functions import it when they run), so listing tokens stays instant.
"""

from __future__ import annotations

from ..registry.hooks import hookimpl
from ..registry.specs import Activation, Norm, Param, Token
from . import activation, conv, dropout, norm, options, pool, residual, shift

__all__ = ["zoo_tokens", "zoo_options", "zoo_activations", "zoo_norms"]


@hookimpl
def zoo_tokens() -> list[Token]:
    return [
        *conv.TOKENS,
        *norm.TOKENS,
        *activation.TOKENS,
        *pool.TOKENS,
        *dropout.TOKENS,
        *residual.TOKENS,
        *shift.TOKENS,
    ]


@hookimpl
def zoo_options() -> list[Param]:
    return list(options.OPTIONS)


@hookimpl
def zoo_activations() -> list[Activation]:
    return list(activation.ACTIVATION_SPECS)


@hookimpl
def zoo_norms() -> list[Norm]:
    return list(norm.NORM_SPECS)
