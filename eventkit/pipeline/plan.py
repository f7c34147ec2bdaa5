"""A conversion described as data: which samples go to which shard of which store.

Tasks are aligned to the store's shards (one task writes whole shards of one split), so no two
workers ever write the same shard file: the store's one-writer-per-shard rule holds by
construction, on one machine or on a Dask cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..datasets.layouts import Sample
from ..datasets.manifest import DatasetManifest
from .spec import FrameSpec

__all__ = ["ShardTask", "ShardResult", "Failure"]


@dataclass(frozen=True)
class ShardTask:
    """Convert the samples of one shard and write them (everything a worker needs, picklable)."""

    manifest: DatasetManifest
    spec: FrameSpec | None  # None for the event store
    store_path: Path
    cache_key: str
    split: str
    shard: int
    samples: tuple[tuple[int, Sample], ...]  # (index in split, sample), in index order
    kind: str = "frames"  # or "events" for the event store
    # Indices (in split) still to convert; None = all. The others are already in the store (a
    # shard left partly written by an earlier run with failed samples) and are not decoded again.
    todo: frozenset[int] | None = None


@dataclass(frozen=True)
class Failure:
    """A sample that could not be converted: which, from which file, and why."""

    split: str
    sample_id: str
    source: str
    reason: str


@dataclass(frozen=True)
class ShardResult:
    split: str
    shard: int
    written: int
    failures: tuple[Failure, ...] = ()
