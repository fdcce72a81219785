"""Time models against each other in one process: ``zoo bench`` and :func:`benchmark`.

Every model is built, warmed up (``torch.compile`` compiles here) and measured for
memory first; then the timed repeats run the models *alternately* (the order rotates
each repeat), never one after the other, so that whatever else the machine does hits
all of them alike. A large float32 matrix product, timed in the same rotation, gives
the hardware's peak, and each model's achieved GFLOP/s is reported as a fraction of it.

A target is any MODEL of :mod:`zoo.target` (preset, YAML file, block string,
checkpoint, ``timm:NAME``, ``torchvision:NAME``, ``module:function``), optionally
followed by ``@`` and variants that apply to it alone: ``resnet18_cifar@channels_last``,
``resnet18_cifar@compile``, ``r32m@bf16`` (several: ``@channels_last,compile``).

Conventions (the numbers of :class:`BenchResult`):

- images/s: ``batch * steps / seconds`` of one repeat; the median over the repeats,
  and the spread as half the range (max - min) / 2 relative to the median.
- seconds per 10^6 examples: ``10**6 / images_per_s`` (the document's unit).
- ratio: for each repeat, the model's images/s over the first model's in the same
  repeat (timed next to each other, under the same load); the median of these.
- FLOPs per image: ``2 * MACs`` forward (inference); ``6 * MACs`` for a training step
  (the backward pass costs about twice the forward). MACs are counted by
  :func:`zoo.inspect` on the meta device.
- peak memory: the model's own tensors (weights, buffers, gradients, optimizer state)
  plus what one warm step adds on top (activations, workspaces): on CUDA the rise of
  ``max_memory_allocated``, on the CPU the rise of the process's resident set (RSS)
  from just before the step to its highest point (Linux: ``VmHWM``, reset through
  ``/proc/self/clear_refs``; free memory handed back first with ``malloc_trim``).
  Measured after every model's warm-up, so that no first-use cost of the process
  (thread pools, kernel caches) lands on the first model.

>>> report = benchmark(["cnf8 m r16_3_2", "cnf8 m r16_3_2@channels_last"], batch=2, steps=1,
...                    repeats=2, warmup=1, input_size=(3, 16, 16), peak_size=64, threads=1)
>>> [r.label for r in report.results], report.results[0].ratio
(['cnf8 m r16_3_2', 'cnf8 m r16_3_2@channels_last'], 1.0)
>>> len(report.results[1].images_per_s)
2
"""

from __future__ import annotations

import gc
import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..devices import check_device
from ..errors import OptionError

if TYPE_CHECKING:
    from torch import nn

# one import path per name: check_device is zoo.devices.check_device
__all__ = [
    "VARIANTS",
    "BenchResult",
    "BenchReport",
    "benchmark",
    "split_variants",
    "measure_peak",
]

VARIANTS = ("channels_last", "compile", "bf16", "fp16", "eager")  # what may follow a target's @
MODES = ("train", "infer")
AMP = ("bf16", "fp16")
FLOPS_PER_MAC = {"train": 6, "infer": 2}  # a training step is ~3 forward passes


@dataclass
class BenchResult:
    """The numbers of one model in a :class:`BenchReport`."""

    label: str  # the target as given, with its @variants
    name: str  # the model's short name
    params: int
    macs: int  # forward, one image
    input_size: tuple[int, int, int]
    images_per_s: list[float] = field(default_factory=list)  # one per repeat
    peak_memory: int | None = None  # bytes (see the module's conventions), None: not measurable
    ratio: float = 1.0  # median over the repeats of images/s / the first model's in that repeat
    fraction_of_peak: float | None = None  # achieved GFLOP/s / the measured peak
    flops_per_image: int = 0
    channels_last: bool = False
    compiled: bool = False
    amp: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_s)

    @property
    def spread(self) -> float:
        """Half the range of the repeats, relative to the median (0.02: ±2 %)."""
        return (max(self.images_per_s) - min(self.images_per_s)) / 2 / self.median

    @property
    def seconds_per_million(self) -> float:
        return 1e6 / self.median

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s at the median speed."""
        return self.median * self.flops_per_image / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label, "name": self.name, "params": self.params, "macs": self.macs,
            "input_size": list(self.input_size), "images_per_s": self.median,
            "images_per_s_repeats": self.images_per_s, "spread": self.spread,
            "seconds_per_million": self.seconds_per_million, "peak_memory": self.peak_memory,
            "flops_per_image": self.flops_per_image, "gflops": self.gflops,
            "fraction_of_peak": self.fraction_of_peak, "ratio": self.ratio,
            "channels_last": self.channels_last, "compiled": self.compiled, "amp": self.amp,
        }


@dataclass
class BenchReport:
    """What :func:`benchmark` returns: the settings, the machine, one result per model."""

    mode: str
    batch: int
    steps: int
    repeats: int
    warmup: int
    device: str
    device_name: str
    threads: int
    torch_version: str
    amp: str | None
    peak_gflops: float | None  # measured in the same run
    peak_what: str
    results: list[BenchResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "batch": self.batch, "steps": self.steps, "repeats": self.repeats,
            "warmup": self.warmup, "device": self.device, "device_name": self.device_name,
            "threads": self.threads, "torch": self.torch_version, "amp": self.amp,
            "peak_gflops": self.peak_gflops, "peak": self.peak_what,
            "results": [r.to_dict() for r in self.results],
        }

    def render(self):
        """A rich renderable: the settings, the table, what the columns mean (80 columns)."""
        from .render import render_report

        return render_report(self)

    def __rich_console__(self, console, options):
        yield self.render()


def split_variants(text: str) -> tuple[str, tuple[str, ...]]:
    """``"resnet18_cifar@channels_last,compile"`` -> ``("resnet18_cifar", ("channels_last",
    "compile"))``; text whose ``@`` part names no variants is a target as it is.

    >>> split_variants("r32m@compile"), split_variants("timm:resnet18")
    (('r32m', ('compile',)), ('timm:resnet18', ()))
    """
    target, at, rest = text.rpartition("@")
    if not at:
        return text, ()
    names = tuple(v.strip().replace("-", "_") for v in rest.split(","))
    if not all(names) or not set(names) <= set(VARIANTS):
        unknown = [n for n in names if n not in VARIANTS]
        if target and all(n.replace("_", "").isalnum() for n in names):
            from ..errors import did_you_mean

            raise OptionError(f"{text}: unknown variant {unknown[0]!r}{did_you_mean(unknown[0], VARIANTS)} "
                              f"(after @: {', '.join(VARIANTS)})")
        return text, ()
    if "bf16" in names and "fp16" in names:
        raise OptionError(f"{text}: choose one of bf16 and fp16")
    return target, names


# -- memory ---------------------------------------------------------------------------------


def device_memory(device: str) -> int | None:
    """Bytes of memory of ``device`` (the machine's RAM for the CPU), None when unknown."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    if device == "cpu":
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def check_input_memory(batch: int, size: Sequence[int], device: str) -> None:
    """An :class:`OptionError` when the input batch alone (float32) takes more than half
    the memory of ``device``: said before anything is allocated, not a failed
    allocation of terabytes from deep inside torch."""
    need = batch * math.prod(size) * 4
    total = device_memory(device)
    if total and need > total // 2:
        shape = "x".join(str(s) for s in size)
        raise OptionError(f"a batch of {batch:,} images of {shape} is {need / 2**30:,.1f} GiB of float32, more "
                          f"than half the {total / 2**30:,.0f} GiB of memory of {device}; give a smaller --batch "
                          "or --input")


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _reset_rss_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the peak resident set (Linux >= 4.0)
        return True
    except OSError:
        return False


def _rss_peak() -> int | None:
    try:
        with open("/proc/self/status") as f:
            found = re.search(r"VmHWM:\s+(\d+)\s+kB", f.read())
    except OSError:
        return None
    return int(found.group(1)) * 1024 if found else None


def _release_free_memory() -> None:
    """Give memory that Python and the C allocator hold free back to the system, so that
    the next allocations show in the RSS (glibc keeps freed blocks resident otherwise)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _tensor_bytes(model: nn.Module, optimizer: Any) -> int:
    """Bytes of the model's own tensors: weights, buffers, gradients, optimizer state."""
    import torch

    seen: dict[int, int] = {}
    tensors = [*model.parameters(), *model.buffers()]
    tensors += [p.grad for p in model.parameters() if p.grad is not None]
    if optimizer is not None:
        tensors += [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    for t in tensors:
        seen[t.data_ptr()] = max(seen.get(t.data_ptr(), 0), t.numel() * t.element_size())
    return sum(seen.values())


class _Memory:
    """Peak memory of one step: the model's tensors (weights, gradients, optimizer state)
    plus what the step adds on top (activations, workspace): on CUDA the rise of
    ``max_memory_allocated``, on the CPU the rise of the process's resident set."""

    def __init__(self, device: str):
        import torch

        self.torch = torch
        self.cuda = device.startswith("cuda")
        self.device = device

    def measure(self, step: Callable[[], None], tensors: Callable[[], int]) -> int | None:
        torch = self.torch
        if self.cuda:
            torch.cuda.synchronize(self.device)
            base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            step()
            torch.cuda.synchronize(self.device)
            rise = torch.cuda.max_memory_allocated(self.device) - base
        else:
            _release_free_memory()
            base = _rss()
            if base is None or not _reset_rss_peak():
                step()
                return None
            step()
            top = _rss_peak()
            if top is None:
                return None
            rise = max(0, top - base)
        return tensors() + rise


# -- the peak ---------------------------------------------------------------------------------


def measure_peak(device: str = "cpu", size: int = 2048, repeats: int = 3) -> float:
    """GFLOP/s of the fastest of ``repeats`` float32 ``size x size`` matrix products on
    ``device`` (with torch's current threads): the hardware's practical peak.

    >>> measure_peak(size=64, repeats=1) > 0
    True
    """
    import torch

    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)  # the first call pays for set-up
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


# -- one model ------------------------------------------------------------------------------


@dataclass
class _Runner:
    label: str
    step: Callable[[], None]
    result: BenchResult
    tensor_bytes: Callable[[], int]


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    if device == "mps":
        return "Apple GPU (mps)"
    try:
        with open("/proc/cpuinfo") as f:
            found = re.search(r"model name\s*:\s*(.+)", f.read())
        if found:
            return found.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _make_runner(text: str, *, mode: str, batch: int, device: str, input_size, channels_last: bool,
                 compile: bool, amp: str | None, options: dict[str, Any], seed: int,
                 trust_code: bool = False) -> _Runner:
    import torch

    from ..export import model_input_size
    from ..inspector.inspection import inspect
    from ..target import resolve_model

    target, variants = split_variants(text)
    channels_last = channels_last or "channels_last" in variants
    compile = compile or "compile" in variants
    amp = next((v for v in variants if v in AMP), amp)
    spec = resolve_model(target, trust_code=trust_code, **options)
    size = tuple(input_size[-3:]) if input_size else None
    if size is not None and spec.kind == "blocks" and "input" not in options:
        spec = spec.with_data(channels=size[0])
    torch.manual_seed(seed)
    model = spec.build()
    size = size or model_input_size(model, spec)
    check_input_memory(batch, size, device)
    report = inspect(model, size)  # a meta copy: the model itself is not run or moved
    flops = FLOPS_PER_MAC[mode] * report.macs
    result = BenchResult(text, spec.name, report.params, report.macs, size, flops_per_image=flops,
                         channels_last=channels_last, compiled=compile, amp=amp)

    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    model.train(mode == "train")
    x = torch.randn(batch, *size, device=device).contiguous(memory_format=memory_format)
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, torch.Tensor):
        raise OptionError(f"{text}: the model returns {type(out).__name__}; zoo bench times models that "
                          "return a tensor")
    classes = out.shape[1] if out.dim() >= 2 else 1
    y = torch.randint(0, classes, (batch,), device=device)
    forward = torch.compile(model) if compile else model
    autocast = (torch.autocast(device_type=torch.device(device).type, dtype=getattr(torch, _AMP_DTYPE[amp]))
                if amp else None)

    optimizer = None
    if mode == "train":
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            if autocast is not None:
                with autocast:
                    out = forward(x)
            else:
                out = forward(x)
            loss = loss_fn(out.float().flatten(1), y) if out.dim() >= 2 else out.float().mean()
            loss.backward()
            optimizer.step()
    else:

        def step() -> None:
            with torch.inference_mode():
                if autocast is not None:
                    with autocast:
                        forward(x)
                else:
                    forward(x)

    return _Runner(text, step, result, lambda: _tensor_bytes(model, optimizer))


_AMP_DTYPE = {"bf16": "bfloat16", "fp16": "float16"}


def benchmark(
    targets: Sequence[str],
    *,
    mode: str = "train",
    batch: int = 32,
    input_size: Sequence[int] | None = None,
    device: str = "cpu",
    channels_last: bool = False,
    compile: bool = False,
    amp: str | None = None,
    threads: int | None = None,
    steps: int = 5,
    repeats: int = 5,
    warmup: int = 2,
    peak: bool = True,
    peak_size: int = 2048,
    options: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Any = None,
    trust_code: bool = False,
) -> BenchReport:
    """Time ``targets`` (MODELs of :mod:`zoo.target`, each optionally with ``@variants``)
    against each other; the first is the reference of ``ratio``.

    ``mode``: ``"train"`` (forward, backward, SGD step) or ``"infer"`` (forward under
    ``torch.inference_mode``). ``input_size``: ``(C, H, W)`` for every model (default:
    each model's own). ``channels_last``, ``compile``, ``amp`` (``"bf16"``/``"fp16"``)
    apply to every model. ``steps`` steps make one timed repeat; ``warmup`` steps per
    model come first. ``peak``: time a float32 ``peak_size``-square matrix product in
    the same rotation. ``options``: ``--set`` options for every target. ``progress``:
    a ``rich.progress.Progress`` to report to. ``trust_code``: allow checkpoints whose
    model is built by Python code (:mod:`zoo.checkpoint`).
    """
    import torch

    if mode not in MODES:
        raise OptionError(f"mode={mode!r}: choose train or infer")
    if amp is not None and amp not in AMP:
        raise OptionError(f"amp={amp!r}: choose bf16 or fp16")
    for what, value, low in (("batch", batch, 1), ("steps", steps, 1), ("repeats", repeats, 1),
                             ("warmup", warmup, 0), ("threads", threads or 1, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise OptionError(f"{what}={value!r}: must be a whole number >= {low}")
    if not targets:
        raise OptionError("give at least one model to time")
    device = check_device(device)
    if input_size:
        check_input_memory(batch, tuple(input_size[-3:]), device)
    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run(targets, mode=mode, batch=batch, input_size=input_size, device=device,
                    channels_last=channels_last, compile=compile, amp=amp, steps=steps, repeats=repeats,
                    warmup=warmup, peak=peak, peak_size=peak_size, options=options, seed=seed,
                    progress=progress, trust_code=trust_code)
    finally:
        torch.set_num_threads(threads_before)  # the caller's process keeps its own setting


def _run(targets, *, mode, batch, input_size, device, channels_last, compile, amp, steps, repeats, warmup,
         peak, peak_size, options, seed, progress, trust_code=False) -> BenchReport:
    import torch

    memory = _Memory(device)
    runners: list[_Runner] = []
    task = progress.add_task("building", total=len(targets) * (warmup + 1)) if progress else None
    for text in targets:
        if progress:
            progress.update(task, description=f"warm-up {text}")
        runner = _make_runner(text, mode=mode, batch=batch, device=device, input_size=input_size,
                              channels_last=channels_last, compile=compile, amp=amp, options=options or {},
                              seed=seed, trust_code=trust_code)
        for _ in range(warmup):
            runner.step()
            if progress:
                progress.advance(task)
        runners.append(runner)
    for runner in runners:  # every model warm: no first-use cost of the process counts
        runner.result.peak_memory = memory.measure(runner.step, runner.tensor_bytes)
        if progress:
            progress.advance(task)
    if progress:
        progress.remove_task(task)

    peaks: list[float] = []
    if peak:
        measure_peak(device, peak_size, repeats=1)  # warm-up of the matrix product
    timed = progress.add_task("timing", total=repeats * (len(runners) + peak)) if progress else None
    for repeat in range(repeats):
        shift = repeat % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            if progress:
                progress.update(timed, description=f"timing {runner.label} ({repeat + 1}/{repeats})")
            _sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                runner.step()
            _sync(device)
            runner.result.images_per_s.append(batch * steps / (time.perf_counter() - start))
            if progress:
                progress.advance(timed)
        if peak:
            peaks.append(measure_peak(device, peak_size, repeats=1))
            if progress:
                progress.advance(timed)
    if progress:
        progress.remove_task(timed)

    peak_gflops = max(peaks) if peaks else None
    first = runners[0].result.images_per_s
    for runner in runners:
        result = runner.result
        # paired: each repeat against the first model's in the same repeat (run next to it,
        # under the same load), then the median; steadier than a ratio of two medians
        result.ratio = statistics.median(a / b for a, b in zip(result.images_per_s, first))
        if peak_gflops:
            result.fraction_of_peak = result.gflops / peak_gflops
    return BenchReport(
        mode=mode, batch=batch, steps=steps, repeats=repeats, warmup=warmup, device=device,
        device_name=_device_name(device), threads=torch.get_num_threads(), torch_version=torch.__version__,
        amp=amp, peak_gflops=peak_gflops,
        peak_what=f"float32 {peak_size}x{peak_size} matrix product, best of {len(peaks)}" if peaks else "",
        results=[r.result for r in runners],
    )
