"""A slow, obviously-correct NumPy version of :func:`eventkit.frames.to_frames` (for tests).

It follows the rules written in :mod:`eventkit.frames.integrate` literally: filter the kept events
with boolean masks, compute each event's frame(s) with vectorised integer formulas, accumulate with
``np.add.at`` in int64, then saturate (``np.minimum``) and cast. No Numba, no shared code with the
kernels or the bin planner, so the two implementations check each other.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_frames_reference"]


def to_frames_reference(
    events: np.ndarray,
    sensor: tuple[int, ...],
    *,
    frames: int | None = None,
    split_by: str = "number",
    duration: int | None = None,
    event_count: int | None = None,
    time_window: int | None = None,
    overlap: int = 0,
    include_incomplete: bool = True,
    binary: bool = False,
    dtype=np.uint16,
    downsample=None,
    crop=None,
    t_start: int | None = None,
    t_end: int | None = None,
) -> np.ndarray:
    """Same parameters and result as :func:`eventkit.frames.to_frames` (no validation, no stats)."""
    W, H = int(sensor[0]), int(sensor[1])
    P = int(sensor[2]) if len(sensor) > 2 else 2
    t = events["t"].astype(np.int64)
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    p = events["p"].astype(np.int64)

    keep = np.ones(t.shape, bool)
    if t_start is not None:
        keep &= t >= t_start
    if t_end is not None:
        keep &= t <= t_end
    x0, y0, cw, ch = (0, 0, W, H) if crop is None else crop
    keep &= (x >= x0) & (x < x0 + cw) & (y >= y0) & (y < y0 + ch)
    t, x, y, p = t[keep], x[keep] - x0, y[keep] - y0, p[keep]
    if downsample is None:
        wo, ho = cw, ch
    elif isinstance(downsample, (tuple, list)):
        wo, ho = downsample
        x, y = x * wo // cw, y * ho // ch
    else:
        k = int(downsample)
        wo, ho = (cw + k - 1) // k, (ch + k - 1) // k
        x, y = x // k, y // k
    c = p if P == 2 else np.zeros_like(p)
    n = t.size

    if t_start is not None:
        t0 = t_start
    elif n:
        t0 = int(t.min())
    else:
        t0 = t_end if t_end is not None else 0
    if t_end is not None:
        t1 = t_end
    elif n:
        t1 = int(t.max())
    else:
        t1 = t0
    rank = np.arange(n)

    pairs: list[tuple[np.ndarray, np.ndarray]] = []  # (frame index, event selector)
    if frames is not None:
        T = frames
        if split_by == "number":
            di = n // T
            f = np.full(n, T - 1) if di == 0 else np.minimum(rank // di, T - 1)
        else:
            dt = max((t1 - t0) // T, 1)
            f = np.minimum((t - t0) // dt, T - 1)
        pairs.append((f, np.arange(n)))
    elif duration is not None:
        span = t1 - t0
        T = 1
        while T * duration < span:  # T = max(ceil(span / D), 1)
            T += 1
        f = np.minimum((t - t0) // duration, T - 1)
        pairs.append((f, np.arange(n)))
    else:
        size = event_count if event_count is not None else time_window
        u = rank if event_count is not None else t - t0
        stride = size - overlap
        if event_count is not None:
            if include_incomplete:
                T = 1
                while (T - 1) * stride + size < n:
                    T += 1
            else:
                T = 1
                while T * stride + min(size, n) <= n:
                    T += 1
        else:
            span = t1 - t0
            T = 1
            if include_incomplete:
                while (T - 1) * stride + size <= span:  # until some window holds t1
                    T += 1
            else:
                while T * stride + size <= span:  # complete windows only
                    T += 1
        for k in range(T):
            sel = np.nonzero((u >= k * stride) & (u < k * stride + size))[0]
            pairs.append((np.full(sel.size, k), sel))

    acc = np.zeros((T, P, ho, wo), np.int64)
    for f, sel in pairs:
        np.add.at(acc, (f, c[sel], y[sel], x[sel]), 1)
    dt_out = np.dtype(dtype)
    if binary or dt_out == np.dtype(bool):
        return (acc > 0).astype(dt_out)
    if dt_out.kind == "f":
        cap = 2**24 if dt_out == np.float32 else 2**53
    else:
        cap = np.iinfo(dt_out).max
    return np.minimum(acc, cap).astype(dt_out)
