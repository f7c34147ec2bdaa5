"""Time surfaces: :func:`to_time_surface` (one per window) and :func:`to_averaged_time_surface` (HATS).

Time surfaces per window (Tonic's ``ToTimesurface``)
----------------------------------------------------
Windows are laid as in :func:`eventkit.to_frames` with ``time_window=dt``: with ``t0`` the first
(minimum) timestamp and ``stride = dt - overlap``, window ``i`` is ``[t0 + i stride,
t0 + i stride + dt)`` and ends at ``e_i = t0 + i stride + dt``. There are ``1`` window if
``span = t1 - t0 < dt``, else ``(span - dt) // stride + 2`` with ``include_incomplete=True``
(default: the last event is in a window, nothing is lost) or ``+ 1`` (Tonic's count of complete
windows; later events are ignored). Surface ``i`` is::

    S[i, c, y, x] = exp(-(e_i - m) / tau),   m = the latest t of the events at (x, y) with
                                                 channel c and t0 <= t < e_i

and 0 where no such event exists. The memory ``m`` carries over from window to window (a pixel
keeps decaying until it fires again). Channel ``c`` is ``p`` (or 0 on a one-polarity sensor).

Where we differ from Tonic on purpose (checked in tests/eventkit/frames/test_time_surface.py)
* ``include_incomplete=True`` by default (Tonic: False, which ignores the events after the last
  complete window); ``include_incomplete=False`` gives Tonic's windows.
* With ``overlap`` the surface is sampled at the window's own end ``t0 + i stride + dt``; Tonic
  samples at ``t0 + (i + 1) dt``, past the end of the window when ``overlap > 0``.
* ``m`` is the latest timestamp, whatever the array order (Tonic: the last event in array order,
  the same for sorted input). No events: one zero surface (Tonic raises).
* float32 by default (Tonic: float64). A pixel that did not fire since the previous window is
  decayed by a multiply (see the kernel): values agree with ``exp`` to ~1e-16 relative per
  window (far below float32 rounding), except float64 subnormals (< 1e-307), off by a few ulps.

Averaged time surfaces (HATS, Sironi et al. 2018; Tonic's ``ToAveragedTimesurface``)
-------------------------------------------------------------------------------------
The sensor is cut into cells of ``cell_size`` pixels (``ceil(W / cell_size)`` by
``ceil(H / cell_size)``; cell ``(cx, cy)`` holds ``x // cell_size == cx``, ``y // cell_size ==
cy``). For each event ``i`` of a cell and channel, a ``surface_size`` square (odd, ``rho =
surface_size // 2``) centred on it gets 1 at the centre plus ``decay(t_i - t_j)`` at
``(rho + y_j - y_i, rho + x_j - x_i)`` for each earlier event ``j`` (array order) of the same
cell and channel with ``|x_j - x_i| <= rho``, ``|y_j - y_i| <= rho`` and ``t_i - t_j <=
time_window``; ``decay`` is ``exp(-d / tau)`` or ``1 - d / (3 tau)`` (``"lin"``, Tonic's formula,
not clamped). The cell's histogram is the sum of its events' surfaces divided by their number.

Layout: ``layout="grid"`` (default) returns ``[1, P, Hc * S, Wc * S]``, each cell's histogram
placed at its cell's position, so a sample is a one-frame sequence that stores, loads and
renders like frames; ``layout="cells"`` returns Tonic's ``[n_cells, P, S, S]`` (cells in row-major
order). Differences from Tonic on purpose: timestamps are exact integers (Tonic casts them to
float32, which rounds timestamps past 2**24 µs = 16.8 s), the look-back is ``t_i - t_j <=
time_window`` (Tonic: ``t_j >= max(0, t_i - time_window)``; the same for ``t >= 0``), sums are in
float64, and x/y differences are signed whatever the event dtype (Tonic wraps them for unsigned
fields and then misses neighbours).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .._renamed import renamed_keyword
from ..errors import OptionError
from ..events import EventArray, SensorSize
from . import _bins, _repr_kernels
from ._common import downsample_factor, float_dtype, packed_xyp, positive_float, int_option, raise_bad, sensor_of
from .integrate import _coerce_events

__all__ = ["hats_cells", "to_averaged_time_surface", "to_time_surface", "time_surface_count"]


def time_surface_count(span_us: int, dt: int, overlap: int = 0, include_incomplete: bool = True) -> int:
    """Number of surfaces :func:`to_time_surface` returns for events spanning ``span_us`` µs."""
    return _bins.plan_time_window(0, max(int(span_us), 0), dt, overlap, include_incomplete).n_frames


_NO_ORDER = np.zeros(0, dtype=np.int64)  # sorted input: the kernel visits events in array order


@renamed_keyword("sensor_size", "sensor")
def to_time_surface(
    events: EventArray,
    sensor: SensorSize | tuple[int, ...],
    *,
    tau: float,
    dt: int,
    overlap: int = 0,
    include_incomplete: bool = True,
    dtype: np.typing.DTypeLike = np.float32,
    downsample: int | None = None,
) -> np.ndarray:
    """Time surfaces ``[T, P, H, W]``, one at the end of each window of ``dt`` µs.

    Rules and the differences from Tonic: :mod:`eventkit.frames.time_surface`.

    Parameters
    ----------
    events
        1-D array of :data:`~eventkit.EVENT_DTYPE` (any order). Never modified.
    sensor
        ``(width, height, polarities)``.
    tau
        Decay time constant in µs (> 0).
    dt
        Window length in µs (integer >= 1).
    overlap
        µs shared by consecutive windows, ``0 <= overlap < dt``.
    include_incomplete
        True (default): enough windows to hold the last event. False: Tonic's complete windows only.
    dtype
        ``float32`` (default), ``float64`` or ``float16``.
    downsample
        Integer factor k: pixel ``(x, y)`` becomes ``(x // k, y // k)`` (the latest event of the block counts).

    Returns
    -------
    numpy.ndarray
        ``[T, P, ceil(H / k), ceil(W / k)]`` of ``dtype`` with values in ``[0, 1]``.

    Raises
    ------
    EventFormatError
        An event outside the sensor or with ``p > 1``.
    OptionError
        A bad parameter.
    """
    ev = _coerce_events(events)
    sensor = sensor_of(sensor)
    tau_f = positive_float("tau", tau)
    width = int_option("dt", dt)
    ov = int_option("overlap", overlap, minimum=0)
    if ov >= width:
        raise OptionError(f"overlap must be < dt ({width}), got {ov}")
    if not isinstance(include_incomplete, (bool, np.bool_)):
        raise OptionError(f"include_incomplete must be True or False, got {include_incomplete!r}")
    out_dtype = float_dtype(dtype)
    k, w_out, h_out = downsample_factor(sensor, downsample)
    t, xyp = ev["t"], packed_xyp(ev)
    bad, time_sorted, t0, t1 = _repr_kernels.scan(t, xyp, sensor.width, sensor.height)
    if bad >= 0:
        raise_bad(ev, bad, sensor)
    order = _NO_ORDER if time_sorted else np.argsort(t, kind="stable").astype(np.int64, copy=False)
    plan = _bins.plan_time_window(int(t0), int(t1), width, ov, bool(include_incomplete))
    channels = sensor.polarities
    work_dtype = np.float64 if out_dtype == np.float64 else np.float32
    out = np.zeros(plan.n_frames * channels * h_out * w_out, dtype=work_dtype)
    exp_lo = np.exp(-np.arange(4096, dtype=np.float64) / tau_f)
    exp_hi = np.exp(-np.arange((width >> 12) + 1, dtype=np.float64) * 4096.0 / tau_f)
    _repr_kernels.time_surface(t, xyp, order, time_sorted, np.int64(plan.origin), np.int64(width),
                               np.int64(plan.stride), plan.n_frames, 1.0 / tau_f, exp_lo, exp_hi, channels,
                               k, w_out, h_out, out)
    return out.reshape(plan.n_frames, channels, h_out, w_out).astype(out_dtype, copy=False)


@renamed_keyword("sensor_size", "sensor")
def to_averaged_time_surface(
    events: EventArray,
    sensor: SensorSize | tuple[int, ...],
    *,
    cell_size: int = 10,
    surface_size: int = 5,
    time_window: int = 1000,
    tau: float = 100.0,
    decay: Literal["exp", "lin"] = "exp",
    layout: Literal["grid", "cells"] = "grid",
    dtype: np.typing.DTypeLike = np.float32,
) -> np.ndarray:
    """HATS histograms of averaged time surfaces (rules in :mod:`eventkit.frames.time_surface`).

    Parameters
    ----------
    events
        1-D array of :data:`~eventkit.EVENT_DTYPE`. Never modified.
    sensor
        ``(width, height, polarities)``.
    cell_size
        Side of a cell in pixels (Tonic's default 10).
    surface_size
        Side of a surface, odd (default 5).
    time_window
        Look-back in µs (default 1000).
    tau
        Decay constant in µs (default 100).
    decay
        ``"exp"`` or ``"lin"``.
    layout
        ``"grid"``: ``[1, P, Hc * S, Wc * S]`` (a one-frame sample); ``"cells"``: Tonic's ``[n_cells, P, S, S]``.
    dtype
        ``float32`` (default), ``float64`` or ``float16``.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    EventFormatError
        An event outside the sensor or with ``p > 1``.
    OptionError
        A bad parameter.
    """
    ev = _coerce_events(events)
    sensor = sensor_of(sensor)
    cell = int_option("cell_size", cell_size)
    size = int_option("surface_size", surface_size)
    if size % 2 == 0:
        raise OptionError(f"surface_size must be odd (the event sits at the centre), got {size}")
    window = int_option("time_window", time_window, minimum=0)
    tau_f = positive_float("tau", tau)
    if decay not in ("exp", "lin"):
        raise OptionError(f"decay must be 'exp' or 'lin', got {decay!r}")
    if layout not in ("grid", "cells"):
        raise OptionError(f"layout must be 'grid' or 'cells', got {layout!r}")
    out_dtype = float_dtype(dtype)
    t, x, y, p = ev["t"], ev["x"], ev["y"], ev["p"]
    bad, time_sorted, _, _ = _repr_kernels.scan(t, packed_xyp(ev), sensor.width, sensor.height)
    if bad >= 0:
        raise_bad(ev, bad, sensor)
    channels = sensor.polarities
    w_cells, h_cells = -(-sensor.width // cell), -(-sensor.height // cell)
    # group the events by (cell, channel), array order kept within a group (stable sort)
    group = (y.astype(np.int64) // cell * w_cells + x.astype(np.int64) // cell) * channels
    if channels == 2:
        group += p
    order = np.argsort(group, kind="stable").astype(np.int64, copy=False)
    starts = np.zeros(w_cells * h_cells * channels + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=w_cells * h_cells * channels), out=starts[1:])
    out = np.zeros(channels * h_cells * size * w_cells * size, dtype=np.float64)
    _repr_kernels.hats(t, x, y, order, starts, size // 2, np.int64(window), 1.0 / tau_f, decay == "exp",
                       bool(time_sorted), channels, w_cells, h_cells, size, out)
    grid = out.reshape(1, channels, h_cells * size, w_cells * size).astype(out_dtype)
    return hats_cells(grid, size) if layout == "cells" else grid


def hats_cells(grid: np.ndarray, surface_size: int) -> np.ndarray:
    """Turn a ``layout="grid"`` HATS sample ``[1, P, Hc * S, Wc * S]`` into Tonic's ``[n_cells, P, S, S]``."""
    if grid.ndim != 4 or grid.shape[0] != 1 or grid.shape[2] % surface_size or grid.shape[3] % surface_size:
        raise OptionError(f"expected a [1, P, Hc * {surface_size}, Wc * {surface_size}] HATS grid, got {grid.shape}")
    _, c, h, w = grid.shape
    s = surface_size
    cells = grid.reshape(c, h // s, s, w // s, s).transpose(1, 3, 0, 2, 4)
    return np.ascontiguousarray(cells.reshape((h // s) * (w // s), c, s, s))
