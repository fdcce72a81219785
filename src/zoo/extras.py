"""Optional dependencies: which extra of zoo-cnn brings which module, and one check.

Every feature that needs an optional package asks here, at the moment the user asks
for the feature (``BlockMonitor(out=...)``, ``zoo train --plot-every``), so that a
missing package is said at the start with the pip command, not hours into a run.

>>> install_hint("matplotlib.pyplot")
"install zoo's plot extra: pip install 'zoo-cnn[plot]' (or pip install matplotlib)"
>>> install_hint("PIL")
'pip install pillow'
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from .errors import MissingExtraError

__all__ = ["EXTRAS", "DISTRIBUTION", "require", "check_installed", "install_hint"]

DISTRIBUTION = "zoo-cnn"  # the name pip installs zoo by
# module -> (extra of zoo-cnn, the package pip installs)
EXTRAS: dict[str, tuple[str, str]] = {
    "matplotlib": ("plot", "matplotlib"),
    "sklearn": ("train", "scikit-learn"),
    "onnx": ("export", "onnx"),
    "onnxscript": ("export", "onnxscript"),
    "onnxruntime": ("export", "onnxruntime"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "mlflow": ("mlflow", "mlflow"),
    "optuna": ("sweep", "optuna"),
    "PIL": ("", "pillow"),  # comes with torchvision; no extra of its own
}


def install_hint(module: str) -> str:
    """``pip install 'zoo-cnn[plot]' (or pip install matplotlib)`` for a module."""
    top = module.split(".")[0]
    extra, package = EXTRAS.get(top, ("", top))
    if not extra:
        return f"pip install {package}"
    return f"install zoo's {extra} extra: pip install '{DISTRIBUTION}[{extra}]' (or pip install {package})"


def _missing(module: str, purpose: str) -> MissingExtraError:
    top = module.split(".")[0]
    package = EXTRAS.get(top, ("", top))[1]
    return MissingExtraError(f"{purpose} needs {package}, which is not installed", hint=install_hint(module))


def check_installed(module: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` now if ``module`` cannot be imported, without
    importing it (matplotlib alone costs a second)."""
    top = module.split(".")[0]
    if top in sys.modules:
        if sys.modules[top] is None:  # blocked, as tests and some sandboxes do
            raise _missing(module, purpose)
        return
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise _missing(module, purpose)


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, purpose) from None
