"""The work of one task: decode, integrate and write one shard. Pure functions of their inputs."""

from __future__ import annotations

import os

import numpy as np

from ..datasets.layouts import Sample, load_sample_events, recording_times
from ..datasets.manifest import DatasetManifest
from ..errors import EventkitError
from ..events import EventArray
from ._malloc import tune_allocator
from .plan import Failure, ShardResult, ShardTask

__all__ = ["convert_shard", "sample_span"]


class _RecordingCache:
    """Keeps the last decoded recording: samples cut from one recording are adjacent, so each
    long recording is decoded once per shard while memory holds one recording at a time (its
    windows are then found by binary search, see :func:`recording_times`)."""

    def __init__(self, manifest: DatasetManifest) -> None:
        self.manifest = manifest
        self.path: os.PathLike | None = None
        self.events: EventArray | None = None
        self.sorted_t: np.ndarray | None = None

    def events_of(self, sample: Sample) -> EventArray:
        if sample.start_us is None:  # one file, one sample: nothing to share
            return load_sample_events(self.manifest, sample)
        if self.path != sample.source:
            from ..io import read_events

            self.events = self.sorted_t = None  # release the previous recording before decoding the next
            self.events = read_events(sample.source, format=self.manifest.decoder)
            self.sorted_t = recording_times(self.events)
            self.path = sample.source
        return load_sample_events(self.manifest, sample, self.events, self.sorted_t)


# What a broken sample may raise: our own errors (corrupt file, bad labels) and OS errors
# (unreadable file). Anything else is a bug and should stop the job loudly.
_SAMPLE_ERRORS = (EventkitError, OSError, ValueError)


def convert_shard(task: ShardTask) -> ShardResult:
    """Decode, integrate and write every sample of ``task``'s shard; list the samples that failed.

    Only the samples in ``task.todo`` are decoded (all when it is None); samples of the shard
    already in the store are kept as they are. The shard is written in one go when every sample
    converts; otherwise the good samples are written one by one and the failed ones stay
    missing, so a re-run retries only them. ``ShardResult.written`` counts the samples this task
    converted and wrote.
    """
    tune_allocator()  # the same allocator behaviour whatever the worker's environment (see _malloc)
    cache = _RecordingCache(task.manifest)
    good: list[tuple[int, np.ndarray | EventArray, int, str]] = []
    failures: list[Failure] = []
    sensor = task.manifest.sensor
    for index, sample in task.samples:
        if task.todo is not None and index not in task.todo:
            continue
        try:
            events = cache.events_of(sample)
            payload = events if task.kind == "events" else task.spec.integrate(events, sensor)
        except _SAMPLE_ERRORS as err:
            failures.append(Failure(task.split, sample.sample_id, str(sample.source), str(err)))
            continue
        good.append((index, payload, sample.label, sample.sample_id))
    if task.kind == "events":
        written = _write_events(task, good, failures)
    else:
        written = _write_frames(task, good, failures)
    return ShardResult(task.split, task.shard, written, tuple(failures))


def _write_frames(task: ShardTask, good, failures) -> int:
    from ..store._worker_cache import worker_store_writer

    # kept open across the shards this process writes when the store is on an object store
    writer = worker_store_writer(task.store_path, task.cache_key, task.split, task.shard)
    if failures or not good:
        for index, f, label, sid in good:
            writer.write_sample(task.split, index, f, label, sid)
        return len(good)
    new = {index: (f, label, sid) for index, f, label, sid in good}
    indices = [index for index, _ in task.samples]
    kept = [i for i in indices if i not in new]
    if kept:  # samples an earlier run wrote: read the shard back once and rewrite it whole
        lo, hi = indices[0], indices[-1] + 1
        g = writer.root[task.split]
        frames, lengths = g["frames"][lo:hi], g["lengths"][lo:hi]
        labels, sids = g["labels"][lo:hi], g["sample_ids"][lo:hi]
        for i in kept:
            k = i - lo
            new[i] = (frames[k, : int(lengths[k])], int(labels[k]), str(sids[k]))
    writer.write_shard(task.split, task.shard, [new[i] for i in indices])
    return len(good)


def _write_events(task: ShardTask, good, failures) -> int:
    from ..store._worker_cache import worker_store_writer

    writer = worker_store_writer(task.store_path, task.cache_key, task.split, task.shard, kind="events")
    if failures:  # event shards are written whole; a shard with a broken sample waits for a fix
        return 0
    writer.write_shard(task.split, task.shard, [(ev, label, sid) for _, ev, label, sid in good])
    return len(good)


def sample_span(manifest: DatasetManifest, samples: list[Sample]) -> list[int | None]:
    """Time span (t_last - t_first, µs) of each sample, decoding only those without a window.

    Used to bound the number of frames in duration mode. None marks a sample that failed to
    decode (the conversion reports it later).
    """
    tune_allocator()  # it decodes whole recordings too (see _malloc)
    cache = _RecordingCache(manifest)
    out: list[int | None] = []
    for s in samples:
        if s.start_us is not None and not manifest.samples.get("transform", {}).get("rebase_t"):
            out.append(max(s.end_us - s.start_us - 1, 0))
            continue
        try:
            ev = cache.events_of(s)
        except _SAMPLE_ERRORS:
            out.append(None)
            continue
        out.append(int(ev["t"].max() - ev["t"].min()) if ev.size else 0)
    return out
