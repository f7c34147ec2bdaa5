"""The chunked-decoding loop shared by every streaming decoder (evt2, evt3, atis_bin,
prophesee_dat, aedat2, aedat31).

A streaming decoder reads its payload in chunks of ``chunk_bytes`` into one reused buffer and
hands each chunk to a *step*: a small function of the format, usually around one Numba kernel,
that decodes what it can into an :class:`EventSink` and says how many bytes it consumed. The
format keeps its own decoding state (time base, wrap offset, current packet, ...) in the step's
closure. Everything else is written once here: allocating the output, reading, handing a cut
record or header back at the front of the next chunk, skipping ahead, never reading past the size
the payload was sized at (a file that grows while it is read), and trimming the output.

Chunks are small (0.5-1 MiB) so that a chunk is still in the CPU cache when a kernel makes a
second pass over it, and peak memory stays at the output plus one chunk, whatever the size of
the recording; they are large enough that the per-chunk Python overhead is negligible.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

from ..events import EventArray
from ._common import alloc, event_bytes, trim

__all__ = ["EventSink", "Step", "decode_chunks"]


class EventSink:
    """The output of a chunked decode: a pre-allocated event array and how many events it holds.

    Attributes
    ----------
    events
        The :data:`~eventkit.events.EVENT_DTYPE` array (its first ``n`` entries are decoded).
    n
        Events decoded so far; a step advances it.
    """

    __slots__ = ("events", "n", "_raw")

    def __init__(self, capacity: int) -> None:
        self.events = alloc(max(0, capacity))
        self.n = 0
        self._raw: np.ndarray | None = None

    @property
    def raw(self) -> np.ndarray:
        """The bytes of :attr:`events` (for kernels that write with :func:`~eventkit.io._common.put_event`)."""
        if self._raw is None:
            self._raw = event_bytes(self.events)
        return self._raw

    def reserve(self, need: int, guess: int = 0) -> None:
        """Make room for ``need`` events in all: grow to ``max(need, guess, 1.5 x capacity)`` if short."""
        cap = self.events.shape[0]
        if need <= cap:
            return
        grown = alloc(max(need, guess, cap + cap // 2))
        grown[: self.n] = self.events[: self.n]
        self.events = grown
        self._raw = None

    def result(self) -> EventArray:
        """The decoded events (the output trimmed to :attr:`n`)."""
        return trim(self.events, self.n)


Step = Callable[[np.ndarray, int, EventSink], int]
"""``step(chunk, offset, sink) -> consumed``: decode the uint8 bytes ``chunk`` (file offset
``offset``) into ``sink`` and return how many bytes of it were consumed (see :func:`decode_chunks`)."""


def decode_chunks(
    source: str | os.PathLike[str] | BinaryIO,
    start: int,
    end: int,
    step: Step,
    *,
    capacity: int,
    chunk_bytes: int,
    unit: int = 1,
    keep: int = 0,
    lead: bytes = b"",
) -> EventArray:
    """Decode the payload bytes ``[start, end)`` of a file chunk by chunk with ``step``.

    Parameters
    ----------
    source
        The file's path, or the file opened in binary mode (left open; it saves an ``open`` on
        small files when the caller has just read the header from it).
    start, end
        The payload's byte range. Nothing at or past ``end`` is read, so a file that grows while
        it is read is decoded as it was sized; one that shrinks ends early (the format's state
        tells the caller how far it got).
    step
        ``step(chunk, offset, sink) -> consumed``. ``chunk`` is a C-contiguous uint8 array of the
        bytes from file offset ``offset``, a whole number of ``unit`` bytes. The step returns how
        many bytes it consumed: the rest (at most ``keep`` bytes: an item cut by the end of the
        chunk) is handed back at the front of the next chunk; a value past the end of the chunk
        skips ahead, the next chunk starting at ``offset + consumed``. It raises
        :class:`~eventkit.errors.DecodeError` on bad bytes (and may raise its own exception to
        stop early).
    capacity
        Events to allocate up front (a step may grow the output with :meth:`EventSink.reserve`).
    chunk_bytes
        Bytes read per chunk (rounded down to whole units).
    unit
        Chunks hold whole units (the record or word size); a shorter tail waits for the next read
        and is dropped if the payload ends first (callers check whole records up front).
    keep
        The most bytes a step may leave unconsumed.
    lead
        The first bytes of the payload, already read by the caller (not read again).

    Returns
    -------
    EventArray
        The decoded events.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return _decode(f, start, end, step, capacity, chunk_bytes, unit, keep, lead)
    return _decode(source, start, end, step, capacity, chunk_bytes, unit, keep, lead)


def _decode(
    f: BinaryIO, start: int, end: int, step: Step, capacity: int, chunk_bytes: int, unit: int, keep: int, lead: bytes
) -> EventArray:
    step_bytes = max(unit, chunk_bytes // unit * unit)
    room = unit - 1 + keep  # the most bytes ever handed back to the next chunk
    sink = EventSink(capacity)
    buf = np.empty(min(step_bytes, max(0, end - start)) + room, dtype=np.uint8)
    view = memoryview(buf)
    lead_end = start + len(lead)
    pos = start  # file offset of buf[0]
    carry = 0  # bytes at the front of buf handed back from the previous chunk
    fpos = -1  # where the file is positioned (-1: not known)
    while pos + carry < end:
        at = pos + carry  # file offset of the next byte to read
        want = min(step_bytes, end - at)
        got = 0
        if at < lead_end:
            got = min(want, lead_end - at)
            buf[carry : carry + got] = np.frombuffer(lead, dtype=np.uint8, count=got, offset=at - start)
        if got < want:
            if fpos != at + got:
                f.seek(at + got)
            while got < want:
                k = f.readinto(view[carry + got : carry + want])
                if not k:
                    break
                got += k
            fpos = at + got
        if not got:
            break  # the file shrank
        nbuf = carry + got
        whole = nbuf // unit * unit
        if not whole:
            carry = nbuf
            continue
        used = step(buf[:whole], pos, sink)
        if used < 0:
            raise RuntimeError(f"decoder step returned {used}: a byte count expected")
        if used >= nbuf:  # all consumed, or a skip past what was read
            pos += used
            carry = 0
            continue
        carry = nbuf - used
        if carry > room:
            raise RuntimeError(f"decoder step left {carry} bytes unconsumed, more than keep + unit - 1 = {room}")
        buf[:carry] = buf[used:nbuf]
        pos += used
    return sink.result()
