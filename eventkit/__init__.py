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

# Heavier parts (Numba kernels, zarr, the pipeline) load on first use, so `import eventkit` and
# `eventkit info` stay fast.
_LAZY = {
    "to_frames": ("eventkit.frames", "to_frames"),
    "to_voxel_grid": ("eventkit.frames", "to_voxel_grid"),
    "to_time_surface": ("eventkit.frames", "to_time_surface"),
    "to_averaged_time_surface": ("eventkit.frames", "to_averaged_time_surface"),
    "open_store": ("eventkit.store", "open_store"),
    "convert": ("eventkit.pipeline", "convert"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eventkit' has no attribute {name!r}")


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
    "convert",
    "guess_format",
    "make_events",
    "open_store",
    "read_events",
    "to_averaged_time_surface",
    "to_frames",
    "to_time_surface",
    "to_voxel_grid",
    "validate_events",
]
