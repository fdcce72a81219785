"""What a model is fed when zoo inspects it: one input or several, named or not, of
any shape and dtype, written as text (``zoo inspect --input``) or given from Python.

    3,224,224              one float image, C,H,W (a batch of 1 is added for image models)
    1,3,224,224            batch first: taken as it is
    [2,10,8]               brackets: the whole shape, batch included, never changed
    int64[1,128]           a dtype before the brackets
    ids:int64[1,128]       a name: the input is passed as the keyword argument ids=
    x:3,32,32              a name on plain numbers: the same batch rule as without
    ids:int64[1,128]; mask:bool[1,128]     several inputs (or --input repeated)

No torch here: a command can refuse a bad ``--input`` before it imports torch.

>>> parse_inputs("ids:int64[1,128]; 3x32x32")
[InputSpec(shape=(1, 128), dtype='int64', name='ids', exact=True), InputSpec(shape=(3, 32, 32), dtype='float', name=None, exact=False)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ShapeError
from .options import input_size_problem
from .registry.limits import MAX_SIDE

__all__ = ["InputSpec", "parse_input", "parse_inputs", "DTYPES"]

# the dtypes an input may name, as torch calls them ("float": the model's own dtype)
DTYPES = (
    "float", "float16", "bfloat16", "float32", "float64", "half", "double",
    "int8", "uint8", "int16", "int32", "int64", "int", "long", "bool", "complex64",
)
_SEPARATORS = re.compile(r"\s*[,x×X*]\s*")
_DIMS = r"\s*\d+(?:\s*[,x×X*]\s*\d+)*\s*,?\s*"  # 3,224,224 or 3x224x224 (a trailing comma in brackets)
_FORM = re.compile(
    rf"^(?:(?P<name>[A-Za-z_]\w*)\s*:)?\s*(?P<dtype>[a-z]+\d*)?\s*"
    rf"(?:\[(?P<exact>{_DIMS}|\s*)\]|\((?P<tuple>{_DIMS})\)|(?P<dims>\d+(?:\s*[,x×X*]\s*\d+)*))$"
)
EXAMPLE = "3,224,224 or 1,3,224,224, [2,10,8] (the whole shape), int64[1,128], ids:int64[1,128]"


@dataclass(frozen=True)
class InputSpec:
    """One input: its shape, dtype name (``"float"``: the model's own), the keyword it
    is passed as (None: positional) and whether the shape is whole (``exact``: batch
    included) or may be one sample of an image model (3 numbers: C,H,W)."""

    shape: tuple[int, ...]
    dtype: str = "float"
    name: str | None = None
    exact: bool = False

    def __str__(self) -> str:
        dims = ",".join(str(d) for d in self.shape)
        text = f"[{dims}]" if self.exact or self.dtype != "float" else dims
        if self.dtype != "float":
            text = f"{self.dtype}{text}"
        return f"{self.name}:{text}" if self.name else text


def parse_input(text: str) -> InputSpec:
    """One input written as text (the forms of the module's docstring)."""
    found = _FORM.match(text.strip())
    if not found:
        raise ShapeError(f"{text!r} is not an input size; write e.g. {EXAMPLE}")
    dtype = found["dtype"] or "float"
    if dtype not in DTYPES:
        from .errors import did_you_mean

        raise ShapeError(f"{text!r}: unknown dtype {dtype!r}{did_you_mean(dtype, DTYPES)} (dtypes: {', '.join(DTYPES)})")
    body = next(b for b in (found["exact"], found["tuple"], found["dims"]) if b is not None)
    try:
        shape = tuple(int(part) for part in _SEPARATORS.split(body.strip()) if part)
    except ValueError:
        shape = ()
    if found["exact"] is not None and not found["exact"].strip():
        shape = ()  # float32[]: a 0-d input, one number
    elif not shape or min(shape) < 1:
        raise ShapeError(f"{text!r} is not an input size: sizes are whole numbers >= 1, e.g. {EXAMPLE}")
    problem = _size_problem(shape)
    if problem:
        raise ShapeError(f"{text!r}: {problem}")
    exact = found["dims"] is None or dtype != "float"
    return InputSpec(shape, dtype, found["name"], exact)


def _size_problem(shape: tuple[int, ...]) -> str | None:
    """An image's sizes checked as zoo.options.input_size_problem does; any other
    shape's sizes up to the same limit, so nothing overflows before it is built."""
    if len(shape) in (3, 4):
        return input_size_problem(shape)
    big = [d for d in shape if d > MAX_SIDE]
    return f"a size of {big[0]} is beyond the limit of {MAX_SIDE:,}" if big else None


def parse_inputs(text: str) -> list[InputSpec]:
    """Several inputs separated by ``;``; a name may come only once."""
    specs = [parse_input(part) for part in text.split(";") if part.strip()]
    if not specs:
        raise ShapeError(f"an empty input; write e.g. {EXAMPLE}")
    check_names(specs)
    return specs


def check_names(specs: list[InputSpec]) -> None:
    """Each keyword input once (positional inputs go in their order, named ones by name)."""
    names = [s.name for s in specs if s.name]
    for name in names:
        if names.count(name) > 1:
            raise ShapeError(f"input {name!r} is given twice; give each keyword input once")
