"""A conversion described as data: which samples go to which shard of which store.

Tasks are aligned to the store's shards (one task writes whole shards of one split), so no two
workers ever write the same shard file: the store's one-writer-per-shard rule holds by
construction, on one machine or on a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datasets.layouts import Sample
from ..datasets.manifest import DatasetManifest
from .spec import FrameSpec

__all__ = ["ShardTask", "ShardResult", "Failure", "PlannedShard", "ShardPlan", "plan_shards", "shards_of"]


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


def shards_of(splits: Sequence[str], samples: Sequence[Any], per_shard: int) -> Iterator[tuple[str, int, tuple]]:
    """``(split, shard, ((index, sample), ...))`` of every store shard, splits in the given order.

    ``samples`` have a ``.split``; ``index`` is a sample's position within its split, and shard
    ``k`` of a split holds indices ``[k * per_shard, (k + 1) * per_shard)``. A shard's position
    in this sequence is its global number ``g`` (part K of N owns ``g % N == K``).
    """
    for split in splits:
        items = [s for s in samples if s.split == split]
        for lo in range(0, len(items), per_shard):
            yield split, lo // per_shard, tuple((i, items[i]) for i in range(lo, min(lo + per_shard, len(items))))


@dataclass(frozen=True)
class PlannedShard:
    """One shard with samples still to convert; ``todo`` None means all of them."""

    split: str
    shard: int
    samples: tuple  # ((index in split, sample), ...), in index order
    todo: frozenset[int] | None


@dataclass
class ShardPlan:
    """What a (re-)run must convert: the shards to do, and the samples already in the store."""

    shards: list[PlannedShard] = field(default_factory=list)
    skipped: int = 0  # samples of the owned shards already in the store
    owned: int = 0  # shards this run (or part) owns, done or not


def plan_shards(splits: Sequence[str], samples: Sequence[Any], per_shard: int,
                missing: Mapping[str, Collection[int]], *, part: tuple[int, int] | None = None,
                whole: bool = False) -> ShardPlan:  # fmt: skip
    """Plan a conversion (``eventkit convert`` and ``eventkit synth`` alike) from what the store lacks.

    Parameters
    ----------
    splits, samples, per_shard
        As :func:`shards_of`.
    missing
        Split -> indices not yet in the store (the writer's ``missing(split)``).
    part
        ``(K, N)``: keep only the shards of job-array part K of N.
    whole
        Redo a partly written shard whole (event shards are written all at once); otherwise
        only its missing samples are converted (``todo``) and the others count as skipped.
    """
    plan = ShardPlan()
    for g, (split, shard, group) in enumerate(shards_of(splits, samples, per_shard)):
        if part is not None and g % part[1] != part[0]:
            continue  # another part's shard
        plan.owned += 1
        todo = frozenset(i for i, _ in group if i in missing[split])
        if whole and todo:
            todo = frozenset(i for i, _ in group)
        plan.skipped += len(group) - len(todo)
        if todo:
            plan.shards.append(PlannedShard(split, shard, group, None if len(todo) == len(group) else todo))
    return plan
