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
