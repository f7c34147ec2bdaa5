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


@njit(cache=True, nogil=True)
def voxel(t, x, y, p, t0, scale, signed, n_bins, channels, sw, sh, k, w_out, h_out, out):  # pragma: no cover
    """Bilinear temporal interpolation into ``n_bins`` bins: an event at ``u = (t - t0) * scale``
    adds ``v (1 - f)`` to bin ``floor(u)`` and ``v f`` to the next (``f`` the fraction of ``u``),
    bins outside ``[0, n_bins)`` take nothing. ``v`` is ``+1``/``-1`` by polarity in channel 0
    (``signed``), else ``+1`` in channel ``p`` (or 0 when ``channels == 1``). Pixels map through
    ``x // k``, ``y // k``. Returns the first bad event or -1."""
    plane = h_out * w_out
    for i in range(t.shape[0]):
        xi, yi, pi = np.int64(x[i]), np.int64(y[i]), np.int64(p[i])
        if xi >= sw or yi >= sh or pi > 1:
            return i
        if signed:
            c = 0
            v = 1.0 if pi == 1 else -1.0
        else:
            c = pi if channels == 2 else 0
            v = 1.0
        u = (t[i] - t0) * scale
        b = np.int64(math.floor(u))
        f = u - b
        pix = c * plane + (yi // k) * w_out + xi // k
        if 0 <= b < n_bins:
            out[b * channels * plane + pix] += v * (1.0 - f)
        if 0 <= b + 1 < n_bins:
            out[(b + 1) * channels * plane + pix] += v * f
    return -1


@njit(cache=True, nogil=True)
def check(x, y, p, sw, sh):  # pragma: no cover - numba
    """Index of the first event outside the sensor or with ``p > 1``, or -1."""
    for i in range(x.shape[0]):
        if np.int64(x[i]) >= sw or np.int64(y[i]) >= sh or np.int64(p[i]) > 1:
            return i
    return -1


@njit(cache=True, nogil=True)
def time_surface(t, x, y, p, order, origin, width, stride, n_win, inv_tau, cutoff, channels, k, w_out, h_out,
                 out):  # pragma: no cover - numba
    """Exponentially decayed time of the latest event per pixel, sampled at each window's end.

    Window ``i`` ends at ``e_i = origin + i * stride + width``; ``out[i, c, y, x]`` is
    ``exp(-(e_i - m) * inv_tau)`` where ``m`` is the latest ``t`` of the events of that pixel and
    channel with ``origin <= t < e_i`` (0 where there is none). ``order`` visits the (checked)
    events in time order. Only pixels whose decay is still at most ``cutoff`` (in units of
    ``tau``; past it the output dtype rounds the value to 0) are evaluated, so the cost is per
    active pixel, not per sensor pixel.
    """
    plane = h_out * w_out
    npix = channels * plane
    mem = np.empty(npix, np.int64)
    live = np.zeros(npix, np.uint8)
    active = np.empty(npix, np.int64)
    n_active = 0
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
            out[base + pix] = math.exp(-d)
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
