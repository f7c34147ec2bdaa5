"""Omnidirectional Discrete Gradient (ODG), the conversion that made ES-ImageNet.

Lin, Ding, Qiang, Deng & Li, "ES-ImageNet: A Million Event-Stream Classification Dataset for
Spiking Neural Networks", Front. Neurosci. 15:726582, 2021 (doi:10.3389/fnins.2021.726582), and
the authors' generator (github.com/lyh983012/ES-imagenet-master, ``dataset_generator``), from
which this is re-implemented (no code copied).

Method
------
The intensity is the HSV value ``V = max(R, G, B)`` in ``[0, 1]`` (``gray="max"``). The image is
placed on a zero canvas two pixels larger than it at nine positions ``P_0 ... P_8`` (row, column
offsets), the published fixed trace

====  ===  ===  ===  ===  ===  ===  ===  ===  ===
k     0    1    2    3    4    5    6    7    8
====  ===  ===  ===  ===  ===  ===  ===  ===  ===
row   1    0    2    1    0    2    1    1    2
col   0    2    1    0    1    2    0    1    1
====  ===  ===  ===  ===  ===  ===  ===  ===  ===

so step ``k = 1..8`` moves the image by ``P_k - P_{k-1}`` (:data:`ODG_DIRECTIONS`, in
``(dx, dy) = (dcol, drow)``): ``(+2,-1) (-1,+2) (-1,-1) (+1,-1) (+1,+2) (-2,-1) (+1,0) (0,+1)``, a
sequence of short moves in many directions, so every time step samples the discrete spatial
gradient of the image along another direction. With ``C_k`` the canvas at position ``k``,

.. math::  D_k = C_k - C_{k-1},\\qquad
           \\text{ON}_k = [D_k > \\theta],\\qquad \\text{OFF}_k = [D_k < -\\theta]

(``theta = 0.18`` for the published ES-ImageNet, whose folders are named ``ES-imagenet-0.18``).
ODG differences intensities, not log intensities, and gives at most one event per pixel, step
and polarity: 8 binary ON/OFF frames. The image border would produce a full-width edge at every
step, so (as published) the canvas rows between the old and the new top edge and between the old
and the new bottom edge, and the columns between the old and new left/right edges, are cleared
before events are read.

Geometry here: the output sensor is the image size ``H x W``; output pixel ``(x, y)`` is canvas
pixel ``(x + 1, y + 1)`` (the trace is centred on offset 1). ES-ImageNet itself resized each
ImageNet image to a longer side of 254 (nearest neighbour), kept the aspect ratio, and stored the
events of canvas rows and columns 17..239 in a 224 x 224 frame, so a landscape image's top and
bottom borders fell inside the frame and were suppressed there. Here the image fills the sensor
(``prepare_image(..., fit="crop")``, the default, or ``"stretch"``) and the suppressed border is
the sensor's; with ``fit="pad"`` the letterbox edges are ordinary image edges and do give events.
Step ``k`` events are stamped ``t = (k - 1) * step_us``, so
``to_frames(frames=8, split_by="time", t_start=0, t_end=8 * step_us)`` gives back the eight
per-step frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..events import EVENT_DTYPE, EventArray
from ._base import SynthMethod, as_image
from .motion import shift_image
from ..errors import OptionError

__all__ = ["ODG", "ODG_DIRECTIONS", "ODG_TRACE", "odg_events", "odg_frames"]

# (row, col) offset of the image on the canvas at positions 0..8, as published.
ODG_TRACE: tuple[tuple[int, int], ...] = ((1, 0), (0, 2), (2, 1), (1, 0), (0, 1), (2, 2), (1, 0), (1, 1), (2, 1))
# (dx, dy) = (dcol, drow) move of step k = 1..8.
ODG_DIRECTIONS: tuple[tuple[int, int], ...] = tuple(
    (c1 - c0, r1 - r0) for (r0, c0), (r1, c1) in zip(ODG_TRACE[:-1], ODG_TRACE[1:])
)
_CENTRE = 1  # output pixel (x, y) is canvas pixel (x + 1, y + 1)


@dataclass(frozen=True)
class ODG(SynthMethod):
    """ES-ImageNet's ODG (see the module docstring).

    Attributes
    ----------
    threshold
        ``theta``, on intensities in ``[0, 1]`` (0.18 as published).
    step_us
        Duration of one of the 8 steps in µs (ES-ImageNet has only step indices).
    suppress_border
        Clear the strips swept by the image border, as published.
    """

    name: ClassVar[str] = "odg"
    default_frames: ClassVar[int] = 8
    gray: ClassVar[str] = "max"
    resample: ClassVar[str] = "nearest"

    threshold: float = 0.18
    step_us: int = 1000
    suppress_border: bool = True

    def __post_init__(self) -> None:
        if not self.threshold >= 0 or int(self.step_us) < 1:
            raise OptionError(f"--threshold (threshold=) must be >= 0 and step_us >= 1, got {self.threshold}, {self.step_us}")

    @property
    def n_steps(self) -> int:
        return len(ODG_TRACE) - 1

    def duration_us(self) -> int:
        return self.n_steps * int(self.step_us)

    def params(self) -> dict[str, Any]:
        return {"method": self.name, "threshold": float(self.threshold), "step_us": int(self.step_us),
                "suppress_border": bool(self.suppress_border), "trace": [list(p) for p in ODG_TRACE]}  # fmt: skip

    def _view(self, img: np.ndarray, k: int) -> np.ndarray:
        """The output window of canvas ``C_k``: the image shifted by ``P_k - centre`` on zeros."""
        r, c = ODG_TRACE[k]
        return shift_image(img, c - _CENTRE, r - _CENTRE, border="zero")

    def step_masks(self, image: np.ndarray) -> np.ndarray:
        """Binary ``[8, 2, H, W]`` (OFF, ON) masks of the 8 steps: the published frames."""
        img = as_image(image)
        h, w = img.shape
        out = np.zeros((self.n_steps, 2, h, w), dtype=bool)
        prev = self._view(img, 0)
        theta = np.float32(self.threshold)
        rows = np.arange(h) + _CENTRE  # canvas coordinates of the output window
        cols = np.arange(w) + _CENTRE
        for k in range(1, len(ODG_TRACE)):
            cur = self._view(img, k)
            d = cur - prev
            on, off = d > theta, d < -theta
            if self.suppress_border:
                (r0, c0), (r1, c1) = ODG_TRACE[k - 1], ODG_TRACE[k]
                keep = ~(_strip(rows, r0, r1, h)[:, None] | _strip(cols, c0, c1, w)[None, :])
                on &= keep
                off &= keep
            out[k - 1, 0], out[k - 1, 1] = off, on
            prev = cur
        return out

    def events(self, image: np.ndarray, rng: np.random.Generator | int | None = None) -> EventArray:
        """Events of the 8 steps; step ``k``'s at ``t = (k - 1) * step_us``, row-major within a step."""
        m = self.step_masks(image)
        any_ = m[:, 0] | m[:, 1]
        k, y, x = np.nonzero(any_)
        ev = np.empty(k.size, dtype=EVENT_DTYPE)
        ev["t"] = k.astype(np.int64) * int(self.step_us)
        ev["x"], ev["y"] = x, y
        ev["p"] = m[k, 1, y, x]  # a pixel is never both (d > theta and d < -theta)
        return ev


def _strip(coords: np.ndarray, a: int, b: int, size: int) -> np.ndarray:
    """Canvas lines between the old and new leading edge and between the old and new trailing edge."""
    lo, hi = min(a, b), max(a, b)
    return ((coords >= lo) & (coords < hi)) | ((coords >= lo + size) & (coords < hi + size))


def odg_events(image: np.ndarray, *, threshold: float = 0.18, step_us: int = 1000) -> EventArray:
    """ODG events of a grayscale image in ``[0, 1]`` (see :class:`ODG`)."""
    return ODG(threshold=threshold, step_us=step_us).events(image)


def odg_frames(image: np.ndarray, frames: int = 8, *, threshold: float = 0.18) -> np.ndarray:
    """ODG as ``[T, 2, H, W]`` frames; ``frames=8`` gives the published per-step frames."""
    return ODG(threshold=threshold).frames(image, frames)
