"""The block language: text -> syntax tree, with the column of every token.

    blocks := item*                 items are separated by any whitespace
    item   := [count] atom          count: a whole number >= 1, e.g. 2r, 3(cnf64 m)
    atom   := token | "(" blocks ")"
    token  := name [first] ("_" [value])*

Token names are matched longest first against the registered names; values are
converted and range-checked against the token's declared values, so every error
points at a column. Pure Python: no torch here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import (
    BlockSyntaxError,
    PluginClashError,
    TokenValueError,
    UnknownTokenError,
    did_you_mean,
)
from .registry.limits import MAX_DEPTH, MAX_REPEAT
from .registry.registry import Registry, get_registry
from .registry.specs import Token

# one import path per name: parse_blocks is zoo.parse_blocks
__all__ = ["TokenNode", "GroupNode", "Node", "expand"]

_OPEN, _CLOSE = "(", ")"
_DIGITS = "0123456789"  # ASCII only: str.isdigit() would also take '²' and '١'



@dataclass(frozen=True)
class TokenNode:
    """One token as written: ``r128_3_2`` -> name ``r``, values ``{channels: 128, ...}``."""

    name: str
    values: tuple[tuple[str, Any], ...]  # only the values that were written
    text: str  # the token as written, without its count
    column: int  # 1-based column of the token text in the block string
    count: int = 1

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class GroupNode:
    """A parenthesised group: an ``nn.Sequential`` of its items."""

    items: tuple[Node, ...]
    column: int  # column of the "("
    count: int = 1

    @property
    def text(self) -> str:
        return "(" + " ".join(_with_count(item) for item in self.items) + ")"


Node = TokenNode | GroupNode


def _with_count(node: Node) -> str:
    return (f"{node.count}" if node.count > 1 else "") + node.text


def expand(nodes: tuple[Node, ...] | list[Node]) -> Iterator[Node]:
    """Each node ``count`` times (copies are separate modules, never shared)."""
    for node in nodes:
        for _ in range(node.count):
            yield node


def parse_blocks(text: str, tokens: Mapping[str, Token] | None = None) -> tuple[Node, ...]:
    """Parse a block string into a tuple of top-level nodes.

    >>> [n.text for n in parse_blocks("(cnf64 m) 2r r128_3_2")]
    ['(cnf64 m)', 'r', 'r128_3_2']

    ``tokens`` defaults to the registry's tokens (built-ins and plugins).
    """
    if not isinstance(text, str):
        raise BlockSyntaxError(
            f"blocks must be a string, not {type(text).__name__}", repr(text), 1,
            hint='write the blocks as text, e.g. blocks="cnf32 m r64"',
        )
    note = ""
    ambiguous: dict[str, str] = {}
    registry = get_registry()  # its norm kinds check the values of `n`
    if tokens is None:
        tokens = registry.tokens
        ambiguous = {name: message for (what, name), message in registry.ambiguous.items() if what == "token"}
        failed = sorted(name for name, info in registry.plugins.items() if info.status == "failed")
        if failed:  # the token may be one of theirs
            note = f" (plugin{'s' if len(failed) > 1 else ''} {', '.join(failed)} failed to load: 'zoo plugins' says why)"
    # the same string with the same tokens parses to the same (immutable) tree: a preset's
    # blocks are checked, counted on meta and built, and parsed once for all three
    key = (text, tuple(tokens.items()), note, tuple(ambiguous.items()))
    found = _parsed.get(key)
    if found is None:
        found = _Parser(text, tokens, registry, note, ambiguous).parse()
        if len(_parsed) >= _PARSED_MAX:
            _parsed.pop(next(iter(_parsed)))
        _parsed[key] = found
    return found


_parsed: dict[tuple, tuple[Node, ...]] = {}  # only successful parses: errors are raised each time
_PARSED_MAX = 256


class _Parser:
    def __init__(self, text: str, tokens: Mapping[str, Token], tables: Registry, note: str = "",
                 ambiguous: Mapping[str, str] | None = None):
        self.text = text
        self.tokens = tokens
        self.tables = tables
        self.note = note  # added to "unknown token" hints
        self.ambiguous = ambiguous or {}  # names two plugins provide -> the message naming both
        # longest names first, so that `cnf64` is `cnf` and `relu6` is `relu6`
        self.names = sorted([*tokens, *self.ambiguous], key=len, reverse=True)
        self.pos = 0

    # -- errors ---------------------------------------------------------------------
    def _syntax(self, problem: str, start: int, end: int, hint: str = "") -> BlockSyntaxError:
        return BlockSyntaxError(problem, self.text, start + 1, end - start, hint)

    # -- grammar --------------------------------------------------------------------
    def parse(self) -> tuple[Node, ...]:
        items = self._items(depth=0, open_at=-1)
        return tuple(items)

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _items(self, depth: int, open_at: int) -> list[Node]:
        items: list[Node] = []
        while True:
            self._skip_space()
            if self.pos >= len(self.text):
                if depth:
                    raise self._syntax(
                        "unbalanced parentheses: this '(' is never closed", open_at, open_at + 1,
                        hint="add the missing ')'",
                    )
                return items
            if self.text[self.pos] == _CLOSE:
                if not depth:
                    raise self._syntax(
                        "unbalanced parentheses: ')' without a matching '('", self.pos, self.pos + 1,
                        hint="remove it, or open the group with '('",
                    )
                if not items:
                    raise self._syntax(
                        "empty group '()'", open_at, self.pos + 1, hint="put tokens inside, or remove it"
                    )
                self.pos += 1
                return items
            items.append(self._item(depth))

    def _item(self, depth: int) -> Node:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _DIGITS:
            self.pos += 1
        count = 1
        if self.pos > start:
            digits = self.text[start : self.pos]
            at_end = self.pos >= len(self.text) or self.text[self.pos].isspace() or self.text[self.pos] == _CLOSE
            if at_end:
                raise self._syntax(
                    f"a count {digits} with nothing to repeat", start, self.pos,
                    hint=f"write the count right before its token or group, e.g. {digits}r or {digits}(c m)",
                )
            count = int(digits)
            if count < 1:
                raise self._syntax(
                    "a repeat count must be at least 1", start, self.pos,
                    hint="remove the item, or repeat it 1 or more times",
                )
            if count > MAX_REPEAT:
                raise self._syntax(
                    f"a repeat count of {count} is beyond the limit of {MAX_REPEAT}", start, self.pos,
                    hint="use a smaller count",
                )
        if self.text[self.pos] == _OPEN:
            open_at = self.pos
            if depth >= MAX_DEPTH:
                raise self._syntax(
                    f"groups nest deeper than the limit of {MAX_DEPTH} levels", open_at, open_at + 1,
                    hint="flatten the groups: ((c8 m)) builds the same network as (c8 m)",
                )
            self.pos += 1
            items = self._items(depth + 1, open_at)
            return GroupNode(tuple(items), column=open_at + 1, count=count)
        return self._token(count)

    def _token(self, count: int) -> TokenNode:
        start = self.pos
        while (
            self.pos < len(self.text)
            and not self.text[self.pos].isspace()
            and self.text[self.pos] not in (_OPEN, _CLOSE)
        ):
            self.pos += 1
        word = self.text[start : self.pos]
        if self.pos < len(self.text) and self.text[self.pos] == _OPEN:
            raise self._syntax(
                f"'{word}(' : only a count may stand right before '('", start, self.pos + 1,
                hint=f"separate the token from the group: '{word} (...)'",
            )
        name = self._match_name(word)
        if name in self.ambiguous:
            raise PluginClashError(
                f"token {name!r} at column {start + 1} is ambiguous: {self.ambiguous[name]}"
            )
        if name is None:
            letters = word.rstrip("0123456789_.")
            letters = letters.split("_")[0] or word
            close = did_you_mean(letters, self.tokens).lstrip("; ")  # under the caret
            raise UnknownTokenError(
                f"unknown token {word!r}", self.text, start + 1, len(word),
                (close + " " if close else "") + "('zoo tokens' lists every token)" + self.note,
            )
        token = self.tokens[name]
        values = self._values(token, word, start)
        return TokenNode(name, values, word, column=start + 1, count=count)

    def _match_name(self, word: str) -> str | None:
        for name in self.names:
            if word.startswith(name):
                rest = word[len(name) :]
                if not rest or rest[0] in _DIGITS or rest[0] == "_":
                    return name
        return None

    def _values(self, token: Token, word: str, start: int) -> tuple[tuple[str, Any], ...]:
        rest = word[len(token.name) :]
        if not rest:
            return ()
        raw_values = rest.split("_")
        declared = token.values
        if len(raw_values) > len(declared):
            takes = f"{len(declared)} value{'s' if len(declared) != 1 else ''}" if declared else "no values"
            raise TokenValueError(
                f"too many values for token {token.name!r}: {len(raw_values)} given, it takes {takes}",
                self.text, start + 1, len(word), hint=f"write it as {token.signature()}",
            )
        values = []
        offset = start + len(token.name)
        for spec, raw in zip(declared, raw_values):
            if raw:
                try:
                    values.append((spec.name, spec.convert(raw, self.tables)))
                except ValueError as exc:
                    raise TokenValueError(
                        f"bad value for token {token.name!r}: {exc}",
                        self.text, offset + 1, len(raw), hint=f"the token takes {token.signature()}",
                    ) from None
            offset += len(raw) + 1  # the value and the "_" after it
        return tuple(values)
