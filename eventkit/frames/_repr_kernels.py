"""Numba kernels of the float representations (private; see :mod:`eventkit.frames.voxel` and
:mod:`eventkit.frames.time_surface` for the rules they implement).

Like :mod:`eventkit.frames._kernels`, the kernels walk plain 1-D columns. :func:`voxel` and
:func:`scan` check each event against the sensor (``x < width``, ``y < height``, ``p <= 1``) and
return the index of the first bad event (``-1`` when all are fine) so the caller can raise a
precise error; :func:`time_surface` and :func:`hats` take events :func:`scan` has checked.
Outputs are flat, zero-initialised arrays laid out ``[n_frames, channels, height, width]`` (C order).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


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
    load per event (see :func:`eventkit.frames._common.packed_xyp`). Returns the first bad event,
    :data:`OUT_OF_RANGE` if some ``t`` lies outside ``[t0, t1]`` (then ``out`` is garbage), or -1.
    """
    plane = h_out * w_out
    bin_stride = channels * plane
    last = n_bins - 1
    for i in range(t.shape[0]):
        v64 = xyp[i]
        xi = np.int64((v64 >> np.uint64(24)) & np.uint64(0xFFFF))
        yi = np.int64((v64 >> np.uint64(40)) & np.uint64(0xFFFF))
        pi = np.int64(v64 >> np.uint64(56))
        ti = t[i]
        # one branch for both checks on the hot path (bitwise |: no short-circuit jumps)
        if (xi >= sw) | (yi >= sh) | (pi > 1) | (ti < t0) | (ti > t1):
            if xi >= sw or yi >= sh or pi > 1:
                return i
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
        if b < last:
            out[pos] += v * (1.0 - f)
            out[pos + bin_stride] += v * f
        elif b == last:
            out[pos] += v * (1.0 - f)
    return -1


@njit(cache=True, nogil=True)
def scan(t, xyp, sw, sh):  # pragma: no cover - numba
    """One pass: ``(first bad event or -1, t sorted?, min t, max t)`` (``(-1, True, 0, 0)`` if empty);
    ``xyp`` packs ``x``, ``y``, ``p`` as for :func:`voxel`."""
    n = t.shape[0]
    if n == 0:
        return -1, True, np.int64(0), np.int64(0)
    lo = hi = t[0]
    ok = True
    prev = t[0]
    for i in range(n):
        v64 = xyp[i]
        if (np.int64((v64 >> np.uint64(24)) & np.uint64(0xFFFF)) >= sw
                or np.int64((v64 >> np.uint64(40)) & np.uint64(0xFFFF)) >= sh or (v64 >> np.uint64(56)) > 1):
            return i, ok, lo, hi
        v = t[i]
        ok = ok and v >= prev
        prev = v
        lo = min(lo, v)
        hi = max(hi, v)
    return -1, ok, lo, hi


@njit(cache=True, nogil=True)
def time_surface(t, xyp, order, identity, origin, width, stride, n_win, inv_tau, exp_lo, exp_hi, channels, k,
                 w_out, h_out, out):  # pragma: no cover - numba
    """Exponentially decayed time of the latest event per pixel, sampled at each window's end.

    Window ``i`` ends at ``e_i = origin + i * stride + width``; ``out[i, c, y, x]`` is
    ``exp(-(e_i - m) * inv_tau)`` where ``m`` is the latest ``t`` of the events of that pixel and
    channel with ``origin <= t < e_i`` (0 where there is none). ``order`` visits the (checked)
    events in time order; with ``identity`` (sorted input) it is ignored and events are visited
    in array order. ``xyp`` packs ``x``, ``y``, ``p`` as for :func:`voxel`.

    Per window, every pixel's float64 value is multiplied by ``exp(-stride / tau)`` in one
    sequential pass (no exp, no branch: it vectorises), then the pixels that fired in the window
    get ``exp(-(e_i - m) / tau)`` anew, from two tables: with ``d = e_i - m`` (an integer in
    ``(0, width]``: ``m`` lies in this window's new part), ``exp_lo[d & 4095] * exp_hi[d >> 12]``
    (``exp_lo[i] = exp(-i / tau)``, ``exp_hi[i] = exp(-4096 i / tau)``): two loads and a multiply
    instead of an exp, within ~2 ulp of it. Products drift from ``exp`` by ~1e-16 relative per window,
    far below float32/float16 rounding; they underflow to 0 as ``exp`` does, so pixels that never
    fired or decayed away are exact zeros.
    """
    plane = h_out * w_out
    npix = channels * plane
    mem = np.full(npix, np.iinfo(np.int64).min, np.int64)
    val = np.zeros(npix, np.float64)
    marked = np.zeros(npix, np.uint8)
    fired = np.empty(npix + 1, np.int64)  # + 1: the branch-free append writes one past the end
    step = math.exp(-stride * inv_tau)
    n_hi = exp_hi.shape[0]
    n = t.shape[0]
    j = 0
    any_fired = False
    while j < n and t[j if identity else order[j]] < origin:
        j += 1
    for w in range(n_win):
        end = origin + w * stride + width
        n_fired = 0
        while j < n:
            e = j if identity else order[j]
            if t[e] >= end:
                break
            v64 = xyp[e]
            xi = np.int64((v64 >> np.uint64(24)) & np.uint64(0xFFFF))
            yi = np.int64((v64 >> np.uint64(40)) & np.uint64(0xFFFF))
            c = np.int64(v64 >> np.uint64(56)) if channels == 2 else 0
            if k != 1:
                xi //= k
                yi //= k
            pix = c * plane + yi * w_out + xi
            # branch-free "append pix to fired unless already there" and max: which pixels fire
            # is unpredictable, and a mispredicted branch costs more than these stores
            fired[n_fired] = pix
            n_fired += 1 - np.int64(marked[pix])
            marked[pix] = 1
            mem[pix] = t[e] if identity else max(mem[pix], t[e])  # sorted: the latest is the last
            j += 1
        base = w * npix
        if any_fired:
            for pix in range(npix):
                v = val[pix] * step
                val[pix] = v
                out[base + pix] = v
        for q in range(n_fired):
            pix = fired[q]
            marked[pix] = 0
            d = end - mem[pix]
            v = exp_lo[d & 4095] * exp_hi[d >> 12] if d >> 12 < n_hi else math.exp(-d * inv_tau)
            val[pix] = v
            out[base + pix] = v
        any_fired = any_fired or n_fired > 0


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
