"""The one event record used everywhere in eventkit, sensor geometry and validation helpers.

Every reader returns a 1-D NumPy structured array of :data:`EVENT_DTYPE`:

====  ========  ==========================================================
name  dtype     meaning
====  ========  ==========================================================
t     int64     timestamp in microseconds, in file order
x     uint16    column, 0 = left
y     uint16    row, 0 = top (as the sensor stores it unless documented)
p     uint8     polarity: 0 = OFF, 1 = ON
====  ========  ==========================================================
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

import numpy as np

from ._renamed import renamed_keyword
from .errors import EventFormatError, OptionError

__all__ = [
    "EVENT_DTYPE",
    "EventArray",
    "SensorSize",
    "make_events",
    "empty_events",
    "validate_events",
    "require_fields",
]

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.uint16), ("y", np.uint16), ("p", np.uint8)])
EventArray: TypeAlias = np.ndarray


class SensorSize(NamedTuple):
    """Sensor geometry as ``(width, height, polarities)`` (Tonic's order)."""

    width: int
    height: int
    polarities: int = 2

    @classmethod
    def of(cls, value: SensorSize | tuple[int, ...]) -> SensorSize:
        """Coerce a ``(width, height[, polarities])`` tuple, checking that every size is positive."""
        if isinstance(value, SensorSize):
            return value
        vals = tuple(int(v) for v in value)
        if len(vals) not in (2, 3) or any(v <= 0 for v in vals):
            raise OptionError(f"sensor must be (width, height[, polarities]) of positive ints, got {value!r}")
        return cls(*vals)


def empty_events(n: int = 0) -> EventArray:
    """Return a zero-filled event array of length ``n``."""
    return np.zeros(n, dtype=EVENT_DTYPE)


def make_events(t, x, y, p) -> EventArray:
    """Build an event array from four equal-length columns (cast to the event dtype).

    Raises
    ------
    EventFormatError
        If the columns differ in length, or a value does not fit its field.
    """
    cols = [np.asarray(c) for c in (t, x, y, p)]
    n = cols[0].shape[0] if cols[0].ndim else 0
    if any(c.ndim != 1 or c.shape[0] != n for c in cols):
        raise EventFormatError(f"t, x, y, p must be 1-D and of equal length, got shapes {[c.shape for c in cols]}")
    out = np.empty(n, dtype=EVENT_DTYPE)
    for name, col in zip("txyp", cols):
        target = EVENT_DTYPE[name]
        if n and col.dtype.kind in "iu" and target.kind in "iu":
            info = np.iinfo(target)
            lo, hi = col.min(), col.max()
            if lo < info.min or hi > info.max:
                raise EventFormatError(f"field {name!r} has values in [{lo}, {hi}], outside {target} range")
        out[name] = col
    if n and out["p"].max() > 1:
        raise EventFormatError("field 'p' must hold 0 (OFF) or 1 (ON) only")
    return out


def require_fields(events: np.ndarray, *names: str) -> None:
    """Raise :class:`EventFormatError` unless ``events`` is structured and has every field in ``names``."""
    fields = events.dtype.names or ()
    missing = [n for n in names if n not in fields]
    if missing:
        raise EventFormatError(f"events lack field(s) {missing}; they have {list(fields)}")


@renamed_keyword("sensor_size", "sensor")
def validate_events(
    events: np.ndarray,
    sensor: SensorSize | tuple[int, ...] | None = None,
    *,
    sorted_t: bool = False,
) -> EventArray:
    """Check that ``events`` is a 1-D :data:`EVENT_DTYPE` array and, optionally, fits a sensor.

    Parameters
    ----------
    events
        The array to check.
    sensor
        If given, every x must be < width, every y < height and every p < polarities.
    sorted_t
        If True, t must be non-decreasing.

    Returns
    -------
    EventArray
        ``events`` itself, for chaining.

    Raises
    ------
    EventFormatError
        Naming the first violated rule.
    """
    if not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE:
        got = getattr(events, "dtype", type(events).__name__)
        raise EventFormatError(f"expected an array of dtype {EVENT_DTYPE}, got {got}")
    if events.ndim != 1:
        raise EventFormatError(f"expected a 1-D events array, got shape {events.shape}")
    if events.size == 0:
        return events
    if events["p"].max() > 1:
        raise EventFormatError("field 'p' must hold 0 (OFF) or 1 (ON) only")
    if sensor is not None:
        s = SensorSize.of(sensor)
        for name, limit in (("x", s.width), ("y", s.height)):
            hi = int(events[name].max())
            if hi >= limit:
                raise EventFormatError(f"{name} = {hi} is outside a sensor of {name == 'x' and 'width' or 'height'} {limit}")
        if s.polarities == 1 and events["p"].max() > 0:
            raise EventFormatError("events have two polarities but the sensor declares one")
    if sorted_t and np.any(np.diff(events["t"]) < 0):
        i = int(np.argmax(np.diff(events["t"]) < 0))
        raise EventFormatError(f"t decreases at index {i + 1}")
    return events
