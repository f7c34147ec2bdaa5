"""The interface every image-to-events method implements (private; see :mod:`eventkit.synth`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..events import EventArray
from ..errors import OptionError

__all__ = ["SynthMethod", "as_image"]


def as_image(image: np.ndarray) -> np.ndarray:
    """Check and return a 2-D float32 intensity image in ``[0, 1]``."""
    img = np.asarray(image)
    if img.ndim != 2 or img.shape[0] < 1 or img.shape[1] < 1:
        raise OptionError(f"expected a 2-D grayscale image [H, W], got shape {img.shape}; "
                         "convert colour images with eventkit.synth.prepare_image")
    img = img.astype(np.float32, copy=False)
    if img.size and (not np.isfinite(img).all() or img.min() < 0 or img.max() > 1):
        raise OptionError("image intensities must be finite and in [0, 1] (divide uint8 images by 255)")
    return img


class SynthMethod(ABC):
    """A conversion of one static grayscale image ``[H, W]`` (floats in ``[0, 1]``) to events.

    Subclasses are frozen dataclasses (picklable, hashable parameters) and define
    :meth:`events`, :meth:`duration_us` and :meth:`params`. The event sensor is
    ``(W, H, 2)``; events are sorted by ``t`` and lie in ``[0, duration_us())``.
    """

    name: ClassVar[str]
    default_frames: ClassVar[int]
    gray: ClassVar[str] = "luma"  # how prepare_image turns colour into intensity
    resample: ClassVar[str] = "bilinear"  # how prepare_image resizes
    channels: ClassVar[int] = 2  # P of the frames [T, P, H, W]: OFF, ON
    frame_dtype: ClassVar[str] = "uint16"  # the store dtype of the frames
    # Bump when a fix changes the events of some image: the cache key records it, so only the
    # stores this method made are rebuilt (as a decoder's DECODER_VERSION does for a format).
    version: ClassVar[int] = 1

    @abstractmethod
    def events(self, image: np.ndarray, rng: np.random.Generator | int | None = None) -> EventArray:
        """Events of one image, sorted by ``t`` (µs)."""

    @abstractmethod
    def duration_us(self) -> int:
        """Length of the emulated recording in µs (the events lie in ``[0, duration)``)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Every parameter that changes the output, JSON-ready (recorded in the store attrs)."""

    def frames(
        self,
        image: np.ndarray,
        frames: int | None = None,
        rng: np.random.Generator | int | None = None,
        *,
        dtype: np.typing.DTypeLike = np.uint16,
    ) -> np.ndarray:
        """Integrate :meth:`events` into ``[T, 2, H, W]`` count frames (channel 0 OFF, 1 ON).

        Bins are fixed in time, not in events: ``eventkit.to_frames(split_by="time",
        t_start=0, t_end=duration_us())``, so frame ``k`` covers
        ``[k D // T, (k + 1) D // T)`` whatever the image (an image that gives no events in
        its first step still has that step in frame 0).
        """
        from ..frames import to_frames

        img = as_image(image)
        t = int(frames if frames is not None else self.default_frames)
        if t < 1:
            raise OptionError(f"frames must be >= 1, got {t}")
        ev = self.events(img, rng)
        h, w = img.shape
        return to_frames(ev, (w, h, 2), frames=t, split_by="time", t_start=0, t_end=self.duration_us(), dtype=dtype)


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A Generator from a Generator, a seed, or None (seed 0: the methods are deterministic by default)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)
