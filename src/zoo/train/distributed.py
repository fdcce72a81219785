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
from torch import nn

# one import path per name: Distributed, from_environment from zoo.train
__all__ = ["launched_by_torchrun", "GlobalBatchNorm2d", "sync_batchnorm"]


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
    from ..devices import check_device

    wanted = device or ("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(check_device(wanted, "zoo train"))  # mps, xla, meta where unavailable: a DeviceError
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


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are those of the whole batch over all
    processes (``--sync-bn``), on any backend: torch's ``SyncBatchNorm`` works on CUDA
    only, this one on gloo/CPU too. The sums travel by an autograd-aware all-reduce,
    so the gradients are those of the global batch. Same state dict as ``BatchNorm2d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        import torch.distributed as dist

        if not self.training or not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        import warnings

        from torch.distributed.nn.functional import all_reduce

        channels = x.shape[1]
        count = torch.tensor([x.numel() // channels], dtype=x.dtype, device=x.device)
        local = torch.cat((x.sum(dim=(0, 2, 3)), x.square().sum(dim=(0, 2, 3)), count))
        with warnings.catch_warnings():  # deprecated for a private module; the autograd-aware one
            warnings.simplefilter("ignore", FutureWarning)
            total = all_reduce(local)  # (2C + 1,): sums over every process's batch
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels:2 * channels] / n - mean.square()).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked + 1)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1), momentum)
                self.num_batches_tracked += 1
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with its ``BatchNorm2d`` layers computing statistics over all processes:
    torch's ``SyncBatchNorm`` on CUDA, :class:`GlobalBatchNorm2d` elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def convert(module: nn.Module) -> nn.Module:
        if type(module) is nn.BatchNorm2d:
            new = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                    module.track_running_stats, device=torch.device("meta"))
            # the same parameter and buffer objects: an optimizer made before still holds them
            for name, value in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
                setattr(new, name, value)
            new.train(module.training)
            return new
        for name, child in module.named_children():
            setattr(module, name, convert(child))
        return module

    return convert(model)
