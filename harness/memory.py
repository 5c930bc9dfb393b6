"""Freed memory kept for reuse: glibc malloc's trim and mmap thresholds, raised for the process.

PyTorch's CPU tensors come from malloc. With glibc's defaults, the megabytes of activations that one
network call frees go back to the system, and the next call page-faults them in again: millions of
page faults and about a tenth of a DiffUIR-T mini run's time; the scores are the same either way
(measured in docs/performance.md, "Runner overhead"). The CLI and the Ray workers set this once
per process; ``HARNESS_KEEP_FREED_MEMORY=0`` opts out, and malloc settings the user gave in the
environment are left alone. :func:`release_freed_memory` hands kept memory back on demand (before
a memory measurement).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from collections.abc import Mapping

OPT_OUT = "HARNESS_KEEP_FREED_MEMORY"
TRIM_THRESHOLD = 1 << 30
"""Free memory at the top of the heap kept before any is returned to the system (bytes)."""
MMAP_THRESHOLD = 32 << 20
"""Requests this large or larger get their own mapping (glibc's largest allowed value on 64-bit)."""

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
_USER_TUNABLES = ("glibc.malloc.trim_threshold", "glibc.malloc.mmap_threshold")

log = logging.getLogger(__name__)


def user_chose(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``environ`` opts out or sets malloc's thresholds itself (then nothing is changed)."""
    if environ.get(OPT_OUT, "").strip().lower() in ("0", "false", "no", "off"):
        return True
    tunables = environ.get("GLIBC_TUNABLES", "")
    return any(name in environ for name in _USER_SETTINGS) or any(
        name in tunables for name in _USER_TUNABLES
    )


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library, its ``mallopt`` and ``malloc_trim`` typed, when it is glibc (musl's
    do nothing); looked up once."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version"):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    return libc


def release_freed_memory() -> None:
    """Hand the memory malloc keeps for reuse back to the system now (``malloc_trim``), so that the
    resident size counts live memory only: measuring a call's peak memory from the growth of the
    resident size needs that (kept memory would be reused without growing it)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def keep_freed_memory() -> bool:
    """Raise glibc malloc's trim and mmap thresholds for this process (see the module docstring);
    False where the C library is not glibc or the user chose otherwise."""
    libc = None if user_chose() else _glibc()
    if libc is None:
        return False
    done = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    done = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
    log.debug("malloc thresholds raised: %s", done)
    return done
