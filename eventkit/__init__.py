"""eventkit: fast, verified neuromorphic event datasets.

Decode any common event-camera format with :func:`read_events`; the event record is
:data:`EVENT_DTYPE` (t int64 µs, x/y uint16, p uint8 in {0, 1}).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import DecodeError, EventFormatError, EventkitError, UnknownFormatError
from .events import EVENT_DTYPE, EventArray, SensorSize, make_events, validate_events
from .io import FORMATS, READERS, guess_format, read_events

try:
    __version__ = version("eventkit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = [
    "EVENT_DTYPE",
    "FORMATS",
    "READERS",
    "DecodeError",
    "EventArray",
    "EventFormatError",
    "EventkitError",
    "SensorSize",
    "UnknownFormatError",
    "__version__",
    "guess_format",
    "make_events",
    "read_events",
    "validate_events",
]
