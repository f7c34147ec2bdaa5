"""One-file summaries: what ``eventkit info FILE`` prints."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from .events import EventArray, SensorSize
from .io import FORMATS, guess_format


@dataclass(frozen=True)
class RecordingSummary:
    """Facts about one decoded recording.

    Attributes
    ----------
    path, format, format_title
        The file and the format it was decoded as.
    events
        Number of events.
    sensor
        ``(width, height, polarities)``; from the file header when it states one, else inferred.
    sensor_source
        ``"header"`` or ``"inferred from events"`` (max x + 1, max y + 1) or ``"unknown"``.
    t_first_us, t_last_us, duration_s, rate_ev_per_s
        Time span and mean event rate (None without events / zero duration).
    on_events, off_events, on_fraction
        Polarity balance.
    file_bytes
        Size on disk.
    """

    path: str
    format: str
    format_title: str
    events: int
    sensor: tuple[int, int, int] | None
    sensor_source: str
    t_first_us: int | None
    t_last_us: int | None
    duration_s: float | None
    rate_ev_per_s: float | None
    on_events: int
    off_events: int
    on_fraction: float | None
    file_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_events(events: EventArray, sensor: SensorSize | None = None) -> dict:
    """Event count, time span, rate and polarity balance of an event array."""
    n = int(events.shape[0])
    on = int(np.count_nonzero(events["p"])) if n else 0
    t0 = int(events["t"][0]) if n else None
    t1 = int(events["t"][-1]) if n else None
    dur = (t1 - t0) / 1e6 if n else None
    return {
        "events": n,
        "t_first_us": t0,
        "t_last_us": t1,
        "duration_s": dur,
        "rate_ev_per_s": (n / dur) if dur else None,
        "on_events": on,
        "off_events": n - on,
        "on_fraction": (on / n) if n else None,
    }


def summarize_file(path: str | os.PathLike[str], format: str | None = None) -> RecordingSummary:
    """Decode ``path`` and summarise it (see :class:`RecordingSummary`).

    Raises
    ------
    DecodeError, UnknownFormatError, FileNotFoundError
        As :func:`eventkit.read_events`.
    """
    p = os.fspath(path)
    name = format or guess_format(p)
    from .io import read_events

    events = read_events(p, format=name)
    fmt = FORMATS[name]
    sensor = fmt.sensor(p) if fmt.sensor is not None else None
    source = "header"
    if sensor is None:
        if events.shape[0]:
            sensor = SensorSize(int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
            source = "inferred from events"
        else:
            source = "unknown"
    return RecordingSummary(
        path=p,
        format=name,
        format_title=fmt.title,
        sensor=None if sensor is None else tuple(sensor),
        sensor_source=source,
        file_bytes=os.path.getsize(p),
        **summarize_events(events),
    )
