"""Write events as AEDAT 3.1 (cAER) polarity packets: the layout :mod:`eventkit.io.aedat31` reads.

The file is ``#!AER-DAT3.1``, ``#Format: RAW``, ``#Source 1: <source>``, an optional
``#Start-Time`` line and ``#!END-HEADER`` (CRLF line ends), then one polarity packet (type 1,
source 1, eventSize 8, eventTSOffset 4, capacity = number = valid = count) per group of events.
A new packet starts every ``packet_interval_us`` of event time (measured from the first event,
like libcaer's container interval), after ``max_packet_events`` events, and wherever
``t >> 31`` changes, because all events of a packet share one ``eventTSOverflow``.
The file appears atomically: it is written to a temporary file beside ``path`` and renamed.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import EventFormatError, OptionError
from ..events import EventArray, validate_events
from .aedat31 import source_sensor

__all__ = ["write_aedat31", "packet_bounds"]

_BATCH_EVENTS = 1 << 20  # events encoded per write, to bound memory


def packet_bounds(t: np.ndarray, interval_us: int, max_events: int) -> np.ndarray:
    """Start index of every packet plus the final end index (``len(t)``).

    Packets break where ``(t - t[0]) // interval_us`` or ``t >> 31`` changes, and every
    ``max_events`` events within a run.
    """
    n = t.shape[0]
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    t = t.astype(np.int64, copy=False)
    key_change = np.diff((t - t[0]) // interval_us) != 0
    key_change |= np.diff(t >> 31) != 0
    starts = np.concatenate(([0], np.flatnonzero(key_change) + 1)).astype(np.int64)
    ends = np.append(starts[1:], n)
    lengths = ends - starts
    pieces = -(-lengths // max_events)  # packets per run
    first = np.repeat(starts, pieces)
    within = np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    return np.append(first + within * max_events, n).astype(np.int64)


def write_aedat31(
    path: str | os.PathLike[str],
    events: EventArray,
    *,
    source: str = "DVS128",
    packet_interval_us: int = 10_000,
    max_packet_events: int = 8192,
    start_time: str | None = None,
) -> int:
    """Write ``events`` to ``path`` as an AEDAT 3.1 file.

    Parameters
    ----------
    path
        Destination; replaced atomically if it exists.
    events
        :data:`~eventkit.events.EVENT_DTYPE` array in the order to store (normally sorted by t).
    source
        cAER source name written on the ``#Source 1:`` line (e.g. ``"DVS128"``, ``"DAVIS346B"``);
        its sensor size bounds x and y.
    packet_interval_us, max_packet_events
        Packet cutting rules (libcaer's defaults).
    start_time
        Text for a ``#Start-Time:`` line (cAER writes ``%Y-%m-%d %H:%M:%S (TZ%z)``); omitted when
        None so that the same events always give the same bytes.

    Returns
    -------
    int
        The number of packets written.

    Raises
    ------
    EventFormatError
        Wrong dtype, coordinates outside the source's sensor, or negative timestamps.
    ValueError
        Unknown ``source`` or non-positive packet limits.
    """
    sensor = source_sensor(source)
    if sensor is None:
        raise OptionError(f"unknown AEDAT 3.1 source {source!r}; use e.g. 'DVS128', 'DAVIS240C', 'DAVIS346B'")
    if packet_interval_us <= 0 or max_packet_events <= 0:
        raise OptionError("packet_interval_us and max_packet_events must be positive")
    validate_events(events, sensor)
    t = events["t"]
    if t.size and int(t.min()) < 0:
        raise EventFormatError("AEDAT 3.1 cannot store negative timestamps; shift t to start at 0 or later")
    if t.size and int(t.max()) >> 31 >= 1 << 31:
        raise EventFormatError("timestamps beyond 2**62 µs do not fit AEDAT 3.1's 31-bit overflow counter")
    lines = ["#!AER-DAT3.1", "#Format: RAW", f"#Source 1: {source}"]
    if start_time is not None:
        lines.append(f"#Start-Time: {start_time}")
    lines.append("#!END-HEADER")
    header = "".join(line + "\r\n" for line in lines).encode("ascii")

    bounds = packet_bounds(t, packet_interval_us, max_packet_events)
    n_packets = bounds.shape[0] - 1
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".aedat", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(header)
            first = 0
            while first < n_packets:
                # a batch of whole packets, about _BATCH_EVENTS events
                last = int(np.searchsorted(bounds, bounds[first] + _BATCH_EVENTS, side="right")) - 1
                last = min(max(last, first + 1), n_packets)
                fh.write(_encode(events, bounds[first : last + 1]))
                first = last
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return n_packets


def _encode(events: EventArray, bounds: np.ndarray) -> bytes:
    """Packets for events ``bounds[0]:bounds[-1]`` cut at ``bounds``, as little-endian words."""
    lo, hi = int(bounds[0]), int(bounds[-1])
    counts = np.diff(bounds)
    n_pk = counts.shape[0]
    words_per_pk = 7 + 2 * counts
    pk_at = np.concatenate(([0], np.cumsum(words_per_pk)[:-1]))
    out = np.empty(int(words_per_pk.sum()), dtype="<u4")
    ev = events[lo:hi]
    t = ev["t"].astype(np.int64)
    hdr = np.empty((n_pk, 7), dtype="<u4")
    hdr[:, 0] = 1 | (1 << 16)  # eventType 1 (polarity), eventSource 1
    hdr[:, 1] = 8  # eventSize
    hdr[:, 2] = 4  # eventTSOffset
    hdr[:, 3] = (t[bounds[:-1] - lo] >> 31).astype(np.uint32)  # eventTSOverflow
    hdr[:, 4] = counts  # eventCapacity
    hdr[:, 5] = counts  # eventNumber
    hdr[:, 6] = counts  # eventValid
    out[(pk_at[:, None] + np.arange(7)).ravel()] = hdr.ravel()
    pk_of = np.repeat(np.arange(n_pk), counts)
    pos = pk_at[pk_of] + 7 + 2 * (np.arange(hi - lo) - (bounds[:-1][pk_of] - lo))
    out[pos] = (
        (ev["x"].astype(np.uint32) << 17) | (ev["y"].astype(np.uint32) << 2) | (ev["p"].astype(np.uint32) << 1) | 1
    )
    out[pos + 1] = (t & 0x7FFFFFFF).astype(np.uint32)
    return out.tobytes()
