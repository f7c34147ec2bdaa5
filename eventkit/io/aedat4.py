"""AEDAT 4.0 decoder (iniVation DV software, ``.aedat4``).

Layout of a file, as this module reads it (all integers little-endian):

1. The 14-byte version line ``#!AER-DAT4.0\\r\\n``.
2. An ``int32`` N, then N bytes holding an ``IOHeader`` FlatBuffer (plain, not size-prefixed,
   file identifier ``IOHE``) with three fields: ``compression`` (int32 enum: 0 none, 1 LZ4,
   2 LZ4 high, 3 Zstandard, 4 Zstandard high; one codec for the whole file),
   ``dataTablePosition`` (int64 byte offset of the packet index, -1 when the recording was not
   closed cleanly) and ``infoNode`` (an XML string). The XML has one ``<node name="ID">`` per
   stream under ``outInfo``, whose ``typeIdentifier`` attribute names the payload type
   (``EVTS`` polarity events, ``FRME`` frames, ``IMUS`` inertial samples, ``TRIG`` triggers, ...)
   and whose ``info`` child node carries ``sizeX`` / ``sizeY`` for sensor streams.
3. Packets, back to back up to the data table (or the end of the file): an ``int32`` stream id,
   an ``int32`` payload size, then the payload compressed with the header's codec (LZ4 *frame*
   format, Zstandard frame, or raw). Decompressed, the payload is a size-prefixed FlatBuffer;
   for ``EVTS`` streams its root table ``EventPacket`` has a single field, a vector of 16-byte
   ``Event`` structs: ``int64`` timestamp (µs, absolute), ``int16`` x, ``int16`` y, ``bool``
   polarity and 3 bytes of padding.
4. Optionally, at ``dataTablePosition`` and running to the end of the file, the
   ``FileDataTable``: the same codec applied to a size-prefixed FlatBuffer whose root holds a
   vector of ``FileDataDefinition`` tables (byte offset, {stream id, size} struct, element count,
   first/last timestamp), one per packet. It is used here only to size the output exactly.

The reader walks the packets in file order, skips (without decompressing) every packet that does
not belong to the selected events stream, decompresses one packet at a time and copies its events
into the output with a Numba kernel that also checks every coordinate against the sensor the
header declares. FlatBuffers are read by the small bounds-checked helpers below, so a corrupt
offset becomes a :class:`~eventkit.errors.DecodeError` instead of a read past a buffer.
"""

from __future__ import annotations

import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import NamedTuple

import lz4.frame
import numba
import numpy as np
import zstandard

from ..errors import DecodeError, OptionError
from ..events import EventArray, SensorSize
from ._common import allowed_bytes, alloc, check_declared, check_file, trim
from ._format import EventFormat

__all__ = ["read_aedat4", "aedat4_streams", "AedatStream", "FORMAT", "DECODER_VERSION"]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_aedat4` returns for some file (it keys cached stores)."""

MAGIC = b"#!AER-DAT4.0"
_VERSION_LINE = MAGIC + b"\r\n"
_HEADER_START = len(_VERSION_LINE) + 4  # version line + int32 header size
_MAX_HEADER_BYTES = 1 << 26
# A single decompressed packet (or data table) larger than this is treated as corrupt; DV writes
# packets of a few kB to a few MB.
_MAX_PACKET_BYTES = 1 << 30
_EVENT_BYTES = 16
_COMPRESSION_NAMES = ("none", "LZ4", "LZ4_HIGH", "ZSTD", "ZSTD_HIGH")

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_I64 = struct.Struct("<q")
_PACKET_HEADER = struct.Struct("<ii")


class AedatStream(NamedTuple):
    """One stream declared in the header's info XML.

    Attributes
    ----------
    id
        Stream id, as written before each of its packets.
    type
        Four-letter FlatBuffer identifier of the payload (``"EVTS"`` for polarity events).
    width, height
        ``sizeX`` / ``sizeY`` from the stream's ``info`` node, or None when absent.
    """

    id: int
    type: str
    width: int | None
    height: int | None


class _Header(NamedTuple):
    compression: int
    table_pos: int  # -1 when the file has no data table
    data_start: int  # offset of the first packet
    file_size: int
    streams: dict[int, AedatStream]


# --------------------------------------------------------------------------------------------
# Minimal, bounds-checked FlatBuffer access
# --------------------------------------------------------------------------------------------


class _FlatError(Exception):
    """Internal: a FlatBuffer offset or size points outside its buffer."""


def _fb_u32(buf: bytes, pos: int) -> int:
    if pos < 0 or pos + 4 > len(buf):
        raise _FlatError(f"offset {pos} + 4 is outside a {len(buf)}-byte buffer")
    return _U32.unpack_from(buf, pos)[0]


def _fb_table(buf: bytes, base: int) -> tuple[int, int, int]:
    """Locate the root table of the buffer starting at ``base``.

    Returns ``(table_pos, vtable_pos, vtable_size)``.
    """
    table = base + _fb_u32(buf, base)
    return (table, *_fb_vtable(buf, table))


def _fb_vtable(buf: bytes, table: int) -> tuple[int, int]:
    if table < 0 or table + 4 > len(buf):
        raise _FlatError(f"table at {table} is outside a {len(buf)}-byte buffer")
    vt = table - _I32.unpack_from(buf, table)[0]
    if vt < 0 or vt + 4 > len(buf):
        raise _FlatError(f"vtable at {vt} is outside a {len(buf)}-byte buffer")
    vt_size = _U16.unpack_from(buf, vt)[0]
    if vt_size < 4 or vt_size % 2 or vt + vt_size > len(buf):
        raise _FlatError(f"vtable at {vt} declares an impossible size {vt_size}")
    return vt, vt_size


def _fb_field(buf: bytes, table: int, vt: int, vt_size: int, index: int, width: int) -> int:
    """Absolute position of field ``index`` (``width`` bytes wide), or -1 when it is absent."""
    slot = 4 + 2 * index
    if slot + 2 > vt_size:
        return -1
    rel = _U16.unpack_from(buf, vt + slot)[0]
    if rel == 0:
        return -1
    pos = table + rel
    if pos + width > len(buf):
        raise _FlatError(f"field {index} at {pos} is outside a {len(buf)}-byte buffer")
    return pos


def _fb_vector(buf: bytes, field_pos: int, elem_size: int) -> tuple[int, int]:
    """Follow the offset at ``field_pos`` to a vector; return ``(first_element_pos, length)``."""
    vec = field_pos + _fb_u32(buf, field_pos)
    n = _fb_u32(buf, vec)
    start = vec + 4
    if start + n * elem_size > len(buf):
        raise _FlatError(f"vector at {vec} of {n} x {elem_size} bytes runs past the {len(buf)}-byte buffer")
    return start, n


def _fb_base(buf: bytes, ident: bytes) -> int:
    """Where the root offset of a (possibly size-prefixed) FlatBuffer is.

    DV writes every packet size-prefixed: a ``uint32`` equal to the rest of the buffer's length.
    """
    if len(buf) >= 8 and _U32.unpack_from(buf, 0)[0] == len(buf) - 4:
        return 4
    if buf[4:8] == ident:
        return 0
    raise _FlatError(f"buffer of {len(buf)} bytes is neither size-prefixed nor tagged {ident.decode()!r}")


# --------------------------------------------------------------------------------------------
# Header
# --------------------------------------------------------------------------------------------


def _parse_info_xml(path: str, xml: bytes, offset: int) -> dict[int, AedatStream]:
    text = xml.split(b"\0", 1)[0]
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise DecodeError(path, f"the header's info XML is malformed ({e})", offset) from None
    streams: dict[int, AedatStream] = {}
    for node in root.iter("node"):
        name = node.get("name", "")
        attrs = {a.get("key"): (a.text or "").strip() for a in node.findall("attr")}
        # ASCII digits only: str.isdigit() also accepts '²', which int() refuses
        if not (name.isascii() and name.isdigit() and len(name) <= 9) or "typeIdentifier" not in attrs:
            continue
        info = next((c for c in node.findall("node") if c.get("name") == "info"), None)
        size: list[int | None] = [None, None]
        if info is not None:
            for a in info.findall("attr"):
                key = a.get("key")
                if key in ("sizeX", "sizeY"):
                    try:
                        v = int((a.text or "").strip())
                    except ValueError:
                        raise DecodeError(path, f"stream {name}: {key} is not an integer", offset) from None
                    if not 0 < v <= 32768:
                        raise DecodeError(path, f"stream {name}: {key} = {v} is not a valid sensor size", offset)
                    size[key == "sizeY"] = v
        sid = int(name)
        streams[sid] = AedatStream(sid, attrs["typeIdentifier"], size[0], size[1])
    return streams


def _read_header(path: str, f) -> _Header:
    file_size = os.fstat(f.fileno()).st_size
    head = f.read(_HEADER_START)
    if not head.startswith(MAGIC):
        raise DecodeError(path, "not an AEDAT 4.0 file (missing '#!AER-DAT4.0' version line)", 0)
    if len(head) < _HEADER_START:
        raise DecodeError(path, "file ends inside the AEDAT 4.0 version line / header size", len(head))
    if head[: len(_VERSION_LINE)] != _VERSION_LINE:
        raise DecodeError(path, "the AEDAT 4.0 version line does not end in '\\r\\n'", len(MAGIC))
    size = _I32.unpack_from(head, len(_VERSION_LINE))[0]
    if size <= 0 or size > _MAX_HEADER_BYTES or _HEADER_START + size > file_size:
        raise DecodeError(
            path, f"header size {size} is impossible for a {file_size}-byte file", len(_VERSION_LINE)
        )
    buf = f.read(size)
    if len(buf) != size:
        raise DecodeError(path, "file ends inside the header", _HEADER_START + len(buf))
    try:
        table, vt, vt_size = _fb_table(buf, 0)
        pos = _fb_field(buf, table, vt, vt_size, 0, 4)
        compression = 0 if pos < 0 else _I32.unpack_from(buf, pos)[0]
        pos = _fb_field(buf, table, vt, vt_size, 1, 8)
        table_pos = -1 if pos < 0 else _I64.unpack_from(buf, pos)[0]
        pos = _fb_field(buf, table, vt, vt_size, 2, 4)
        if pos < 0:
            xml = b""
        else:
            start, n = _fb_vector(buf, pos, 1)
            xml = bytes(buf[start : start + n])
    except _FlatError as e:
        raise DecodeError(path, f"corrupt IOHeader FlatBuffer: {e}", _HEADER_START) from None
    if not 0 <= compression < len(_COMPRESSION_NAMES):
        raise DecodeError(path, f"unknown compression type {compression} in the header", _HEADER_START)
    data_start = _HEADER_START + size
    if table_pos < 0:
        table_pos = -1
    elif table_pos < data_start or table_pos > file_size:
        raise DecodeError(
            path,
            f"the header puts the data table at byte {table_pos}, outside the packet area "
            f"[{data_start}, {file_size}]",
            _HEADER_START,
        )
    streams = _parse_info_xml(path, xml, _HEADER_START) if xml else {}
    return _Header(compression, table_pos, data_start, file_size, streams)


def _pick_stream(path: str, hdr: _Header, stream: int | None) -> AedatStream:
    events = sorted(s.id for s in hdr.streams.values() if s.type == "EVTS")
    if stream is None:
        if not events:
            found = ", ".join(f"{s.id}:{s.type}" for s in hdr.streams.values()) or "none"
            raise DecodeError(
                path, f"no events stream (typeIdentifier 'EVTS') is declared in the header; streams: {found}",
                _HEADER_START,
            )
        return hdr.streams[events[0]]
    s = hdr.streams.get(int(stream))
    if s is None or s.type != "EVTS":
        raise OptionError(f"{path}: stream {stream} is not an events stream; events streams: {events}")
    return s


def aedat4_streams(path: str | os.PathLike[str]) -> dict[int, AedatStream]:
    """List the streams an AEDAT 4.0 file declares in its header.

    Parameters
    ----------
    path
        The recording.

    Returns
    -------
    dict[int, AedatStream]
        Stream id -> description (type identifier and sensor size).
    """
    p = check_file(path)
    with open(p, "rb") as f:
        return _read_header(p, f).streams


def _sensor(path: str | os.PathLike[str]) -> SensorSize | None:
    """Sensor geometry of the lowest-id events stream, from the header's ``sizeX`` / ``sizeY``.

    Returns
    -------
    SensorSize or None
        ``(sizeX, sizeY, 2)``, or None when the file declares no events stream or no size.
    """
    p = check_file(path)
    with open(p, "rb") as f:
        hdr = _read_header(p, f)
    events = sorted(s.id for s in hdr.streams.values() if s.type == "EVTS")
    if not events:
        return None
    s = hdr.streams[events[0]]
    if s.width is None or s.height is None:
        return None
    return SensorSize(s.width, s.height, 2)


# --------------------------------------------------------------------------------------------
# Decompression
# --------------------------------------------------------------------------------------------


class _TooLarge(ValueError):
    """A payload that decompresses (or says it does) to more than the cap; ``size`` is what it claims."""

    def __init__(self, size: int, cap: int) -> None:
        super().__init__(f"payload decompresses to {size} bytes or more, above the cap of {cap} bytes")
        self.size = size


def _decompress_none(data: bytes, cap: int = _MAX_PACKET_BYTES) -> bytes:
    return data


def _decompress_lz4(data: bytes, cap: int = _MAX_PACKET_BYTES) -> bytes:
    info = lz4.frame.get_frame_info(data)
    if info["content_size"] > cap:
        raise _TooLarge(int(info["content_size"]), cap)
    return lz4.frame.decompress(data)  # LZ4 expands at most ~255x: bounded by the packet's size


_ZSTD = zstandard.ZstdDecompressor()


def _decompress_zstd(data: bytes, cap: int = _MAX_PACKET_BYTES) -> bytes:
    size = zstandard.frame_content_size(data)
    if size > cap:
        raise _TooLarge(int(size), cap)
    if size >= 0:
        return _ZSTD.decompress(data)
    # No content size in the frame header (DV always writes it): stream the frame in small input
    # pieces so that a hostile frame cannot expand past the cap, and insist on exactly one
    # complete frame.
    dobj = _ZSTD.decompressobj()
    parts: list[bytes] = []
    total = 0
    step = 1 << 12
    for i in range(0, len(data), step):
        chunk = dobj.decompress(data[i : i + step])
        total += len(chunk)
        if total > cap:
            raise _TooLarge(total, cap)
        parts.append(chunk)
        if dobj.eof:
            if i + step < len(data) or dobj.unused_data:
                raise ValueError("trailing bytes after the Zstandard frame")
            break
    if not dobj.eof:
        raise ValueError("Zstandard frame is incomplete")
    return b"".join(parts)


_DECOMPRESS: tuple[Callable[..., bytes], ...] = (
    _decompress_none,
    _decompress_lz4,
    _decompress_lz4,
    _decompress_zstd,
    _decompress_zstd,
)


def _codec_error(path: str, compression: int, err: Exception, what: str, offset: int) -> DecodeError:
    """The DecodeError for a payload that lz4 / zstandard rejected (whatever they raised)."""
    codec = _COMPRESSION_NAMES[compression]
    return DecodeError(path, f"{what}: {codec} payload does not decompress ({type(err).__name__}: {err})", offset)


# --------------------------------------------------------------------------------------------
# Data table (used only to pre-size the output)
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _le(buf: np.ndarray, pos: int, nbytes: int) -> int:  # pragma: no cover - numba
    """Unsigned little-endian integer of ``nbytes`` bytes at ``pos`` (caller checks bounds)."""
    v = np.int64(0)
    for k in range(nbytes - 1, -1, -1):
        v = (v << 8) | np.int64(buf[pos + k])
    return v


@numba.njit(cache=True, nogil=True)
def _table_count(buf: np.ndarray, vec: int, n: int, sid: int) -> int:  # pragma: no cover - numba
    """Sum NumElements over the FileDataDefinition tables of stream ``sid``; -1 if malformed.

    ``vec`` is the position of the first of ``n`` table offsets (already bounds-checked).
    Fields: 0 ByteOffset int64, 1 PacketInfo struct {int32 stream, int32 size}, 2 NumElements.
    """
    size = buf.shape[0]
    total = np.int64(0)
    for i in range(n):
        slot = vec + 4 * i
        t = slot + _le(buf, slot, 4)
        if t + 4 > size:
            return -1
        so = _le(buf, t, 4)
        if so >= 1 << 31:  # soffset is signed
            so -= 1 << 32
        vt = t - so
        if vt < 0 or vt + 4 > size:
            return -1
        vt_size = _le(buf, vt, 2)
        if vt + vt_size > size or vt_size < 8:  # needs at least field 1
            return -1
        f1 = _le(buf, vt + 6, 2)
        if f1 == 0 or t + f1 + 8 > size:
            return -1
        if _le(buf, t + f1, 4) != sid or vt_size < 10:
            continue
        f2 = _le(buf, vt + 8, 2)
        if f2 == 0:
            continue
        if t + f2 + 8 > size:
            return -1
        count = _le(buf, t + f2, 8)
        if count < 0 or count > 1 << 40:
            return -1
        total += count
    return total


def _expected_events(path: str, f, hdr: _Header, sid: int) -> int:
    """Event count of stream ``sid`` according to the data table, or -1 if unknown/unreadable.

    The data table only sizes the output: an unreadable table is ignored (the packets are the
    truth), never trusted to drop or invent events.
    """
    if hdr.table_pos < 0:
        return -1
    size = hdr.file_size - hdr.table_pos
    if not 0 < size <= _MAX_PACKET_BYTES:
        return -1
    f.seek(hdr.table_pos)
    raw = f.read(size)
    try:
        buf = _DECOMPRESS[hdr.compression](raw, min(_MAX_PACKET_BYTES, allowed_bytes(path)))
        base = _fb_base(buf, b"FTAB")
        table, vt, vt_size = _fb_table(buf, base)
        pos = _fb_field(buf, table, vt, vt_size, 0, 4)
        if pos < 0:
            return 0
        start, n = _fb_vector(buf, pos, 4)
    except Exception:
        return -1
    if n == 0:
        return 0
    return int(_table_count(np.frombuffer(buf, dtype=np.uint8), start, n, sid))


# --------------------------------------------------------------------------------------------
# Event copy
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _copy_events(
    words: np.ndarray,
    t_out: np.ndarray,
    x_out: np.ndarray,
    y_out: np.ndarray,
    p_out: np.ndarray,
    pos: int,
    width: int,
    height: int,
) -> int:  # pragma: no cover - numba
    """Copy DV ``Event`` structs (two ``int64`` words each) into the output columns at ``pos``.

    Returns the index of the first event outside the sensor or with a polarity byte other than
    0/1 (nothing after it is trusted), or -1 when all are valid.
    """
    n = words.shape[0] // 2
    for i in range(n):
        w = words[2 * i + 1]
        x = w & 0xFFFF  # int16 reinterpreted as unsigned: negatives land above any width
        y = (w >> 16) & 0xFFFF
        p = (w >> 32) & 0xFF
        if x >= width or y >= height or p > 1:
            return i
        t_out[pos + i] = words[2 * i]
        x_out[pos + i] = x
        y_out[pos + i] = y
        p_out[pos + i] = p
    return -1


def _bad_event_reason(words: np.ndarray, i: int, width: int, height: int) -> str:
    w = int(words[2 * i + 1])
    x = ((w & 0xFFFF) ^ 0x8000) - 0x8000  # int16
    y = (((w >> 16) & 0xFFFF) ^ 0x8000) - 0x8000
    p = (w >> 32) & 0xFF
    if not 0 <= x < width or not 0 <= y < height:
        return f"event {i} (x={x}, y={y}) lies outside the {width}x{height} sensor the header declares"
    return f"event {i} has polarity byte {p}, expected 0 or 1"


# --------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------


def _event_words(path: str, data: bytes, offset: int) -> np.ndarray:
    """The ``Event`` structs of one decompressed EventPacket, as an ``int64`` array (2 per event)."""
    try:
        base = _fb_base(data, b"EVTS")
        ident = data[base + 4 : base + 8]
        if len(ident) == 4 and ident.isalpha() and ident.isupper() and ident != b"EVTS":
            raise _FlatError(f"payload is tagged {ident.decode()!r}, not an 'EVTS' event packet")
        table, vt, vt_size = _fb_table(data, base)
        pos = _fb_field(data, table, vt, vt_size, 0, 4)
        if pos < 0:
            return np.empty(0, dtype="<i8")
        start, n = _fb_vector(data, pos, _EVENT_BYTES)
    except _FlatError as e:
        raise DecodeError(path, f"corrupt EventPacket FlatBuffer in the packet at this offset: {e}", offset) from None
    return np.frombuffer(data, dtype="<i8", count=2 * n, offset=start)


def read_aedat4(path: str | os.PathLike[str], stream: int | None = None) -> EventArray:
    """Decode the polarity events of an AEDAT 4.0 (``.aedat4``) recording.

    Parameters
    ----------
    path
        The recording.
    stream
        Id of the events stream to decode (see :func:`aedat4_streams`); by default the
        lowest-id stream whose type is ``EVTS``. Other streams (frames, IMU, triggers) are skipped
        without being decompressed.

    Returns
    -------
    EventArray
        Events of that stream in file order; t in microseconds exactly as stored (absolute),
        p = 1 for ON.

    Raises
    ------
    DecodeError
        The file is truncated or corrupt: bad version line or header, a packet that runs past the
        end of the file or into the data table, a payload that does not decompress, a FlatBuffer
        offset outside its buffer, or an event outside the sensor size the header declares.
        The error names the byte offset (of the packet, for problems inside a packet).
    ValueError
        ``stream`` is not an events stream of this file.
    FileNotFoundError
        The file does not exist.
    """
    p = check_file(path)
    with open(p, "rb", buffering=1 << 20) as f:
        hdr = _read_header(p, f)
        st = _pick_stream(p, hdr, stream)
        width = st.width if st.width is not None else 32768
        height = st.height if st.height is not None else 32768
        end = hdr.table_pos if hdr.table_pos >= 0 else hdr.file_size

        expected = _expected_events(p, f, hdr, st.id)
        # never trust the table for more than one event per file byte (bounded allocation)
        cap = expected if 0 <= expected <= hdr.file_size else max(1024, (end - hdr.data_start) // 4)
        out = alloc(cap)
        cols = (out["t"], out["x"], out["y"], out["p"])
        n = 0

        f.seek(hdr.data_start)
        read = f.read
        seek = f.seek
        unpack = _PACKET_HEADER.unpack
        decompress = _DECOMPRESS[hdr.compression]
        cap = min(_MAX_PACKET_BYTES, allowed_bytes(p))  # per packet: no more than the file may declare
        sid = st.id
        off = hdr.data_start
        while off < end:
            if end - off < 8:
                raise DecodeError(p, f"truncated packet header ({end - off} of 8 bytes)", off)
            head = read(8)
            if len(head) != 8:
                raise DecodeError(p, f"file ends inside a packet header ({len(head)} of 8 bytes)", off)
            psid, size = unpack(head)
            if size < 0 or size > end - off - 8:
                where = "the data table" if hdr.table_pos >= 0 else "the end of the file"
                raise DecodeError(
                    p,
                    f"packet of stream {psid} declares {size} payload bytes but only {end - off - 8} remain "
                    f"before {where} (truncated or corrupt packet)",
                    off,
                )
            if psid != sid:
                seek(size, 1)
                off += 8 + size
                continue
            payload = read(size)
            if len(payload) != size:
                raise DecodeError(p, f"file ends inside a packet ({len(payload)} of {size} bytes)", off)
            try:
                data = decompress(payload, cap)
            except _TooLarge as e:  # a decompression bomb: refused with how to raise the limit
                check_declared(p, n + e.size // _EVENT_BYTES, e.size, f"the packet at byte {off}")
                raise _codec_error(p, hdr.compression, e, f"packet of stream {psid}", off) from None
            except Exception as e:  # RuntimeError, ZstdError, ValueError, MemoryError ...
                raise _codec_error(p, hdr.compression, e, f"packet of stream {psid}", off) from None
            words = _event_words(p, data, off)
            k = words.shape[0] // 2
            if n + k > out.shape[0]:
                # compressed packets can expand ~1000x: bound the events against the file size
                check_declared(p, n + k, 0, f"the packets up to the one at byte {off}")
                grown = alloc(max(2 * out.shape[0], n + k))
                grown[:n] = out[:n]
                out = grown
                cols = (out["t"], out["x"], out["y"], out["p"])
            bad = _copy_events(words, cols[0], cols[1], cols[2], cols[3], n, width, height)
            if bad >= 0:
                reason = _bad_event_reason(words, bad, width, height)
                raise DecodeError(p, f"{reason} (in the packet of stream {psid} at this offset)", off)
            n += k
            off += 8 + size
    return trim(out, n)


def _sniff(head: bytes) -> bool:
    return head.startswith(MAGIC)


FORMAT = EventFormat(
    name="aedat4",
    title="AEDAT 4.0 (DV)",
    read=read_aedat4,
    version=DECODER_VERSION,
    suffixes=(".aedat4",),
    sniff=_sniff,
    sensor=_sensor,
)
