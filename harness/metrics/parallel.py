"""Row strips of an image scored on several threads: the metrics' one thread pool.

OpenCV's filters and numpy's element-wise kernels release the GIL, so strips of one image run
in parallel on plain threads. ``metric_threads()`` is the number of strips run at once: the
``OMP_NUM_THREADS`` environment variable when set (the same knob that caps torch), else every
core this process may use.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import TypeVar

import numpy as np

T = TypeVar("T")

STRIP_ROWS = 128
"""Rows per strip. Strips depend on the image height only, never on the thread count, so every
score is the same to the last bit whatever the number of threads (sums go in strip order)."""

_local = threading.local()


def metric_threads() -> int:
    """Threads the metrics may use (``OMP_NUM_THREADS``, else the usable cores; at most the
    calling thread's :func:`limit_threads`)."""
    cap = getattr(_local, "cap", None)
    return min(cap, _default_threads()) if cap else _default_threads()


def limit_threads(count: int) -> None:
    """Let metrics called from this thread use at most ``count`` threads (a background scorer
    beside a model that already keeps every core busy)."""
    _local.cap = max(1, count)


def _default_threads() -> int:
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """The pool of this process (keyed by pid: a forked child has none of its parent's threads)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="harness-metrics")


def row_strips(height: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges of ``STRIP_ROWS`` covering ``height`` rows (a remainder shorter
    than half a strip joins the last one)."""
    bounds = list(range(0, height, STRIP_ROWS))
    if len(bounds) > 1 and height - bounds[-1] < STRIP_ROWS // 2:
        bounds.pop()
    return list(zip(bounds, [*bounds[1:], height], strict=True))


def map_strips(work: Callable[[int, int], T], height: int) -> list[T]:
    """``work(start, stop)`` for every strip of ``height`` rows, spread over the metric threads;
    results in strip order. The calling thread takes a share, so one thread needs no pool."""
    threads = metric_threads()
    strips = row_strips(height)
    if threads == 1 or len(strips) == 1:
        return _run(work, strips)
    groups = [strips[i::threads] for i in range(min(threads, len(strips)))]  # thread i % threads
    futures = [_pool(threads - 1, os.getpid()).submit(_run, work, group) for group in groups[1:]]
    done = [_run(work, groups[0])] + [future.result() for future in futures]
    by_strip = dict(zip(chain(*groups), chain(*done), strict=True))
    return [by_strip[strip] for strip in strips]


def _run(work: Callable[[int, int], T], strips: list[tuple[int, int]]) -> list[T]:
    return [work(start, stop) for start, stop in strips]


def scratch(name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """This thread's reusable array ``name`` viewed as ``shape`` (contents undefined).

    Fresh large arrays cost page faults that outweigh the arithmetic, above all on threads other
    than the main one, whose malloc arenas return freed memory to the system at once; so each
    thread keeps the largest array it needed under each name.
    """
    size = math.prod(shape)
    kept = getattr(_local, "arrays", None)
    if kept is None:
        kept = _local.arrays = {}
    array = kept.get(name)
    if array is None or array.dtype != dtype or array.size < size:
        array = kept[name] = np.empty(size, dtype)
    return array[:size].reshape(shape)
