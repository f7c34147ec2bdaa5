"""Small helpers shared by the decoders: header scanning, bounded chunked reads, output trimming."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ..errors import DecodeError
from ..events import EVENT_DTYPE, EventArray

# Decoders read the payload in slices of this many bytes so that peak memory stays close to
# the size of the decoded output, whatever the size of the recording.
CHUNK_BYTES = 1 << 24


def check_file(path: str | os.PathLike[str]) -> str:
    """Return ``path`` as a string, raising FileNotFoundError / IsADirectoryError with a clear message."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p}: no such file")
    if os.path.isdir(p):
        raise IsADirectoryError(f"{p}: is a directory, expected an event recording")
    return p


def header_end(path: str, prefix: bytes, *, limit: int = 1 << 24) -> tuple[int, list[bytes]]:
    """Scan the text header made of lines that start with ``prefix``.

    Returns the byte offset of the first byte after the header and the header lines (with
    their line endings stripped). Stops at the first line not starting with ``prefix``.
    """
    lines: list[bytes] = []
    pos = 0
    with open(path, "rb") as f:
        while pos < limit:
            first = f.read(len(prefix))
            if first != prefix:
                break
            rest = f.readline()
            line = first + rest
            if not rest.endswith(b"\n"):
                # header line cut by the end of the file: everything is header
                lines.append(line.rstrip(b"\r\n"))
                pos += len(line)
                break
            lines.append(line.rstrip(b"\r\n"))
            pos += len(line)
        else:
            raise DecodeError(path, f"text header longer than {limit} bytes", offset=pos)
    return pos, lines


def iter_chunks(path: str, start: int, record: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(file_offset, uint8 array)`` slices of the payload from ``start``, each a multiple of ``record`` bytes.

    A trailing partial record is yielded as-is in the last slice; the caller decides whether that
    is an error.
    """
    step = max(record, (chunk_bytes // record) * record)
    with open(path, "rb") as f:
        f.seek(start)
        off = start
        while True:
            buf = f.read(step)
            if not buf:
                return
            yield off, np.frombuffer(buf, dtype=np.uint8)
            off += len(buf)


def trim(out: EventArray, n: int) -> EventArray:
    """Return the first ``n`` events of a pre-allocated output, copying only when it saves memory."""
    if n == out.shape[0]:
        return out
    if n < out.shape[0] // 2:
        return out[:n].copy()
    return out[:n]


def alloc(n: int) -> EventArray:
    """Allocate an uninitialised output of ``n`` events."""
    return np.empty(int(n), dtype=EVENT_DTYPE)
