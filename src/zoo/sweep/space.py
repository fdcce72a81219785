"""Families of block strings: a template with ``{...}`` fields and the variables that
fill them, from ``--grid`` arguments or a search-space file.

A field is a small arithmetic expression over the variables (numbers, names,
``+ - * / // % **``, parentheses, ``min``/``max``/``round``/``int``), read by a parser of
its own: a template is data, never code. A variable the template does not use is an
option of the network (``fun``, ``mult``...) or a training knob (``lr``, ``batch``).

>>> space = SearchSpace.from_grid("r{w} m r{2*w} m {d}r", ["w=16,32", "d=1,2", "fun=relu,gelu"])
>>> [v.label for v in space.grid()][:3]
['r16 m r32 m 1r fun=relu', 'r16 m r32 m 1r fun=gelu', 'r16 m r32 m 2r fun=relu']
>>> len(space.grid())
8
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SweepError

__all__ = ["Expression", "Template", "Variable", "Variant", "SearchSpace", "parse_value", "KNOBS"]

KNOBS = ("lr", "batch")  # variables that set training rather than the network
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)"
                    r"|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|//|[-+*/%(),]))")
_FUNCTIONS = {"min": min, "max": max, "round": round, "int": int}
_LARGEST = 1e15  # no block string needs more; ** cannot run away with memory or time


def _number(value: float) -> int | float:
    if isinstance(value, float) and value.is_integer() and abs(value) < _LARGEST:
        return int(value)
    return value


class Expression:
    """One ``{...}`` field: parsed once, evaluated for each variant.

    >>> Expression("2*w + 8").evaluate({"w": 16})
    40
    >>> Expression("w / 3").evaluate({"w": 16})
    5.333333333333333
    >>> Expression("max(8, w // 4)").names
    ['w']
    >>> Expression("__import__(w)")
    Traceback (most recent call last):
    ...
    zoo.errors.SweepError: {__import__(w)}: '__import__' is not a function of a template (min, max, round, int)
    """

    def __init__(self, text: str):
        self.text = text
        self._tokens = self._tokenize(text)
        self._at = 0
        self._tree = self._sum()
        if self._at != len(self._tokens):
            self._fail(f"unexpected {self._tokens[self._at][1]!r}")
        self.names = sorted({node[1] for node in self._walk(self._tree) if node[0] == "name"})

    def _fail(self, problem: str) -> None:
        raise SweepError(f"{{{self.text}}}: {problem}")

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens, at = [], 0
        while text[at:].strip():
            match = _TOKEN.match(text, at)
            if match is None:
                self._fail(f"cannot read {text[at:].strip()[:10]!r} (numbers, names, + - * / // % **, parentheses)")
            number, name, operator = match.groups()
            tokens.append(("number", number) if number else ("name", name) if name else ("op", operator))
            at = match.end()
        if not tokens:
            self._fail("an empty field; write an expression, e.g. {2*w}")
        return tokens

    def _peek(self) -> str | None:
        return self._tokens[self._at][1] if self._at < len(self._tokens) else None

    def _take(self) -> tuple[str, str]:
        if self._at >= len(self._tokens):
            self._fail("the expression ends too early")
        self._at += 1
        return self._tokens[self._at - 1]

    def _sum(self) -> tuple:
        node = self._product()
        while self._peek() in ("+", "-"):
            node = ("op", self._take()[1], node, self._product())
        return node

    def _product(self) -> tuple:
        node = self._unary()
        while self._peek() in ("*", "/", "//", "%"):
            node = ("op", self._take()[1], node, self._unary())
        return node

    def _unary(self) -> tuple:
        if self._peek() == "-":
            self._take()
            return ("neg", self._unary())
        node = self._atom()
        if self._peek() == "**":
            self._take()
            node = ("op", "**", node, self._unary())
        return node

    def _atom(self) -> tuple:
        kind, text = self._take()
        if kind == "number":
            return ("number", _number(float(text)) if any(c in text for c in ".eE") else int(text))
        if kind == "name":
            if self._peek() != "(":
                return ("name", text)
            if text not in _FUNCTIONS:
                self._fail(f"{text!r} is not a function of a template (min, max, round, int)")
            self._take()
            args = [self._sum()]
            while self._peek() == ",":
                self._take()
                args.append(self._sum())
            if self._take()[1] != ")":
                self._fail(f"{text}( is not closed")
            return ("call", text, args)
        if text == "(":
            node = self._sum()
            if self._take()[1] != ")":
                self._fail("a '(' is not closed")
            return node
        self._fail(f"unexpected {text!r}")
        raise AssertionError  # _fail raised

    def _walk(self, node: tuple) -> Iterable[tuple]:
        yield node
        for child in node[1:]:
            if isinstance(child, tuple):
                yield from self._walk(child)
            elif isinstance(child, list):
                for item in child:
                    yield from self._walk(item)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The field's value for one variant's ``values``."""
        return self._evaluate(self._tree, values)

    def _evaluate(self, node: tuple, values: Mapping[str, Any]) -> Any:
        kind = node[0]
        if kind == "number":
            return node[1]
        if kind == "name":
            if node[1] not in values:
                self._fail(f"no variable {node[1]!r} (give it with --grid {node[1]}=...)")
            return values[node[1]]
        if kind == "neg":
            return -self._arithmetic(self._evaluate(node[1], values))
        if kind == "call":
            args = [self._arithmetic(self._evaluate(arg, values)) for arg in node[2]]
            try:
                return _number(_FUNCTIONS[node[1]](*args))
            except TypeError as exc:
                self._fail(f"{node[1]}(): {exc}")
        a, b = (self._arithmetic(self._evaluate(n, values)) for n in node[2:])
        op = node[1]
        try:
            if op == "**" and (abs(b) > 64 or abs(a) > _LARGEST):
                self._fail(f"{a} ** {b} is too large for a block string")
            result = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
                      "//": lambda: a // b, "%": lambda: a % b, "**": lambda: a ** b}[op]()
        except ZeroDivisionError:
            self._fail(f"division by zero ({a} {op} {b})")
        if isinstance(result, complex) or abs(result) > _LARGEST:
            self._fail(f"{a} {op} {b} = {result}: out of range")
        return _number(result) if op == "/" else result

    def _arithmetic(self, value: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._fail(f"{value!r} is not a number; a text variable goes in a field of its own, e.g. {{fun}}")
        return value


class Template:
    """A block string with ``{...}`` fields.

    >>> t = Template("cnf{w} m {d}r r{2*w}_3_2")
    >>> t.names, t.render({"w": 16, "d": 2})
    (['d', 'w'], 'cnf16 m 2r r32_3_2')
    """

    def __init__(self, text: str):
        self.text = text
        self._parts: list[str | Expression] = []
        at = 0
        for match in re.finditer(r"\{([^{}]*)\}", text):
            self._parts.append(text[at:match.start()])
            self._parts.append(Expression(match.group(1)))
            at = match.end()
        rest = text[at:]
        if "{" in rest or "}" in rest:
            raise SweepError(f"{text!r}: a '{{' or '}}' without its pair at column {at + 1 + max(rest.find('{'), rest.find('}'))}")
        self._parts.append(rest)
        self.names = sorted({name for part in self._parts if isinstance(part, Expression) for name in part.names})

    def render(self, values: Mapping[str, Any]) -> str:
        return "".join(part if isinstance(part, str) else _text(part.evaluate(values)) for part in self._parts)


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_value(text: str) -> Any:
    """A ``--grid`` value: a whole number, a number, ``true``/``false``, else text.

    >>> [parse_value(t) for t in ("16", "1e-3", "true", "gelu")]
    [16, 0.001, True, 'gelu']
    """
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass
class Variable:
    """A variable's values: ``choices``, or a range ``low``..``high`` (whole numbers
    when both are; ``log`` samples on a log scale; ``step`` spaces a grid)."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int) and not isinstance(self.step, float)

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler (a range of whole numbers, or with a step)."""
        if self.choices is not None:
            return list(self.choices)
        if self.integer:
            step = self.step or 1
            if self.log:
                values, v = [], self.low
                while v <= self.high:
                    values.append(v)
                    v *= 2
                return values
            return list(range(self.low, self.high + 1, step))
        if self.step:
            count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            return [_number(round(self.low + i * self.step, 12)) for i in range(count)]
        raise SweepError(f"{self.name}: a range of real numbers ({self.low} to {self.high}) has no grid; give it a "
                         "step, choices, or use --sampler random or tpe")

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna ``trial`` picks."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, self.low, self.high, step=1 if self.log else (self.step or 1),
                                     log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log,
                                   step=None if self.log else self.step)


@dataclass
class Variant:
    """One member of the family: the variables' values, the block string they make, its
    options and training knobs."""

    values: dict[str, Any]
    blocks: str
    options: dict[str, Any] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The block string and what else differs: ``r16 m r32 fun=gelu lr=0.01``."""
        extra = [f"{k}={_text(v)}" for k, v in {**self.options, **self.knobs}.items()]
        return " ".join([self.blocks, *extra])


@dataclass
class SearchSpace:
    """A template, its variables, fixed options, and a budget (trials, epochs).

    >>> space = SearchSpace.from_grid("r{w}", ["w=8,16"])
    >>> space.variant({"w": 8}).blocks
    'r8'
    """

    template: Template
    variables: dict[str, Variable]
    options: dict[str, Any] = field(default_factory=dict)
    trials: int | None = None
    epochs: int | None = None
    source: str = ""

    def __post_init__(self) -> None:
        missing = [name for name in self.template.names if name not in self.variables]
        if missing:
            raise SweepError(f"{self.where}the template {self.template.text!r} uses {', '.join(missing)} but no "
                             f"variable gives {'it' if len(missing) == 1 else 'them'}; add --grid "
                             + " ".join(f"{name}=..." for name in missing))

    @property
    def where(self) -> str:
        return f"{self.source}: " if self.source else ""

    @classmethod
    def from_grid(cls, template: str, grid: Sequence[str], options: Mapping[str, Any] | None = None) -> SearchSpace:
        """A template and ``--grid NAME=V1,V2,...`` arguments."""
        variables: dict[str, Variable] = {}
        for item in grid:
            name, sep, values = item.partition("=")
            name = name.strip()
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not values.strip():
                raise SweepError(f"--grid {item!r}: write NAME=V1,V2,... e.g. w=16,32,64")
            if name in variables:
                raise SweepError(f"--grid {name} is given twice; give all its values at once: {name}=V1,V2")
            choices = tuple(dict.fromkeys(parse_value(v) for v in values.split(",") if v.strip()))
            variables[name] = Variable(name, choices=choices)
        return cls(Template(template), variables, dict(options or {}))

    @classmethod
    def from_file(cls, path: str | Path) -> SearchSpace:
        """A search-space YAML file::

            blocks: "cnf{w} m {d}r m r{2*w}"
            variables:
              w: [16, 32, 64]                      # choices
              d: {low: 1, high: 3}                 # whole numbers 1..3
              lr: {low: 1.0e-4, high: 1.0e-2, log: true}
            options: {norm: 1}                     # fixed for every variant
            budget: {trials: 12, epochs: 3}
        """
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise SweepError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise SweepError(f"{path}: not YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise SweepError(f"{path}: a search space is a mapping with blocks:, variables:, options:, budget:")
        unknown = sorted(set(data) - {"blocks", "variables", "options", "budget"})
        if unknown:
            raise SweepError(f"{path}: unknown key {unknown[0]!r} (blocks, variables, options, budget)")
        if not isinstance(data.get("blocks"), str):
            raise SweepError(f"{path}: blocks: give the template, e.g. blocks: \"r{{w}} m r{{2*w}}\"")
        variables = {}
        for name, spec in (data.get("variables") or {}).items():
            variables[name] = _variable(path, str(name), spec)
        budget = data.get("budget") or {}
        if not isinstance(budget, dict) or set(budget) - {"trials", "epochs"}:
            raise SweepError(f"{path}: budget: is a mapping of trials: and epochs:")
        for key in ("trials", "epochs"):
            if key in budget and (isinstance(budget[key], bool) or not isinstance(budget[key], int) or budget[key] < 1):
                raise SweepError(f"{path}: budget: {key}: {budget[key]!r} must be a whole number >= 1")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise SweepError(f"{path}: options: is a mapping of option names to values")
        return cls(Template(data["blocks"]), variables, options, budget.get("trials"), budget.get("epochs"),
                   source=str(path))

    def variant(self, values: Mapping[str, Any]) -> Variant:
        """The variant of one set of values."""
        values = dict(values)
        blocks = " ".join(self.template.render(values).split())
        rest = {k: v for k, v in values.items() if k not in self.template.names}
        knobs = {k: v for k, v in rest.items() if k in KNOBS}
        options = {**self.options, **{k: v for k, v in rest.items() if k not in KNOBS}}
        return Variant(values, blocks, options, knobs)

    def grid(self) -> list[Variant]:
        """Every variant, in the order of the variables and their values."""
        names = list(self.variables)
        return [self.variant(dict(zip(names, combo)))
                for combo in itertools.product(*(self.variables[n].grid() for n in names))]

    def grid_size(self) -> int | None:
        """The number of variants, or ``None`` where a range of real numbers has no grid."""
        try:
            return math.prod(len(v.grid()) for v in self.variables.values())
        except SweepError:
            return None


def _variable(path: Path, name: str, spec: Any) -> Variable:
    where = f"{path}: variables: {name}"
    if isinstance(spec, list):
        if not spec:
            raise SweepError(f"{where}: an empty list; give the choices, e.g. [16, 32]")
        return Variable(name, choices=tuple(spec))
    if not isinstance(spec, dict):
        return Variable(name, choices=(spec,))
    unknown = sorted(set(spec) - {"low", "high", "log", "step", "choices"})
    if unknown:
        raise SweepError(f"{where}: unknown key {unknown[0]!r} (low, high, log, step; or choices)")
    if "choices" in spec:
        return _variable(path, name, list(spec["choices"]))
    low, high = spec.get("low"), spec.get("high")
    for key, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SweepError(f"{where}: {key}: {value!r} must be a number")
    if low > high:
        raise SweepError(f"{where}: low {low} is above high {high}")
    log = bool(spec.get("log", False))
    if log and low <= 0:
        raise SweepError(f"{where}: a log scale needs low > 0 (it is {low})")
    step = spec.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
        raise SweepError(f"{where}: step: {step!r} must be a number > 0")
    if step is not None and log:
        raise SweepError(f"{where}: a log scale takes no step")
    return Variable(name, low=low, high=high, log=log, step=step)
