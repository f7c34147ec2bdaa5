"""Decoders: bytes on disk -> :data:`~eventkit.events.EVENT_DTYPE` arrays.

One module per format, each exporting ``read_<format>(path)`` and a ``FORMAT`` description.
:data:`FORMATS` maps format names to those descriptions, :data:`READERS` maps them to readers,
and :func:`read_events` picks the reader from the file's magic bytes first and its suffix second.
"""

from __future__ import annotations

import os

from ..errors import UnknownFormatError
from ..events import EventArray
from . import aedat2, aedat4, aedat31, atis_bin, es_imagenet, evt2, evt3, hdf5, matlab, numpy_files, prophesee_dat
from ._common import (
    DEFAULT_MAX_EXPAND_RATIO,
    ENV_MAX_EVENTS,
    ENV_MAX_DECODE_RATIO,
    check_file,
    decode_guard,
    decode_limits,
)
from ._format import SNIFF_BYTES, EventFormat, Reader

__all__ = [
    "DEFAULT_MAX_EXPAND_RATIO",
    "ENV_MAX_EVENTS",
    "ENV_MAX_DECODE_RATIO",
    "FORMATS",
    "READERS",
    "EventFormat",
    "Reader",
    "decode_limits",
    "guess_format",
    "read_events",
]

# Order matters for sniffing: formats with the most specific signature first.
FORMATS: dict[str, EventFormat] = {
    f.name: f
    for f in (
        aedat4.FORMAT,
        aedat31.FORMAT,
        aedat2.FORMAT,
        evt3.FORMAT,
        evt2.FORMAT,
        prophesee_dat.FORMAT,
        es_imagenet.FORMAT,  # before npz: a zip of pos.npy/neg.npy
        numpy_files.NPY_FORMAT,
        numpy_files.NPZ_FORMAT,
        hdf5.FORMAT,
        matlab.FORMAT,
        atis_bin.FORMAT,
    )
}
READERS: dict[str, Reader] = {name: f.read for name, f in FORMATS.items()}


def guess_format(path: str | os.PathLike[str]) -> str:
    """Name the format of ``path``: by magic bytes / header first, by suffix second.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    UnknownFormatError
        If neither the content nor the suffix identifies a known format.
    """
    p = check_file(path)
    with open(p, "rb") as f:
        head = f.read(SNIFF_BYTES)
    for name, fmt in FORMATS.items():
        if fmt.sniff is not None and fmt.sniff(head):
            return name
    suffix = os.path.splitext(p)[1].lower()
    for name, fmt in FORMATS.items():
        if suffix in fmt.suffixes:
            return name
    raise UnknownFormatError(
        p,
        f"unrecognised event file (no known header, suffix {suffix or '(none)'!r}); "
        f"name the format (format=... in Python, --format on the command line), one of {sorted(FORMATS)}",
    )


def read_events(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    max_events: int | None = None,
    max_expand_ratio: float | None = None,
) -> EventArray:
    """Decode an event recording into an :data:`~eventkit.events.EVENT_DTYPE` array.

    Every failure on the file's bytes is a :class:`~eventkit.errors.DecodeError` naming the file
    (and the byte offset where meaningful): an exception a parsing library raises on bad bytes
    (zlib, zipfile, h5py, scipy, lz4, ...) is turned into one. Files whose *declared* sizes
    (array shapes, dataset extents, decompressed sizes) would decode to far more data than the
    file holds are refused before anything is allocated for them (decompression bombs).

    Parameters
    ----------
    path
        The recording.
    format
        A key of :data:`FORMATS` (e.g. ``"aedat31"``, ``"evt3"``); sniffed from the file when None.
    max_events
        Refuse files declaring more events than this (default: no absolute cap, or the
        environment variable ``EVENTKIT_MAX_EVENTS``).
    max_expand_ratio
        Refuse files declaring more than this many decoded bytes per byte of file (default
        :data:`DEFAULT_MAX_EXPAND_RATIO` = 100, or ``EVENTKIT_MAX_DECODE_RATIO``; files may always
        declare 64 MiB). Real recordings decode to 1-4 bytes per file byte.

    Returns
    -------
    EventArray
        Events in file order; t in microseconds.

    Raises
    ------
    DecodeError
        The file is truncated, corrupt, declares events outside the sensor it declares, or
        declares more data than the limits allow (the message names the byte offset where
        meaningful, and how to raise a limit).
    UnknownFormatError
        The format is unknown.
    FileNotFoundError
        The file does not exist.
    """
    p = check_file(path)
    with decode_limits(max_events, max_expand_ratio), decode_guard(p):
        if format is None:
            format = guess_format(p)
        fmt = FORMATS.get(format)
        if fmt is None:
            raise UnknownFormatError(p, f"unknown format {format!r}; known formats: {sorted(FORMATS)}")
        return fmt.read(p)
