"""Slow, obviously-correct NumPy versions of the float representations (for tests).

They follow the rules written in :mod:`eventkit.frames.voxel` and
:mod:`eventkit.frames.time_surface` literally (float64, ``np.add.at``, plain loops, no Numba and
no shared code with the kernels), so the two implementations check each other. Inputs are assumed
valid (the tests check validation on the fast versions).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["hats_reference", "time_surface_reference", "voxel_reference"]


def voxel_reference(events, sensor, *, bins, polarity="signed", time_norm="e2vid", downsample=None):
    """float64 ``[bins, P, H, W]``, see :func:`eventkit.to_voxel_grid`."""
    w, h, npol = (tuple(sensor) + (2,))[:3]
    k = downsample or 1
    wo, ho = math.ceil(w / k), math.ceil(h / k)
    chans = 1 if polarity == "signed" else npol
    out = np.zeros((bins, chans, ho, wo))
    if len(events) == 0:
        return out
    t = events["t"].astype(np.int64)
    span = int(t.max() - t.min())
    if span == 0:
        u = np.zeros(t.size)
    else:
        u = (t - t.min()).astype(np.float64) * (((bins - 1) if time_norm == "e2vid" else bins) / span)
    b = np.floor(u).astype(np.int64)
    f = u - b
    p = events["p"].astype(np.int64)
    if polarity == "signed":
        c = np.zeros_like(p)
        v = np.where(p == 1, 1.0, -1.0) if npol == 2 else np.ones(p.size)
    else:
        c = p if npol == 2 else np.zeros_like(p)
        v = np.ones(p.size)
    yy, xx = events["y"].astype(np.int64) // k, events["x"].astype(np.int64) // k
    for bb, ww in ((b, v * (1 - f)), (b + 1, v * f)):
        ok = (bb >= 0) & (bb < bins)
        np.add.at(out, (bb[ok], c[ok], yy[ok], xx[ok]), ww[ok])
    return out


def time_surface_reference(events, sensor, *, tau, dt, overlap=0, include_incomplete=True, downsample=None):
    """float64 ``[T, P, H, W]``, see :func:`eventkit.to_time_surface` (masks per window, no carried state)."""
    w, h, npol = (tuple(sensor) + (2,))[:3]
    k = downsample or 1
    wo, ho = math.ceil(w / k), math.ceil(h / k)
    t = events["t"].astype(np.int64)
    t0 = int(t.min()) if t.size else 0
    span = int(t.max()) - t0 if t.size else 0
    stride = dt - overlap
    if span < dt:
        n = 1
    else:
        n = (span - dt) // stride + (2 if include_incomplete else 1)
    out = np.zeros((n, npol, ho, wo))
    c = events["p"].astype(np.int64) if npol == 2 else np.zeros(t.size, np.int64)
    yy, xx = events["y"].astype(np.int64) // k, events["x"].astype(np.int64) // k
    for i in range(n):
        end = t0 + i * stride + dt
        m = np.full((npol, ho, wo), np.iinfo(np.int64).min)
        sel = t < end
        np.maximum.at(m, (c[sel], yy[sel], xx[sel]), t[sel])
        fired = m > np.iinfo(np.int64).min
        out[i][fired] = np.exp(-(end - m[fired]) / tau)
    return out


def hats_reference(events, sensor, *, cell_size, surface_size, time_window, tau, decay="exp"):
    """float64 Tonic-layout ``[n_cells, P, S, S]``, see :func:`eventkit.to_averaged_time_surface`."""
    w, h, npol = (tuple(sensor) + (2,))[:3]
    wc, hc = math.ceil(w / cell_size), math.ceil(h / cell_size)
    rho = surface_size // 2
    out = np.zeros((wc * hc, npol, surface_size, surface_size))
    counts = np.zeros((wc * hc, npol))
    ev = [(int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"]) if npol == 2 else 0) for e in events]
    for i, (ti, xi, yi, ci) in enumerate(ev):
        cell = (yi // cell_size) * wc + xi // cell_size
        counts[cell, ci] += 1
        out[cell, ci, rho, rho] += 1
        for tj, xj, yj, cj in ev[:i]:
            same = cj == ci and (yj // cell_size) * wc + xj // cell_size == cell
            if same and abs(xj - xi) <= rho and abs(yj - yi) <= rho and ti - tj <= time_window:
                d = ti - tj
                weight = math.exp(-d / tau) if decay == "exp" else 1 - d / (3 * tau)
                out[cell, ci, rho + yj - yi, rho + xj - xi] += weight
    return out / np.maximum(counts, 1)[:, :, None, None]
