"""Numbers for people: ``1.81 G``, ``140.2 M``, ``1,608k``, ``295s``. No torch.

Every number zoo prints for people is written here, so that one kind of column reads
the same in every command and report:

- :func:`format_count`: a count in the unit that fits, ``1.81 G`` (``zoo list``,
  ``zoo inspect``, ``str(zoo.inspect(...))``, memory in messages);
- :func:`format_compact`: the same without the space, for narrow run tables
  (``zoo runs``, the sweep's report): ``1.81G``, ``140.2M``;
- :func:`format_thousands`: parameters in thousands as the document writes them, ``1,608k``;
- :func:`format_fixed`: a column in one fixed unit (millions of MACs, MiB, seconds).
"""

from __future__ import annotations

import re

__all__ = ["format_count", "format_compact", "format_thousands", "format_fixed", "plain"]

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
    for i, (size, suffix, digits) in enumerate(_UNITS if size_abs >= 1e3 else ()):
        if size_abs >= size:
            # only from 999 up can the rounding reach 1000 (written in the next unit)
            if i > 0 and size_abs / size >= 999 and float(f"{size_abs / size:.{digits}f}") >= 1000:
                size, suffix, digits = _UNITS[i - 1]
            return f"{n / size:.{digits}f} {suffix}{unit}"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:.1f}{' ' + unit if unit else ''}"
    return f"{int(n)}{' ' + unit if unit else ''}"


def format_compact(n: int | float | None, missing: str = "-") -> str:
    """A count in a narrow column, its suffix without a space: G with two decimals,
    M (from 0.1 M) and k with one, thousands separated; 0 and ``None`` are ``missing``.

    >>> format_compact(1_814_073_344), format_compact(140_186_624), format_compact(48_600)
    ('1.81G', '140.2M', '48.6k')
    >>> format_compact(250_000), format_compact(0), format_compact(None, missing="")
    ('0.2M', '-', '')
    """
    if not n:
        return missing
    if n >= 1e9:
        return f"{n / 1e9:.2f}G"
    return f"{n / 1e6:,.1f}M" if n >= 1e5 else f"{n / 1e3:,.1f}k"


def format_thousands(n: int | None, missing: str = "-") -> str:
    """Parameters as the document writes them: whole thousands, ``1,608k``; a count
    below a thousand as it is; ``None`` is ``missing``.

    >>> format_thousands(1_607_818), format_thousands(15_034), format_thousands(98), format_thousands(None)
    ('1,608k', '15k', '98', '-')
    """
    if n is None:
        return missing
    return f"{n / 1e3:,.0f}k" if n >= 1000 else str(n)


def format_fixed(n: int | float | None, scale: float = 1, decimals: int = 0, suffix: str = "",
                 missing: str = "-") -> str:
    """``n / scale`` with thousands separated, ``decimals`` places and ``suffix``: a
    column in one unit (seconds, millions of MACs, MiB); ``None`` is ``missing``.

    >>> format_fixed(295.2, suffix="s"), format_fixed(43_000_000, 1e6, 2, "M"), format_fixed(3 * 2**20, 2**20)
    ('295s', '43.00M', '3')
    >>> format_fixed(1_234_567, 1e3, 1), format_fixed(None)
    ('1,234.6', '-')
    """
    if n is None:
        return missing
    return f"{n / scale:,.{decimals}f}{suffix}"


def plain(value: object) -> str:
    r"""Text from a file (a summary, a preset, a checkpoint) made safe to print: control
    characters (escape sequences, carriage returns, bidirectional overrides) written as
    ``\xNN``/``\uNNNN``, so that no file drives the terminal. Print it as a
    ``rich.text.Text``, not as markup, so that ``[link=...]`` stays text.

    >>> plain("run\x1b]8;;http://x\x07 [b]bold[/b]\x1b[2J")
    'run\\x1b]8;;http://x\\x07 [b]bold[/b]\\x1b[2J'
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))
