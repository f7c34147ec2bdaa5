"""Integrate events into dense count frames ``[T, P, H, W]``: :func:`to_frames`.

``frame[k, c, y, x]`` counts the kept events of frame ``k`` at pixel ``(x, y)`` with channel
``c = p`` (0 = OFF, 1 = ON), or ``c = 0`` for every event when the sensor declares one polarity.
Counts saturate at the output dtype's maximum (never wrap); ``binary=True`` gives 0/1 spike frames.

Which events are kept
---------------------
An event is *kept* when ``t_start <= t <= t_end`` (both bounds inclusive; each defaults to no
bound) and its pixel lies inside ``crop``. Integrating with a crop or time bounds is exactly
integrating the kept events alone: every bin rule below sees only kept events, and ``t0``/``t1``
are ``t_start``/``t_end`` when given, else the minimum/maximum ``t`` of the kept events (for
sorted input these are SpikingJelly's ``t[0]``/``t[-1]``). ``n`` is the number of kept events.
Dropped events are counted (``return_stats=True``), never silently lost.

Bin rules (integer arithmetic; ``//`` is floor division; ``u`` is ``t - t0`` in µs or, for the
count-based rules, the event's rank ``i`` among kept events in array order)
------------------------------------------------------------------------------------------------
``frames=T, split_by="number"`` (SpikingJelly 2.0 ``integrate_events_by_fixed_frames_number``)
    ``di = n // T``; event ``i`` goes to frame ``min(i // di, T - 1)``, so the last frame takes
    the ``n mod T`` remainder. If ``n < T`` (``di = 0``) every event goes to frame ``T - 1``.
    Bit-for-bit SpikingJelly's counts, always.
``frames=T, split_by="time"`` (same SpikingJelly function)
    ``dt = max((t1 - t0) // T, 1)``; event goes to frame ``min((t - t0) // dt, T - 1)``: frame
    ``k`` holds ``[t0 + k dt, t0 + (k + 1) dt)`` and the last frame also takes everything up to
    and including ``t1``. Equal to SpikingJelly whenever SpikingJelly returns (sorted ``t``, no
    empty window). Where SpikingJelly raises IndexError we still return this rule: empty windows
    give empty frames; a span shorter than T µs (SpikingJelly's ``dt = 0``) uses ``dt = 1`` so
    event at ``t`` goes to frame ``t - t0`` and trailing frames are empty; all-equal timestamps put
    every event in frame 0. Every kept event lands in exactly one frame. (For unsorted ``t``,
    SpikingJelly counts index spans and may count an event twice; we always bin by timestamp.)
``duration=D`` (SpikingJelly 2.0 ``integrate_events_by_fixed_duration``, variable T)
    ``T = max(ceil((t1 - t0) / D), 1)``; event goes to frame ``min((t - t0) // D, T - 1)``, so the
    last frame absorbs events at exactly ``t0 + T D`` (when the span is a multiple of D). All-equal
    timestamps or no events give one frame (SpikingJelly raises). Empty interior frames are kept.
``event_count=N, overlap=O`` (Tonic ``ToFrame(event_count=...)``)
    ``stride = N - O``; window ``k`` holds events ``k stride <= i < k stride + N``. Number of
    windows: ``include_incomplete=True`` (our default, lossless): ``1`` if ``n <= N`` else
    ``ceil((n - N) / stride) + 1``; ``False`` (Tonic's default): ``(n - min(N, n)) // stride + 1``,
    and the events after the last complete window are dropped *because the user asked* (counted).
    Both equal Tonic's windows exactly. With overlap an event is counted in every window holding it.
``time_window=W, overlap=O`` (Tonic ``ToFrame(time_window=...)``, both in µs)
    ``stride = W - O``; window ``k`` holds ``t0 + k stride <= t < t0 + k stride + W``; with
    ``span = t1 - t0``, number of windows ``1`` if ``span < W`` else
    ``(span - W) // stride + 2`` with ``include_incomplete=True`` (default: the smallest number of
    windows that holds ``t1``, so nothing is lost) or ``+ 1`` with ``False`` (Tonic's count; later
    events are dropped and counted). Tonic's ``include_incomplete=True`` uses ``ceil(...) + 1``
    windows and so loses the events at ``t1`` when ``span - W`` is a multiple of ``stride``; we add
    that one more window instead. Windows never absorb: unlike ``duration=D`` every window is
    exactly ``W`` long.

Spatial mapping
---------------
``crop=(x0, y0, w, h)`` keeps ``x0 <= x < x0 + w`` and ``y0 <= y < y0 + h`` and shifts them to
``(x - x0, y - y0)``. ``downsample=k`` (int) then maps ``x -> x // k`` (output width
``ceil(w / k)``), ``downsample=(w_out, h_out)`` maps ``x -> x * w_out // w`` (exactly ``x // k``
when ``w = k w_out``). Output shape ``[T, P, H_out, W_out]``.

Empty input (or nothing kept) gives zeros: T frames for ``frames=T``; for the other modes the
number of frames from the rules above with ``t1 - t0 = 0`` unless both bounds are given (so 1).
The input array is never modified.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._renamed import renamed_keyword
from ..errors import EventFormatError, OptionError
from ..events import EVENT_DTYPE, EventArray, SensorSize, make_events
from . import _bins, _kernels
from ._common import int_option, raise_bad

# The fast path reads x, y, p of an EVENT_DTYPE record with one little-endian 8-byte load at byte
# 5 (see _kernels.integrate_spans); only where the record layout is exactly the packed one.
_XYP_OK = (
    sys.byteorder == "little"
    and EVENT_DTYPE.itemsize == 13
    and [(EVENT_DTYPE.fields[k][0].str, EVENT_DTYPE.fields[k][1]) for k in "txyp"]
    == [("<i8", 0), ("<u2", 8), ("<u2", 10), ("|u1", 12)]
)

__all__ = ["FrameStats", "to_frames"]

_INT_DTYPES = tuple(
    np.dtype(d) for d in ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
)
_FLOAT_EXACT = {np.dtype("float32"): 2**24, np.dtype("float64"): 2**53}
_ALLOWED_DTYPES = "bool, uint8, uint16, uint32, uint64, int8, int16, int32, int64, float32, float64"


@dataclass(frozen=True)
class FrameStats:
    """What :func:`to_frames` did with the events (returned with ``return_stats=True``).

    Attributes
    ----------
    n_events
        Events in the input.
    n_kept
        Events inside ``[t_start, t_end]`` and the crop (``n_events`` minus the two below).
    n_outside_time, n_outside_crop
        Events excluded by ``t_start``/``t_end`` and by ``crop``, as the user asked.
    n_dropped_incomplete
        Kept events in no window because ``include_incomplete=False`` (Tonic-style modes only).
    n_saturated
        Increments lost because a pixel reached the dtype maximum (0 for ``binary=True``).
    n_frames
        T, the first axis of the result.
    by_time
        True when bins are in µs from ``origin``, False when they count kept events.
    origin, width, stride
        Bin geometry: frame ``k`` starts at ``origin + k * stride`` and is ``width`` long (µs or
        events); ``width == 0`` with ``split_by="number"`` means all events went to the last frame.
    """

    n_events: int
    n_kept: int
    n_outside_time: int
    n_outside_crop: int
    n_dropped_incomplete: int
    n_saturated: int
    n_frames: int
    by_time: bool
    origin: int
    width: int
    stride: int


def _coerce_events(events) -> EventArray:
    if isinstance(events, np.ndarray) and events.dtype == EVENT_DTYPE:
        if events.ndim != 1:
            raise EventFormatError(f"expected a 1-D events array, got shape {events.shape}")
        return events
    names = getattr(getattr(events, "dtype", None), "names", None)
    if names and all(k in names for k in "txyp"):
        return make_events(events["t"], events["x"], events["y"], events["p"])
    got = getattr(events, "dtype", type(events).__name__)
    raise EventFormatError(f"expected an events array of dtype {EVENT_DTYPE}, got {got}")


def _resolve_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise OptionError(f"dtype must be one of {_ALLOWED_DTYPES}, got {dtype!r}") from None
    if dt != np.dtype(bool) and dt not in _INT_DTYPES and dt not in _FLOAT_EXACT:
        raise OptionError(f"dtype must be one of {_ALLOWED_DTYPES}, got {dt}")
    return dt


def _spatial_maps(sensor: SensorSize, crop, downsample) -> tuple[np.ndarray, np.ndarray, int, int, bool, bool]:
    """Return ``(xmap, ymap, w_out, h_out, identity, crops)``."""
    if crop is None:
        x0, y0, cw, ch = 0, 0, sensor.width, sensor.height
    else:
        try:
            x0, y0, cw, ch = (int_option("crop", v, minimum=None) for v in crop)
        except (TypeError, ValueError):
            raise OptionError(f"crop must be (x0, y0, width, height) integers, got {crop!r}") from None
        if x0 < 0 or y0 < 0 or cw < 1 or ch < 1 or x0 + cw > sensor.width or y0 + ch > sensor.height:
            raise OptionError(
                f"crop {tuple(crop)!r} must have x0, y0 >= 0, width, height >= 1 and lie inside the "
                f"{sensor.width}x{sensor.height} sensor"
            )
    xs = np.arange(sensor.width, dtype=np.int64) - x0
    ys = np.arange(sensor.height, dtype=np.int64) - y0
    if downsample is None:
        w_out, h_out = cw, ch
        xo, yo = xs, ys
    elif isinstance(downsample, (tuple, list)):
        if len(downsample) != 2:
            raise OptionError(f"downsample must be an int factor or a (width, height) target, got {downsample!r}")
        w_out = int_option("downsample width", downsample[0], minimum=1)
        h_out = int_option("downsample height", downsample[1], minimum=1)
        if w_out > cw or h_out > ch:
            raise OptionError(f"downsample target {(w_out, h_out)} is larger than the (cropped) sensor {(cw, ch)}")
        xo, yo = xs * w_out // cw, ys * h_out // ch
    else:
        k = int_option("downsample", downsample, minimum=1)
        w_out, h_out = -(-cw // k), -(-ch // k)
        xo, yo = xs // k, ys // k
    xmap = np.where((xs >= 0) & (xs < cw), xo, -1).astype(np.int64)
    ymap = np.where((ys >= 0) & (ys < ch), yo, -1).astype(np.int64)
    crops = (cw, ch) != (sensor.width, sensor.height)
    identity = not crops and (w_out, h_out) == (sensor.width, sensor.height)
    return xmap, ymap, w_out, h_out, identity, crops


@renamed_keyword("sensor_size", "sensor")
def to_frames(
    events: EventArray,
    sensor: SensorSize | tuple[int, ...],
    *,
    frames: int | None = None,
    split_by: Literal["number", "time"] = "number",
    duration: int | None = None,
    event_count: int | None = None,
    time_window: int | None = None,
    overlap: int = 0,
    include_incomplete: bool = True,
    binary: bool = False,
    dtype: np.typing.DTypeLike = np.uint16,
    downsample: int | tuple[int, int] | None = None,
    crop: tuple[int, int, int, int] | None = None,
    t_start: int | None = None,
    t_end: int | None = None,
    return_stats: bool = False,
) -> np.ndarray | tuple[np.ndarray, FrameStats]:
    """Integrate events into count frames of shape ``[T, P, H, W]``.

    Exactly one of ``frames``, ``duration``, ``event_count``, ``time_window`` must be given. The
    exact bin rules are in the module docstring (:mod:`eventkit.frames.integrate`).

    Parameters
    ----------
    events
        1-D array of :data:`~eventkit.EVENT_DTYPE` (another structured array with integer
        ``t, x, y, p`` fields is converted). Never modified.
    sensor
        ``(width, height, polarities)``; polarities 2 (channel 0 = OFF, 1 = ON) or 1 (merged).
        Tonic's name ``sensor_size=`` still works (DeprecationWarning).
    frames
        T, a fixed number of frames, split by ``split_by``.
    split_by
        ``"number"`` (equal event counts, the last frame takes the remainder) or ``"time"``
        (equal durations, the last frame takes the remainder), as SpikingJelly 2.0.
    duration
        Frame length D in µs on SpikingJelly 2.0's fixed grid; T varies with the sample.
    event_count, time_window
        Tonic-style windows of N events or W µs, ``overlap`` events or µs apart from the next.
    overlap
        Overlap between consecutive windows, ``0 <= overlap < event_count`` (or ``time_window``);
        only with ``event_count``/``time_window``.
    include_incomplete
        Tonic-style modes only. True (default): add windows until every kept event is in one (no
        loss). False: Tonic's number of complete windows; later events are dropped and counted.
    binary
        If True, a pixel is 1 when it holds at least one event (spike frames).
    dtype
        Output dtype: ``bool``, an integer type or ``float32``/``float64``. Counts saturate at the
        dtype's maximum (floats: at 2**24 / 2**53, the last exactly representable count).
    downsample
        An integer factor k (``x // k``) or a target ``(width, height)`` (``x * width // W``),
        applied after ``crop``.
    crop
        ``(x0, y0, width, height)`` in sensor pixels; events outside are dropped and counted.
    t_start, t_end
        Inclusive time bounds in µs; events outside are dropped and counted and the bins are laid
        on ``[t_start, t_end]`` instead of the events' own range.
    return_stats
        If True, also return a :class:`FrameStats`.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, FrameStats)
        Frames ``[T, P, H_out, W_out]`` of ``dtype``.

    Raises
    ------
    EventFormatError
        If ``events`` is not an event array, or an event lies outside the sensor (x >= width,
        y >= height) or has ``p > 1``.
    ValueError
        If a parameter is missing, conflicting or out of range (the message names the allowed values).

    Examples
    --------
    >>> fr = to_frames(events, (128, 128, 2), frames=16, split_by="number")   # doctest: +SKIP
    >>> fr.shape                                                              # doctest: +SKIP
    (16, 2, 128, 128)
    """
    ev = _coerce_events(events)
    sensor = SensorSize.of(sensor)
    if sensor.polarities not in (1, 2):
        raise OptionError(f"sensor polarities must be 1 or 2, got {sensor.polarities}")
    given = {k: v for k, v in (("frames", frames), ("duration", duration), ("event_count", event_count),
                               ("time_window", time_window)) if v is not None}
    if len(given) != 1:
        raise OptionError(
            "set exactly one of frames=, duration=, event_count=, time_window= "
            f"(got {', '.join(given) or 'none'})"
        )
    (mode, raw), = given.items()
    size = int_option(mode, raw, minimum=1)
    if split_by not in ("number", "time"):
        raise OptionError(f"split_by must be 'number' or 'time', got {split_by!r}")
    overlap = int_option("overlap", overlap, minimum=0)
    if mode in ("frames", "duration") and overlap:
        raise OptionError(f"overlap is only allowed with event_count= or time_window=, not with {mode}=")
    if overlap >= size:
        raise OptionError(f"overlap must be < {mode} ({size}), got {overlap}")
    if not isinstance(include_incomplete, (bool, np.bool_)):
        raise OptionError(f"include_incomplete must be True or False, got {include_incomplete!r}")
    out_dtype = _resolve_dtype(dtype)
    lo = None if t_start is None else int_option("t_start", t_start, minimum=None)
    hi = None if t_end is None else int_option("t_end", t_end, minimum=None)
    if lo is not None and hi is not None and hi < lo:
        raise OptionError(f"t_end ({hi}) must be >= t_start ({lo})")
    xmap, ymap, w_out, h_out, identity, crops = _spatial_maps(sensor, crop, downsample)
    channels = sensor.polarities
    cmap = np.array([0, 1] if channels == 2 else [0, 0], dtype=np.int64)

    filter_time = lo is not None or hi is not None
    t_lo = np.int64(lo if lo is not None else np.iinfo(np.int64).min)
    t_hi = np.int64(hi if hi is not None else np.iinfo(np.int64).max)
    t, x, y, p = ev["t"], ev["x"], ev["y"], ev["p"]
    n_events = int(ev.shape[0])

    by_time = mode in ("duration", "time_window") or (mode == "frames" and split_by == "time")
    need_scan = filter_time or crops

    # Fast path: non-overlapping bins, no filter, no pixel mapping, packed records. Binning by
    # time assumes sorted t (t0 = t[0], t1 = t[-1]); the kernel checks that on the way and we
    # fall back to the general path below when it does not hold.
    if (
        _XYP_OK and mode in ("frames", "duration") and identity and not need_scan and n_events > 0
        and ev.flags.c_contiguous and (not by_time or t[-1] >= t[0])
    ):
        res = _integrate_fast(ev, t, sensor, mode, size, by_time, h_out, w_out, out_dtype, binary)
        if res is not None:
            frames_, plan, n_sat = res
            return _finish(frames_, out_dtype, return_stats, plan, binary, n_events, n_events, 0, 0, 0, n_sat)

    # Summary of the kept events (one pre-pass), only where the plan or the stats need it.
    n_kept, n_time, n_crop, tmin, tmax = n_events, 0, 0, 0, 0
    if by_time and not need_scan:  # only the t range is needed; the main kernel validates
        tmin, tmax = _kernels.t_range(t)
    elif need_scan:
        n_kept, tmin, tmax, n_time, n_crop, bad = _kernels.scan(
            t, x, y, p, xmap, ymap, t_lo, t_hi, filter_time, crops
        )
        if bad >= 0:
            raise_bad(ev, bad, sensor)
    if n_kept == 0:  # nothing kept: a zero span at whichever bound is known
        tmin = tmax = lo if lo is not None else (hi if hi is not None else 0)
    t0 = lo if lo is not None else int(tmin)
    t1 = hi if hi is not None else int(tmax)

    if mode == "frames":
        plan = _bins.plan_frames_time(t0, t1, size) if by_time else _bins.plan_frames_number(n_kept, size)
    elif mode == "duration":
        plan = _bins.plan_duration(t0, t1, size)
    elif mode == "event_count":
        plan = _bins.plan_event_count(n_kept, size, overlap, bool(include_incomplete))
    else:
        plan = _bins.plan_time_window(t0, t1, size, overlap, bool(include_incomplete))

    out, maxv = _alloc(plan.n_frames * channels * h_out * w_out, out_dtype, binary)

    n_drop = 0
    if plan.kind == "bins" and not by_time and identity and not filter_time:
        n_sat, bad = _kernels.integrate_ranges(
            x, y, p, cmap, plan.n_frames, plan.width, channels, h_out, w_out, out, maxv
        )
    elif plan.kind == "bins":
        _, n_sat, bad = _kernels.integrate_bins(
            t, x, y, p, xmap, ymap, cmap, t_lo, t_hi, filter_time, plan.by_time, plan.origin,
            plan.width, plan.n_frames, channels, h_out, w_out, out, maxv,
        )
    else:
        _, n_drop, n_sat, bad = _kernels.integrate_windows(
            t, x, y, p, xmap, ymap, cmap, t_lo, t_hi, filter_time, plan.by_time, plan.origin,
            plan.width, plan.stride, plan.n_frames, channels, h_out, w_out, out, maxv,
        )
    if bad >= 0:
        raise_bad(ev, bad, sensor)

    result = out.reshape(plan.n_frames, channels, h_out, w_out)
    return _finish(result, out_dtype, return_stats, plan, binary, n_events, n_kept, n_time, n_crop, n_drop, n_sat)


def _alloc(size: int, out_dtype: np.dtype, binary: bool) -> tuple[np.ndarray, np.generic]:
    """Zeroed flat work array (uint8 for bool output) and the saturation value in its type."""
    work_dtype = np.dtype(np.uint8) if out_dtype == np.dtype(bool) else out_dtype
    if binary or out_dtype == np.dtype(bool):
        maxv = 1
    elif work_dtype in _FLOAT_EXACT:
        maxv = _FLOAT_EXACT[work_dtype]
    else:
        maxv = int(np.iinfo(work_dtype).max)
    return np.zeros(size, dtype=work_dtype), work_dtype.type(maxv)


def _integrate_fast(ev, t, sensor, mode, size, by_time, h_out, w_out, out_dtype, binary):
    """``frames=``/``duration=`` without filter or pixel mapping: ``(frames, plan, n_saturated)``,
    or None when ``t`` turns out unsorted for a by-time rule (the caller then takes the general
    path). Raises for an invalid event."""
    n = int(ev.shape[0])
    channels = sensor.polarities
    if by_time:
        t0, t1 = int(t[0]), int(t[-1])  # the min and max if t is sorted (checked by the kernel)
        plan = _bins.plan_duration(t0, t1, size) if mode == "duration" else _bins.plan_frames_time(t0, t1, size)
        starts = _kernels.time_starts(t, np.int64(plan.origin), np.int64(plan.width), plan.n_frames)
    else:
        plan = _bins.plan_frames_number(n, size)
        starts = np.arange(plan.n_frames + 1, dtype=np.int64) * plan.width
        starts[-1] = n
    out, maxv = _alloc(plan.n_frames * channels * h_out * w_out, out_dtype, binary)
    xyp = np.ndarray((n,), dtype=np.uint64, buffer=ev, offset=5, strides=(ev.itemsize,))
    n_sat, bad, unsorted = _kernels.integrate_spans(
        t, xyp, by_time, starts, channels, h_out, w_out, out, maxv
    )
    if bad >= 0:
        raise_bad(ev, bad, sensor)
    if unsorted:
        return None
    return out.reshape(plan.n_frames, channels, h_out, w_out), plan, n_sat


def _finish(result, out_dtype, return_stats, plan, binary, n_events, n_kept, n_time, n_crop, n_drop, n_sat):
    if out_dtype == np.dtype(bool):
        result = result.view(bool)
    if not return_stats:
        return result
    stats = FrameStats(
        n_events=n_events,
        n_kept=int(n_kept),
        n_outside_time=int(n_time),
        n_outside_crop=int(n_crop),
        n_dropped_incomplete=int(n_drop),
        n_saturated=0 if (binary or out_dtype == np.dtype(bool)) else int(n_sat),
        n_frames=plan.n_frames,
        by_time=plan.by_time,
        origin=plan.origin,
        width=plan.width,
        stride=plan.stride,
    )
    return result, stats
