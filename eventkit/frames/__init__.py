"""Events -> dense tensors ``[T, P, H, W]``: count frames and float representations.

:func:`to_frames` gives count frames (exact bin rules in :mod:`eventkit.frames.integrate`);
:func:`to_voxel_grid` (:mod:`eventkit.frames.voxel`), :func:`to_time_surface` and
:func:`to_averaged_time_surface` (HATS, :mod:`eventkit.frames.time_surface`) give float ones.
:mod:`eventkit.frames.reference` and :mod:`eventkit.frames.repr_reference` are slow,
obviously-correct NumPy versions used by the tests.
"""

from __future__ import annotations

from .integrate import FrameStats, to_frames
from .time_surface import hats_cells, to_averaged_time_surface, to_time_surface
from .voxel import to_voxel_grid

__all__ = ["FrameStats", "hats_cells", "to_averaged_time_surface", "to_frames", "to_time_surface", "to_voxel_grid"]
