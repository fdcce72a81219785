"""Data-parallel training on torchrun: the process group, the rank's device, sums.

``torchrun --nproc_per_node=N -m zoo train ...`` starts N processes with ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE`` and the rendezvous in their environment;
:func:`from_environment` joins them into one process group (nccl on CUDA, gloo on
the CPU) and gives each its device. A single process without torchrun gets a
:class:`Distributed` of world size 1 that does nothing.

>>> single = Distributed()
>>> single.world, single.main, single.sum([2.0, 3.0])
(1, True, [2.0, 3.0])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch

from ..errors import OptionError

__all__ = ["Distributed", "from_environment", "launched_by_torchrun"]


@dataclass
class Distributed:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""  # "" when there is no process group

    @property
    def main(self) -> bool:
        """Rank 0: the process that prints and writes files."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def sum(self, values: list[float], device: torch.device | str = "cpu") -> list[float]:
        """``values`` summed over all processes (float64)."""
        if not self.active:
            return list(values)
        import torch.distributed as dist

        device = torch.device(device) if self.backend == "nccl" else torch.device("cpu")
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def gather(self, value: float) -> list[float]:
        """``value`` of every process, by rank."""
        if not self.active:
            return [value]
        import torch.distributed as dist

        out: list[float | None] = [None] * self.world
        dist.all_gather_object(out, value)
        return [float(v) for v in out]  # type: ignore[arg-type]

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every process."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Leave the process group."""
        if self.backend:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.backend = ""


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher) set this process's rank and world size."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def from_environment(device: str | None = None, timeout_s: float = 300.0) -> tuple[Distributed, torch.device]:
    """Join the process group torchrun describes in the environment, and pick this
    process's device: ``cuda:LOCAL_RANK`` where CUDA is there (unless ``device`` says
    ``cpu``), else the CPU. Without torchrun: world size 1 and ``device`` (default:
    CUDA when available)."""
    wanted = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(wanted)
    except RuntimeError:
        raise OptionError(f"--device {wanted!r} is not a device torch knows (cpu, cuda, cuda:1, mps)") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"--device {wanted}: CUDA is not available here; use --device cpu")
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return Distributed(), chosen
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return Distributed(rank, world, local_rank, backend), chosen
