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
from typing import NamedTuple

import numba
import numpy as np

from ..errors import DecodeError
from ..events import EventArray, SensorSize
from ._common import CHUNK_BYTES, alloc, check_file, iter_chunks, trim
from ._format import EventFormat

__all__ = ["FORMAT", "read_aedat2", "resolve_chip", "Aedat2Header", "read_aedat2_header", "CHIPS"]

MAGIC = b"#!AER-DAT2"
RECORD = 8
HEADER_LIMIT = 1 << 26  # a header longer than 64 MiB is not a jAER header

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


def _is_text(line: bytes) -> bool:
    """True if ``line`` (without its newline) holds no control byte other than tab and CR."""
    body = line.rstrip(b"\n")
    if not body:
        return True
    arr = np.frombuffer(body, dtype=np.uint8)
    ctrl = (arr < 0x20) & (arr != 0x09) & (arr != 0x0D)
    return not bool(ctrl.any()) and not bool((arr == 0x7F).any())


def read_aedat2_header(path: str | os.PathLike[str]) -> Aedat2Header:
    """Scan the ``#`` header of an AEDAT 2.0 file.

    Raises
    ------
    DecodeError
        If the file does not start with ``#!AER-DAT2`` or the header is absurdly long.
    """
    p = check_file(path)
    lines: list[bytes] = []
    pos = 0
    chip = None
    with open(p, "rb") as f:
        first = f.read(len(MAGIC))
        if first != MAGIC:
            raise DecodeError(p, f"not an AEDAT 2.0 file: it starts with {first!r}, expected {MAGIC!r}", offset=0)
        f.seek(0)
        while True:
            if pos > HEADER_LIMIT:
                raise DecodeError(p, f"text header longer than {HEADER_LIMIT} bytes; the file is corrupt", offset=pos)
            line = f.readline(1 << 20)
            if not line or line[:1] != b"#":
                break
            ends = line.endswith(b"\n")
            if not ends and len(line) == 1 << 20:  # a 1 MiB 'line': binary data that began with '#'
                break
            if not _is_text(line):
                break
            lines.append(line.rstrip(b"\r\n"))
            pos += len(line)
            if not ends:  # header line cut by the end of the file
                break
    for ln in lines:
        body = ln[1:].strip()
        if body[:7].lower() == b"aechip:":
            chip = body[7:].strip().decode("utf-8", "replace")
            break
    return Aedat2Header(pos, lines, chip)


@numba.njit(cache=True, nogil=True)
def _decode_records(buf, nrec, layout, wmax, hmax, out_t, out_x, out_y, out_p, n, state):
    """Decode ``nrec`` big-endian records of ``buf`` into the outputs from index ``n``.

    ``state`` = [previous raw timestamp (-1: none), wrap offset, high-bits-seen flag].
    Returns ``(n, bad_record)``: ``bad_record`` is the index of the first record whose
    coordinates fall outside ``wmax`` x ``hmax`` (decoding stops there), or -1.
    """
    prev = state[0]
    wrap = state[1]
    high = state[2]
    for i in range(nrec):
        j = i * 8
        a = (np.int64(buf[j]) << 24) | (np.int64(buf[j + 1]) << 16) | (np.int64(buf[j + 2]) << 8) | np.int64(buf[j + 3])
        if a & 0x80000000:
            continue
        if a & 0x7FFF0000:
            high = 1
        if layout == 0:
            if a & 0x8000:
                continue
            x = (a >> 1) & 0x7F
            y = (a >> 8) & 0x7F
            pol = 1 - (a & 1)
        else:
            if a & 0x400:
                continue
            x = (a >> 12) & 0x3FF
            y = (a >> 22) & 0x1FF
            pol = (a >> 11) & 1
        if x >= wmax or y >= hmax:
            state[0] = prev
            state[1] = wrap
            state[2] = high
            return n, i
        ts = (np.int64(buf[j + 4]) << 24) | (np.int64(buf[j + 5]) << 16) | (np.int64(buf[j + 6]) << 8) | np.int64(buf[j + 7])
        if prev >= 0 and prev - ts > 0x40000000:
            if prev >= 0x80000000:
                wrap += 0x100000000
            else:
                wrap += 0x80000000
        prev = ts
        out_t[n] = ts + wrap
        out_x[n] = x
        out_y[n] = y
        out_p[n] = pol
        n += 1
    state[0] = prev
    state[1] = wrap
    state[2] = high
    return n, -1


def _decode(path: str, start: int, nrec: int, layout: str, sensor: SensorSize | None, chip: str | None) -> EventArray:
    auto = layout == "auto"
    code = LAYOUT_DVS128 if auto else _LAYOUT_CODES[layout]
    out = alloc(nrec)
    cols = out["t"], out["x"], out["y"], out["p"]
    while True:
        wmax, hmax = (sensor.width, sensor.height) if sensor is not None else (1 << 16, 1 << 16)
        state = np.array([-1, 0, 0], dtype=np.int64)
        n = 0
        restart = False
        for off, buf in iter_chunks(path, start, RECORD, CHUNK_BYTES):
            k = buf.shape[0] // RECORD
            n, bad = _decode_records(buf, k, code, wmax, hmax, *cols, n, state)
            if bad >= 0:
                j = off + bad * RECORD
                a = int.from_bytes(buf[bad * RECORD : bad * RECORD + 4].tobytes(), "big")
                what = f"AEChip {chip}" if chip else f"layout {layout!r}"
                raise DecodeError(
                    path,
                    f"event address 0x{a:08x} decodes outside the {sensor.width}x{sensor.height} sensor of {what}; "
                    "the file is corrupt or the chip is wrong (pass layout= to read_aedat2)",
                    offset=j,
                )
            if auto and code == LAYOUT_DVS128 and state[2]:
                code, restart = LAYOUT_DAVIS, True  # addresses use bits above 15: not a DVS128
                break
        if not restart:
            return trim(out, n)


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
    hdr = read_aedat2_header(p)
    header_chip = resolve_chip(hdr.chip)
    if layout is None:
        chosen = header_chip
    else:
        chosen = resolve_chip(layout)
        if chosen.layout == "auto":
            raise ValueError(f"unknown AEDAT 2.0 layout {layout!r}; use 'dvs128', 'davis' or a chip name like 'DAVIS240C'")
        if chosen.sensor is None:  # a bare family: keep the header's sensor when it is the same family
            sensor = header_chip.sensor if header_chip.layout == chosen.layout else None
            if chosen.layout == "dvs128" and sensor is None:
                sensor = SensorSize(128, 128, 2)
            chosen = ChipLayout(chosen.layout, sensor)
    size = os.path.getsize(p)
    payload = size - hdr.data_start
    nrec, tail = divmod(payload, RECORD)
    if tail:
        raise DecodeError(
            p,
            f"truncated AEDAT 2.0 file: {tail} byte(s) after the last whole 8-byte record "
            f"({nrec} records after a {hdr.data_start}-byte header)",
            offset=hdr.data_start + nrec * RECORD,
        )
    return _decode(p, hdr.data_start, nrec, chosen.layout, chosen.sensor, hdr.chip if layout is None else layout)


def _sniff(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _sensor(path: str | os.PathLike[str]) -> SensorSize | None:
    return resolve_chip(read_aedat2_header(path).chip).sensor


FORMAT = EventFormat(
    name="aedat2",
    title="AEDAT 2.0 (jAER)",
    read=read_aedat2,
    # '.aedat' is shared by AEDAT 2.0 and 3.x; every real file of either starts with '#!AER-DAT',
    # so the sniffer decides. The suffix is registered on aedat31 only, to keep suffix lookup
    # unambiguous (it only matters for a file without any header, which neither reader accepts).
    suffixes=(),
    sniff=_sniff,
    sensor=_sensor,
)
