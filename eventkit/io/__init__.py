"""Decoders: bytes on disk -> :data:`~eventkit.events.EVENT_DTYPE` arrays.

One module per format, each exporting ``read_<format>(path)``, a ``DECODER_VERSION`` and a
``FORMAT`` description (:class:`EventFormat`); its magic-byte sniffer and header sensor probe are
the module's private ``_sniff`` / ``_sensor``, reached as ``FORMATS[name].sniff`` / ``.sensor``.
:data:`FORMATS` maps format names to those descriptions, :data:`READERS` maps them to readers,
:func:`decoder_version` gives a format's decoder version (cached stores are keyed on it), and
:func:`read_events` picks the reader from the file's magic bytes first and its suffix second.

How to add a format
-------------------
Three files change: the new module, its test, and one line of the registry below.

1. ``eventkit/io/<name>.py`` (copy the shape of ``atis_bin.py``, the smallest streaming decoder):

   * ``DECODER_VERSION = 1`` (bump it whenever a fix changes the events of some file);
   * ``read_<name>(path) -> EventArray``: ``check_file(path)``, parse the header, refuse a
     truncated or impossible file with :class:`~eventkit.errors.DecodeError` (with the byte
     offset), and, for a payload of records, decode it with
     :func:`~eventkit.io._chunked.decode_chunks`: a Numba kernel per chunk that writes each event
     into ``sink.raw`` with :func:`~eventkit.io._common.put_event`, called from a small
     ``step(chunk, offset, sink)`` closure that keeps the format's state (time base, wrap, ...)
     and returns the bytes it consumed; a module constant ``CHUNK_BYTES`` sizes the chunks.
     Formats that a library reads whole (HDF5, MATLAB, NumPy) just convert its arrays, and
     call ``check_declared`` before allocating what a header declares;
   * optionally ``_sniff(head: bytes) -> bool`` on the first :data:`SNIFF_BYTES` bytes and
     ``_sensor(path) -> SensorSize | None`` from the header;
   * ``FORMAT = EventFormat(name="<name>", title=..., read=read_<name>,
     version=DECODER_VERSION, suffixes=(".ext",), sniff=_sniff, sensor=_sensor)``.

2. Add ``"<name>",`` to ``_REGISTRY`` below, before any format whose sniffer could also accept
   the new files (sniffers run in registry order). ``read_events``, ``guess_format``, the CLI
   (``--format``, ``eventkit formats``) and dataset manifests (``decoder = "<name>"``) all read
   :data:`FORMATS`, so nothing else needs to know about the format.

3. ``tests/eventkit/io/test_<name>.py``: build small files byte by byte (independently of the
   decoder), check the decoded columns, the sniffer and suffix via ``guess_format``, a file cut
   inside a record (DecodeError with the offset), and chunk boundaries
   (``monkeypatch.setattr(<name>, "CHUNK_BYTES", <a few records>)``).
"""

from __future__ import annotations

import importlib
import os

from ..errors import UnknownFormatError
from ..events import EventArray
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
    "decoder_version",
    "guess_format",
    "read_events",
]

# The registry: one line per format, in sniffing order (formats with the most specific
# signature first). "module" registers eventkit.io.<module>.FORMAT; "module:NAME" registers
# another EventFormat of that module.
_REGISTRY: tuple[str, ...] = (
    "aedat4",
    "aedat31",
    "aedat2",
    "evt3",
    "evt2",
    "prophesee_dat",
    "es_imagenet",  # before npz: a zip of pos.npy/neg.npy
    "numpy_files:NPY_FORMAT",
    "numpy_files:NPZ_FORMAT",
    "hdf5",
    "matlab",
    "atis_bin",
)


def _load_registry(entries: tuple[str, ...]) -> dict[str, EventFormat]:
    formats: dict[str, EventFormat] = {}
    for entry in entries:
        module, _, attr = entry.partition(":")
        fmt = getattr(importlib.import_module(f"{__name__}.{module}"), attr or "FORMAT")
        if fmt.name in formats:  # a copy-pasted name would silently shadow a format
            raise RuntimeError(f"eventkit.io registry: two formats are named {fmt.name!r}")
        formats[fmt.name] = fmt
    return formats


FORMATS: dict[str, EventFormat] = _load_registry(_REGISTRY)
READERS: dict[str, Reader] = {name: f.read for name, f in FORMATS.items()}


def decoder_version(format_name: str) -> str:
    """The version of the decoder of ``format_name`` (its module's ``DECODER_VERSION``), as a string.

    Cached stores record it per decoder, so a decoder fix (a version bump) invalidates exactly
    the stores built with that decoder.

    Raises
    ------
    UnknownFormatError
        If ``format_name`` is not a key of :data:`FORMATS`.
    """
    fmt = FORMATS.get(format_name)
    if fmt is None:
        raise UnknownFormatError(None, f"unknown format {format_name!r}; known formats: {sorted(FORMATS)}")
    return str(fmt.version)


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
