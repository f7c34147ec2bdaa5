"""Keep glibc's allocator from returning every large temporary array to the kernel.

Dask's nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (dask config
``distributed.nanny.pre-spawn-environ``). Setting any malloc threshold switches off glibc's
dynamic thresholds, so the mmap threshold stays at 128 KiB: every decoded recording, event
column and frame buffer is then mmap'ed fresh and unmapped on free, and each of its pages is
faulted in again (measured: a serial conversion with that variable set took 7x the minor
faults and 1.2-2x the wall time). :func:`tune_allocator` fixes the thresholds at the values
glibc's dynamic rule would reach by itself, so a shard task runs the same whatever the worker's
environment. Elsewhere (musl, macOS, Windows) it does nothing.

``EVENTKIT_MALLOC_TUNE=0`` leaves the allocator as the environment made it: no thresholds set
here, and a local Dask cluster keeps Dask's own variable (for users who tune malloc themselves,
and for the before/after rows of ``bench/convert.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "enabled", "tune_allocator"]

# glibc's <malloc.h> parameter numbers
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# 32 MiB is the largest mmap threshold glibc accepts on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX) and
# the value its dynamic rule climbs to; the trim threshold follows that rule (twice it). So a
# worker keeps at most ~64 MiB of freed heap for reuse, as a default glibc process would.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

_done: bool | None = None  # None: not tried yet in this process; then whether it applied


def enabled() -> bool:
    """False when ``EVENTKIT_MALLOC_TUNE=0``: leave the allocator and Dask's worker environment alone."""
    return os.environ.get("EVENTKIT_MALLOC_TUNE", "1").strip() != "0"


def tune_allocator() -> bool:
    """Set glibc's trim and mmap thresholds once per process; True when they are set.

    Returns
    -------
    bool
        False on platforms without glibc (nothing to do), when ``EVENTKIT_MALLOC_TUNE=0``, or when
        ``mallopt`` refused a value.
    """
    global _done
    if _done is None:
        _done = enabled() and _apply()
    return _done


def _apply() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl has mallopt as a no-op stub)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success, 0 on a refused value
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
