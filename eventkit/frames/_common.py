"""Argument checks shared by the float representations (voxel grids, time surfaces, HATS)."""

from __future__ import annotations

import math
import operator

import numpy as np

from ..errors import EventFormatError, OptionError
from ..events import EventArray, SensorSize

#: Output dtypes of the float representations.
FLOAT_DTYPES = ("float16", "float32", "float64")


def float_dtype(dtype) -> np.dtype:
    """``dtype`` as one of :data:`FLOAT_DTYPES`, or an :class:`OptionError` naming them."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in FLOAT_DTYPES:
        raise OptionError(f"dtype must be one of {', '.join(FLOAT_DTYPES)}, got {dtype!r}")
    return dt


def int_option(name: str, value, minimum: int | None = 1) -> int:
    """An integer option: ``value`` as an int >= ``minimum`` (no bound for None; bools and floats refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise OptionError(f"{name} must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise OptionError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and v < minimum:
        raise OptionError(f"{name} must be >= {minimum}, got {v}")
    return v


def positive_float(name: str, value) -> float:
    """``value`` as a finite float > 0."""
    if isinstance(value, (bool, np.bool_)):
        raise OptionError(f"{name} must be a positive number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise OptionError(f"{name} must be a positive, finite number, got {value!r}")
    return v


def packed_xyp(ev: EventArray) -> np.ndarray:
    """``x << 24 | y << 40 | p << 56`` per event, as uint64, for one 8-byte load per event in the
    kernels: a zero-copy view of bytes 5-12 of each packed little-endian record (the upper ``t``
    bytes land in bits 0-23, which the kernels ignore), else built from the columns."""
    from .integrate import _XYP_OK

    if _XYP_OK and ev.size and ev.flags.c_contiguous:
        return np.ndarray((ev.shape[0],), dtype=np.uint64, buffer=ev, offset=5, strides=(ev.strides[0],))
    u = np.uint64
    return (ev["x"].astype(u) << u(24)) | (ev["y"].astype(u) << u(40)) | (ev["p"].astype(u) << u(56))


def sensor_of(sensor) -> SensorSize:
    sensor = SensorSize.of(sensor)
    if sensor.polarities not in (1, 2):
        raise OptionError(f"sensor polarities must be 1 or 2, got {sensor.polarities}")
    return sensor


def downsample_factor(sensor: SensorSize, downsample) -> tuple[int, int, int]:
    """``(k, w_out, h_out)`` for an integer ``downsample`` factor (None is 1): ``x -> x // k``."""
    k = 1 if downsample is None else int_option("downsample", downsample)
    return k, -(-sensor.width // k), -(-sensor.height // k)


def raise_bad(events: EventArray, i: int, sensor: SensorSize) -> None:
    """Raise the :class:`EventFormatError` describing event ``i`` (found bad by a kernel)."""
    e = events[i]
    if int(e["p"]) > 1:
        raise EventFormatError(f"event {i}: p = {int(e['p'])}; field 'p' must hold 0 (OFF) or 1 (ON) only")
    if int(e["x"]) >= sensor.width:
        raise EventFormatError(f"event {i}: x = {int(e['x'])} is outside a sensor of width {sensor.width}")
    raise EventFormatError(f"event {i}: y = {int(e['y'])} is outside a sensor of height {sensor.height}")
