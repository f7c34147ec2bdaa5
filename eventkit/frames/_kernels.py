"""Numba kernels that integrate events into dense frames (private; see :mod:`eventkit.frames.integrate`).

Every kernel is a single pass over plain 1-D arrays (the ``t``, ``x``, ``y``, ``p`` columns of an
event array, strided views are fine) and writes into a flat, zero-initialised output array laid out
as ``[n_frames, channels, height, width]`` (C order). The callers in ``integrate.py`` validate
parameters and compute the bin plan; the kernels only

* check each event's coordinates against the sensor (``x < len(xmap)``, ``y < len(ymap)``,
  ``p <= 1``) and return the index of the first bad event (``-1`` when all are fine), so the caller
  can raise with a precise message; the output is then meaningless and discarded;
* map coordinates through look-up tables (``xmap[x]``/``ymap[y]`` give the output column/row, or
  ``-1`` for a pixel outside the crop) and polarity through ``cmap[p]`` (the output channel);
* add one count per (event, frame), saturating at ``maxv`` (increments past it are counted, never
  wrapped).

Bin assignment (``u`` is ``t - origin`` when binning by time, else the event's rank among kept events):

* :func:`integrate_bins`: ``frame = min(u // width, n_bins - 1)``; ``width == 0`` puts every event
  into the last frame (SpikingJelly's ``split_by='number'`` rule when ``N < T``).
* :func:`integrate_windows`: event is added to every window ``k`` in ``[0, n_bins)`` with
  ``k * stride <= u < k * stride + width``; events in no window are counted as dropped.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_BIG = np.int64(2**62)


@njit(cache=True, nogil=True)
def scan(t, x, y, p, xmap, ymap, t_lo, t_hi, filter_time, use_map):  # pragma: no cover - numba
    """Count the events that survive the time and crop filters and find their t range.

    Returns
    -------
    (n_kept, t_min, t_max, n_outside_time, n_outside_crop, bad)
        ``t_min``/``t_max`` are 0 when nothing is kept; ``bad`` is the first invalid event or -1.
    """
    n = x.shape[0]
    wd = xmap.shape[0]
    hd = ymap.shape[0]
    n_kept = 0
    n_time = 0
    n_crop = 0
    t_min = _BIG
    t_max = -_BIG
    for i in range(n):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if (xi >= wd) | (yi >= hd) | (np.int64(p[i]) > 1):
            return n_kept, t_min, t_max, n_time, n_crop, i
        ti = t[i]
        if filter_time:
            if (ti < t_lo) | (ti > t_hi):
                n_time += 1
                continue
        if use_map:
            if (xmap[xi] < 0) | (ymap[yi] < 0):
                n_crop += 1
                continue
        n_kept += 1
        if ti < t_min:
            t_min = ti
        if ti > t_max:
            t_max = ti
    if n_kept == 0:
        t_min = 0
        t_max = 0
    return n_kept, t_min, t_max, n_time, n_crop, -1


@njit(cache=True, nogil=True)
def t_range(t):  # pragma: no cover - numba
    """``(min(t), max(t))`` in one pass (``(0, 0)`` for an empty array)."""
    n = t.shape[0]
    if n == 0:
        return np.int64(0), np.int64(0)
    lo = t[0]
    hi = t[0]
    for i in range(1, n):
        v = t[i]
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    return lo, hi


@njit(cache=True, nogil=True)
def integrate_ranges(x, y, p, cmap, n_bins, di, channels, height, width, out, maxv):  # pragma: no cover
    """Fast path for ``split_by='number'`` with no filter and no spatial mapping.

    Frame ``b < n_bins - 1`` takes events ``[b * di, (b + 1) * di)``; the last frame takes the rest.

    Returns
    -------
    (n_saturated, bad)
    """
    n = x.shape[0]
    plane = height * width
    fsize = channels * plane
    n_sat = 0
    for b in range(n_bins):
        lo = b * di
        hi = lo + di if b < n_bins - 1 else n
        base = b * fsize
        for i in range(lo, hi):
            xi = np.int64(x[i])
            yi = np.int64(y[i])
            pi = np.int64(p[i])
            if (xi >= width) | (yi >= height) | (pi > 1):
                return n_sat, i
            idx = base + cmap[pi] * plane + yi * width + xi
            v = out[idx]
            if v < maxv:
                out[idx] = v + 1
            else:
                n_sat += 1
    return n_sat, -1


@njit(cache=True, nogil=True)
def integrate_bins(
    t, x, y, p, xmap, ymap, cmap, t_lo, t_hi, filter_time, by_time, origin, bin_width, n_bins,
    channels, height, width, out, maxv,
):  # pragma: no cover - numba
    """Non-overlapping bins with the last bin absorbing everything beyond it.

    Returns
    -------
    (n_kept, n_saturated, bad)
    """
    n = x.shape[0]
    wd = xmap.shape[0]
    hd = ymap.shape[0]
    plane = height * width
    fsize = channels * plane
    n_sat = 0
    k = 0
    if bin_width == 0:
        cur = n_bins - 1
        lo = -_BIG
        hi = _BIG
    else:
        cur = 0
        lo = 0
        hi = bin_width
        if n_bins == 1:
            hi = _BIG
    for i in range(n):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        pi = np.int64(p[i])
        if (xi >= wd) | (yi >= hd) | (pi > 1):
            return k, n_sat, i
        if filter_time:
            ti = t[i]
            if (ti < t_lo) | (ti > t_hi):
                continue
        xo = xmap[xi]
        yo = ymap[yi]
        if (xo < 0) | (yo < 0):
            continue
        if by_time:
            u = t[i] - origin
        else:
            u = k
        k += 1
        if (u < lo) | (u >= hi):  # leave the cached bin: one division per bin change
            b = u // bin_width
            lo = b * bin_width
            hi = lo + bin_width
            if b >= n_bins - 1:
                b = n_bins - 1
                hi = _BIG
            cur = b
        idx = cur * fsize + cmap[pi] * plane + yo * width + xo
        v = out[idx]
        if v < maxv:
            out[idx] = v + 1
        else:
            n_sat += 1
    return k, n_sat, -1


@njit(cache=True, nogil=True)
def integrate_windows(
    t, x, y, p, xmap, ymap, cmap, t_lo, t_hi, filter_time, by_time, origin, window, stride, n_bins,
    channels, height, width, out, maxv,
):  # pragma: no cover - numba
    """Windows ``[k * stride, k * stride + window)`` (in ``u``), possibly overlapping, no absorption.

    Returns
    -------
    (n_kept, n_dropped, n_saturated, bad)
        ``n_dropped`` counts kept events that fall in no window.
    """
    n = x.shape[0]
    wd = xmap.shape[0]
    hd = ymap.shape[0]
    plane = height * width
    fsize = channels * plane
    n_sat = 0
    n_drop = 0
    k = 0
    for i in range(n):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        pi = np.int64(p[i])
        if (xi >= wd) | (yi >= hd) | (pi > 1):
            return k, n_drop, n_sat, i
        if filter_time:
            ti = t[i]
            if (ti < t_lo) | (ti > t_hi):
                continue
        xo = xmap[xi]
        yo = ymap[yi]
        if (xo < 0) | (yo < 0):
            continue
        if by_time:
            u = t[i] - origin
        else:
            u = k
        k += 1
        k_hi = u // stride
        if k_hi > n_bins - 1:
            k_hi = n_bins - 1
        k_lo = (u - window) // stride + 1  # floor division, also for negative values
        if k_lo < 0:
            k_lo = 0
        if k_lo > k_hi:
            n_drop += 1
            continue
        off = cmap[pi] * plane + yo * width + xo
        for b in range(k_lo, k_hi + 1):
            idx = b * fsize + off
            v = out[idx]
            if v < maxv:
                out[idx] = v + 1
            else:
                n_sat += 1
    return k, n_drop, n_sat, -1


# --------------------------------------------------------------------------------------------
# Fast path: contiguous spans of events per frame, read through one 8-byte load per event.
#
# An ``EVENT_DTYPE`` record is 13 packed bytes ``t:i8 | x:u2 | y:u2 | p:u1`` (offsets 0, 8, 10,
# 12). Bytes 5..12 of a record, read as one little-endian uint64 ``w``, hold ``x = (w >> 24) &
# 0xFFFF``, ``y = (w >> 40) & 0xFFFF`` and ``p = w >> 56`` and never reach past the record, so the
# view ``xyp`` (offset 5, the record stride) is safe for every record. (Measured against three
# separate field loads and against a chunked decode-then-count split: this fused loop was fastest.)


@njit(cache=True, nogil=True, boundscheck=False)
def time_starts(t, origin, bin_width, n_bins):  # pragma: no cover - numba
    """Frame boundaries for ``t`` assumed sorted: ``starts[k]`` is the first index with
    ``t >= origin + k * bin_width`` (``starts[0] = 0``, ``starts[n_bins] = len(t)``).

    For unsorted ``t`` the result is still a non-decreasing partition of ``[0, len(t))``
    (meaningless as bins; :func:`integrate_spans` detects the disorder).
    """
    n = t.shape[0]
    starts = np.empty(n_bins + 1, np.int64)
    starts[0] = 0
    starts[n_bins] = n
    lo = 0
    for k in range(1, n_bins):
        edge = origin + k * bin_width
        a = lo
        b = n
        while a < b:  # first index in [lo, n) with t >= edge
            mid = (a + b) >> 1
            if t[mid] < edge:
                a = mid + 1
            else:
                b = mid
        starts[k] = a
        lo = a
    return starts


@njit(cache=True, nogil=True, boundscheck=False)
def _span(t, xyp, check_sorted, prev, lo, hi, base, cplane, height, width, out, maxv):  # pragma: no cover
    n_sat = 0
    dis = False
    for i in range(lo, hi):
        w = xyp[i] >> np.uint64(24)
        xi = np.int64(w & np.uint64(0xFFFF))
        yi = np.int64((w >> np.uint64(16)) & np.uint64(0xFFFF))
        pi = np.int64(w >> np.uint64(32))
        if (xi >= width) | (yi >= height) | (pi > 1):
            return n_sat, i, dis, prev
        if check_sorted:
            ti = t[i]
            dis |= ti < prev
            prev = ti
        idx = base + pi * cplane + yi * width + xi
        v = out[idx]
        if v < maxv:
            out[idx] = v + 1
        else:
            n_sat += 1
    return n_sat, -1, dis, prev


@njit(cache=True, nogil=True, boundscheck=False)
def integrate_spans(t, xyp, check_sorted, starts, channels, height, width, out, maxv):  # pragma: no cover
    """Frame ``b`` takes events ``[starts[b], starts[b + 1])`` (identity pixel map, no filter).

    ``xyp`` is the uint64 view at byte 5 of each event record (see above). With ``check_sorted``
    the kernel also checks ``t[i - 1] <= t[i]`` and stops at the end of the first frame where that
    fails; the output is then meaningless and the caller takes the general path.

    Returns
    -------
    (n_saturated, bad, unsorted)
        ``bad`` is the first invalid event (-1 if none; nothing at or after it is counted);
        ``unsorted`` is True when the sortedness check failed before any invalid event.
    """
    plane = height * width
    fsize = channels * plane
    cplane = plane if channels == 2 else 0
    n_sat = 0
    prev = t[0] if (check_sorted and xyp.shape[0] > 0) else np.int64(0)
    for b in range(starts.shape[0] - 1):
        s, bad, dis, prev = _span(
            t, xyp, check_sorted, prev, starts[b], starts[b + 1], b * fsize, cplane, height, width, out, maxv
        )
        n_sat += s
        if bad >= 0:
            return n_sat, bad, False
        if dis:
            return n_sat, -1, True
    return n_sat, -1, False
