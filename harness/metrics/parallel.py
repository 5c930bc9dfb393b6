"""Row strips of an image scored on several threads: the metrics' one thread pool.

OpenCV's filters and numpy's element-wise kernels release the GIL, so strips of one image run
in parallel on plain threads. ``metric_threads()`` is the number of strips run at once: the
``OMP_NUM_THREADS`` environment variable when set (the same knob that caps torch), else every
core this process may use.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import TypeVar

import numpy as np

T = TypeVar("T")

MIN_STRIP_ROWS = 64
"""Strips shorter than this cost more in halo rows and hand-offs than they save."""
STRIPS_PER_THREAD = 2
"""Each thread walks its rows in this many strips, so a strip's planes stay in cache."""


def metric_threads() -> int:
    """Threads the metrics may use (``OMP_NUM_THREADS``, else the usable cores)."""
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """The pool of this process (keyed by pid: a forked child has none of its parent's threads)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="harness-metrics")


def row_strips(height: int, threads: int | None = None) -> list[tuple[int, int]]:
    """[start, stop) row ranges covering ``height`` rows: one per thread and cache block."""
    threads = metric_threads() if threads is None else threads
    count = max(1, min(threads * STRIPS_PER_THREAD, height // MIN_STRIP_ROWS))
    bounds = [round(i * height / count) for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def map_strips(work: Callable[[int, int], T], height: int) -> list[T]:
    """``work(start, stop)`` for every strip of ``height`` rows, spread over the metric threads;
    results in strip order. The calling thread takes a share, so one thread needs no pool."""
    threads = metric_threads()
    strips = row_strips(height, threads)
    if threads == 1 or len(strips) == 1:
        return _run(work, strips)
    groups = [strips[i::threads] for i in range(min(threads, len(strips)))]  # thread i % threads
    futures = [
        _pool(len(groups) - 1, os.getpid()).submit(_run, work, group) for group in groups[1:]
    ]
    done = [_run(work, groups[0])] + [future.result() for future in futures]
    by_strip = dict(zip(chain(*groups), chain(*done), strict=True))
    return [by_strip[strip] for strip in strips]


def _run(work: Callable[[int, int], T], strips: list[tuple[int, int]]) -> list[T]:
    return [work(start, stop) for start, stop in strips]


_scratch = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """This thread's reusable array ``name`` viewed as ``shape`` (contents undefined).

    Fresh large arrays cost page faults that outweigh the arithmetic, above all on threads other
    than the main one, whose malloc arenas return freed memory to the system at once; so each
    thread keeps the largest array it needed under each name.
    """
    size = int(np.prod(shape))
    kept = getattr(_scratch, "arrays", None)
    if kept is None:
        kept = _scratch.arrays = {}
    array = kept.get(name)
    if array is None or array.dtype != dtype or array.size < size:
        array = kept[name] = np.empty(size, dtype)
    return array[:size].reshape(shape)
