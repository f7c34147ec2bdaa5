"""Prophesee / Chronocam / ATIS ``.dat`` recordings (N-CARS, Gen1 automotive, NAV Gesture ``_td.dat``).

Layout
------
1. An optional ASCII header: lines starting with ``%`` (``"% keyword value"``), e.g.
   ``% Data file containing Event2D events``, ``% Version 2``, ``% Date ...``, and on Gen1
   automotive files ``% Width 304`` / ``% Height 240``.
2. Only when there is a header: two bytes, the event type and the event size in bytes.
3. Fixed-size little-endian records of 8 bytes: a 32-bit timestamp in µs, then a 32-bit address
   word whose layout depends on the header's ``Version``:

   ===================================  =========  ==========  =========
   variant                              x bits     y bits      p bit
   ===================================  =========  ==========  =========
   ``Version`` >= 2 (Event2D / CD)      0..13      14..27      28
   no ``Version`` or ``Version`` < 2    0..8       9..16       17
   ===================================  =========  ==========  =========

   (bits are of the 32-bit address word; in terms of the whole 64-bit record the legacy layout
   is x bits 32..40, y 41..48, p 49.) Bits above the polarity bit are ignored.

How the variants are told apart
-------------------------------
The ``Version`` header key decides, as in Prophesee's reference MATLAB loader
(``load_cd_events.m``), which uses the 9/8/1-bit ATIS layout for version 0/1 and the 14/14/1-bit
layout from version 2. The legacy layout is what kAER wrote for the ATIS ``_td.dat`` files of
NAV Gesture (their header has no ``Version 2``); N-CARS and the Gen1 automotive dataset declare
``Version 2``. A file with no header at all has no type/size bytes (event size 8 is assumed) and
is read with the legacy layout (version 0).

For version >= 2 the event type must be 0 (Event2D) or 12 (EventCD); for the legacy layout the
type byte is not interpreted (kAER files use their own codes). The event size must be 8.

Times and coordinates
---------------------
Timestamps are decoded as written, except that the 32-bit counter's wrap (every 71.6 minutes) is
undone: a timestamp more than ``2**31`` µs *below* the previous one adds ``2**32`` µs to it and
to every later event. Smaller decreases are left alone (NAV Gesture files contain a few out-of-order
events; dropping or re-basing them is a dataset rule, not a decoder one, and no y flip is done).
When the header states ``Width``/``Height``, an event outside that geometry raises
:class:`~eventkit.errors.DecodeError`; otherwise coordinates are bounded by their bit widths.

Errors
------
A trailing partial record, a file that ends inside the type/size bytes, an unsupported event type
or size, and out-of-sensor events raise DecodeError with the byte offset.

Speed
-----
The record count is known from the file size, so the output is allocated once; the payload is
decoded in :data:`CHUNK_BYTES` chunks by :func:`~eventkit.io._chunked.decode_chunks`, each by one
Numba loop straight into the output columns (carrying the wrap state across chunks). Peak memory
is the output plus one chunk.
"""

from __future__ import annotations

import os
import re

import numba
import numpy as np

from ..errors import DecodeError
from ..events import EventArray, SensorSize
from ._chunked import EventSink, decode_chunks
from ._common import check_file, header_end, header_fields, put_event
from ._format import EventFormat

__all__ = ["read_prophesee_dat", "FORMAT", "DECODER_VERSION", "DatHeader", "read_dat_header"]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_prophesee_dat` returns for some file (it keys cached stores)."""
CHUNK_BYTES = 1 << 20

RECORD_BYTES = 8
CD_TYPES = (0x00, 0x0C)  # Event2D, EventCD
_NO_LIMIT = 1 << 16  # above any coordinate a 14-bit field can hold


class DatHeader:
    """What a ``.dat`` header says.

    Attributes
    ----------
    data_start
        Byte offset of the first record.
    version
        The ``Version`` value (0 when absent).
    ev_type, ev_size
        The two bytes after the header (None, 8 when the file has no header).
    sensor
        ``SensorSize`` from ``Width``/``Height`` lines, or None.
    fields
        Header keywords to values.
    """

    __slots__ = ("data_start", "version", "ev_type", "ev_size", "sensor", "fields")

    def __init__(self, data_start, version, ev_type, ev_size, sensor, fields):
        self.data_start = data_start
        self.version = version
        self.ev_type = ev_type
        self.ev_size = ev_size
        self.sensor = sensor
        self.fields = fields

    @property
    def legacy(self) -> bool:
        """True for the 9/8/1-bit ATIS address layout (version < 2)."""
        return self.version < 2


def _int_field(fields: dict[str, str], key: str) -> int | None:
    m = re.match(r"\s*(\d{1,6})(?:\.\d*)?(?:\s|$)", fields.get(key, ""))
    return int(m.group(1)) if m else None


def read_dat_header(path: str) -> DatHeader:
    """Read the header of the ``.dat`` file at ``path``.

    Raises
    ------
    DecodeError
        If the file ends inside the event type/size bytes.
    """
    end, lines = header_end(path, b"%")
    fields = header_fields(lines)
    version = _int_field(fields, "version") or 0
    w, h = _int_field(fields, "width"), _int_field(fields, "height")
    sensor = SensorSize(w, h, 2) if w and h else None
    if not lines:
        return DatHeader(0, version, None, RECORD_BYTES, sensor, fields)
    with open(path, "rb") as f:
        f.seek(end)
        two = f.read(2)
    if len(two) == 0:
        # header only: an empty recording
        return DatHeader(end + 2, version, None, RECORD_BYTES, sensor, fields)
    if len(two) < 2:
        raise DecodeError(path, "file ends inside the event type/size bytes after the header", offset=end)
    return DatHeader(end + 2, version, two[0], two[1], sensor, fields)


def _looks_like_raw(lines: list[bytes]) -> bool:
    for line in lines:
        low = line.lower()
        if low.startswith(b"% evt ") or low.startswith(b"% format "):
            return True
    return False


def _sniff(head: bytes) -> bool:
    """True when ``head`` starts with a ``%`` header that is not an EVT ``.raw`` header and is followed
    by a plausible type/size byte pair (size 8), or when the header fills all of ``head``."""
    if not head.startswith(b"%"):
        return False
    pos = 0
    lines: list[bytes] = []
    while pos < len(head) and head[pos : pos + 1] == b"%":
        nl = head.find(b"\n", pos)
        if nl < 0:
            lines.append(head[pos:])
            pos = len(head)
            break
        lines.append(head[pos:nl].rstrip(b"\r"))
        pos = nl + 1
    if _looks_like_raw(lines):
        return False
    if pos + 2 > len(head):
        return True  # header only, or a header longer than what was sniffed
    return head[pos + 1] == RECORD_BYTES


def _sensor(path: str | os.PathLike[str]) -> SensorSize | None:
    """Sensor geometry from the ``Width``/``Height`` header lines, or None."""
    p = check_file(path)
    try:
        return read_dat_header(p).sensor
    except DecodeError:
        return None


@numba.njit(cache=True, nogil=True)
def _decode_chunk(words, ob, n, state, legacy, width, height):  # pragma: no cover - compiled
    """Decode pairs ``(ts, addr)`` of ``words`` into the event bytes ``ob`` (an :data:`EVENT_DTYPE`
    array's bytes, written with :func:`~eventkit.io._common.put_event`) from event ``n``.

    ``state`` = ``[previous raw ts, wrap offset]``. Returns ``(n, bad_record_index)`` where the index
    is -1 unless a record lies outside ``width`` x ``height``.
    """
    prev = state[0]
    wrap = state[1]
    nrec = words.shape[0] // 2
    bad = -1
    if legacy:
        xs, xm, ys, ym, ps = 0, 0x1FF, 9, 0xFF, 17
    else:
        xs, xm, ys, ym, ps = 0, 0x3FFF, 14, 0x3FFF, 28
    for i in range(nrec):
        ts = np.int64(words[2 * i])
        a = words[2 * i + 1]
        xx = (a >> xs) & xm
        yy = (a >> ys) & ym
        if xx >= width or yy >= height:
            bad = i
            break
        if prev >= 0 and prev - ts > 2147483648:
            wrap += np.int64(1) << 32
        prev = ts
        put_event(ob, n, wrap + ts, xx, yy, (a >> ps) & 1)
        n += 1
    state[0] = prev
    state[1] = wrap
    return n, bad


def read_prophesee_dat(path: str | os.PathLike[str]) -> EventArray:
    """Decode a Prophesee / ATIS ``.dat`` recording (see the module docstring for the variants).

    Parameters
    ----------
    path
        The ``.dat`` file.

    Returns
    -------
    EventArray
        Events in file order; t in microseconds as stored (32-bit wraps undone), x/y as stored.

    Raises
    ------
    DecodeError
        On an unsupported event type or size, a trailing partial record, or an event outside the
        ``Width`` x ``Height`` the header declares.
    FileNotFoundError
        If the file does not exist.
    """
    p = check_file(path)
    hdr = read_dat_header(p)
    if hdr.ev_size != RECORD_BYTES:
        raise DecodeError(
            p,
            f"event size {hdr.ev_size} in the header is not the 8-byte CD record eventkit decodes",
            offset=hdr.data_start - 1,
        )
    if not hdr.legacy and hdr.ev_type is not None and hdr.ev_type not in CD_TYPES:
        raise DecodeError(
            p,
            f"event type {hdr.ev_type} is not a CD event type (0 Event2D, 12 EventCD): "
            f"this .dat holds other data (e.g. external triggers)",
            offset=hdr.data_start - 2,
        )
    size = os.path.getsize(p)
    payload = max(0, size - hdr.data_start)
    nrec, rest = divmod(payload, RECORD_BYTES)
    if rest:
        raise DecodeError(
            p,
            f"the payload ({payload} bytes) is not a whole number of 8-byte records: the file is truncated",
            offset=hdr.data_start + nrec * RECORD_BYTES,
        )
    width, height = (hdr.sensor.width, hdr.sensor.height) if hdr.sensor is not None else (_NO_LIMIT, _NO_LIMIT)
    state = np.array([-1, 0], dtype=np.int64)

    def step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
        words = chunk.view("<u4")
        sink.n, bad = _decode_chunk(words, sink.raw, sink.n, state, hdr.legacy, width, height)
        if bad >= 0:
            a = int(words[2 * bad + 1])
            xx, yy = ((a & 0x1FF), (a >> 9) & 0xFF) if hdr.legacy else ((a & 0x3FFF), (a >> 14) & 0x3FFF)
            raise DecodeError(
                p,
                f"event at x={xx}, y={yy} lies outside the {width}x{height} sensor the header declares: corrupt data",
                offset=offset + RECORD_BYTES * int(bad),
            )
        return chunk.shape[0]

    return decode_chunks(p, hdr.data_start, size, step, capacity=nrec, chunk_bytes=CHUNK_BYTES, unit=RECORD_BYTES)


FORMAT = EventFormat(
    name="prophesee_dat",
    title="Prophesee .dat",
    read=read_prophesee_dat,
    version=DECODER_VERSION,
    suffixes=(".dat",),
    sniff=_sniff,
    sensor=_sensor,
)
