"""A DVS pixel model: events from log-intensity changes (vectorised over pixels, Numba kernel).

Model
-----
Every pixel ``(x, y)`` sees the log intensity

.. math::  L(x, y, \\tau) = \\ln(\\varepsilon + I(x, y, \\tau)),   I \\in [0, 1]

sampled at times ``tau_0 < tau_1 < ... < tau_{K-1}`` (µs) and taken piecewise linear in between.
It holds a reference level ``L_ref`` (initially ``L(tau_0)``) and emits

* an ON event (``p = 1``) each time ``L`` reaches ``L_ref + C_on(x, y)``, then ``L_ref += C_on``;
* an OFF event (``p = 0``) each time ``L`` reaches ``L_ref - C_off(x, y)``, then ``L_ref -= C_off``.

The event time is the exact crossing time of the linear segment,
``tau = tau_{k-1} + (level - L_{k-1}) / (L_k - L_{k-1}) * (tau_k - tau_{k-1})``, floored to whole µs,
so several events of one pixel inside one sample interval are spread over it (Lichtsteiner,
Posch & Delbruck, "A 128x128 120 dB 15 us latency asynchronous temporal contrast vision sensor",
IEEE JSSC 43(2), 2008, for the pixel; the same level-crossing model as the ESIM and v2e emulators).

Non-idealities
--------------
* **Threshold mismatch**: ``C_on = max(N(C, sigma), c_min)`` and ``C_off`` likewise, drawn once per
  pixel. The maps belong to the emulated *sensor*, not to a sample: they come from
  ``mismatch_seed`` so that every image is seen by the same sensor (as N-MNIST was recorded by
  one ATIS).
* **Refractory period**: an event closer than ``refractory_us`` to the previous event of the same
  pixel is not emitted; its level crossing still moves ``L_ref`` (the change is lost, as in a
  pixel that is still resetting).
* **Background / shot noise**: ``noise_rate_hz`` events per pixel per second, Poisson in number,
  uniform in pixel, time and polarity, drawn from the sample's generator (not subject to the
  refractory period).

The kernel is one pass per pixel over the samples; the output buffer starts at two events per
pixel and the pass is repeated with the exact size in the rare case that is not enough.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numba import njit

from ..events import EVENT_DTYPE, EventArray
from ..errors import OptionError

__all__ = ["DVSPixelModel", "emit_events", "noise_events"]


@dataclass(frozen=True)
class DVSPixelModel:
    """Parameters of the pixel model (see the module docstring).

    Attributes
    ----------
    threshold
        Nominal contrast threshold ``C`` (log units) for ON and OFF.
    sigma
        Standard deviation of the per-pixel threshold mismatch (log units); 0 disables it.
    refractory_us
        Refractory period in µs; 0 disables it.
    noise_rate_hz
        Background/shot noise events per pixel per second; 0 disables noise.
    log_eps
        ``epsilon`` of ``ln(epsilon + I)``: keeps dark pixels finite and sets how many events a
        black-to-white edge gives (``ln(1 + eps) - ln(eps)`` over ``C``).
    c_min
        Lower bound of a pixel's threshold after mismatch.
    mismatch_seed
        Seed of the per-pixel threshold maps (the emulated sensor).
    """

    threshold: float = 0.2
    sigma: float = 0.03
    refractory_us: float = 1000.0
    noise_rate_hz: float = 0.0
    log_eps: float = 0.1
    c_min: float = 0.01
    mismatch_seed: int = 0

    def __post_init__(self) -> None:
        if not self.threshold > 0 or not self.c_min > 0:
            raise OptionError(f"--threshold (threshold=) and c_min must be > 0, got {self.threshold}, {self.c_min}")
        if self.sigma < 0 or self.refractory_us < 0 or self.noise_rate_hz < 0 or not self.log_eps > 0:
            raise OptionError("--sigma, --refractory-us and --noise-rate (sigma=, refractory_us=, noise_rate_hz=) must be >= 0 and log_eps > 0")

    def params(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict (recorded in store attrs)."""
        return {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def thresholds(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ``(C_on, C_off)`` maps ``[H, W]`` float32 of this sensor (deterministic, read-only)."""
        return _thresholds(self, int(height), int(width))

    def _draw_thresholds(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        if self.sigma == 0:
            c = np.full((height, width), self.threshold, dtype=np.float32)
            return c, c.copy()
        rng = np.random.default_rng([int(self.mismatch_seed), int(height), int(width)])
        on = rng.normal(self.threshold, self.sigma, (height, width))
        off = rng.normal(self.threshold, self.sigma, (height, width))
        return (np.maximum(on, self.c_min).astype(np.float32), np.maximum(off, self.c_min).astype(np.float32))


@lru_cache(maxsize=8)
def _thresholds(model: DVSPixelModel, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    on, off = model._draw_thresholds(height, width)
    on.flags.writeable = False
    off.flags.writeable = False
    return on, off


@njit(cache=True, nogil=True)
def _emit(logi, times, c_on, c_off, refractory, out_t, out_x, out_y, out_p):  # pragma: no cover - numba
    # returns the number of events; writes only the first len(out_t) (the caller retries if more)
    k_n, h, w = logi.shape
    cap = out_t.shape[0]
    n = 0
    for y in range(h):
        for x in range(w):
            ref = logi[0, y, x]
            last = -1e300
            con = c_on[y, x]
            coff = c_off[y, x]
            for k in range(1, k_n):
                a = logi[k - 1, y, x]
                b = logi[k, y, x]
                if b == a:
                    continue
                t0 = times[k - 1]
                span = (times[k] - t0) / (b - a)
                while b - ref >= con:
                    ref += con
                    tc = t0 + (ref - a) * span
                    if tc - last >= refractory:
                        if n < cap:
                            out_t[n] = np.int64(np.floor(tc))
                            out_x[n] = x
                            out_y[n] = y
                            out_p[n] = 1
                        n += 1
                        last = tc
                while ref - b >= coff:
                    ref -= coff
                    tc = t0 + (ref - a) * span
                    if tc - last >= refractory:
                        if n < cap:
                            out_t[n] = np.int64(np.floor(tc))
                            out_x[n] = x
                            out_y[n] = y
                            out_p[n] = 0
                        n += 1
                        last = tc
    return n


def emit_events(
    log_frames: np.ndarray, times_us: np.ndarray, model: DVSPixelModel, *, sort: bool = True
) -> EventArray:
    """Run the pixel model over sampled log-intensity frames.

    Parameters
    ----------
    log_frames
        ``[K, H, W]`` log intensities ``L(tau_k)`` (float32), ``K >= 1``.
    times_us
        ``[K]`` strictly increasing sample times in µs.
    model
        Thresholds, mismatch and refractory period (noise is added by :func:`noise_events`).
    sort
        Sort by ``t`` (stable: ties keep pixel order, row-major), as every eventkit array is.

    Returns
    -------
    EventArray
        Events of :data:`~eventkit.EVENT_DTYPE`, ``tau_0 <= t < tau_{K-1}`` (floored µs).
    """
    logi = np.ascontiguousarray(log_frames, dtype=np.float32)
    times = np.ascontiguousarray(times_us, dtype=np.float64)
    if logi.ndim != 3 or times.shape != (logi.shape[0],) or logi.shape[0] < 1:
        raise OptionError(f"need log_frames [K, H, W] and times [K], got {logi.shape} and {times.shape}")
    if np.any(np.diff(times) <= 0):
        raise OptionError("sample times must be strictly increasing")
    _, h, w = logi.shape
    if w > 65536 or h > 65536:
        raise OptionError(f"image {w}x{h} does not fit uint16 event coordinates")
    c_on, c_off = model.thresholds(h, w)
    cap = 2 * h * w + 1024
    while True:
        out_t = np.empty(cap, np.int64)
        out_x = np.empty(cap, np.uint16)
        out_y = np.empty(cap, np.uint16)
        out_p = np.empty(cap, np.uint8)
        n = _emit(logi, times, c_on, c_off, float(model.refractory_us), out_t, out_x, out_y, out_p)
        if n <= cap:
            break
        cap = n  # rare: more than 2 events per pixel on average; run again with room for all
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = out_t[:n], out_x[:n], out_y[:n], out_p[:n]
    if sort and n:
        ev = ev[np.argsort(ev["t"], kind="stable")]
    return ev


def noise_events(
    rng: np.random.Generator, rate_hz: float, width: int, height: int, t_start_us: int, t_end_us: int
) -> EventArray:
    """Background activity: Poisson(``rate * area * duration``) events, uniform in pixel, time, polarity."""
    dur = max(int(t_end_us) - int(t_start_us), 0)
    lam = float(rate_hz) * width * height * dur * 1e-6
    n = int(rng.poisson(lam)) if lam > 0 else 0
    ev = np.empty(n, dtype=EVENT_DTYPE)
    if n:
        ev["t"] = rng.integers(t_start_us, t_end_us, n)
        ev["x"] = rng.integers(0, width, n)
        ev["y"] = rng.integers(0, height, n)
        ev["p"] = rng.integers(0, 2, n)
    return ev
