"""ATIS 40-bit ``.bin`` recordings (N-MNIST, N-Caltech101).

Layout
------
The file has no header and no magic bytes: it is a flat sequence of 5-byte records, one per
event, in recording order.

====  =====================================================================
byte  meaning
====  =====================================================================
0     x (column, 0 = left), 8 bits
1     y (row, 0 = top), 8 bits
2     bit 7: polarity (1 = ON, 0 = OFF); bits 6..0: timestamp bits 22..16
3     timestamp bits 15..8
4     timestamp bits 7..0
====  =====================================================================

So each record carries a 23-bit timestamp in microseconds.

Timestamp-overflow records
--------------------------
Garrick Orchard's reference MATLAB reader for these datasets (``Read_Ndataset.m``, shipped with
N-MNIST and N-Caltech101) treats a record whose y byte equals 240 as a "timestamp overflow"
marker, not as an event: the marker itself is dropped and ``2**13`` µs is added to the timestamp
of every *later* record. Tonic's ``read_mnist_file`` follows the same rule; SpikingJelly's
``load_ATIS_bin`` does not (it would emit such a marker as an event at y = 240 and not advance
time). eventkit follows the reference reader. In the published N-MNIST and N-Caltech101 files
the 23-bit timestamp never overflows (a saccade sequence lasts about 300 ms) and no marker
occurs, so every reader agrees on them; the rule only matters for other recordings in this
format. A real event can never have y = 240 on these sensors (the ATIS is 304 x 240), so the
rule loses nothing.

Errors
------
A file whose size is not a multiple of 5 bytes ends in a partial record and raises
:class:`~eventkit.errors.DecodeError` with the offset of that record. With 8-bit coordinates a
record cannot address a pixel outside a 256 x 256 array, so there is no other way for the bytes
to be invalid.

Speed
-----
The payload is decoded in :data:`CHUNK_BYTES` chunks by :func:`~eventkit.io._chunked.decode_chunks`,
each by one fused Numba loop that writes straight into the pre-allocated output columns; peak
memory is the output plus one chunk.
"""

from __future__ import annotations

import os

import numba
import numpy as np

from ..errors import DecodeError
from ..events import EventArray
from ._chunked import EventSink, decode_chunks
from ._common import check_file, put_event
from ._format import EventFormat

__all__ = ["read_atis_bin", "FORMAT", "DECODER_VERSION", "RECORD_BYTES", "OVERFLOW_Y", "OVERFLOW_STEP_US"]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_atis_bin` returns for some file (it keys cached stores)."""
CHUNK_BYTES = 1 << 20

RECORD_BYTES = 5
OVERFLOW_Y = 240
OVERFLOW_STEP_US = 1 << 13


@numba.njit(cache=True, nogil=True)
def _decode_chunk(buf, ob, n, t_offset):  # pragma: no cover - compiled
    """Decode whole 5-byte records of ``buf`` into the event bytes ``ob`` (an :data:`EVENT_DTYPE`
    array's bytes, written with :func:`~eventkit.io._common.put_event`) from event ``n``.

    Returns the new event count and the new timestamp offset (overflow markers seen so far).
    """
    nrec = buf.shape[0] // 5
    for i in range(nrec):
        j = 5 * i
        b1 = buf[j + 1]
        b2 = np.int64(buf[j + 2])
        if b1 == 240:
            t_offset += 8192
            continue
        put_event(ob, n, t_offset + (((b2 & 0x7F) << 16) | (np.int64(buf[j + 3]) << 8) | np.int64(buf[j + 4])),
                  buf[j], b1, b2 >> 7)
        n += 1
    return n, t_offset


def read_atis_bin(path: str | os.PathLike[str]) -> EventArray:
    """Decode an ATIS 40-bit ``.bin`` recording (N-MNIST, N-Caltech101).

    Parameters
    ----------
    path
        The ``.bin`` file.

    Returns
    -------
    EventArray
        Events in file order, t in microseconds as stored (not re-zeroed) plus ``2**13`` µs per
        preceding timestamp-overflow record (y byte == 240; those records are not events).

    Raises
    ------
    DecodeError
        If the file ends inside a record (its size is not a multiple of 5 bytes).
    FileNotFoundError
        If the file does not exist.
    """
    p = check_file(path)
    size = os.path.getsize(p)
    nrec, rest = divmod(size, RECORD_BYTES)
    if rest:
        raise DecodeError(
            p,
            f"file size {size} is not a multiple of the {RECORD_BYTES}-byte ATIS record: the last "
            f"record is cut after {rest} byte(s) (truncated download or not an ATIS .bin file)",
            offset=nrec * RECORD_BYTES,
        )
    t_offset = 0  # the time added by the overflow records seen so far

    def step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
        nonlocal t_offset
        sink.n, t_offset = _decode_chunk(chunk, sink.raw, sink.n, t_offset)
        return chunk.shape[0]

    return decode_chunks(p, 0, size, step, capacity=nrec, chunk_bytes=CHUNK_BYTES, unit=RECORD_BYTES)


FORMAT = EventFormat(
    name="atis_bin",
    title="ATIS 40-bit .bin (N-MNIST, N-Caltech101)",
    read=read_atis_bin,
    version=DECODER_VERSION,
    suffixes=(".bin",),
    sniff=None,
    sensor=None,
)
