"""Events -> dense frame tensors ``[T, P, H, W]``.

:func:`to_frames` is the public entry point (exact bin rules in :mod:`eventkit.frames.integrate`);
:mod:`eventkit.frames.reference` is a slow, obviously-correct NumPy version used by the tests.
"""

from __future__ import annotations

from .integrate import FrameStats, to_frames

__all__ = ["FrameStats", "to_frames"]
