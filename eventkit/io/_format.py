"""The description of one on-disk event format, as registered in :data:`eventkit.io.FORMATS`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ..events import EventArray, SensorSize

PathLike = str | os.PathLike[str]
Reader = Callable[[PathLike], EventArray]


@dataclass(frozen=True)
class EventFormat:
    """One decodable format.

    Attributes
    ----------
    name
        Registry key, e.g. ``"aedat31"``; the value users pass as ``format=``.
    title
        Human-readable name printed by ``eventkit info``.
    read
        ``read(path) -> EventArray``; raises :class:`~eventkit.errors.DecodeError` on bad bytes.
    version
        The decoder's version (the module's ``DECODER_VERSION``), >= 1. Cached stores are keyed
        on it: bump it when a fix changes what ``read`` returns for some file, and only then.
    suffixes
        Lower-case file suffixes (with the dot) used when the magic bytes are inconclusive.
    sniff
        ``sniff(head) -> bool`` on the first :data:`SNIFF_BYTES` bytes of the file, or None when
        the format has no recognisable signature (then only the suffix can select it).
    sensor
        ``sensor(path) -> SensorSize | None``: geometry stated by the file's own header, if any.
    """

    name: str
    title: str
    read: Reader
    version: int
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes], bool] | None = None
    sensor: Callable[[PathLike], SensorSize | None] | None = None

    def __post_init__(self) -> None:
        # a registry entry, written by a developer: fail at import, not in a user's cache key
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise TypeError(f"EventFormat {self.name!r}: version must be an int >= 1, got {self.version!r}")


SNIFF_BYTES = 1 << 16
