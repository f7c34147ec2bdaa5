"""Timing helpers for the benchmarks: single-threaded settings, warm-up + interleaved medians."""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Every decoder runs on one thread: the machine has 2 shared cores, and the targets are per core.
_SINGLE_THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "RAYON_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
}


def force_single_thread() -> None:
    """Set the thread-count variables (call before importing numba, numpy, torch or the peers)."""
    for k, v in _SINGLE_THREAD_ENV.items():
        os.environ[k] = v


def limit_torch_threads() -> None:
    """torch (pulled in by SpikingJelly) ignores the env vars once loaded; pin it to 1 thread too."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@dataclass
class Timed:
    """Per-call wall times of one decoder (seconds), plus what its warm-up call returned."""

    name: str
    times: list[float] = field(default_factory=list)
    inner: int = 1  # calls per timed sample (more than one only for tiny files)
    output: Any = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def _call(fn: Callable[[], Any], inner: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def measure(
    fns: dict[str, Callable[[], Any]],
    repeat: int,
    *,
    repeat_for: dict[str, int] | None = None,
    min_sample_s: float = 0.02,
    keep_output: Callable[[str, Any], Any] | None = None,
    skip: Callable[[BaseException], str | None] | None = None,
) -> dict[str, Timed]:
    """Time every callable: one warm-up call each (numba compile, page cache), then ``repeat``
    rounds in which the callables run one after another (interleaved), median per callable.

    ``keep_output(name, out)`` receives each warm-up result and returns what to keep (e.g. a
    digest or normalised columns), so that big outputs do not pile up.  ``skip(exc)`` maps an
    exception from a warm-up call to a message (the callable is then left out) or returns None
    to re-raise.  ``repeat_for`` lowers the round count for slow peers (they take part in the
    first N rounds only).  Calls that take less than ``min_sample_s`` are looped so that one
    timed sample lasts about that long.
    """
    res = {name: Timed(name) for name in fns}
    live: list[str] = []
    for name, fn in fns.items():
        try:
            gc.collect()
            t0 = time.perf_counter()
            out = fn()
            warm = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - reported in the table
            msg = skip(exc) if skip else None
            if msg is None:
                msg = f"error: {type(exc).__name__}: {exc}"[:200]
            res[name].error = msg
            continue
        res[name].output = keep_output(name, out) if keep_output else None
        del out
        if warm < 1.0:  # calibration call without compile time, for tiny inputs
            warm = _call(fn, 1)
        if warm < min_sample_s:
            res[name].inner = min(1000, max(1, math.ceil(min_sample_s / max(warm, 1e-7))))
        live.append(name)
    for r in range(repeat):
        for name in live:
            if repeat_for and r >= repeat_for.get(name, repeat):
                continue
            res[name].times.append(_call(fns[name], res[name].inner))
    return res
