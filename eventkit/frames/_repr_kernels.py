"""Numba kernels of the float representations (private; see :mod:`eventkit.frames.voxel` and
:mod:`eventkit.frames.time_surface` for the rules they implement).

Like :mod:`eventkit.frames._kernels`, every kernel walks plain 1-D columns once, checks each event
against the sensor (``x < width``, ``y < height``, ``p <= 1``) and returns the index of the first
bad event (``-1`` when all are fine) so the caller can raise a precise error; outputs are flat,
zero-initialised arrays laid out ``[n_frames, channels, height, width]`` (C order).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def is_sorted(t):  # pragma: no cover - numba
    for i in range(1, t.shape[0]):
        if t[i] < t[i - 1]:
            return False
    return True


#: :func:`voxel`'s return value when an event lies outside ``[t0, t1]`` (the caller passed the
#: first and last timestamps, guessing sorted input, and must retry with the true range).
OUT_OF_RANGE = -2


@njit(cache=True, nogil=True)
def voxel(t, xyp, t0, t1, scale, signed, n_bins, channels, k, sw, sh, w_out, h_out, out):  # pragma: no cover
    """Bilinear temporal interpolation into ``n_bins`` bins: an event at ``u = (t - t0) * scale``
    adds ``v (1 - f)`` to bin ``b = floor(u)`` and ``v f`` to bin ``b + 1`` (``f = u - b``); bins
    past ``n_bins - 1`` take nothing. ``v`` is ``+1``/``-1`` by polarity in channel 0
    (``signed``), else ``+1`` in channel ``p`` (or 0 when ``channels == 1``). Pixel ``(x, y)``
    goes to ``(x // k, y // k)`` (no division when ``k == 1``).

    ``xyp[i]`` packs event ``i``'s ``x`` (bits 24-39), ``y`` (40-55) and ``p`` (56-63): one 8-byte
    load per event (see :func:`eventkit.frames.voxel._packed_xyp`). Returns the first bad event,
    :data:`OUT_OF_RANGE` if some ``t`` lies outside ``[t0, t1]`` (then ``out`` is garbage), or -1.
    """
    plane = h_out * w_out
    bin_stride = channels * plane
    for i in range(t.shape[0]):
        v64 = xyp[i]
        xi = np.int64((v64 >> np.uint64(24)) & np.uint64(0xFFFF))
        yi = np.int64((v64 >> np.uint64(40)) & np.uint64(0xFFFF))
        pi = np.int64(v64 >> np.uint64(56))
        if xi >= sw or yi >= sh or pi > 1:
            return i
        ti = t[i]
        if ti < t0 or ti > t1:
            return OUT_OF_RANGE
        if signed:
            c = 0
            v = np.float64(2 * pi - 1)
        else:
            c = pi if channels == 2 else 0
            v = 1.0
        u = (ti - t0) * scale
        b = np.int64(u)  # floor, as u >= 0
        f = u - b
        if k != 1:
            xi //= k
            yi //= k
        pos = b * bin_stride + c * plane + yi * w_out + xi
        if b < n_bins:
            out[pos] += v * (1.0 - f)
            if b + 1 < n_bins:
                out[pos + bin_stride] += v * f
    return -1


@njit(cache=True, nogil=True)
def check(x, y, p, sw, sh):  # pragma: no cover - numba
    """Index of the first event outside the sensor or with ``p > 1``, or -1."""
    for i in range(x.shape[0]):
        if np.int64(x[i]) >= sw or np.int64(y[i]) >= sh or np.int64(p[i]) > 1:
            return i
    return -1


@njit(cache=True, nogil=True)
def time_surface(t, x, y, p, order, origin, width, stride, n_win, inv_tau, cutoff, normal_min, channels, k, w_out,
                 h_out, out):  # pragma: no cover - numba
    """Exponentially decayed time of the latest event per pixel, sampled at each window's end.

    Window ``i`` ends at ``e_i = origin + i * stride + width``; ``out[i, c, y, x]`` is
    ``exp(-(e_i - m) * inv_tau)`` where ``m`` is the latest ``t`` of the events of that pixel and
    channel with ``origin <= t < e_i`` (0 where there is none). ``order`` visits the (checked)
    events in time order. Only pixels whose decay is still at most ``cutoff`` (in units of
    ``tau``; past it the output dtype rounds the value to 0) are evaluated, so the cost is per
    active pixel, not per sensor pixel. A pixel that did not fire since the previous window is
    its previous value times ``exp(-stride / tau)`` (a multiply, not an exp) while that stays
    above ``normal_min``, the output dtype's smallest normal number.
    """
    plane = h_out * w_out
    npix = channels * plane
    mem = np.empty(npix, np.int64)
    val = np.empty(npix, np.float64)
    fresh = np.zeros(npix, np.uint8)  # 1: fired in the current window, so exp() anew
    live = np.zeros(npix, np.uint8)
    active = np.empty(npix, np.int64)
    n_active = 0
    # a pixel that did not fire since the last window decays by exactly this factor (one exp per
    # window instead of one per pixel; the relative rounding stays ~1e-16 per window)
    step = math.exp(-stride * inv_tau)
    n = order.shape[0]
    j = 0
    while j < n and t[order[j]] < origin:
        j += 1
    for w in range(n_win):
        end = origin + w * stride + width
        while j < n and t[order[j]] < end:
            e = order[j]
            c = np.int64(p[e]) if channels == 2 else 0
            pix = c * plane + (np.int64(y[e]) // k) * w_out + np.int64(x[e]) // k
            te = t[e]
            if live[pix] == 0:
                live[pix] = 1
                mem[pix] = te
                active[n_active] = pix
                n_active += 1
            elif te > mem[pix]:
                mem[pix] = te
            fresh[pix] = 1
            j += 1
        base = w * npix
        a = 0
        while a < n_active:
            pix = active[a]
            d = (end - mem[pix]) * inv_tau
            if d > cutoff:  # rounds to 0 in the output dtype from now on: leave the active set
                n_active -= 1
                active[a] = active[n_active]
                live[pix] = 0
                continue
            if fresh[pix] == 1:
                fresh[pix] = 0
                v = math.exp(-d)
            else:
                v = val[pix] * step
                if v < normal_min:  # subnormal in the output dtype: too few bits for the product's error
                    v = math.exp(-d)
            val[pix] = v
            out[base + pix] = v
            a += 1


@njit(cache=True, nogil=True)
def hats(t, x, y, order, starts, rho, window, inv_tau, exp_decay, time_sorted, channels, w_cells, h_cells, size,
         out):  # pragma: no cover - numba
    """Averaged time surfaces (HATS) of each cell and channel.

    ``order`` lists the (checked) events grouped by (cell, channel), array order kept inside a
    group; ``starts[g]:starts[g + 1]`` is group ``g = cell * channels + channel``. For each event
    ``i`` of a group, every earlier event ``j`` of the group with ``|x_j - x_i| <= rho``,
    ``|y_j - y_i| <= rho`` and ``t_i - t_j <= window`` adds ``decay(t_i - t_j)`` at
    ``(rho + y_j - y_i, rho + x_j - x_i)`` of the group's surface, and ``i`` adds 1 at the centre;
    the sum is divided by the group's number of events. ``out`` is flat ``[channels, h_cells *
    size, w_cells * size]``, cell ``(cy, cx)`` at rows ``cy * size`` and columns ``cx * size``.
    With ``time_sorted`` the scan back over earlier events stops at the first one older than
    ``window``.
    """
    plane_w = w_cells * size
    plane = plane_w * h_cells * size
    acc = np.zeros((size, size), np.float64)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        if hi == lo:
            continue
        acc[:, :] = 0.0
        for a in range(lo, hi):
            i = order[a]
            ti, xi, yi = t[i], np.int64(x[i]), np.int64(y[i])
            acc[rho, rho] += 1.0
            for b in range(a - 1, lo - 1, -1):
                j = order[b]
                dt = ti - t[j]
                if dt > window:
                    if time_sorted:
                        break
                    continue
                dx = np.int64(x[j]) - xi
                dy = np.int64(y[j]) - yi
                if dx < -rho or dx > rho or dy < -rho or dy > rho:
                    continue
                if exp_decay:
                    acc[rho + dy, rho + dx] += math.exp(-dt * inv_tau)
                else:
                    acc[rho + dy, rho + dx] += 1.0 - dt * inv_tau / 3.0
        cell = g // channels
        c = g % channels
        cy, cx = cell // w_cells, cell % w_cells
        inv_n = 1.0 / (hi - lo)
        for sy in range(size):
            for sx in range(size):
                out[c * plane + (cy * size + sy) * plane_w + cx * size + sx] = acc[sy, sx] * inv_n
