"""Module attributes imported on first use (PEP 562), for names backed by torch."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_attributes(module: str, table: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``module``: each name of ``table`` is imported
    from the module it maps to when first read, then kept in ``module``'s globals.

    >>> getattr_, dir_ = lazy_attributes("zoo", {"CNN": "zoo.cnn"})
    >>> getattr_("CNN").__name__
    'CNN'
    """

    def __getattr__(name: str) -> Any:
        source = table.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[module], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module])) | set(table))

    return __getattr__, __dir__
