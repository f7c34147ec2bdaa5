"""Events -> dense tensors ``[T, P, H, W]``: count frames and float representations.

:func:`to_frames` gives count frames (exact bin rules in :mod:`eventkit.frames.integrate`);
:func:`to_voxel_grid` (:mod:`eventkit.frames.voxel`), :func:`to_time_surface` and
:func:`to_averaged_time_surface` (HATS, :mod:`eventkit.frames.time_surface`) give float ones.
:mod:`eventkit.frames.reference` and :mod:`eventkit.frames.repr_reference` are slow,
obviously-correct NumPy versions used by the tests.

From Tonic's transforms (each module's docstring lists where we differ on purpose):

==============================  ================================================================
Tonic 1.7                       eventkit
==============================  ================================================================
``ToFrame``                     ``to_frames(time_window= | event_count= | frames=, split_by=)``
``ToImage`` (frames summed)     ``to_frames(ev, sensor, frames=1)[0]``
``ToVoxelGrid(n_time_bins=B)``  ``to_voxel_grid(ev, sensor, bins=B, time_norm="tonic")``
``ToTimesurface(dt, tau)``      ``to_time_surface(ev, sensor, dt=dt, tau=tau, include_incomplete=False)``
``ToAveragedTimesurface``       ``to_averaged_time_surface(..., layout="cells")``
``ToSparseTensor``              ``torch.from_numpy(frames).to_sparse()`` on any of the above
==============================  ================================================================
"""

from __future__ import annotations

from .integrate import FrameStats, to_frames
from .time_surface import hats_cells, to_averaged_time_surface, to_time_surface
from .voxel import to_voxel_grid

__all__ = ["FrameStats", "hats_cells", "to_averaged_time_surface", "to_frames", "to_time_surface", "to_voxel_grid"]
