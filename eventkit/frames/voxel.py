"""Voxel grids: events -> ``[B, P, H, W]`` float with bilinear interpolation in time.

The event volume of Zhu et al. 2019 (E2VID / RAFT-style event networks; Tonic's ``ToVoxelGrid``).

Rule
----
With ``t0``/``t1`` the minimum/maximum ``t`` of the events, each event gets a position
``u = (t - t0) * s`` on the bin axis, where ``s = (B - 1) / (t1 - t0)`` (``time_norm="e2vid"``,
the default, as in the E2VID code: the first event sits on bin 0, the last on bin ``B - 1``) or
``s = B / (t1 - t0)`` (``time_norm="tonic"``, Tonic 1.x). With ``b = floor(u)`` and
``f = u - b`` the event adds ``v * (1 - f)`` to bin ``b`` and ``v * f`` to bin ``b + 1``; a bin
outside ``0..B-1`` takes nothing. ``v`` is ``+1`` for ON and ``-1`` for OFF in one channel
(``polarity="signed"``, the E2VID/Tonic volume, P = 1), or ``+1`` in the event's polarity
channel (``polarity="split"``, P = the sensor's polarities: two unsigned volumes). On a
one-polarity sensor every event has ``v = +1``.

Where we differ from Tonic on purpose (tests/eventkit/frames/test_voxel.py checks each one)
-------------------------------------------------------------------------------------------
* Default scaling ``(B - 1)``: with Tonic's ``B`` scaling the events at ``t1`` land on bin
  ``B`` and vanish, and events in the last bin interval lose part of their weight; with
  ``(B - 1)`` every event's weight ``|v|`` is kept (the sum of the grid is the signed event
  count). ``time_norm="tonic"`` reproduces Tonic's grid.
* All timestamps equal (or one event): every event goes to bin 0 (Tonic divides by zero and
  returns NaN). No events: a zero grid (Tonic raises).
* ``t0``/``t1`` are the minimum/maximum ``t``, not ``t[0]``/``t[-1]`` (equal for sorted input).
* float32 by default (Tonic: float64), and the input is never modified (Tonic's functional
  writes ``-1`` into a copy's ``p`` field, which wraps for unsigned ``p``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .._renamed import renamed_keyword
from ..errors import OptionError
from ..events import EventArray, SensorSize
from . import _kernels, _repr_kernels
from ._common import downsample_factor, packed_xyp, float_dtype, int_option, raise_bad, sensor_of
from .integrate import _coerce_events

__all__ = ["to_voxel_grid"]


@renamed_keyword("sensor_size", "sensor")
def to_voxel_grid(
    events: EventArray,
    sensor: SensorSize | tuple[int, ...],
    *,
    bins: int,
    polarity: Literal["signed", "split"] = "signed",
    time_norm: Literal["e2vid", "tonic"] = "e2vid",
    dtype: np.typing.DTypeLike = np.float32,
    downsample: int | None = None,
) -> np.ndarray:
    """Voxel grid ``[bins, P, H, W]`` of one sample (rules in :mod:`eventkit.frames.voxel`).

    Parameters
    ----------
    events
        1-D array of :data:`~eventkit.EVENT_DTYPE` (any order). Never modified.
    sensor
        ``(width, height, polarities)``.
    bins
        B, the number of time bins (the first axis of the result).
    polarity
        ``"signed"`` (one channel, ON ``+1``, OFF ``-1``) or ``"split"`` (one channel per polarity).
    time_norm
        ``"e2vid"`` (``(B - 1)`` scaling, keeps every event) or ``"tonic"`` (Tonic's ``B`` scaling).
    dtype
        ``float32`` (default), ``float64`` or ``float16``.
    downsample
        Integer factor k: pixel ``(x, y)`` goes to ``(x // k, y // k)``; sizes round up.

    Returns
    -------
    numpy.ndarray
        ``[bins, 1 or P, ceil(H / k), ceil(W / k)]`` of ``dtype``.

    Raises
    ------
    EventFormatError
        An event outside the sensor or with ``p > 1``.
    OptionError
        A bad parameter (the message names the allowed values).
    """
    ev = _coerce_events(events)
    sensor = sensor_of(sensor)
    n_bins = int_option("bins", bins)
    if polarity not in ("signed", "split"):
        raise OptionError(f"polarity must be 'signed' or 'split', got {polarity!r}")
    if time_norm not in ("e2vid", "tonic"):
        raise OptionError(f"time_norm must be 'e2vid' or 'tonic', got {time_norm!r}")
    out_dtype = float_dtype(dtype)
    k, w_out, h_out = downsample_factor(sensor, downsample)
    channels = 1 if polarity == "signed" else sensor.polarities
    # numba has no float16 arithmetic: accumulate in float32 and cast at the end
    work_dtype = np.float64 if out_dtype == np.float64 else np.float32
    size = n_bins * channels * h_out * w_out
    t = ev["t"]
    signed = polarity == "signed" and sensor.polarities == 2
    norm = (n_bins - 1) if time_norm == "e2vid" else n_bins
    xyp = packed_xyp(ev)
    # Guess sorted input (t0 = t[0], t1 = t[-1]: no pass for the range); the kernel notices an
    # event outside and we redo it with the true minimum and maximum.
    bounds = (int(t[0]), int(t[-1])) if t.size else (0, 0)
    for _ in range(2):
        t0, t1 = bounds
        out = np.zeros(size, dtype=work_dtype)
        scale = 0.0 if t1 <= t0 else norm / (t1 - t0)
        bad = _repr_kernels.voxel(t, xyp, np.int64(t0), np.int64(t1), scale, signed, n_bins, channels, k,
                                  sensor.width, sensor.height, w_out, h_out, out)
        if bad != _repr_kernels.OUT_OF_RANGE:
            break
        bounds = tuple(int(v) for v in _kernels.t_range(t))
    if bad >= 0:
        raise_bad(ev, bad, sensor)
    return out.reshape(n_bins, channels, h_out, w_out).astype(out_dtype, copy=False)
