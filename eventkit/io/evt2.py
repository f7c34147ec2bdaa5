"""Prophesee EVT 2.0 ``.raw`` recordings (and the ``.raw`` text header shared with EVT 3.0).

The ``.raw`` header
-------------------
A ``.raw`` file starts with an ASCII header of ``"% keyword value"`` lines (``%``, a space, a
keyword, a space, a value, a line feed). The header ends at the first line that does not start
with ``"% "``, or right after an explicit ``"% end"`` line (needed because binary data may itself
start with the bytes ``"% "``). The header names the encoding of the binary data that follows:

* older files (Metavision 2.x, e.g. Gen3 / Gen4.1 kits): ``% evt 2.0`` or ``% evt 3.0``;
* newer files: also ``% format EVT2`` / ``% format EVT3;height=720;width=1280``.

Format selection is decided by this header alone: :data:`FORMAT` (and ``evt3.FORMAT``) have no
file suffix, because ``.raw`` is shared by EVT 2.0, 2.1 and 3.0 and guessing the encoding from a
suffix would silently produce garbage. A ``.raw`` file without an encoding line needs an explicit
``format="evt2"`` / ``format="evt3"``. Forcing a format that contradicts the header's declaration
is refused with :class:`~eventkit.errors.DecodeError`.

The sensor geometry is taken, in order of preference, from ``% geometry WxH``, from the
``width=``/``height=`` keys of ``% format``, from ``% Width`` / ``% Height`` lines, and last from
the camera plugin / sensor generation the header names (``hal_plugin_gen3_*`` and
``hal_plugin_gen31_*``: Gen3 VGA, 640 x 480; ``gen4*`` and ``imx636``: HD, 1280 x 720;
``genx320``: 320 x 320). Without any of those the bound is the format's own 11-bit address range
(2048 x 2048). Decoders refuse (DecodeError) any event outside that geometry.

EVT 2.0 words
-------------
The payload is a sequence of little-endian 32-bit words; bits 31..28 give the word type:

=====  ============  ===========================================================
type   name          payload
=====  ============  ===========================================================
0x0    CD_OFF        bits 27..22 timestamp low 6 bits, 21..11 x, 10..0 y; p = 0
0x1    CD_ON         same as CD_OFF; p = 1
0x8    EV_TIME_HIGH  bits 27..0: timestamp bits 33..6
0xA    EXT_TRIGGER   bits 27..22 timestamp low, 12..8 channel, 0 edge (skipped)
0xE    OTHERS        vendor extensions (skipped)
0xF    CONTINUED     extra data of the previous word (skipped)
=====  ============  ===========================================================

An event's time is ``(time_high << 6) | time_low`` µs, with ``time_high`` from the latest
EV_TIME_HIGH word. The 34-bit counter wraps after about 4.8 hours: a TIME_HIGH value lower than
the previous one is taken as a wrap and adds ``2**34`` µs to every later event. As in
Prophesee's own decoder, CD words that come before the first EV_TIME_HIGH (whose time is
therefore unknown) are skipped. Every other type is reserved by the specification and raises
DecodeError (it means the data is not EVT 2.0 or is corrupt); so does a trailing partial word.

Speed
-----
The payload is decoded in :data:`CHUNK_BYTES` chunks by :func:`~eventkit.io._chunked.decode_chunks`:
one Numba loop per chunk writes straight into the pre-allocated output (sized as one event per
word, then trimmed), carrying the time base across chunks. Peak memory is the output plus one chunk.
"""

from __future__ import annotations

import os
import re

import numba
import numpy as np

from ..errors import DecodeError
from ..events import EventArray, SensorSize
from ._chunked import EventSink, decode_chunks
from ._common import check_file, header_fields, put_event
from ._format import EventFormat

__all__ = ["read_evt2", "FORMAT", "DECODER_VERSION", "RawHeader", "read_raw_header", "parse_raw_header"]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_evt2` returns for some file (it keys cached stores)."""
CHUNK_BYTES = 1 << 20

WORD_BYTES = 4
MAX_COORD = 2048  # both EVT 2.0 and EVT 3.0 carry 11-bit addresses

# Sensor geometry by camera plugin / sensor generation, for headers that do not state it.
_PLUGIN_GEOMETRY: tuple[tuple[str, tuple[int, int]], ...] = (
    ("genx320", (320, 320)),
    ("imx636", (1280, 720)),
    ("gen41", (1280, 720)),
    ("gen4", (1280, 720)),
    ("gen31", (640, 480)),
    ("gen3", (640, 480)),
)
_GENERATION_GEOMETRY: dict[str, tuple[int, int]] = {
    "3.0": (640, 480),
    "3.1": (640, 480),
    "4.0": (1280, 720),
    "4.1": (1280, 720),
    "4.2": (1280, 720),
}
HEADER_LIMIT = 1 << 20


class RawHeader:
    """What a ``.raw`` text header says.

    Attributes
    ----------
    data_start
        Byte offset of the first payload byte.
    fields
        Header keywords (lower-cased) to their values, last occurrence wins.
    encoding
        ``"evt2"``, ``"evt21"``, ``"evt3"``, another lower-case name the header declared, or None.
    sensor
        Declared or inferred geometry (see the module docstring), or None.
    """

    __slots__ = ("data_start", "fields", "encoding", "sensor")

    def __init__(self, data_start: int, fields: dict[str, str], encoding: str | None, sensor: SensorSize | None):
        self.data_start = data_start
        self.fields = fields
        self.encoding = encoding
        self.sensor = sensor

    def bounds(self) -> tuple[int, int]:
        """``(width, height)`` that every event must fit: the geometry, else the 11-bit range."""
        if self.sensor is None:
            return MAX_COORD, MAX_COORD
        return self.sensor.width, self.sensor.height


def _scan_header(data: bytes) -> tuple[int, list[bytes], bool]:
    """Split ``data`` (the start of a file) into header lines; return (end, lines, complete)."""
    pos = 0
    lines: list[bytes] = []
    n = len(data)
    while pos < n and data.startswith(b"% ", pos):
        nl = data.find(b"\n", pos)
        if nl < 0:
            lines.append(data[pos:].rstrip(b"\r"))
            return n, lines, False
        line = data[pos:nl].rstrip(b"\r")
        lines.append(line)
        pos = nl + 1
        if line.strip() == b"% end":
            break
    return pos, lines, True


def _encoding_of(fields: dict[str, str]) -> str | None:
    fmt = fields.get("format")
    if fmt:
        name = fmt.split(";", 1)[0].strip().lower().replace(".", "").replace(" ", "")
        if name in ("evt2", "evt20"):
            return "evt2"
        if name in ("evt3", "evt30"):
            return "evt3"
        return name or None
    evt = fields.get("evt")
    if evt:
        v = evt.strip()
        if v in ("2.0", "2"):
            return "evt2"
        if v in ("3.0", "3"):
            return "evt3"
        return "evt" + v.replace(".", "")
    return None


def _small_int(text: str) -> bool:
    """1 to 6 ASCII digits (``str.isdigit`` alone also accepts '²', which ``int`` refuses)."""
    return text.isascii() and text.isdigit() and len(text) <= 6


def _geometry_of(fields: dict[str, str]) -> SensorSize | None:
    def make(w: int, h: int) -> SensorSize | None:
        if 0 < w <= MAX_COORD and 0 < h <= MAX_COORD:
            return SensorSize(w, h, 2)
        return None

    geo = fields.get("geometry")
    if geo:
        m = re.fullmatch(r"\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*", geo)
        if m:
            return make(int(m.group(1)), int(m.group(2)))
    fmt = fields.get("format")
    if fmt and ";" in fmt:
        kv = dict(part.split("=", 1) for part in fmt.split(";")[1:] if "=" in part)
        w, h = kv.get("width", "").strip(), kv.get("height", "").strip()
        if _small_int(w) and _small_int(h):
            return make(int(w), int(h))
    w, h = fields.get("width", "").strip(), fields.get("height", "").strip()
    if _small_int(w) and _small_int(h):
        return make(int(w), int(h))
    plugin = fields.get("plugin_name", "").lower()
    for key, (pw, ph) in _PLUGIN_GEOMETRY:
        if key in plugin:
            return SensorSize(pw, ph, 2)
    gen = fields.get("sensor_generation") or fields.get("generation")
    if gen and gen.strip() in _GENERATION_GEOMETRY:
        gw, gh = _GENERATION_GEOMETRY[gen.strip()]
        return SensorSize(gw, gh, 2)
    return None


def parse_raw_header(data: bytes) -> RawHeader:
    """Parse the ``.raw`` text header at the start of ``data`` (see the module docstring)."""
    end, lines, _ = _scan_header(data)
    fields = header_fields(lines)
    return RawHeader(end, fields, _encoding_of(fields), _geometry_of(fields))


def read_raw_header(path: str) -> RawHeader:
    """Read and parse the text header of the ``.raw`` file at ``path``.

    Raises
    ------
    DecodeError
        If the header is longer than 1 MiB (not a ``.raw`` header).
    """
    with open(path, "rb") as f:
        data = f.read(1 << 16)
        while True:
            end, _, complete = _scan_header(data)
            if complete or len(data) >= HEADER_LIMIT:
                break
            more = f.read(1 << 16)
            if not more:
                break
            data += more
    if not complete and len(data) >= HEADER_LIMIT:
        raise DecodeError(path, f"text header longer than {HEADER_LIMIT} bytes: not a .raw recording", offset=end)
    return parse_raw_header(data)


def check_encoding(path: str, header: RawHeader, expected: str, title: str) -> None:
    """Raise DecodeError when the header declares an encoding other than ``expected``."""
    if header.encoding is not None and header.encoding != expected:
        raise DecodeError(
            path,
            f"the header declares encoding {header.encoding!r}, not {title}; "
            f"read it with the matching format (leave --format / format= out to pick it from the header)",
            offset=0,
        )


def open_raw_payload(path: str, expected: str, title: str, word_bytes: int) -> tuple[RawHeader, int, int]:
    """Read a ``.raw`` header, check it declares ``expected``, and size the payload in words.

    Returns ``(header, file size, number of words)``.

    Raises
    ------
    DecodeError
        If the header declares another encoding, or the payload ends inside a word.
    """
    header = read_raw_header(path)
    check_encoding(path, header, expected, title)
    size = os.path.getsize(path)
    payload = max(0, size - header.data_start)
    nwords, rest = divmod(payload, word_bytes)
    if rest:
        raise DecodeError(
            path,
            f"the payload ({payload} bytes) is not a whole number of {8 * word_bytes}-bit {title} words: "
            f"the file is truncated",
            offset=header.data_start + nwords * word_bytes,
        )
    return header, size, nwords


def outside_sensor(x: int, y: int, width: int, height: int) -> str:
    """The reason given for an event whose coordinates do not fit the recording's sensor."""
    return f"event at x={x}, y={y} lies outside the {width}x{height} sensor of this recording: corrupt data"


def _sniff_encoding(head: bytes) -> str | None:
    if not head.startswith(b"% "):
        return None
    return parse_raw_header(head).encoding


def _sniff(head: bytes) -> bool:
    """True when ``head`` starts with a ``.raw`` header declaring EVT 2.0."""
    return _sniff_encoding(head) == "evt2"


def _sensor(path: str | os.PathLike[str]) -> SensorSize | None:
    """Sensor geometry stated (or implied by the camera plugin) in a ``.raw`` header, or None."""
    p = check_file(path)
    try:
        return read_raw_header(p).sensor
    except DecodeError:
        return None


# Error codes returned by the kernel.
_OK, _ERR_TYPE, _ERR_RANGE = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def _decode_chunk(words, ob, n, state, width, height):  # pragma: no cover - compiled
    """Decode ``words`` into the event bytes ``ob`` (an :data:`EVENT_DTYPE` array's bytes, written
    with :func:`~eventkit.io._common.put_event`) from event ``n``.

    ``state`` holds ``[time_high_seen, time_high, wrap_offset]`` and is updated in place.
    Returns ``(n, error_code, word_index)``.
    """
    seen = state[0]
    th = state[1]
    wrap = state[2]
    for i in range(words.shape[0]):
        w = words[i]
        typ = w >> 28
        if typ <= 1:
            if seen == 0:
                continue
            xx = (w >> 11) & 0x7FF
            yy = w & 0x7FF
            if xx >= width or yy >= height:
                state[0] = seen
                state[1] = th
                state[2] = wrap
                return n, 2, i
            put_event(ob, n, wrap + ((th << 6) | np.int64((w >> 22) & 0x3F)), xx, yy, typ)
            n += 1
        elif typ == 8:
            v = np.int64(w & 0x0FFFFFFF)
            if seen != 0 and v < th:
                wrap += np.int64(1) << 34
            th = v
            seen = 1
        elif typ == 0xA or typ == 0xE or typ == 0xF:
            continue
        else:
            state[0] = seen
            state[1] = th
            state[2] = wrap
            return n, 1, i
    state[0] = seen
    state[1] = th
    state[2] = wrap
    return n, 0, -1


def read_evt2(path: str | os.PathLike[str]) -> EventArray:
    """Decode a Prophesee EVT 2.0 ``.raw`` recording.

    Parameters
    ----------
    path
        The ``.raw`` file.

    Returns
    -------
    EventArray
        CD events in file order; t in microseconds as the camera counted them (not re-zeroed).

    Raises
    ------
    DecodeError
        If the header declares another encoding, a word has a reserved type, an event lies
        outside the sensor geometry, or the file ends inside a 32-bit word.
    FileNotFoundError
        If the file does not exist.
    """
    p = check_file(path)
    header, size, nwords = open_raw_payload(p, "evt2", "EVT 2.0", WORD_BYTES)
    width, height = header.bounds()
    state = np.zeros(3, dtype=np.int64)

    def step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
        words = chunk.view("<u4")
        sink.n, err, i = _decode_chunk(words, sink.raw, sink.n, state, width, height)
        if err:
            w = int(words[i])
            if err == _ERR_TYPE:
                reason = f"reserved EVT 2.0 word type 0x{w >> 28:X} (word 0x{w:08X}): corrupt data or not EVT 2.0"
            else:
                reason = outside_sensor((w >> 11) & 0x7FF, w & 0x7FF, width, height)
            raise DecodeError(p, reason, offset=offset + WORD_BYTES * int(i))
        return chunk.shape[0]

    return decode_chunks(p, header.data_start, size, step, capacity=nwords, chunk_bytes=CHUNK_BYTES, unit=WORD_BYTES)


FORMAT = EventFormat(
    name="evt2",
    title="Prophesee EVT 2.0 (.raw)",
    read=read_evt2,
    version=DECODER_VERSION,
    suffixes=(),
    sniff=_sniff,
    sensor=_sensor,
)
