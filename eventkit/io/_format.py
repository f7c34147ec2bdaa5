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
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes], bool] | None = None
    sensor: Callable[[PathLike], SensorSize | None] | None = None


SNIFF_BYTES = 1 << 16
