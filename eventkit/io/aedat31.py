"""AEDAT 3.1 (cAER / libcaer) decoder: the format of the DVS128 Gesture recordings.

Byte layout
-----------
* **Header.** ASCII lines starting with ``#`` and ending with ``\\r\\n``: ``#!AER-DAT3.1`` first,
  then e.g. ``#Format: RAW``, ``#Source 1: DVS128``, ``#Start-Time: ...``, and finally
  ``#!END-HEADER``. A file whose header never reaches ``#!END-HEADER`` is truncated
  (:class:`~eventkit.errors.DecodeError`). ``#!AER-DAT3.0`` is accepted too: iniVation's own legacy
  reader (dv-python ``LegacyAedatFile``) parses every 3.x file with the same packet layout.
* **Packets**, back to back until the end of the file. Each is a 28-byte little-endian header::

      offset  type  field
      0       u16   eventType       (1 = polarity; 0 special, 2 frame, 3 IMU6, ... are skipped)
      2       u16   eventSource     (the N of a '#Source N: NAME' header line)
      4       u32   eventSize       (bytes per event; 8 for polarity)
      8       u32   eventTSOffset   (byte offset of the timestamp inside an event; 4 for polarity)
      12      u32   eventTSOverflow (high bits of time: t = ts | overflow << 31)
      16      u32   eventCapacity   (events the packet could hold)
      20      u32   eventNumber     (events present, valid or not)
      24      u32   eventValid      (events with the valid bit set)

  followed by the payload. Per the libcaer spec the payload is ``eventNumber * eventSize`` bytes
  (``eventCapacity`` is the size of the in-memory buffer; cAER writes packets trimmed so that the
  two are equal). SpikingJelly, Tonic and dv-python read ``eventCapacity`` events instead; on files
  written by cAER (DVS128 Gesture) and by ``make_synthetic_dvsgesture.py`` both are equal, so the
  results agree. A header with ``eventNumber > eventCapacity`` or ``eventValid > eventNumber`` is
  impossible and raises DecodeError.
* **Polarity event** (type 1), 8 bytes little-endian: ``u32 data`` (bit 0 valid, bit 1 polarity
  with 1 = ON, bits 2..16 y, bits 17..31 x) then ``u32 timestamp`` (µs). ``t = ts | overflow << 31``
  (int64). Events whose valid bit is clear were invalidated by a filter upstream and are
  **dropped**, as libcaer's iterators do (SpikingJelly keeps them; real DVS128 Gesture files have
  every event valid). Coordinates are raw (no flip).

Polarity packets of every source are decoded, in file order. A source's sensor size comes from
its ``#Source N: NAME`` line (see :data:`SOURCES`); when all declared sources share one size, it
also applies to packets that name an undeclared source. An event outside its sensor raises
DecodeError. Non-polarity packets are skipped by their declared size without being read.

Memory: the payload is decoded in :data:`CHUNK_BYTES` chunks by
:func:`~eventkit.io._chunked.decode_chunks` (a packet header or event cut by the end of a chunk is
handed back at the front of the next one; skipped packets are seeked over); the output is
allocated once for the largest possible event count (file size / 8) and trimmed, and pages of it
that are never written are never touched, so peak RSS is about the output plus one chunk.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

import numba
import numpy as np

from ..errors import DecodeError
from ..events import EventArray, SensorSize
from ._chunked import EventSink, decode_chunks
from ._common import check_file, load_u32le, put_event
from ._format import EventFormat

__all__ = [
    "FORMAT", "DECODER_VERSION", "SOURCES", "Aedat31Header", "read_aedat31", "read_aedat31_header", "source_sensor"
]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_aedat31` returns for some file (it keys cached stores)."""
CHUNK_BYTES = 1 << 19

MAGICS = (b"#!AER-DAT3.1", b"#!AER-DAT3.0")
END_HEADER = b"#!END-HEADER"
PACKET_HEADER = 28
POLARITY = 1
HEADER_LIMIT = 1 << 24

# cAER/libcaer source names (upper-cased, spaces/underscores removed) -> sensor; longest first
SOURCES: tuple[tuple[str, int, int], ...] = (
    ("DVXPLORERLITE", 320, 240),
    ("DVXPLORER", 640, 480),
    ("DAVISHET640", 640, 480),
    ("DAVIS640", 640, 480),
    ("DAVIS346", 346, 260),
    ("DAVIS240", 240, 180),
    ("DAVIS208", 208, 192),
    ("DAVIS128", 128, 128),
    ("DVS128", 128, 128),
    ("EDVS", 128, 128),
)

_SOURCE_LINE = re.compile(rb"^#Source\s+(\d+)\s*:\s*(.*?)\s*$")


def source_sensor(name: str) -> SensorSize | None:
    """Sensor size of a cAER source name such as ``"DVS128"`` or ``"DAVIS346B"`` (None if unknown)."""
    key = re.sub(r"[\s_\-]", "", name).upper()
    for prefix, w, h in SOURCES:
        if key.startswith(prefix):
            return SensorSize(w, h, 2)
    return None


class Aedat31Header(NamedTuple):
    """What the text header of an AEDAT 3.x file says."""

    data_start: int
    version: str
    lines: list[bytes]
    sources: dict[int, str]

    def sensor(self) -> SensorSize | None:
        """The one sensor size shared by all declared sources, or None (none known or several)."""
        sizes = {source_sensor(n) for n in self.sources.values()}
        if len(sizes) == 1:
            return sizes.pop()
        return None


def read_aedat31_header(path: str | os.PathLike[str]) -> Aedat31Header:
    """Parse the text header up to and including ``#!END-HEADER``.

    Raises
    ------
    DecodeError
        Wrong magic line, a non-``#`` line inside the header, or no ``#!END-HEADER``.
    """
    p = check_file(path)
    lines: list[bytes] = []
    sources: dict[int, str] = {}
    pos = 0
    with open(p, "rb") as f:
        first = f.read(len(MAGICS[0]))
        if first not in MAGICS:
            raise DecodeError(
                p, f"not an AEDAT 3.1 file: it starts with {first!r}, expected {MAGICS[0]!r}", offset=0
            )
        version = first[len(b"#!AER-DAT") :].decode()
        f.seek(0)
        while True:
            if pos > HEADER_LIMIT:
                raise DecodeError(p, f"no {END_HEADER.decode()} line in the first {HEADER_LIMIT} bytes", offset=pos)
            line = f.readline(1 << 16)
            if not line:
                raise DecodeError(p, f"truncated header: the file ends before the {END_HEADER.decode()} line", offset=pos)
            if line[:1] != b"#":
                raise DecodeError(
                    p, f"corrupt header: a line inside the header does not start with '#' (no {END_HEADER.decode()} before it)",
                    offset=pos,
                )
            if not line.endswith(b"\n"):
                if len(line) >= 1 << 16:
                    raise DecodeError(p, "corrupt header: a header line longer than 64 KiB", offset=pos)
                raise DecodeError(p, f"truncated header: the file ends inside a header line, before {END_HEADER.decode()}", offset=pos)
            body = line.rstrip(b"\r\n")
            pos += len(line)
            if body == END_HEADER:
                break
            lines.append(body)
            m = _SOURCE_LINE.match(body)
            if m:
                sources[int(m.group(1))] = m.group(2).decode("utf-8", "replace")
    return Aedat31Header(pos, version, lines, sources)


# kernel state slots
_REM_EVENTS, _REM_SKIP, _OVERFLOW, _W, _H, _PACKET_AT = range(6)
# kernel error codes
_OK, _E_COORD, _E_SIZE, _E_TSOFF, _E_COUNTS, _E_NEG = range(6)


@numba.njit(nogil=True, inline="always")
def _le32(b, i):
    return np.int64(load_u32le(b, i))


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _run_polarity(buf, j, end, w, h, ov, ob, n):
    """Decode the polarity events in ``buf[j:end]`` into ``ob`` from index ``n``; stop at an event
    outside ``w`` x ``h``. Returns ``(offset reached, n)``: ``end``, or the bad event's offset."""
    while j < end:
        d = _le32(buf, j)
        if d & 1:  # invalidated events (valid bit clear) are dropped
            x = d >> 17
            y = (d >> 2) & 0x7FFF
            if x >= w or y >= h:
                break
            put_event(ob, n, _le32(buf, j + 4) | ov, x, y, (d >> 1) & 1)
            n += 1
        j += 8
    return j, n


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _decode_packets(buf, nbuf, base, wlim, hlim, ob, n, st):
    """Decode as much of ``buf[:nbuf]`` (file offset ``base``) as is complete.

    A packet may span several calls: ``st`` carries the events / bytes left in the current
    packet and its overflow and sensor limits. Events go to ``ob``, the bytes of an EVENT_DTYPE
    array (see :func:`~eventkit.io._common.put_event`), from index ``n``.
    Returns ``(consumed, n, error, error_offset)``.
    """
    pos = 0
    while True:
        rem = st[_REM_EVENTS]
        if rem > 0:
            k = (nbuf - pos) // 8
            if k > rem:
                k = rem
            j, n = _run_polarity(buf, pos, pos + k * 8, st[_W], st[_H], st[_OVERFLOW], ob, n)
            if j < pos + k * 8:
                return pos, n, _E_COORD, base + j
            pos += k * 8
            st[_REM_EVENTS] = rem - k
            if rem - k > 0:
                return pos, n, _OK, 0  # need more bytes
            continue
        skip = st[_REM_SKIP]
        if skip > 0:
            k = nbuf - pos
            if k > skip:
                k = skip
            pos += k
            st[_REM_SKIP] = skip - k
            if skip - k > 0:
                return pos, n, _OK, 0
            continue
        if nbuf - pos < PACKET_HEADER:
            return pos, n, _OK, 0
        word = _le32(buf, pos)
        etype = word & 0xFFFF
        src = word >> 16
        size = _le32(buf, pos + 4)
        tsoff = _le32(buf, pos + 8)
        ovf = _le32(buf, pos + 12)
        cap = _le32(buf, pos + 16)
        num = _le32(buf, pos + 20)
        valid = _le32(buf, pos + 24)
        at = base + pos
        st[_PACKET_AT] = at
        # the fields are int32 in libcaer: a set sign bit is corruption
        if (size | tsoff | ovf | cap | num | valid) & 0x80000000:
            return pos, n, _E_NEG, at
        if num > cap or valid > num:
            return pos, n, _E_COUNTS, at
        pos += PACKET_HEADER
        if etype == 1:
            if size != 8:
                return pos - PACKET_HEADER, n, _E_SIZE, at
            if tsoff != 4:
                return pos - PACKET_HEADER, n, _E_TSOFF, at
            st[_REM_EVENTS] = num
            st[_OVERFLOW] = ovf << 31
            st[_W] = wlim[src]
            st[_H] = hlim[src]
        else:
            st[_REM_SKIP] = num * size


_ERRORS = {
    _E_SIZE: "polarity packet declares eventSize {size} (must be 8)",
    _E_TSOFF: "polarity packet declares eventTSOffset {tsoff} (must be 4)",
    _E_COUNTS: "impossible packet header: eventNumber {num} > eventCapacity {cap} or eventValid {valid} > eventNumber",
    _E_NEG: "corrupt packet header: a size/count field is negative as int32 ({fields})",
}


def _limits(hdr: Aedat31Header) -> tuple[np.ndarray, np.ndarray]:
    """Per-source (x, y) upper bounds; 32768 (no bound beyond the 15-bit fields) where unknown."""
    shared = hdr.sensor()
    default_w, default_h = (shared.width, shared.height) if shared is not None else (1 << 15, 1 << 15)
    wlim = np.full(1 << 16, default_w, dtype=np.int64)
    hlim = np.full(1 << 16, default_h, dtype=np.int64)
    for sid, name in hdr.sources.items():
        s = source_sensor(name)
        if s is not None and 0 <= sid < (1 << 16):
            wlim[sid], hlim[sid] = s.width, s.height
    return wlim, hlim


def read_aedat31(path: str | os.PathLike[str]) -> EventArray:
    """Decode the polarity events of an AEDAT 3.1 (cAER) recording, e.g. a DVS128 Gesture trial.

    Parameters
    ----------
    path
        The ``.aedat`` file (first line ``#!AER-DAT3.1``).

    Returns
    -------
    EventArray
        Valid polarity events of all sources in file order; t in µs (``ts | overflow << 31``).

    Raises
    ------
    DecodeError
        Bad or truncated header, truncated packet header or payload, an impossible packet
        header, or an event outside the sensor its source declares (the offset is given).
    """
    p = check_file(path)
    hdr = read_aedat31_header(p)
    size = os.path.getsize(p)
    wlim, hlim = _limits(hdr)
    st = np.zeros(6, dtype=np.int64)
    st[_PACKET_AT] = -1
    tail = [hdr.data_start, 0]  # file offset and length of the bytes left unconsumed

    def step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
        nbuf = chunk.shape[0]
        used, sink.n, err, at = _decode_packets(chunk, nbuf, offset, wlim, hlim, sink.raw, sink.n, st)
        if err:
            _raise(p, err, at, chunk, offset)
        if st[_REM_SKIP] > 0:  # the rest of a skipped packet: seek over it
            target = offset + nbuf + int(st[_REM_SKIP])
            if target > size:
                raise DecodeError(
                    p, f"truncated packet payload: the packet declares {target - int(st[_PACKET_AT]) - PACKET_HEADER} "
                    f"bytes but the file ends after {size - int(st[_PACKET_AT]) - PACKET_HEADER}",
                    offset=int(st[_PACKET_AT]),
                )
            st[_REM_SKIP] = 0
            tail[:] = target, 0
            return target - offset
        tail[:] = offset + used, nbuf - used
        return used

    # the output is sized for the largest possible event count; pages never written are never touched
    events = decode_chunks(
        p, hdr.data_start, size, step, capacity=max(0, size - hdr.data_start) // 8, chunk_bytes=CHUNK_BYTES,
        keep=PACKET_HEADER - 1,
    )
    if st[_REM_EVENTS] > 0:
        raise DecodeError(
            p, f"truncated packet payload: {int(st[_REM_EVENTS])} polarity event(s) of the packet missing at the end of the file",
            offset=int(st[_PACKET_AT]),
        )
    if tail[1]:
        raise DecodeError(
            p, f"truncated packet header: {tail[1]} byte(s) at the end of the file, a header needs 28", offset=tail[0]
        )
    return events


def _raise(path: str, err: int, at: int, buf: np.ndarray, base: int) -> None:
    if err == _E_COORD:
        rel = at - base
        d = int.from_bytes(buf[rel : rel + 4].tobytes(), "little")
        x, y = d >> 17, (d >> 2) & 0x7FFF
        raise DecodeError(path, f"polarity event at x={x}, y={y} lies outside the sensor its '#Source' header line declares", offset=at)
    rel = at - base
    h = buf[rel : rel + PACKET_HEADER].tobytes()
    _, _, size, tsoff, ovf, cap, num, valid = np.frombuffer(h, dtype=np.dtype("<u2,<u2,<u4,<u4,<u4,<u4,<u4,<u4"))[0].tolist()
    fields = f"eventSize={size}, eventTSOverflow={ovf}, eventCapacity={cap}, eventNumber={num}, eventValid={valid}"
    msg = _ERRORS[err].format(size=size, tsoff=tsoff, num=num, cap=cap, valid=valid, fields=fields)
    raise DecodeError(path, msg, offset=at)


def _sniff(head: bytes) -> bool:
    return head.startswith(MAGICS)


def _sensor(path: str | os.PathLike[str]) -> SensorSize | None:
    return read_aedat31_header(path).sensor()


FORMAT = EventFormat(
    name="aedat31",
    title="AEDAT 3.1 (cAER)",
    read=read_aedat31,
    version=DECODER_VERSION,
    # '.aedat' is shared with AEDAT 2.0; the '#!AER-DAT3.1' / '#!AER-DAT2.0' first line decides
    # (sniffing runs before suffixes). '.aedat' sits on this format only, so suffix lookup is
    # unambiguous; DVS128 Gesture, the main '.aedat' dataset, is AEDAT 3.1.
    suffixes=(".aedat",),
    sniff=_sniff,
    sensor=_sensor,
)
