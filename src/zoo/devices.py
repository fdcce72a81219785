"""Which devices this machine and this torch have: asked by ``zoo bench``, ``zoo train``
and torchrun's processes before anything is built, so that ``--device mps`` without an
Apple GPU, or ``meta``, is one line and exit 2, not a traceback from deep inside torch."""

from __future__ import annotations

from .errors import DeviceError

__all__ = ["check_device"]


def check_device(device: str, command: str = "zoo bench") -> str:
    """``device`` if this machine and this torch have it, else a :class:`DeviceError`
    (``zoo bench``, ``zoo train`` and :class:`zoo.Trainer` ask before anything is built).

    >>> check_device("cpu")
    'cpu'
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceError(f"unknown device {device!r}: give cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cpu":
        return "cpu"
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise DeviceError(f"device {device!r} is not available: {why} (torch.cuda.is_available() "
                              "is False); use --device cpu")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise DeviceError(f"device {device!r} is not available: this machine has {count} CUDA "
                              f"device(s), cuda:0 to cuda:{count - 1}")
        return str(parsed)
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"device {device!r} is not available: no Apple GPU (torch.backends.mps."
                              "is_available() is False); use --device cpu")
        return "mps"
    raise DeviceError(f"device {device!r}: {command} runs on cpu, cuda or mps")
