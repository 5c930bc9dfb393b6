"""Complexity of a restorer: parameters, FLOPs/MACs, peak memory and latency at given image sizes.

Conventions (stated in every printout):
- params: number of elements of the unique parameters of ``restorer.module()`` (0 without one).
- FLOPs: counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions, matrix products
  and attention kernels only (elementwise ops, norms, pooling and non-torch code count 0);
  FLOPs = 2 x MACs (one multiply-add = 2 FLOPs); biases are not counted.
- per image: FLOPs of one network call x ``restorer.calls_per_image()`` (a diffusion sampler's step
  count). The per-call figure is the network's FLOPs during one ``restore()`` of a single image
  divided by the calls observed there. For a method without a network (``module()`` is None) the
  whole ``restore()`` is counted.
- not counted: custom operators without a formula in the counter (e.g. torchvision's
  deformable convolution) count 0; a method lists them in ``flops_not_counted`` and the report
  carries them.
- peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` above the allocation before the call
  ("cuda-max-allocated"); on CPU, the process's resident set size sampled every millisecond during
  the call, peak minus the value before it ("cpu-rss-sampled"; a rough estimate). The memory
  malloc keeps for reuse is handed back to the system just before (``malloc_trim``), so a call
  is not credited with memory an earlier one freed (a second size used to read ~0 MiB).
- latency: median wall time of ``repeats`` restore() calls after ``warmup`` calls, each on a batch
  of ``batch_size`` same-size images (one by default), synchronised on CUDA; peak memory is
  measured on that batch too. Throughput: images per second = batch_size / median latency.
  FLOPs stay per image (counted on a batch of one).
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.memory import release_freed_memory
from harness.precision import float32_math
from harness.restorer import ImageBatch, Restorer

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass
class SizeComplexity:
    """What was measured at one image size (FLOPs per image; memory and latency per batch)."""

    height: int
    width: int
    flops_per_call: int
    network_calls_observed: int
    calls_per_image: int
    flops_per_image: int
    macs_per_image: int
    flops_scope: str
    """"network" (per-call x calls_per_image) or "restore" (the whole restore() counted)."""
    peak_memory_bytes: int | None
    memory_kind: str
    latency_ms_median: float | None
    latency_runs_ms: list[float] = field(default_factory=list)
    batch_size: int = 1
    """Images per restore() call in the memory and latency measurements."""
    images_per_second: float | None = None
    """batch_size / median latency (None without timed runs)."""


@dataclass
class ComplexityReport:
    """Parameters and per-size measurements of one method variant on one device."""

    method: str
    variant: str
    device: str
    params: int
    sizes: list[SizeComplexity]
    notes: list[str] = field(default_factory=list)
    params_detail: dict[str, int] = field(default_factory=dict)
    """Counts beyond ``params`` (e.g. "stored in the checkpoint" with training-only keys)."""
    flops_not_counted: list[str] = field(default_factory=list)
    """Operations whose FLOPs the counter misses (the FLOP figures are lower bounds then)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, for ``--json``."""
        return asdict(self)


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``256x256``) into (height, width)."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise HarnessError(f"bad size {text!r}", hint="write sizes as HxW, e.g. 256x256") from None
    if h <= 0 or w <= 0:
        raise HarnessError(f"bad size {text!r}: height and width must be positive")
    return h, w


def count_parameters(module: nn.Module | None) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters())


def _test_image(height: int, width: int, device: str, batch_size: int = 1) -> torch.Tensor:
    import torch

    gen = torch.Generator().manual_seed(0)
    return torch.rand(batch_size, 3, height, width, generator=gen).to(device)


def _batch(images: torch.Tensor, restorer: Restorer, task: str | None = None) -> ImageBatch:
    """The batch of ``images`` (ids complexity-0, -1, ...); a method that is not blind gets
    ``task``, else its first (as the contract does)."""
    if restorer.blind:
        task = None
    elif task is None:
        task = restorer.tasks[0] if restorer.tasks else None
    ids = tuple(f"complexity-{i}" for i in range(images.shape[0]))
    return ImageBatch(images=images, ids=ids, seed=0, task=task)


def _restore(restorer: Restorer, batch: ImageBatch) -> torch.Tensor:
    """One restore as runs do it: IEEE float32 unless the method opts in (harness.precision)."""
    with float32_math():
        return restorer.restore(batch)


def count_flops(
    restorer: Restorer, images: torch.Tensor, task: str | None = None
) -> tuple[int, int, int]:
    """(network FLOPs, network calls observed, all FLOPs) during one ``restore()`` of ``images``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    module = restorer.module()
    network_flops = 0
    calls = 0
    depth = 0
    start = 0
    handles = []

    def before(_mod: Any, _args: Any) -> None:
        nonlocal depth, start
        if depth == 0:
            start = counter.get_total_flops()
        depth += 1

    def after(_mod: Any, _args: Any, _out: Any) -> None:
        nonlocal depth, network_flops, calls
        depth -= 1
        if depth == 0:
            network_flops += counter.get_total_flops() - start
            calls += 1

    if module is not None:
        handles = [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        with counter:
            _restore(restorer, _batch(images, restorer, task))
    finally:
        for handle in handles:
            handle.remove()
    return network_flops, calls, counter.get_total_flops()


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one image under the conventions above."""

    per_call: int
    calls_observed: int
    calls_per_image: int
    per_image: int
    scope: str
    """"network" (per-call x calls_per_image) or "restore" (the whole restore() counted)."""


def flops_per_image(
    restorer: Restorer, height: int, width: int, device: str, task: str | None = None
) -> FlopCount:
    """Count the FLOPs of one HxW image (a deterministic test image, one ``restore()``); a
    task-routed method restores it as ``task`` (its first task when None)."""
    network, calls, total = count_flops(restorer, _test_image(height, width, device), task)
    if restorer.module() is not None and calls > 0:
        per_call = network // calls
        per_image_calls = restorer.calls_per_image()
        return FlopCount(per_call, calls, per_image_calls, per_call * per_image_calls, "network")
    return FlopCount(total, calls, 1, total, "restore")


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_memory(restorer: Restorer, images: torch.Tensor, device: str) -> tuple[int | None, str]:
    """(peak bytes above the pre-call level during one ``restore()``, how it was measured)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        _restore(restorer, _batch(images, restorer))
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, "cuda-max-allocated"
    release_freed_memory()  # else a call may reuse memory an earlier one freed, unseen
    base = _rss_bytes()
    if base is None:  # no /proc: growth of the process's high-water mark (KiB on Linux)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _restore(restorer, _batch(images, restorer))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (after - before) * 1024, "cpu-maxrss-increase"
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_bytes() or 0)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _restore(restorer, _batch(images, restorer))
    finally:
        done.set()
        sampler.join()
    peak = max(peak, _rss_bytes() or 0)
    return peak - base, "cpu-rss-sampled"


def latency_ms(
    restorer: Restorer, images: torch.Tensor, device: str, warmup: int, repeats: int
) -> list[float]:
    """Wall times in milliseconds of ``repeats`` restore() calls after ``warmup`` calls."""
    import torch

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        _restore(restorer, _batch(images, restorer))
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _restore(restorer, _batch(images, restorer))
        sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def measure_size(
    restorer: Restorer,
    height: int,
    width: int,
    *,
    device: str = "cpu",
    warmup: int = 1,
    repeats: int = 5,
    memory: bool = True,
    batch_size: int = 1,
) -> SizeComplexity:
    """Measure FLOPs per HxW image, and peak memory and latency of a batch of ``batch_size``."""
    if batch_size < 1:
        raise HarnessError(f"batch size must be at least 1, got {batch_size}")
    images = _test_image(height, width, device, batch_size)
    if memory:
        peak, kind = peak_memory(restorer, images, device)
    else:
        peak, kind = None, "not measured"
    flops = flops_per_image(restorer, height, width, device)
    runs = latency_ms(restorer, images, device, warmup, repeats) if repeats > 0 else []
    median = statistics.median(runs) if runs else None
    return SizeComplexity(
        height=height,
        width=width,
        flops_per_call=flops.per_call,
        network_calls_observed=flops.calls_observed,
        calls_per_image=flops.calls_per_image,
        flops_per_image=flops.per_image,
        macs_per_image=flops.per_image // 2,
        flops_scope=flops.scope,
        peak_memory_bytes=peak,
        memory_kind=kind,
        latency_ms_median=median,
        latency_runs_ms=runs,
        batch_size=batch_size,
        images_per_second=batch_size * 1000.0 / median if median else None,
    )


def measure(
    restorer: Restorer,
    sizes: list[tuple[int, int]],
    *,
    device: str = "cpu",
    warmup: int = 1,
    repeats: int = 5,
    memory: bool = True,
    batch_size: int = 1,
) -> ComplexityReport:
    """Parameters plus per-size FLOPs, memory, latency and throughput of an instantiated restorer
    (memory and latency on batches of ``batch_size`` images)."""
    import torch

    with torch.inference_mode():
        rows = [
            measure_size(
                restorer,
                h,
                w,
                device=device,
                warmup=warmup,
                repeats=repeats,
                memory=memory,
                batch_size=batch_size,
            )
            for h, w in sizes
        ]
    uncounted = list(type(restorer).flops_not_counted)
    return ComplexityReport(
        method=restorer.name,
        variant=restorer.variant,
        device=device,
        params=count_parameters(restorer.module()),
        sizes=rows,
        notes=[f"FLOPs not counted: {line}" for line in uncounted],
        params_detail=restorer.params_detail(),
        flops_not_counted=uncounted,
    )
