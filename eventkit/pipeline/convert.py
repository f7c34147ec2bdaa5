"""``eventkit.convert``: a dataset -> a Zarr frame store (or event store), resumable, in parallel."""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..datasets.layouts import Sample, iter_samples
from ..datasets.manifest import DatasetManifest
from ..datasets.prepare import dataset_dir, download_dataset
from .._signals import deferred_sigterm, sigterm_as_interrupt
from ..datasets.registry import get_manifest
from ..errors import DatasetNotFoundError, OptionError
from .executors import LazyExecutor
from .plan import Failure, ShardTask
from .run import run_shard_tasks
from .spec import FrameSpec
from .stages import convert_shard, sample_span

if TYPE_CHECKING:
    from ..store._replace import Target

__all__ = ["ConversionReport", "convert"]

log = logging.getLogger("eventkit")


@dataclass
class ConversionReport:
    """What a conversion did."""

    store: Path
    samples: dict[str, int]
    converted: int = 0  # samples written by this run (0 when the store was already complete)
    skipped: int = 0  # samples already in the store from an earlier run
    failures: list[Failure] = field(default_factory=list)
    complete: bool = False


def _manifest_id(manifest: DatasetManifest) -> int | str:
    """The manifest's version plus a fingerprint of its files' hashes.

    Two manifests with one name and version but different files (a re-generated synthetic
    dataset served from a mirror, a corrected upstream archive) then give different cache keys,
    so a store of the old data is never served for the new.
    """
    import hashlib

    files = sorted((f.filename, sorted(f.remote.hashes.items())) for f in manifest.files)
    if not files:
        return manifest.version
    return f"{manifest.version}+{hashlib.sha256(repr(files).encode()).hexdigest()[:12]}"


def _decoder_versions(manifest: DatasetManifest) -> dict[str, str]:
    from .. import __version__

    # A decoder fix must not be served from a stale cache: the eventkit version stands in for
    # the decoder's version in the cache key.
    return {manifest.decoder: __version__}


def _group(samples: list[Sample], split: str, per_shard: int) -> list[tuple[int, tuple[tuple[int, Sample], ...]]]:
    indexed = [(i, s) for i, s in enumerate(samples) if s.split == split]
    return [
        (k // per_shard, tuple(indexed[k : k + per_shard])) for k in range(0, len(indexed), per_shard)
    ]


def convert(
    dataset: str | os.PathLike[str] | DatasetManifest,
    *,
    frames: int | None = None,
    split_by: str = "number",
    duration: int | None = None,
    dtype: str = "uint16",
    downsample: int | None = None,
    binary: bool = False,
    events: bool = False,
    root: str | os.PathLike[str] | None = None,
    from_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    executor: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> ConversionReport:
    """Convert every sample of a dataset into a Zarr frame store (or, with ``events=True``, an event store).

    The job resumes: samples already in the store are skipped, so re-running after a crash or a
    kill finishes only what is missing. Per-sample failures (a corrupt recording) are listed in
    the report while every other sample is converted; the store is marked complete only when
    every sample is in it.

    Parameters
    ----------
    dataset
        Bundled dataset name, manifest path or loaded manifest.
    frames, split_by, duration, dtype, downsample, binary
        Frame parameters (see :func:`eventkit.to_frames`): ``frames=T`` with ``split_by``
        ``"number"`` or ``"time"``, or ``duration=D`` µs (variable T, padded to the longest).
    events
        Write the event store (ragged events + offsets) instead of frames.
    root
        Data root (see :func:`eventkit.datasets.prepare.data_root`).
    from_dir
        Convert an already-extracted copy (e.g. SpikingJelly's ``extract/`` folder) without
        downloading.
    out
        Store path (default ``<root>/<dataset>/stores/<name from the parameters>``).
    executor
        ``"auto"`` (default: ``"serial"`` for fewer than 500 samples to convert, on 1-2 CPU
        cores or without Dask installed, else ``"dask"``; with ``scheduler``, ``"dask"``; the choice and its reason are
        logged at INFO on the ``eventkit`` logger), ``"dask"`` (a local cluster of processes, or
        the cluster at ``scheduler``) or ``"serial"`` (this process). Nothing is started when
        every sample is already in the store.
    workers
        Local Dask worker processes (default: one per core).
    scheduler
        Address of an existing Dask scheduler.
    progress
        Show a progress bar.
    overwrite
        Rebuild a store whose parameters differ instead of refusing. Only an eventkit store is
        replaced: the new one is written to ``<out>.new`` and swapped in when complete (the old
        store stays readable until then); a folder holding anything else is refused.

    Returns
    -------
    ConversionReport

    Raises
    ------
    StoreMismatchError
        The store at ``out`` was made with other parameters (and ``overwrite`` is False), or
        ``out`` is a link, a file or a folder that is not an eventkit store.
    StoreLockedError
        Another conversion is writing this store.
    DatasetNotFoundError, DownloadError
        The data is missing and cannot be fetched (the message says how to get it).
    OptionError
        A bad parameter (``downsample`` larger than the sensor, an unknown executor, an object-store URL
        such as ``s3://...`` for ``out``/``from_dir``/``root``, which are not supported yet, ...).
    SchedulerUnreachableError
        No Dask scheduler answers at ``scheduler``.
    """
    # Refuse URLs and make every path absolute before anything is created or sent to a worker
    # (a worker started in another directory must see the same files).
    if root is None and os.environ.get("EVENTKIT_ROOT"):
        root = os.environ["EVENTKIT_ROOT"]  # resolved here, in this process's working directory
    root, from_dir, out = (local_path(p, opt) for p, opt in ((root, "--root (root=)"), (from_dir, "--from (from_dir=)"),
                                                                (out, "--out (out=)")))  # fmt: skip
    with sigterm_as_interrupt():  # SIGTERM unwinds like Ctrl-C: the lock is released, the store stays resumable
        return _convert(dataset, frames, split_by, duration, dtype, downsample, binary, events, root, from_dir, out,
                        executor, workers, scheduler, progress, overwrite)


# ``s3://bucket/x``, ``gs://...``, ``file:///...``: a scheme of RFC 3986 (2+ characters, so never a
# drive letter) and ``:/`` -- pathlib (and so click's path options) collapse ``s3://b`` to ``s3:/b``
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def local_path(path: str | os.PathLike[str] | None, option: str) -> Path | None:
    """``path`` as an absolute local path (``~`` expanded; links are kept, not resolved), or None.

    Raises
    ------
    OptionError
        ``path`` is a URL (``s3://...``): convert writes only local or shared-filesystem paths so far.
    """
    if path is None:
        return None
    text = os.fspath(path)
    if isinstance(text, str) and _URL.match(text):  # a local folder really named "s3:" can be given as ./s3:/...
        raise OptionError(
            f"{text}: object-store URLs are not supported yet ({option}); write to a local or "
            f"shared-filesystem path instead"
        )
    return Path(os.path.abspath(os.path.expanduser(text)))


def _convert(dataset, frames, split_by, duration, dtype, downsample, binary, events, root, from_dir, out, executor,
             workers, scheduler, progress, overwrite) -> ConversionReport:
    """:func:`convert` with checked, absolute paths."""
    from ..store._replace import replace_store
    from ..store.layout import store_name

    m = dataset if isinstance(dataset, DatasetManifest) else get_manifest(dataset)
    spec = None if events else FrameSpec(frames, split_by, duration, dtype, downsample, binary)
    if spec is not None:
        _check_downsample(spec, m)
    ex = LazyExecutor(executor, workers=workers, scheduler=scheduler)  # checks the options; starts nothing
    if from_dir is not None:
        data = Path(from_dir)
        if not data.is_dir():
            raise DatasetNotFoundError(f"{data}: --from folder does not exist")
    else:
        data = Path(os.path.abspath(download_dataset(m, root, progress=progress)))  # a relative data root
    samples = iter_samples(m, data)
    counts = {s: sum(1 for x in samples if x.split == s) for s in m.splits}
    if not samples:
        raise DatasetNotFoundError(f"{data}: no samples of {m.name!r} found; is this the extracted dataset folder?")
    params: dict[str, Any] = {} if spec is None else spec.params()
    name = store_name({"events": True} if events else params, kind="events" if events else "frames")
    store_path = Path(out) if out is not None else Path(os.path.abspath(dataset_dir(m, root) / "stores" / name))
    common = dict(
        splits=counts, classes=list(m.classes), dataset=m.name, manifest_version=_manifest_id(m),
        decoder_versions=_decoder_versions(m), overwrite=overwrite,
    )

    with replace_store(store_path, overwrite=overwrite) as target:
        report = _convert_into(target, m, spec, samples, counts, params, events, dtype, common, ex, progress)
    if target.swapped:
        report.store = target.final
    return report


def _convert_into(target: Target, m: DatasetManifest, spec: FrameSpec | None, samples: list[Sample],
                  counts: dict[str, int], params: dict[str, Any], events: bool, dtype: str, common: dict[str, Any],
                  ex: LazyExecutor, progress: bool) -> ConversionReport:
    """Create (or resume) the store at ``target.path`` and convert every missing sample into it."""
    from ..store import create_store
    from ..store.event_store import create_event_store

    store_path = target.path
    writer = None
    try:
        if events:
            writer = target.create(create_event_store, sensor=m.sensor, **common)
            per_shard = writer.samples_per_block
        else:
            sensor = spec.sensor_out(m.sensor)
            t_max = _t_max(spec, m, samples, ex)
            writer = target.create(create_store, t_max=t_max, sensor=sensor, params=params, dtype=dtype, **common)
            per_shard = writer.samples_per_shard
        missing = {s: set(writer.missing(s).tolist()) for s in m.splits}
        report = ConversionReport(store_path, counts)
        tasks = []
        for split in m.splits:
            split_samples = [s for s in samples if s.split == split]
            for shard, group in _group(split_samples, split, per_shard):
                todo = frozenset(i for i, _ in group if i in missing[split])
                if todo:
                    # event blocks are all-or-nothing (redo whole); frame shards keep what is there
                    tasks.append(ShardTask(m, spec, store_path, writer.cache_key, split, shard, group,
                                           "events" if events else "frames",
                                           None if events or len(todo) == len(group) else todo))
        report.skipped = sum(counts.values()) - sum(len(v) for v in missing.values())
        if tasks:  # before the progress bar; a finished store starts no executor (no cluster to do nothing)
            with deferred_sigterm():  # a cluster cut off while starting fails to close
                ex.start(sum(len(v) for v in missing.values()))
        run_shard_tasks(ex, convert_shard, tasks, writer, report, progress=progress, desc=f"convert {m.name}")
    finally:
        if writer is not None:
            writer.close()  # release the lock on any exit (finalize has already released it)
        ex.close()
    return report


def _t_max(spec: FrameSpec, m: DatasetManifest, samples: list[Sample], ex) -> int:
    if spec.frames is not None:
        return spec.frames
    by_file: dict[Path, list[Sample]] = defaultdict(list)
    for s in samples:
        by_file[s.source].append(s)
    groups = list(by_file.values())
    with deferred_sigterm():  # a cluster cut off while starting fails to close
        ex.start(len(samples))
    spans: list[int] = []
    for _, result in ex.map_unordered(_spans_of, [(m, g) for g in groups], n_samples=len(samples)):
        if not isinstance(result, BaseException):
            spans += [s for s in result if s is not None]
    return max((spec.t_bound(s) for s in spans), default=1)


def _check_downsample(spec: FrameSpec, m: DatasetManifest) -> None:
    """Refuse a ``downsample`` factor that leaves frames of fewer than 2 pixels a side."""
    k = spec.downsample
    side = min(m.sensor.width, m.sensor.height)
    if k is not None and k > side // 2:
        raise OptionError(
            f"--downsample (downsample=) {k} is too large for {m.name}'s {m.sensor.width} x {m.sensor.height} "
            f"sensor: frames would be {-(-m.sensor.width // k)} x {-(-m.sensor.height // k)} pixels; use at most "
            f"{max(1, side // 2)}"
        )


def _spans_of(job: tuple[DatasetManifest, list[Sample]]) -> list[int | None]:
    return sample_span(*job)
