"""AEDAT 2.0 (jAER) decoder.

Byte layout
-----------
An AEDAT 2.0 file is a text header followed by fixed-size binary records:

* **Header.** Lines that start with ``#`` and end with ``\\n`` (jAER writes ``\\r\\n``). The first
  line is ``#!AER-DAT2.0``. jAER adds ``# AEChip: <java class>`` naming the sensor, and often a
  long block of preferences XML, every line again prefixed by ``#``. The header ends at the first
  line that does not start with ``#`` *or* that is not text (a control byte other than tab/CR
  before the newline): a binary record may begin with the byte ``0x23`` (``#``), and this second
  rule keeps such a record from being swallowed as a header line. A last line cut by the end of
  the file (no newline) still counts as header, so a header-only file holds zero events.
* **Records.** 8 bytes each, big-endian: ``uint32 address`` then ``uint32 timestamp`` (1 µs
  ticks). A trailing partial record is a :class:`~eventkit.errors.DecodeError`.

Address layouts
---------------
``dvs128`` (DVS128, Tmpdiff128, eDVS; also what CIFAR10-DVS uses)
    x = (a >> 1) & 0x7F, y = (a >> 8) & 0x7F, raw polarity bit 0 where **0 = ON, 1 = OFF**
    (jAER's DVS128 extractor inverts it; so does SpikingJelly's CIFAR10-DVS loader), so
    ``p = 1 - (a & 1)``. Words with bit 15 (external sync input) or bit 31 (special) set are
    dropped. jAER *displays* x mirrored (``127 - x``); we return the raw address fields.
``davis`` (DAVIS240/346/640/..., DVXplorer as recorded by jAER)
    x = (a >> 12) & 0x3FF, y = (a >> 22) & 0x1FF, ``p = (a >> 11) & 1`` (1 = ON). Words with
    bit 31 set (APS frame samples, IMU) or bit 10 set (external/special events) are dropped.
    jAER displays y flipped; we return the raw fields (as SpikingJelly, Tonic and iniVation's
    AedatTools / dv LegacyAedatFile do).

Chip table (the ``# AEChip:`` line, matched on the class name after the last dot, ignoring case):

==============================================  ========  ===========
class name starts with                          layout    sensor (w,h)
==============================================  ========  ===========
``DVS128``, ``Tmpdiff128``, ``eDVS``            dvs128    128 x 128
``DAVIS240`` (A/B/C), ``SBret10``               davis     240 x 180
``DAVIS346`` (red, blue, B, C, Cbsi, ...)       davis     346 x 260
``DAVIS640``, ``DAVISHet640``                   davis     640 x 480
``DAVIS208``                                    davis     208 x 192
``DAVIS128``                                    davis     128 x 128
``DVXplorerLite``                               davis     320 x 240
``DVXplorer``                                   davis     640 x 480
==============================================  ========  ===========

An AEChip not in this table, or no AEChip line, selects the layout **automatically**: ``dvs128``
when every non-special address fits in its low 16 bits (``a & 0x7FFF0000 == 0``), which a DAVIS
recording almost never does (any event with y > 0 or x >= 16 sets those bits), else ``davis``.
Auto-detected files declare no sensor, so coordinates are bounded only by the field widths.
``read_aedat2(path, layout=...)`` overrides all of this with a layout family (``"dvs128"``,
``"davis"``) or any chip name from the table (which also fixes the sensor size).

Coordinates outside the sensor of the chosen chip raise :class:`~eventkit.errors.DecodeError`.

Timestamps
----------
Timestamps are unsigned 32-bit counters that wrap. A decrease by more than 2**30 µs between two
kept events is a wrap: jAER's DVS128 timestamps are full 32-bit counters (wrap at 2**32), while
libcaer/DAVIS timestamps are 31-bit (wrap at 2**31, as iniVation's dv LegacyAedatFile assumes).
The period is inferred from the value before the wrap: a counter that had reached 2**31 or more
must be 32-bit (+2**32), otherwise it wraps at 2**31 (+2**31). Smaller decreases (jitter) are kept
as they are; events stay in file order. ``t`` is therefore an absolute, non-negative int64.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO, NamedTuple

import numba
import numpy as np

from ..errors import DecodeError, OptionError
from ..events import EventArray, SensorSize
from ._chunked import EventSink, decode_chunks
from ._common import check_file, load_u32be, put_event
from ._format import EventFormat

__all__ = ["FORMAT", "DECODER_VERSION", "read_aedat2", "resolve_chip", "Aedat2Header", "read_aedat2_header", "CHIPS"]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_aedat2` returns for some file (it keys cached stores)."""
CHUNK_BYTES = 1 << 19
MAGIC = b"#!AER-DAT2"
RECORD_BYTES = 8
HEADER_LIMIT = 1 << 26  # a header longer than 64 MiB is not a jAER header
HEAD_BYTES = 1 << 18  # first read of a file: the whole header of most recordings
LINE_LIMIT = 1 << 20  # a '#' "line" this long without a newline is binary data that began with '#'

LAYOUT_DVS128 = 0
LAYOUT_DAVIS = 1
_LAYOUT_CODES = {"dvs128": LAYOUT_DVS128, "davis": LAYOUT_DAVIS}

# (prefix of the lower-cased simple class name, layout, width, height); longest prefixes first
CHIPS: tuple[tuple[str, str, int, int], ...] = (
    ("dvxplorerlite", "davis", 320, 240),
    ("dvxplorer", "davis", 640, 480),
    ("davishet640", "davis", 640, 480),
    ("davis640", "davis", 640, 480),
    ("davis346", "davis", 346, 260),
    ("davis240", "davis", 240, 180),
    ("davis208", "davis", 208, 192),
    ("davis128", "davis", 128, 128),
    ("sbret10", "davis", 240, 180),
    ("tmpdiff128", "dvs128", 128, 128),
    ("dvs128", "dvs128", 128, 128),
    ("edvs", "dvs128", 128, 128),
)


class ChipLayout(NamedTuple):
    """The address layout (``"dvs128"``, ``"davis"`` or ``"auto"``) and sensor of a recording."""

    layout: str
    sensor: SensorSize | None


class Aedat2Header(NamedTuple):
    """What the text header of an AEDAT 2.0 file says."""

    data_start: int
    lines: list[bytes]
    chip: str | None


def resolve_chip(name: str | None) -> ChipLayout:
    """Map an AEChip class name (or a layout family name) to its layout and sensor size.

    ``"dvs128"``/``"davis"`` give the family without a sensor size (``dvs128`` implies 128 x 128);
    unknown or missing names give ``layout="auto"``.
    """
    if not name:
        return ChipLayout("auto", None)
    simple = name.strip().rsplit(".", 1)[-1].strip().lower()
    if simple == "davis":
        return ChipLayout("davis", None)
    for prefix, layout, w, h in CHIPS:
        if simple.startswith(prefix):
            return ChipLayout(layout, SensorSize(w, h, 2))
    return ChipLayout("auto", None)


# a text byte: tab, CR, or anything from 0x20 up except DEL
_TEXT_CLASS = rb"[\t\r\x20-\x7e\x80-\xff]"
_TEXT = re.compile(_TEXT_CLASS + rb"*")
# a run of complete header lines: '#', text, '\n', at most LINE_LIMIT bytes each
_HEADER_LINES = re.compile(rb"(?:#" + _TEXT_CLASS + rb"{0,%d}\n)*" % (LINE_LIMIT - 2))
_NOT_HASH_LINE = re.compile(rb"\n[^#]")  # a line (after the first) that does not start with '#'
# bytes.translate table: control bytes other than tab, LF, CR (and DEL) -> 0, everything else -> 1
_CTRL_ZERO = bytes(0 if (c < 0x20 and c not in (0x09, 0x0A, 0x0D)) or c == 0x7F else 1 for c in range(256))
_AECHIP = re.compile(rb"^#[ \t\r]*aechip:", re.IGNORECASE | re.MULTILINE)


def _header_run(data: bytes, pos: int) -> int:
    """End of the run of complete header lines (``#``, text, ``\\n``, at most LINE_LIMIT bytes)
    that starts at line start ``pos`` of ``data``; ``pos`` if there is none.

    Same result as ``_HEADER_LINES.match(data, pos).end()``, with C-speed bytes searches.
    """
    if data[pos : pos + 1] != b"#":
        return pos
    m = _NOT_HASH_LINE.search(data, pos)
    stop = m.start() + 1 if m else data.rfind(b"\n", pos) + 1  # complete lines that start with '#'
    if stop <= pos:
        return pos
    block = data[pos:stop]
    c = block.translate(_CTRL_ZERO).find(0)
    if c >= 0:  # the header ends at the start of the line holding the first control byte
        stop = pos + block.rfind(b"\n", 0, c) + 1
    if stop - pos > LINE_LIMIT:  # a line may be over the limit: check line by line
        return _HEADER_LINES.match(data, pos).end()
    return stop


def _scan_header(f: BinaryIO, p: str, want_lines: bool = True) -> tuple[Aedat2Header, bytes]:
    """Scan the header from the start of the open file ``f``.

    Returns the header and the bytes read so far (at least the header; possibly some payload).
    Works on one read of the head (more only for headers over :data:`HEAD_BYTES`) with whole-buffer
    bytes operations, not one Python step per line: jAER headers have thousands of lines.
    ``want_lines=False`` leaves ``lines`` empty (the decoder does not need them).
    """
    data = f.read(HEAD_BYTES)
    first = data[: len(MAGIC)]
    if first != MAGIC:
        raise DecodeError(p, f"not an AEDAT 2.0 file: it starts with {first!r}, expected {MAGIC!r}", offset=0)
    eof = len(data) < HEAD_BYTES
    pos = 0
    while True:
        pos = _header_run(data, pos)  # complete text lines starting with '#'
        if pos > HEADER_LIMIT:  # the position after the first line that ends past the limit
            bad = data.find(b"\n", HEADER_LIMIT) + 1
            raise DecodeError(p, f"text header longer than {HEADER_LIMIT} bytes; the file is corrupt", offset=bad)
        if data.find(b"\n", pos) >= 0:  # a complete line that is not a header line: the header ends
            break
        # what is left is one line without a newline (so far)
        rest = len(data) - pos
        if rest == 0 or data[pos] != 0x23 or rest >= LINE_LIMIT:
            break
        if _TEXT.match(data, pos + 1).end() != len(data):  # not text: binary data beginning with '#'
            break
        if eof:  # a header line cut by the end of the file still counts as header
            pos = len(data)
            break
        more = f.read(max(len(data), HEAD_BYTES))
        eof = not more
        data += more
    block = data[:pos]
    lines = []
    if want_lines and block:
        # splitlines() splits at '\r\n', '\n' and a lone '\r': the same lines as splitting at
        # '\n' and stripping line ends, unless some '\r' is not right before a '\n'
        lines = block.splitlines()
        if len(lines) != block.count(b"\n") + (block[-1] != 0x0A):
            lines = [ln.rstrip(b"\r\n") for ln in block.split(b"\n")]
            if block[-1] == 0x0A:
                lines.pop()
    chip = None
    m = _AECHIP.search(block)
    if m:
        ln = block[m.start() : block.find(b"\n", m.start()) % (len(block) + 1)].rstrip(b"\r\n")
        chip = ln[1:].strip()[7:].strip().decode("utf-8", "replace")
    return Aedat2Header(pos, lines, chip), data


def read_aedat2_header(path: str | os.PathLike[str]) -> Aedat2Header:
    """Scan the ``#`` header of an AEDAT 2.0 file.

    Raises
    ------
    DecodeError
        If the file does not start with ``#!AER-DAT2`` or the header is absurdly long.
    """
    p = check_file(path)
    with open(p, "rb") as f:
        return _scan_header(f, p)[0]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _run_dvs128(buf, i, nrec, wmax, hmax, ob, n, lim, wrap):
    """The hot loop of :func:`_decode_records` for the dvs128 layout: decode records from ``i``
    until the end, or until a kept event that is outside the sensor or whose timestamp is below
    ``lim`` (a wrap), which it leaves to the caller. Returns ``(i, n, lim, or of the addresses)``."""
    acc = 0
    while i < nrec:
        a = np.int64(load_u32be(buf, i * 8))
        if (a & 0x80000000) == 0:
            acc |= a
            if (a & 0x8000) == 0:
                x = (a >> 1) & 0x7F
                y = (a >> 8) & 0x7F
                ts = np.int64(load_u32be(buf, i * 8 + 4))
                if x >= wmax or y >= hmax or ts < lim:
                    break
                lim = ts - 0x40000000
                put_event(ob, n, ts + wrap, x, y, 1 - (a & 1))
                n += 1
        i += 1
    return i, n, lim, acc


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _run_davis(buf, i, nrec, wmax, hmax, ob, n, lim, wrap):
    """:func:`_run_dvs128` for the davis layout."""
    while i < nrec:
        a = np.int64(load_u32be(buf, i * 8))
        if (a & 0x80000400) == 0:  # not an APS / IMU sample or an external event
            x = (a >> 12) & 0x3FF
            y = (a >> 22) & 0x1FF
            ts = np.int64(load_u32be(buf, i * 8 + 4))
            if x >= wmax or y >= hmax or ts < lim:
                break
            lim = ts - 0x40000000
            put_event(ob, n, ts + wrap, x, y, (a >> 11) & 1)
            n += 1
        i += 1
    return i, n, lim, 0


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _decode_records(buf, nrec, layout, wmax, hmax, ob, n, state):
    """Decode ``nrec`` big-endian records of ``buf`` into the events ``ob`` (the bytes of an
    EVENT_DTYPE array, see :func:`~eventkit.io._common.put_event`) from index ``n``.

    ``state`` = [previous raw timestamp (-1: none), wrap offset, high-bits-seen flag (dvs128
    layout only)]. Returns ``(n, bad_record)``: ``bad_record`` is the index of the first record
    whose coordinates fall outside ``wmax`` x ``hmax`` (decoding stops there), or -1.
    The output must have room for ``n + nrec`` events.
    """
    wrap = state[1]
    # a kept timestamp below lim is a wrap: more than 2**30 below the previous one (none: -1)
    lim = state[0] - 0x40000000
    bad = -1
    i = 0
    while True:
        if layout == 0:
            i, n, lim, acc = _run_dvs128(buf, i, nrec, wmax, hmax, ob, n, lim, wrap)
            if acc & 0x7FFF0000:
                state[2] = 1
        else:
            i, n, lim, acc = _run_davis(buf, i, nrec, wmax, hmax, ob, n, lim, wrap)
        if i >= nrec:
            break
        # record i is a kept event outside the sensor, or a wrap
        a = np.int64(load_u32be(buf, i * 8))
        if layout == 0:
            x = (a >> 1) & 0x7F
            y = (a >> 8) & 0x7F
            pol = 1 - (a & 1)
        else:
            x = (a >> 12) & 0x3FF
            y = (a >> 22) & 0x1FF
            pol = (a >> 11) & 1
        if x >= wmax or y >= hmax:
            bad = i
            break
        prev = lim + 0x40000000  # >= 0 here: no timestamp is below the initial lim
        wrap += 0x100000000 if prev >= 0x80000000 else 0x80000000
        ts = np.int64(load_u32be(buf, i * 8 + 4))
        lim = ts - 0x40000000
        put_event(ob, n, ts + wrap, x, y, pol)
        n += 1
        i += 1
    state[0] = lim + 0x40000000
    state[1] = wrap
    return n, bad


class _NotDvs128(Exception):
    """Auto-detection: an address uses bits above 15, so the recording is not a DVS128 one."""


def _decode(
    f: BinaryIO, path: str, head: bytes, start: int, nrec: int, layout: str, sensor: SensorSize | None, chip: str | None
) -> EventArray:
    """Decode the ``nrec`` records from file offset ``start`` of ``f``; ``head`` holds the file's
    first bytes (so the part of the payload in it is not read twice)."""
    wmax, hmax = (sensor.width, sensor.height) if sensor is not None else (1 << 16, 1 << 16)
    end = start + nrec * RECORD_BYTES

    def run(code: int, detect: bool) -> EventArray:
        state = np.array([-1, 0, 0], dtype=np.int64)
        reached = [start]  # the file offset decoded up to

        def step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
            k = chunk.shape[0] // RECORD_BYTES
            sink.n, bad = _decode_records(chunk, k, code, wmax, hmax, sink.raw, sink.n, state)
            if bad >= 0:
                a = int.from_bytes(chunk[bad * RECORD_BYTES : bad * RECORD_BYTES + 4].tobytes(), "big")
                what = f"AEChip {chip}" if chip else f"layout {layout!r}"
                raise DecodeError(
                    path,
                    f"event address 0x{a:08x} decodes outside the {sensor.width}x{sensor.height} sensor of {what}; "
                    "the file is corrupt or the chip is wrong (from Python: read_aedat2(path, layout=...))",
                    offset=offset + bad * RECORD_BYTES,
                )
            if detect and state[2]:
                raise _NotDvs128
            reached[0] = offset + chunk.shape[0]
            return chunk.shape[0]

        events = decode_chunks(
            f, start, end, step, capacity=nrec, chunk_bytes=CHUNK_BYTES, unit=RECORD_BYTES, lead=head[start:]
        )
        if reached[0] < end:
            raise DecodeError(path, "the file shrank while it was read", offset=reached[0])
        return events

    if layout != "auto":
        return run(_LAYOUT_CODES[layout], False)
    try:
        return run(LAYOUT_DVS128, True)
    except _NotDvs128:
        return run(LAYOUT_DAVIS, False)


def read_aedat2(path: str | os.PathLike[str], layout: str | None = None) -> EventArray:
    """Decode a jAER AEDAT 2.0 recording.

    Parameters
    ----------
    path
        The ``.aedat`` file (its first line must be ``#!AER-DAT2.0``).
    layout
        Address layout override: ``"dvs128"``, ``"davis"`` or a chip name from the module's chip
        table (e.g. ``"DAVIS240C"``, ``"Davis346red"``), which also fixes the sensor size. None
        (default) reads the ``# AEChip:`` header line and falls back to auto-detection.

    Returns
    -------
    EventArray
        Polarity events in file order; raw sensor coordinates; t in µs, unwrapped.

    Raises
    ------
    DecodeError
        Missing ``#!AER-DAT2`` line, a trailing partial record, or an address outside the sensor.
    ValueError
        ``layout`` is not a known layout or chip name.
    """
    p = check_file(path)
    with open(p, "rb") as f:
        hdr, head = _scan_header(f, p, want_lines=False)
        header_chip = resolve_chip(hdr.chip)
        if layout is None:
            chosen = header_chip
        else:
            chosen = resolve_chip(layout)
            if chosen.layout == "auto":
                raise OptionError(f"unknown AEDAT 2.0 layout {layout!r}; use 'dvs128', 'davis' or a chip name like 'DAVIS240C'")
            if chosen.sensor is None:  # a bare family: keep the header's sensor when it is the same family
                sensor = header_chip.sensor if header_chip.layout == chosen.layout else None
                if chosen.layout == "dvs128" and sensor is None:
                    sensor = SensorSize(128, 128, 2)
                chosen = ChipLayout(chosen.layout, sensor)
        size = os.fstat(f.fileno()).st_size
        payload = size - hdr.data_start
        nrec, tail = divmod(payload, RECORD_BYTES)
        if tail:
            raise DecodeError(
                p,
                f"truncated AEDAT 2.0 file: {tail} byte(s) after the last whole 8-byte record "
                f"({nrec} records after a {hdr.data_start}-byte header)",
                offset=hdr.data_start + nrec * RECORD_BYTES,
            )
        chip = hdr.chip if layout is None else layout
        return _decode(f, p, head, hdr.data_start, nrec, chosen.layout, chosen.sensor, chip)


def _sniff(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _sensor(path: str | os.PathLike[str]) -> SensorSize | None:
    p = check_file(path)
    with open(p, "rb") as f:
        return resolve_chip(_scan_header(f, p, want_lines=False)[0].chip).sensor


FORMAT = EventFormat(
    name="aedat2",
    title="AEDAT 2.0 (jAER)",
    read=read_aedat2,
    version=DECODER_VERSION,
    # '.aedat' is shared by AEDAT 2.0 and 3.x; every real file of either starts with '#!AER-DAT',
    # so the sniffer decides. The suffix is registered on aedat31 only, to keep suffix lookup
    # unambiguous (it only matters for a file without any header, which neither reader accepts).
    suffixes=(),
    sniff=_sniff,
    sensor=_sensor,
)
