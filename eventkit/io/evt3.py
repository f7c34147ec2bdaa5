"""Prophesee EVT 3.0 ``.raw`` recordings, decoded literally to the published specification.

The text header (``% evt 3.0`` or ``% format EVT3;...``) and the sensor geometry are handled as
described in :mod:`eventkit.io.evt2`; the header alone selects this format.

EVT 3.0 words
-------------
The payload is a sequence of little-endian 16-bit words; bits 15..12 give the word type and the
decoder keeps a state (current y, time, base x and polarity for vectors):

=====  =============  ======================================================================
type   name           effect
=====  =============  ======================================================================
0x0    EVT_ADDR_Y     y = bits 10..0 (bit 11, master/slave system type, is ignored)
0x2    EVT_ADDR_X     one event at x = bits 10..0, polarity bit 11, current y and time
0x3    VECT_BASE_X    base x = bits 10..0, vector polarity = bit 11
0x4    VECT_12        for each set bit k of bits 11..0: event at base x + k; then base x += 12
0x5    VECT_8         for each set bit k of bits 7..0: event at base x + k; then base x += 8
0x6    EVT_TIME_LOW   time bits 11..0 = bits 11..0
0x7    CONTINUED_4    extra data of the previous word (skipped)
0x8    EVT_TIME_HIGH  time bits 23..12 = bits 11..0
0xA    EXT_TRIGGER    external trigger (skipped)
0xE    OTHERS         vendor extension, followed by CONTINUED words (skipped)
0xF    CONTINUED_12   extra data of the previous word (skipped)
=====  =============  ======================================================================

Timestamps
----------
An event's time is ``(TIME_HIGH << 12) | TIME_LOW`` µs from the *latest* TIME_HIGH and TIME_LOW
words, plus ``2**24`` µs for every wrap of the 24-bit counter, where a wrap is a TIME_HIGH value
lower than the previous TIME_HIGH value. A TIME_LOW value lower than the previous one is **not**
a wrap: the sensor only ever sends TIME_LOW together with the current TIME_HIGH, so a decrease
means the previous TIME_HIGH already advanced (expelliarmus 1.1.12 counts it as a second wrap and
drifts by 4096 µs per TIME_HIGH step; evlib, faery's bit reading and Prophesee's own decoder do
not). Times are not clamped to be monotonic: the bits are reported as written. As in Prophesee's
decoder, events that come before the first EVT_TIME_HIGH (whose time is unknown) are skipped.

Errors
------
Reserved word types (0x1, 0x9, 0xB, 0xC, 0xD), an event outside the sensor geometry (declared or
implied by the header, else 2048 x 2048), a trailing odd byte, or a header declaring another
encoding raise :class:`~eventkit.errors.DecodeError` with the byte offset.

Output size
-----------
The number of events is not known from the file size (a VECT_12 word carries up to 12 events).
Each :data:`CHUNK_BYTES` chunk of the payload (small, so that it is still in cache for the second
pass) is first counted (a table look-up per word: one event per EVT_ADDR_X word plus the set bits
of every vector mask), the output grows if needed (to the count, or to an extrapolation of the
events per byte seen so far over the whole file, whichever is larger), then the chunk is decoded
into it. A file of one chunk is therefore allocated exactly; a larger one is reallocated about
once or twice, and peak memory stays near output + one chunk.
"""

from __future__ import annotations

import os

import numba
import numpy as np

from ..errors import DecodeError
from ..events import EventArray
from . import evt2
from ._chunked import EventSink, decode_chunks
from ._common import check_file, put_event
from ._format import EventFormat
from .evt2 import open_raw_payload, outside_sensor, parse_raw_header

__all__ = ["read_evt3", "FORMAT", "DECODER_VERSION"]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_evt3` returns for some file (it keys cached stores)."""
CHUNK_BYTES = 1 << 20
WORD_BYTES = 2


def _sniff(head: bytes) -> bool:
    """True when ``head`` starts with a ``.raw`` header declaring EVT 3.0."""
    return head.startswith(b"% ") and parse_raw_header(head).encoding == "evt3"


def _events_per_word() -> np.ndarray:
    """Number of events each of the 65536 possible words produces (ADDR_X: 1, vectors: set bits)."""
    w = np.arange(1 << 16, dtype=np.uint32)
    typ = w >> 12
    bits = np.unpackbits((w & 0xFFF).astype(">u2").view(np.uint8).reshape(-1, 2), axis=1).sum(axis=1)
    bits8 = np.unpackbits((w & 0xFF).astype(np.uint8)[:, None], axis=1).sum(axis=1)
    return np.where(typ == 2, 1, np.where(typ == 4, bits, np.where(typ == 5, bits8, 0))).astype(np.uint8)


_EVENTS_PER_WORD = _events_per_word()


@numba.njit(cache=True, nogil=True)
def _count_chunk(words, table):  # pragma: no cover - compiled
    """Upper bound of the events ``words`` can produce (events before the first TIME_HIGH included)."""
    c = 0
    for i in range(words.shape[0]):
        c += table[words[i]]
    return c


@numba.njit(cache=True, nogil=True)
def _decode_chunk(words, ob, n, state, width, height):  # pragma: no cover - compiled
    """Decode ``words`` into the event bytes ``ob`` (an :data:`EVENT_DTYPE` array's bytes, written
    with :func:`~eventkit.io._common.put_event`) from event ``n``.

    ``state`` = ``[time_high_seen, time_high, time_low, wrap_offset, y, base_x, vector_polarity]``,
    updated in place. Returns ``(n, error_code, word_index, bad_x)``: error 1 = reserved type,
    2 = event outside the sensor (at ``bad_x``, current y).
    """
    seen = state[0]
    th = state[1]
    tl = state[2]
    wrap = state[3]
    cy = state[4]
    bx = state[5]
    vp = state[6]
    err = 0
    erri = -1
    badx = -1
    cur = wrap + ((th << 12) | tl)
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        typ = w >> 12
        if typ == 2:  # EVT_ADDR_X
            if seen == 0:
                continue
            xx = w & 0x7FF
            if xx >= width or cy >= height:
                err = 2
                erri = i
                badx = xx
                break
            put_event(ob, n, cur, xx, cy, (w >> 11) & 1)
            n += 1
        elif typ == 0:  # EVT_ADDR_Y
            cy = w & 0x7FF
        elif typ == 6:  # EVT_TIME_LOW
            tl = w & 0xFFF
            cur = wrap + ((th << 12) | tl)
        elif typ == 8:  # EVT_TIME_HIGH
            v = w & 0xFFF
            if seen != 0 and v < th:
                wrap += np.int64(1) << 24
            th = v
            seen = 1
            cur = wrap + ((th << 12) | tl)
        elif typ == 3:  # VECT_BASE_X
            bx = w & 0x7FF
            vp = (w >> 11) & 1
        elif typ == 4 or typ == 5:  # VECT_12 / VECT_8
            if typ == 4:
                m = w & 0xFFF
                step = 12
            else:
                m = w & 0xFF
                step = 8
            if seen != 0 and m != 0:
                if cy >= height:
                    err = 2
                    erri = i
                    badx = bx
                    break
                k = 0
                while m != 0:
                    if m & 1:
                        xx = bx + k
                        if xx >= width:
                            err = 2
                            erri = i
                            badx = xx
                            break
                        put_event(ob, n, cur, xx, cy, vp)
                        n += 1
                    m >>= 1
                    k += 1
                if err != 0:
                    break
            bx += step
        elif typ == 7 or typ == 0xA or typ == 0xE or typ == 0xF:
            continue
        else:
            err = 1
            erri = i
            break
    state[0] = seen
    state[1] = th
    state[2] = tl
    state[3] = wrap
    state[4] = cy
    state[5] = bx
    state[6] = vp
    return n, err, erri, badx


def read_evt3(path: str | os.PathLike[str]) -> EventArray:
    """Decode a Prophesee EVT 3.0 ``.raw`` recording literally (see the module docstring).

    Parameters
    ----------
    path
        The ``.raw`` file.

    Returns
    -------
    EventArray
        CD events (single and vectorised) in file order; t in microseconds as the camera counted
        them (not re-zeroed, not clamped).

    Raises
    ------
    DecodeError
        If the header declares another encoding, a word has a reserved type, an event lies
        outside the sensor geometry, or the file ends inside a 16-bit word.
    FileNotFoundError
        If the file does not exist.
    """
    p = check_file(path)
    header, size, _ = open_raw_payload(p, "evt3", "EVT 3.0", WORD_BYTES)
    start = header.data_start
    payload = size - start
    width, height = header.bounds()
    state = np.zeros(7, dtype=np.int64)

    def step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
        words = chunk.view("<u2")
        need = sink.n + int(_count_chunk(words, _EVENTS_PER_WORD))
        done = offset + chunk.shape[0] - start
        # extrapolate the events per byte seen so far, so that a large file grows once or twice
        sink.reserve(need, int(need * (payload / done) * 1.02) + 16 if done < payload else need)
        sink.n, err, i, badx = _decode_chunk(words, sink.raw, sink.n, state, width, height)
        if err:
            w = int(words[i])
            if err == 1:
                reason = f"reserved EVT 3.0 word type 0x{w >> 12:X} (word 0x{w:04X}): corrupt data or not EVT 3.0"
            else:
                reason = outside_sensor(int(badx), int(state[4]), width, height)
            raise DecodeError(p, reason, offset=offset + WORD_BYTES * int(i))
        return chunk.shape[0]

    return decode_chunks(p, start, size, step, capacity=0, chunk_bytes=CHUNK_BYTES, unit=WORD_BYTES)


FORMAT = EventFormat(
    name="evt3",
    title="Prophesee EVT 3.0 (.raw)",
    read=read_evt3,
    version=DECODER_VERSION,
    suffixes=(),
    sniff=_sniff,
    sensor=evt2.FORMAT.sensor,  # the same .raw header
)
