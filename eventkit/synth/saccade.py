"""Saccade emulation: move a static image along a path in front of an emulated DVS.

This is the software counterpart of how N-MNIST and N-Caltech101 were made (Orchard, Jayawant,
Cohen & Thakor, "Converting static image datasets to spiking neuromorphic datasets using
saccades", Front. Neurosci. 9:437, 2015): there an ATIS on a pan-tilt unit made three
micro-saccades of ~100 ms each in front of a monitor showing the image.

Here the image ``I`` (grayscale, ``[0, 1]``) is displaced along a path of waypoints
``w_0, ..., w_S`` (pixels; default :data:`~eventkit.synth.motion.NMNIST_SACCADES`), one segment of
``segment_us`` µs per pair of waypoints at constant speed. Segment ``s`` is sampled at
``n_s = max(2, ceil(samples_per_px * |w_{s+1} - w_s|))`` equal time steps, each sample rendered by
bilinear sub-pixel translation (:func:`~eventkit.synth.motion.shift_image`):

.. math::  L_k = \\ln(\\varepsilon + I(x - d_x(\\tau_k), y - d_y(\\tau_k))),
           \\qquad \\tau_k \\in [s \\cdot T_{seg}, (s + 1) \\cdot T_{seg}]

and the pixel model (:mod:`eventkit.synth.dvs_pixel`) turns the piecewise-linear ``L`` into events
timestamped at their crossing times within each step, plus optional background noise. The
recording lasts ``S * segment_us`` µs. Without noise the result does not depend on the
generator (a seed changes only the noise); the threshold-mismatch maps come from the model's
``mismatch_seed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numba import njit

from ..events import EventArray
from ._base import SynthMethod, as_image, as_rng
from .dvs_pixel import DVSPixelModel, emit_events, noise_events
from .motion import NMNIST_SACCADES, Waypoints, as_path
from ..errors import OptionError

__all__ = ["Saccade", "saccade_events", "saccade_frames"]


@dataclass(frozen=True)
class Saccade(SynthMethod):
    """Saccade emulator (see the module docstring).

    Attributes
    ----------
    path
        Waypoints ``(dx, dy)`` of the image on the sensor, in pixels.
    segment_us
        Duration of each segment (saccade) in µs; N-MNIST's saccades last about 100 ms.
    samples_per_px
        Rendered samples per pixel of travel (sub-pixel resolution of the motion).
    border
        ``"edge"`` or ``"zero"`` (see :func:`~eventkit.synth.motion.shift_image`).
    pixel
        The DVS pixel model (thresholds, mismatch, refractory period, noise).
    """

    name: ClassVar[str] = "saccade"
    default_frames: ClassVar[int] = 12

    path: Waypoints = NMNIST_SACCADES
    segment_us: int = 100_000
    samples_per_px: float = 4.0
    border: str = "edge"
    pixel: DVSPixelModel = field(default_factory=DVSPixelModel)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", as_path(self.path))
        if int(self.segment_us) < 1 or not self.samples_per_px > 0:
            raise OptionError("segment_us must be >= 1 and samples_per_px > 0")
        if self.border not in ("edge", "zero"):
            raise OptionError(f"border must be 'edge' or 'zero', got {self.border!r}")

    def duration_us(self) -> int:
        return int(self.segment_us) * (len(self.path) - 1)

    def params(self) -> dict[str, Any]:
        return {
            "method": self.name, "path": [list(p) for p in self.path], "segment_us": int(self.segment_us),
            "samples_per_px": float(self.samples_per_px), "border": self.border, "pixel": self.pixel.params(),
        }  # fmt: skip

    def sample_plan(self) -> tuple[np.ndarray, np.ndarray]:
        """Sample times ``[K]`` (µs, float64) and displacements ``[K, 2]`` of the whole path."""
        pts = np.asarray(self.path, dtype=np.float64)
        times, disp = [np.zeros(1)], [pts[:1]]
        seg = float(self.segment_us)
        for s in range(len(pts) - 1):
            a, b = pts[s], pts[s + 1]
            n = max(2, math.ceil(self.samples_per_px * float(np.hypot(*(b - a)))))
            f = np.arange(1, n + 1) / n
            times.append(s * seg + f * seg)
            disp.append(a + f[:, None] * (b - a))
        return np.concatenate(times), np.concatenate(disp)

    def log_frames(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sample times ``[K]`` and rendered log intensities ``[K, H, W]`` (float32) of the path.

        One Numba pass per sample renders ``eps + I`` (bilinear shift exactly as
        :func:`~eventkit.synth.motion.shift_image`), then one vectorised ``np.log`` over all samples.
        """
        img = np.ascontiguousarray(as_image(image))
        times, disp = self.sample_plan()
        out = np.empty((len(times), *img.shape), dtype=np.float32)
        _render_log(img, np.ascontiguousarray(disp), np.float32(self.pixel.log_eps), self.border == "zero", out)
        np.log(out, out=out)  # NumPy's vectorised log: several times faster than a scalar log in the loop
        return times, out

    def events(self, image: np.ndarray, rng: np.random.Generator | int | None = None) -> EventArray:
        img = as_image(image)
        times, logi = self.log_frames(img)
        ev = emit_events(logi, times, self.pixel)
        if self.pixel.noise_rate_hz > 0:
            h, w = img.shape
            noise = noise_events(as_rng(rng), self.pixel.noise_rate_hz, w, h, 0, self.duration_us())
            ev = np.concatenate([ev, noise])
            ev = ev[np.argsort(ev["t"], kind="stable")]
        return ev


@njit(cache=True, nogil=True)
def _render_log(img, disp, eps, zero_border, out):  # pragma: no cover - numba
    h, w = img.shape
    one = np.float32(1.0)
    for k in range(disp.shape[0]):
        sx = -disp[k, 0]
        sy = -disp[k, 1]
        bx = np.floor(sx)
        by = np.floor(sy)
        fx = np.float32(sx - bx)
        fy = np.float32(sy - by)
        ox = int(bx)
        oy = int(by)
        for y in range(h):
            r0 = y + oy
            r1 = r0 + 1
            vr0 = np.float32(1.0) if (0 <= r0 < h or not zero_border) else np.float32(0.0)
            vr1 = np.float32(1.0) if (0 <= r1 < h or not zero_border) else np.float32(0.0)
            r0 = min(max(r0, 0), h - 1)
            r1 = min(max(r1, 0), h - 1)
            for x in range(w):
                c0 = x + ox
                c1 = c0 + 1
                vc0 = np.float32(1.0) if (0 <= c0 < w or not zero_border) else np.float32(0.0)
                vc1 = np.float32(1.0) if (0 <= c1 < w or not zero_border) else np.float32(0.0)
                c0 = min(max(c0, 0), w - 1)
                c1 = min(max(c1, 0), w - 1)
                top = (one - fx) * (img[r0, c0] * vc0) + fx * (img[r0, c1] * vc1)
                bot = (one - fx) * (img[r1, c0] * vc0) + fx * (img[r1, c1] * vc1)
                v = (one - fy) * (top * vr0) + fy * (bot * vr1)
                out[k, y, x] = eps + v


def saccade_events(
    image: np.ndarray,
    *,
    path: Sequence[Sequence[float]] = NMNIST_SACCADES,
    segment_us: int = 100_000,
    rng: np.random.Generator | int | None = None,
    **pixel: Any,
) -> EventArray:
    """Events of ``image`` under the saccade emulator; ``pixel`` keywords go to :class:`DVSPixelModel`.

    >>> ev = saccade_events(img, threshold=0.2, sigma=0.03, noise_rate_hz=0.1, rng=7)
    """
    return Saccade(path=tuple(map(tuple, path)), segment_us=segment_us, pixel=DVSPixelModel(**pixel)).events(image, rng)


def saccade_frames(
    image: np.ndarray,
    frames: int = Saccade.default_frames,
    *,
    path: Sequence[Sequence[float]] = NMNIST_SACCADES,
    segment_us: int = 100_000,
    rng: np.random.Generator | int | None = None,
    **pixel: Any,
) -> np.ndarray:
    """``[T, 2, H, W]`` frames of the saccade emulator (T equal time bins over the recording)."""
    m = Saccade(path=tuple(map(tuple, path)), segment_us=segment_us, pixel=DVSPixelModel(**pixel))
    return m.frames(image, frames, rng)
