"""Write events as jAER AEDAT 2.0: the layouts :mod:`eventkit.io.aedat2` reads (for tests and benchmarks).

Header: ``#!AER-DAT2.0``, two comment lines as jAER writes them, ``# AEChip: <class>`` (CRLF line
ends). Records: big-endian ``uint32 address, uint32 timestamp``.

* ``layout="dvs128"``: address = ``y << 8 | x << 1 | (1 - p)`` (raw polarity bit 0 = ON),
  timestamp = ``t mod 2**32`` (jAER's 32-bit counter).
* ``layout="davis"``: address = ``y << 22 | x << 12 | p << 11``, timestamp = ``t mod 2**31``
  (libcaer's 31-bit counter).

The reader undoes the wrap exactly when t is non-decreasing and consecutive events are less
than 2**30 µs apart (see :mod:`eventkit.io.aedat2`).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import EventFormatError, OptionError
from ..events import EventArray, validate_events
from .aedat2 import resolve_chip

__all__ = ["write_aedat2"]

_DEFAULT_CHIP = {
    "dvs128": "ch.unizh.ini.jaer.chip.retina.DVS128",
    "davis": "eu.seebetter.ini.chips.davis.DAVIS240C",
}
_BATCH = 1 << 20


def write_aedat2(
    path: str | os.PathLike[str],
    events: EventArray,
    layout: str = "dvs128",
    *,
    chip: str | None = None,
) -> None:
    """Write ``events`` as an AEDAT 2.0 file (atomically: temp file + rename).

    Parameters
    ----------
    path
        Destination.
    events
        :data:`~eventkit.events.EVENT_DTYPE` array, t >= 0.
    layout
        ``"dvs128"`` or ``"davis"``.
    chip
        Java class for the ``# AEChip:`` line; defaults to jAER's DVS128 or DAVIS240C class. It must
        be a chip of ``layout`` (see the chip table in :mod:`eventkit.io.aedat2`); its sensor
        bounds x and y.

    Raises
    ------
    ValueError
        Unknown layout, or a chip of another layout.
    EventFormatError
        Coordinates outside the chip's sensor or negative timestamps.
    """
    if layout not in _DEFAULT_CHIP:
        raise OptionError(f"layout must be 'dvs128' or 'davis', got {layout!r}")
    chip = chip or _DEFAULT_CHIP[layout]
    resolved = resolve_chip(chip)
    if resolved.layout != layout or resolved.sensor is None:
        raise OptionError(f"chip {chip!r} is not a known {layout} chip")
    validate_events(events, resolved.sensor)
    if events.size and int(events["t"].min()) < 0:
        raise EventFormatError("AEDAT 2.0 cannot store negative timestamps")
    header = (
        "#!AER-DAT2.0\r\n"
        "# This is a raw AE data file - do not edit\r\n"
        "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
        "# Timestamps tick is 1 us\r\n"
        f"# AEChip: {chip}\r\n"
    ).encode("ascii")
    target = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".aedat", dir=os.path.dirname(os.path.abspath(target)))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(header)
            for lo in range(0, events.shape[0], _BATCH):
                ev = events[lo : lo + _BATCH]
                x = ev["x"].astype(np.uint32)
                y = ev["y"].astype(np.uint32)
                p = ev["p"].astype(np.uint32)
                rec = np.empty((ev.shape[0], 2), dtype=">u4")
                if layout == "dvs128":
                    rec[:, 0] = (y << 8) | (x << 1) | (1 - p)
                    rec[:, 1] = (ev["t"] & 0xFFFFFFFF).astype(np.uint32)
                else:
                    rec[:, 0] = (y << 22) | (x << 12) | (p << 11)
                    rec[:, 1] = (ev["t"] & 0x7FFFFFFF).astype(np.uint32)
                fh.write(rec.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
