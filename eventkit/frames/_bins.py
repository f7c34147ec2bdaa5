"""Bin plans: how many frames, and which events go where (pure integer arithmetic, no data access).

A :class:`BinPlan` is computed from the integration parameters and a summary of the kept events
(their number ``n`` and time range ``[t0, t1]``); the kernels in ``_kernels.py`` then apply it.
The formulas are documented in :mod:`eventkit.frames.integrate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class BinPlan:
    """Where each kept event goes.

    Attributes
    ----------
    kind
        ``"bins"``: non-overlapping bins of ``width``, the last one absorbing everything beyond it
        (``width == 0``: every event in the last frame). ``"windows"``: windows
        ``[k * stride, k * stride + width)``, possibly overlapping, nothing absorbed.
    by_time
        True: positions are ``t - origin`` in µs; False: the event's rank among kept events.
    origin
        Time origin in µs (0 when binning by rank).
    width, stride
        Bin width and distance between bin starts (equal for ``"bins"``), in µs or events.
    n_frames
        Number of frames T.
    """

    kind: Literal["bins", "windows"]
    by_time: bool
    origin: int
    width: int
    stride: int
    n_frames: int


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plan_frames_number(n: int, frames: int) -> BinPlan:
    """``frames=T, split_by='number'``: ``width = n // T`` (0 -> all events in the last frame)."""
    w = n // frames
    return BinPlan("bins", False, 0, w, w, frames)


def plan_frames_time(t0: int, t1: int, frames: int) -> BinPlan:
    """``frames=T, split_by='time'``: ``width = max((t1 - t0) // T, 1)``, origin ``t0``."""
    w = max((t1 - t0) // frames, 1)
    return BinPlan("bins", True, t0, w, w, frames)


def plan_duration(t0: int, t1: int, duration: int) -> BinPlan:
    """``duration=D``: ``T = max(ceil((t1 - t0) / D), 1)``, origin ``t0``, last frame absorbs ``t1``."""
    return BinPlan("bins", True, t0, duration, duration, max(_ceil_div(t1 - t0, duration), 1))


def plan_event_count(n: int, count: int, overlap: int, include_incomplete: bool) -> BinPlan:
    """``event_count=N`` (Tonic's count rule, see the module docstring of ``integrate``)."""
    stride = count - overlap
    if include_incomplete:
        k = 1 if n <= count else _ceil_div(n - count, stride) + 1
    else:
        k = (n - min(count, n)) // stride + 1
    return BinPlan("windows", False, 0, count, stride, k)


def plan_time_window(t0: int, t1: int, window: int, overlap: int, include_incomplete: bool) -> BinPlan:
    """``time_window=W``: enough windows to hold ``t1`` (lossless), or only complete ones."""
    stride = window - overlap
    span = t1 - t0
    if span < window:
        k = 1
    else:
        k = (span - window) // stride + (2 if include_incomplete else 1)
    return BinPlan("windows", True, t0, window, stride, k)
