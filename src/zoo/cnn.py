"""``CNN``: the syntax tree of a block string, plus options, turned into modules."""

# no `from __future__ import annotations`: FX copies forward's annotations into the code
# it generates, and torch.jit.script cannot read them as strings (timm's FX tests)
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .errors import BuildError, OptionError, ZooError
from .language import GroupNode, Node, TokenNode, expand, parse_blocks
from .layers import create_activation, create_norm, residual_from_options
from .layers.pool import GLOBAL_POOLS, create_pool
from .options import Config
from .registry.limits import MAX_CHANNELS
from .registry.registry import get_registry
from .registry.specs import Tables

# one import path per name: CNN is zoo.CNN, BuildContext zoo.plugin.BuildContext
__all__ = ["build_modules"]

# Expanded tokens in one network; more is surely a typo. `zoo inspect "2(1000r)"` (the
# largest network of residual blocks) takes about 5 s on one core; 10,000 took 108 s.
MAX_MODULES = 2_000


@dataclass(frozen=True)
class BuildContext:
    """What a token's build function gets besides its values: the incoming channels,
    the options, the token, and the tables (zoo's and the plugins' activations and norm
    kinds) that :meth:`norm`, :meth:`activation` and :meth:`residual` build from.

    >>> ctx = BuildContext(8, Config(fun="gelu"), parse_blocks("c8")[0], "c8", get_registry())
    >>> ctx.norm(2), ctx.activation(ctx.options.fun)
    (LayerNormChannels(8, eps=1e-05), GELU(approximate='none'))
    """

    channels: int  # channels entering the token
    options: Config  # every option of the network
    token: TokenNode  # the token as written, with its column
    text: str  # the whole block string, for error messages
    tables: Tables  # the registry's tokens, activations and norms

    def norm(self, kind: int, channels: int | None = None) -> nn.Module | None:
        """The norm layer of ``kind`` (an option's value: ``ctx.options.norm``) for
        ``channels`` (default: the incoming ones); ``None`` for kind 0."""
        return create_norm(kind, self.channels if channels is None else channels, self.tables.norms)

    def activation(self, name: Any, inplace: bool = False) -> nn.Module | None:
        """The activation ``name`` (an option's value: ``ctx.options.fun``); ``None`` for
        ``""``. ``inplace=True`` only on a fresh output nobody else reads."""
        return create_activation(name, self.tables.activations, inplace)

    def before_layers(self) -> list[nn.Module]:
        """The layers that open a residual branch: the norm of ``norm_before``, then the
        activation ``fun_before``. Put them first in the branch, or, with option
        ``preact``, pass them as ``residual(..., before=nn.Sequential(*layers))``: the
        projection takes their output too (He et al. 2016b)."""
        norm = self.norm(self.options.norm_before)
        # in place only on the norm's fresh output: the input itself is the identity skip
        fun = self.activation(self.options.fun_before, inplace=norm is not None)
        return [layer for layer in (norm, fun) if layer is not None]

    def residual(self, block: nn.Module, out_channels: int, stride: int, before: nn.Module | None = None) -> nn.Module:
        """``block`` inside a :class:`zoo.Residual` with the skip, scale and
        after-layers that the options ask for, as the ``r`` token builds it; ``before``
        runs first, for the branch and a projecting skip alike (option ``preact``)."""
        return residual_from_options(block, self.channels, out_channels, stride, self.options, self.tables, before)

    def error(self, problem: str, hint: str = "") -> BuildError:
        """A :class:`BuildError` pointing at this token: ``raise ctx.error("...")``."""
        return BuildError(
            f"token {self.token.text!r}: {problem}", self.text, self.token.column, len(self.token.text), hint
        )


def _count(nodes: tuple[Node, ...] | list[Node]) -> int:
    return sum(node.count * (_count(node.items) if isinstance(node, GroupNode) else 1) for node in nodes)


def build_modules(
    nodes: tuple[Node, ...], channels: int, options: Config, text: str, tables: Tables
) -> tuple[list[tuple[nn.Module, str]], int]:
    """Build each node (each copy of a repeated one); returns ``[(module, text, inner)]``
    (``inner``: a group's items, alike) and the channels that leave the last one.

    A token that adds nothing (``n0``, ``f`` with ``fun=""``), and a group of only such
    tokens, gets no entry, as in the document's code: ``blocks[i]`` and the plot's slots
    stay those of the layers that exist."""
    built = []
    for node in expand(nodes):
        if isinstance(node, GroupNode):
            inner, channels = build_modules(node.items, channels, options, text, tables)
            module: nn.Module | None = nn.Sequential(*(m for m, _, _ in inner)) if inner else None
        else:
            module, channels, inner = *_build_token(node, channels, options, text, tables), []
        if module is not None:
            built.append((module, node.text, inner))
    return built, channels


def _built_texts(built: list, prefix: str) -> dict[str, str]:
    """Module path -> the token text it was built from (groups' items too)."""
    texts: dict[str, str] = {}
    for index, (_, text, inner) in enumerate(built):
        texts[f"{prefix}{index}"] = text
        texts.update(_built_texts(inner, f"{prefix}{index}."))
    return texts


def _build_token(node: TokenNode, channels: int, options: Config, text: str, tables: Tables):
    token = tables.tokens[node.name]
    ctx = BuildContext(channels, options, node, text, tables)
    values = {value.name: value.default for value in token.values}
    values.update(node.kwargs)
    builtin = token.plugin in ("zoo", "")
    try:
        result = token.builder()(ctx, **values)
    except ZooError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a builder's own failure (deep in torch, or even sys.exit)
        who = "" if builtin else f" (the build function of plugin {token.plugin!r})"
        raise ctx.error(
            f"could not be built{who}: {type(exc).__name__}: {exc}",
            hint=f"check its values ({token.signature()}) and the options"
            + ("" if builtin else f", or disable the plugin with ZOO_DISABLE_PLUGINS={token.plugin}"),
        ) from None if isinstance(exc, SystemExit) else exc
    module, out = (result if isinstance(result, tuple) and len(result) == 2 else (result, channels))
    if (
        not (module is None or isinstance(module, nn.Module))  # None: adds nothing (`n0`)
        or (module is None and out != channels)  # nothing cannot change the channels
        or isinstance(out, bool)
        or not isinstance(out, int)
        or not 1 <= out <= MAX_CHANNELS
    ):
        shown = repr(result)
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        raise ctx.error(
            f"the build function of plugin {token.plugin!r} returned {shown}; it must return an "
            f"nn.Module, or (nn.Module, out_channels) with 1 <= out_channels <= {MAX_CHANNELS:,}",
            hint=f"a bug of the plugin: report it to its author, or disable it with "
            f"ZOO_DISABLE_PLUGINS={token.plugin}",
        )
    return module, out


class CNN(nn.Module):
    """A convolutional network built from a block string.

    >>> cnn = CNN(input=1, blocks="cnf32 m d cnf64 m d", fun="gelu")
    >>> cnn(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 64])

    ``CNN(cfg)``, ``CNN(**options)``, ``CNN(cfg, **overrides)`` and ``CNN(cfg1, cfg2)``
    (merged left to right) all work (options:
    ``zoo.Config``). ``blocks`` is an ``nn.ModuleList`` with one entry per
    top-level item (each copy of a repeated one; a group is an ``nn.Sequential``),
    then the pool and the flatten; ``block_names[i]`` is the token text of entry i.
    """

    def __init__(self, *cfgs: Config | Mapping[str, Any] | None, **overrides: Any):
        super().__init__()
        self.cfg = Config(*cfgs, **overrides)  # several configs merge left to right, as the document's
        registry = get_registry()
        text = self.cfg.blocks
        nodes = parse_blocks(text)  # the registry's tokens
        total = _count(nodes)
        if total > MAX_MODULES:
            raise BuildError(
                f"the blocks expand to {total:,} tokens, beyond the limit of {MAX_MODULES:,}",
                hint="check the repeat counts",
            )
        built, channels = build_modules(nodes, self.cfg.input, self.cfg, text, registry)
        self.blocks = nn.ModuleList(module for module, _, _ in built)
        self.block_names: list[str] = [name for _, name, _ in built]
        # the token text of each module built from one, by its path in this network
        # ("blocks.1", "blocks.0.1" inside a group): for reports, plots and messages
        self.token_texts: dict[str, str] = _built_texts(built, "blocks.")
        pool = create_pool(self.cfg.pool)
        if pool is not None:
            self.blocks.append(pool)
        if self.cfg.flat:
            self.blocks.append(nn.Flatten())
        self.out_channels = channels  # channels leaving the last block (the features)
        # an attribute, not a class default, and a count rather than a property: what
        # torch.jit.script compiles (timm's tests script every model)
        self.grad_checkpointing = False  # recompute each block in backward (timm's set_grad_checkpointing)
        self.num_body = len(self.block_names)

    is_zoo_network = True  # what zoo.network.find_cnn looks for (no import of this module needed)
    __jit_unused_properties__ = ["body"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, input, H, W)
        return self.forward_pool(self.forward_features(x))  # (B, out_channels) with pool and flat

    @property
    def body(self) -> int:
        """How many entries of ``blocks`` are the block string's (the rest: pool, flatten)."""
        return self.num_body

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The blocks of the block string alone: the feature map before the global pool."""
        checkpointing = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        for index, block in enumerate(self.blocks):  # a loop torch.jit.script takes (no slice)
            if index < self.num_body:
                if checkpointing and not torch.jit.is_scripting():
                    x = checkpoint(block, x, use_reentrant=False)
                else:
                    x = block(x)
        return x  # (B, out_channels, H', W')

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        """The global pool and the flatten that follow the blocks (as the options ask)."""
        for index, layer in enumerate(self.blocks):
            if index >= self.num_body:
                x = layer(x)
        return x

    def run_block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Block ``index`` of the block string on ``x`` (recomputed in backward while
        grad checkpointing is on), for loops that stop at a block (forward_intermediates)."""
        block = self.blocks[index]
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, x, use_reentrant=False)
        return block(x)

    def set_tail(self, pool: nn.Module | None, flat: bool, kind: int | None = None) -> None:
        """Replace what follows the blocks: ``pool`` (None: no global pool), then a flatten
        if ``flat``; ``kind`` is the pool kind the options record (None: keep theirs)."""
        tail = [m for m in (pool, nn.Flatten() if flat else None) if m is not None]
        self.blocks = nn.ModuleList([*self.blocks[: self.num_body], *tail])
        self.cfg = self.cfg.replace(flat=flat, **({} if kind is None else {"pool": kind}))

    def keep_blocks(self, count: int, channels: int) -> None:
        """Drop the blocks of the block string from ``count`` on (timm's
        ``prune_intermediate_layers``); ``channels`` leave block ``count - 1``."""
        tail = list(self.blocks[self.num_body :])
        self.blocks = nn.ModuleList([*self.blocks[:count], *tail])
        self.block_names = self.block_names[:count]
        self.token_texts = {path: text for path, text in self.token_texts.items()
                            if int(path.split(".")[1]) < count}
        self.num_body = count
        self.out_channels = channels

    def set_pool(self, kind: int) -> None:
        """Swap the global pool for another kind (1 average, 2 max); the network must have
        one (``pool`` > 0), since the layers after it expect its output."""
        tail = self.blocks[self.body :]
        if not tail or not isinstance(tail[0], GLOBAL_POOLS):
            raise OptionError(f"pool={kind!r}: this network has no global pool (pool=0); build it with pool=1 or 2")
        if kind not in (1, 2):
            raise OptionError(f"pool={kind!r}: a network with a global pool takes pool=1 (average) or 2 (max)")
        self.blocks[self.body] = create_pool(kind)
        self.cfg = self.cfg.replace(pool=kind)

    # -- debug statistics (zoo.monitor) ---------------------------------------------
    def debug(self, on: bool = True, beta: float | None = None, reset: bool = False) -> "CNN":
        """Turn the statistics of every residual block (at any depth) on or off.

        While on, each TRAINING forward mixes into an EMA (factor ``beta``, 0.9 by
        default; None keeps the current one) the energy of ``align(x)`` and of the
        scaled branch; eval forwards change nothing. Off keeps the numbers.

        >>> cnn = CNN(blocks="c8 r (r r)").debug(True)
        >>> _ = cnn(torch.randn(2, 3, 8, 8))
        >>> [(s["path"], s["forwards"]) for s in cnn.block_stats()]
        [('blocks.1', 1), ('blocks.2.0', 1), ('blocks.2.1', 1)]
        """
        from .monitor import set_debug

        set_debug(self, on, beta=beta, reset=reset)
        return self

    def update(self) -> None:
        """After ``backward()``: record the scale and its gradient (debug mode, mult > 0)."""
        from .monitor import update_scales

        update_scales(self)

    def block_stats(self) -> list[dict[str, Any]]:
        """One dict per residual block: name, path, ratio, scale, scale_grad, ...
        (see :func:`zoo.monitor.block_stats`)."""
        from .monitor import block_stats

        return block_stats(self)

    def plot(self, **kwargs: Any):
        """The block plot as a matplotlib Figure (needs ``zoo-cnn[plot]``); save it with
        ``cnn.plot().savefig("blocks.png")``. Options: :func:`zoo.monitor.plot_blocks`."""
        from .monitor import plot_blocks

        return plot_blocks(self, **kwargs)
