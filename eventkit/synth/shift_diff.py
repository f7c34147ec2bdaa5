"""``shift-diff``: the segment_snn reference's saccade variant, real-valued colour differences.

The colour image (normalised with the ImageNet mean and standard deviation, as the reference does
before differencing) is shown at 9 integer pixel shifts :data:`SEED_SHIFTS` (absolute
displacements ``(dx, dy)`` of the image, borders filled with 0), and frame ``k`` is the difference
of copies ``k + 1`` and ``k``, split into its positive and negative parts:

.. math::  D_k = S_{k+1} - S_k,\\qquad F_k = [\\max(D_k, 0)_{R,G,B},\\ \\max(-D_k, 0)_{R,G,B}]

so a sample is ``[T = 8, C = 6, H, W]`` float32 (channels 0-2 the positive part of R, G, B,
channels 3-5 the negative part). No threshold, no log intensity, no pixel state: it is offered for
comparison with the reference; ``saccade`` (a DVS pixel model) is the faithful emulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import OptionError
from ._base import SynthMethod

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "SEED_SHIFTS", "ShiftDiff", "shift_zero"]

#: The reference's 9 shifts (dx, dy) in pixels, in order.
SEED_SHIFTS: tuple[tuple[int, int], ...] = ((0, 0), (2, 1), (1, 2), (0, 1), (2, 0), (1, 2), (1, 1), (2, 1), (1, 2))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def shift_zero(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``out[y, x] = img[y - dy, x - dx]`` (integer shift of the first two axes), 0 outside."""
    h, w = img.shape[:2]
    out = np.zeros_like(img)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    return out


@dataclass(frozen=True)
class ShiftDiff(SynthMethod):
    """The reference's shifted-copy differencing (see the module docstring).

    Attributes
    ----------
    shifts
        Integer displacements ``(dx, dy)``; ``T = len(shifts) - 1`` frames.
    normalize
        Apply the ImageNet mean/std first (the reference does).
    """

    name: ClassVar[str] = "shift-diff"
    default_frames: ClassVar[int] = 8
    gray: ClassVar[str] = "rgb"  # colour in: prepare_image returns [H, W, 3]
    channels: ClassVar[int] = 6
    frame_dtype: ClassVar[str] = "float32"

    shifts: tuple[tuple[int, int], ...] = SEED_SHIFTS
    normalize: bool = True

    def __post_init__(self) -> None:
        try:
            shifts = tuple((int(a), int(b)) for a, b in self.shifts)
        except (TypeError, ValueError):
            raise OptionError(f"shifts must be integer pairs (dx, dy), got {self.shifts!r}") from None
        if len(shifts) < 2:
            raise OptionError("shift-diff needs at least 2 shifts (T = shifts - 1 frames)")
        object.__setattr__(self, "shifts", shifts)

    def duration_us(self) -> int:
        return len(self.shifts) - 1  # one "µs" per frame: the method has no time axis of its own

    def params(self) -> dict[str, Any]:
        return {"method": self.name, "shifts": [list(s) for s in self.shifts], "normalize": bool(self.normalize)}

    def events(self, image: np.ndarray, rng: np.random.Generator | int | None = None):
        raise OptionError("shift-diff gives real-valued frames, not events; use frames() (or --method diff/saccade)")

    def frames(self, image: np.ndarray, frames: int | None = None, rng=None, *, dtype=np.float32) -> np.ndarray:
        """``[T, 6, H, W]`` frames of a colour ``[H, W, 3]`` (or gray ``[H, W]``) image in [0, 1]."""
        img = np.asarray(image, dtype=np.float32)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise OptionError(f"shift-diff takes an RGB image [H, W, 3] (or gray [H, W]), got shape {img.shape}")
        t = len(self.shifts) - 1
        if frames is not None and int(frames) != t:
            raise OptionError(f"shift-diff makes len(shifts) - 1 = {t} frames; got --frames (frames=) {frames}")
        if self.normalize:
            img = (img - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
        copies = [shift_zero(img, dx, dy) for dx, dy in self.shifts]
        out = np.empty((t, 6, *img.shape[:2]), np.float32)
        for k in range(t):
            d = (copies[k + 1] - copies[k]).transpose(2, 0, 1)
            out[k, :3] = np.maximum(d, 0)
            out[k, 3:] = np.maximum(-d, 0)
        return out.astype(dtype, copy=False)
