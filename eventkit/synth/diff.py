"""Frame differencing: a fixed number of ON/OFF frames from small rapid image movements.

The image is shown at ``T + 1`` positions ``d_0 ... d_T`` (default: ``T + 1`` points equally spaced
along the three-saccade triangle, optionally jittered by a seeded Gaussian of ``jitter`` pixels),
each rendered by bilinear translation (:func:`~eventkit.synth.motion.shift_image`). Frame ``k`` counts
how many contrast thresholds the log intensity crossed between positions ``k`` and ``k + 1``:

.. math::  \\Delta_k = \\ln(\\varepsilon + I_{d_{k+1}}) - \\ln(\\varepsilon + I_{d_k}),\\qquad
           \\text{ON}_k = \\lfloor \\max(\\Delta_k, 0) / C \\rfloor,\\qquad
           \\text{OFF}_k = \\lfloor \\max(-\\Delta_k, 0) / C \\rfloor

(``binary=True`` clips the counts to 1). This is the "rapid eye movement" emulation used to turn
still-image datasets such as COCO into event frames for segmentation and detection: no pixel
state, no refractory period, every frame independent, exactly ``T`` frames. Counts saturate at
the frame dtype's maximum. As events, frame ``k``'s ``n`` crossings at a pixel are stamped
``k * step_us + floor(i * step_us / (n + 1))``, ``i = 1..n``, so that
``to_frames(frames=T, split_by="time", t_start=0, t_end=T * step_us)`` gives the frames back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..events import EVENT_DTYPE, EventArray
from ._base import SynthMethod, as_image, as_rng
from .motion import NMNIST_SACCADES, Waypoints, as_path, resample_path, shift_image
from ..errors import OptionError

__all__ = ["FrameDiff", "diff_frames"]


@dataclass(frozen=True)
class FrameDiff(SynthMethod):
    """Frame differencing into a fixed number of frames (see the module docstring).

    Attributes
    ----------
    n_frames
        T for :meth:`events` (``frames(image, T)`` overrides it).
    path
        Waypoints ``(dx, dy)`` in pixels; ``T + 1`` positions are taken evenly along it.
    threshold
        ``C`` in log units.
    log_eps
        ``epsilon`` of ``ln(epsilon + I)``.
    jitter
        Standard deviation (pixels) of a Gaussian added to every position; 0 = no randomness.
    binary
        0/1 frames instead of crossing counts.
    step_us
        Duration of one frame, for :meth:`events`.
    border
        ``"edge"`` or ``"zero"``.
    """

    name: ClassVar[str] = "diff"
    default_frames: ClassVar[int] = 8

    n_frames: int = 8
    path: Waypoints = NMNIST_SACCADES
    threshold: float = 0.15
    log_eps: float = 0.1
    jitter: float = 0.0
    binary: bool = False
    step_us: int = 1000
    border: str = "edge"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", as_path(self.path))
        if int(self.n_frames) < 1 or not self.threshold > 0 or not self.log_eps > 0 or self.jitter < 0:
            raise OptionError("need --frames (n_frames=) >= 1, --threshold (threshold=) > 0, --jitter (jitter=) >= 0 and log_eps > 0")
        if int(self.step_us) < 1 or self.border not in ("edge", "zero"):
            raise OptionError("need step_us >= 1 and border 'edge' or 'zero'")

    def duration_us(self) -> int:
        return int(self.n_frames) * int(self.step_us)

    def params(self) -> dict[str, Any]:
        return {
            "method": self.name, "path": [list(p) for p in self.path], "threshold": float(self.threshold),
            "log_eps": float(self.log_eps), "jitter": float(self.jitter), "binary": bool(self.binary),
            "step_us": int(self.step_us), "border": self.border,
        }  # fmt: skip

    def positions(self, n_frames: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """The ``[T + 1, 2]`` displacements (jittered when ``jitter > 0``)."""
        pos = resample_path(self.path, int(n_frames) + 1)
        if self.jitter > 0:
            pos = pos + as_rng(rng).normal(0.0, self.jitter, pos.shape)
        return pos

    def counts(self, image: np.ndarray, n_frames: int | None = None, rng=None) -> np.ndarray:
        """Crossing counts ``[T, 2, H, W]`` int64 (unsaturated; binary clips to 1)."""
        img = as_image(image)
        t = int(self.n_frames if n_frames is None else n_frames)
        if t < 1:
            raise OptionError(f"frames must be >= 1, got {t}")
        eps, c = np.float32(self.log_eps), np.float32(self.threshold)
        out = np.zeros((t, 2, *img.shape), dtype=np.int64)
        prev = None
        for k, (dx, dy) in enumerate(self.positions(t, rng)):
            cur = np.log(eps + shift_image(img, dx, dy, self.border))
            if prev is not None:
                d = cur - prev
                out[k - 1, 1] = np.floor(np.maximum(d, 0) / c)
                out[k - 1, 0] = np.floor(np.maximum(-d, 0) / c)
            prev = cur
        return np.minimum(out, 1) if self.binary else out

    def frames(self, image, frames=None, rng=None, *, dtype=np.uint16) -> np.ndarray:
        """``[T, 2, H, W]`` frames computed directly (counts saturate at ``dtype``'s maximum)."""
        cnt = self.counts(image, frames if frames is not None else self.n_frames, rng)
        dt = np.dtype(dtype)
        if dt.kind in "iu":
            cnt = np.minimum(cnt, np.iinfo(dt).max)
        return cnt.astype(dt)

    def events(self, image: np.ndarray, rng: np.random.Generator | int | None = None) -> EventArray:
        cnt = self.counts(image, self.n_frames, rng)
        k, p, y, x = np.nonzero(cnt)
        n = cnt[k, p, y, x]
        reps = np.repeat(np.arange(k.size), n)
        # i = 1..n within each (frame, pixel, polarity) group
        starts = np.repeat(np.cumsum(n) - n, n)
        i = np.arange(reps.size) - starts + 1
        step = int(self.step_us)
        ev = np.empty(reps.size, dtype=EVENT_DTYPE)
        ev["t"] = k[reps].astype(np.int64) * step + (i * step) // (n[reps] + 1)
        ev["x"], ev["y"], ev["p"] = x[reps], y[reps], p[reps]
        return ev[np.argsort(ev["t"], kind="stable")]


def diff_frames(
    image: np.ndarray,
    frames: int = 8,
    *,
    path: Sequence[Sequence[float]] = NMNIST_SACCADES,
    threshold: float = 0.15,
    jitter: float = 0.0,
    binary: bool = False,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """``[T, 2, H, W]`` ON/OFF frames by differencing ``T + 1`` shifted copies of ``image``."""
    m = FrameDiff(n_frames=frames, path=tuple(map(tuple, path)), threshold=threshold, jitter=jitter, binary=binary)
    return m.frames(image, frames, rng)
