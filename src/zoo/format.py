"""Numbers for people: ``1.81 G``, ``140.2 M``, ``5.1 k``. No torch.

One formatter for every listing and report, so that ``zoo list``, ``zoo inspect``
and ``str(zoo.inspect(...))`` always write a number the same way.
"""

from __future__ import annotations

import re

__all__ = ["format_count", "plain"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# (size, suffix, decimals): two decimals from a billion up, one below
_UNITS = ((1e12, "T", 2), (1e9, "G", 2), (1e6, "M", 1), (1e3, "k", 1))


def format_count(n: int | float | None, unit: str = "", missing: str = "?") -> str:
    """A count with a metric suffix: G and T with two decimals, M and k with one.

    >>> format_count(1_814_073_344), format_count(140_186_624), format_count(5_130)
    ('1.81 G', '140.2 M', '5.1 k')
    >>> format_count(999), format_count(999_960), format_count(None), format_count(None, missing="")
    ('999', '1.0 M', '?', '')

    ``unit`` follows the suffix (``format_count(2e9, "B")`` -> ``2.00 GB``); ``missing``
    stands for ``None``. A value that would round up to 1000 of one unit is written
    in the next (``1.0 M``, never ``1000.0 k``).
    """
    if n is None:
        return missing
    size_abs = abs(n)
    for i, (size, suffix, digits) in enumerate(_UNITS):
        if size_abs >= size:
            if i > 0 and float(f"{size_abs / size:.{digits}f}") >= 1000:
                size, suffix, digits = _UNITS[i - 1]
            return f"{n / size:.{digits}f} {suffix}{unit}"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:.1f}{' ' + unit if unit else ''}"
    return f"{int(n)}{' ' + unit if unit else ''}"


def plain(value: object) -> str:
    r"""Text from a file (a summary, a preset, a checkpoint) made safe to print: control
    characters (escape sequences, carriage returns, bidirectional overrides) written as
    ``\xNN``/``\uNNNN``, so that no file drives the terminal. Print it as a
    ``rich.text.Text``, not as markup, so that ``[link=...]`` stays text.

    >>> plain("run\x1b]8;;http://x\x07 [b]bold[/b]\x1b[2J")
    'run\\x1b]8;;http://x\\x07 [b]bold[/b]\\x1b[2J'
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))
