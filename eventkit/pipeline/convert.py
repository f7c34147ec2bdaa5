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
from .executors import DeferredScheduler, LazyExecutor
from .plan import Failure, ShardTask, plan_shards, shards_of
from .run import run_conversion
from .spec import FrameSpec, make_spec
from .stages import convert_shard, sample_span

if TYPE_CHECKING:
    from ..store._replace import Target

__all__ = ["ConversionReport", "check_part_options", "convert", "parse_part"]

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
    part: tuple[int, int] | None = None  # (K, N) of a job-array part run
    part_shards: int = 0  # shards that part K of N owns
    part_written: int = 0  # of those, shards this run wrote completely (the others were there already or failed)


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
    from ..io import decoder_version

    # A decoder fix must not be served from a stale cache: the decoder's own version (bumped
    # with each fix) is in the cache key, and only the stores of that decoder are invalidated.
    return {manifest.decoder: decoder_version(manifest.decoder)}


def convert(
    dataset: str | os.PathLike[str] | DatasetManifest,
    *,
    frames: int | None = None,
    split_by: str = "number",
    duration: int | None = None,
    dtype: str | None = None,
    downsample: int | None = None,
    binary: bool = False,
    representation: str = "frames",
    bins: int | None = None,
    polarity: str | None = None,
    time_norm: str | None = None,
    tau: float | None = None,
    dt: int | None = None,
    cell_size: int | None = None,
    surface_size: int | None = None,
    time_window: int | None = None,
    decay: str | None = None,
    events: bool = False,
    root: str | os.PathLike[str] | None = None,
    from_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    executor: str = "auto",
    workers: int | None = None,
    scheduler: str | DeferredScheduler | None = None,
    progress: bool = True,
    overwrite: bool = False,
    part: tuple[int | None, int] | str | None = None,
    finalize: bool = False,
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
        ``dtype`` None is ``"uint16"`` for frames and ``"float32"`` for the float representations
        (``"float16"`` halves their size).
    representation
        ``"frames"`` (count frames, default), ``"voxel"`` (:func:`eventkit.to_voxel_grid`: ``bins``,
        ``polarity``, ``time_norm``), ``"time-surface"`` (:func:`eventkit.to_time_surface`: ``tau``,
        ``dt``; variable T, padded) or ``"hats"`` (:func:`eventkit.to_averaged_time_surface`:
        ``cell_size``, ``surface_size``, ``time_window``, ``tau``, ``decay``; T = 1). The
        representation and its parameters are part of the store's name and cache key.
    bins, polarity, time_norm, tau, dt, cell_size, surface_size, time_window, decay
        Options of the float representations (None: not given / the default).
    events
        Write the event store (ragged events + offsets) instead of frames.
    root
        Data root (see :func:`eventkit.datasets.prepare.data_root`).
    from_dir
        Convert an already-extracted copy (e.g. SpikingJelly's ``extract/`` folder) without
        downloading.
    out
        Store path (default ``<root>/<dataset>/stores/<name from the parameters>``), or an fsspec URL
        of an object store (``s3://bucket/x.zarr``, ``gs://...``; credentials and endpoint from the
        standard environment, see docs/cluster.md "Object stores"). ``overwrite`` cannot replace a store there.
    executor
        ``"auto"`` (default: ``"serial"`` for fewer than 500 samples to convert, on 1-2 CPU
        cores or without Dask installed, else ``"dask"``; with ``scheduler``, ``"dask"``; the choice and its reason are
        logged at INFO on the ``eventkit`` logger), ``"dask"`` (a local cluster of processes, or
        the cluster at ``scheduler``) or ``"serial"`` (this process). Nothing is started when
        every sample is already in the store.
    workers
        Local Dask worker processes (default: one per core).
    scheduler
        Address of an existing Dask scheduler, or a :class:`~.executors.DeferredScheduler` (``--cluster``)
        started here only when the store is not complete yet.
    progress
        Show a progress bar.
    overwrite
        Rebuild a store whose parameters differ instead of refusing. Only an eventkit store is
        replaced: the new one is written to ``<out>.new`` and swapped in when complete (the old
        store stays readable until then); a folder holding anything else is refused.
    part
        ``(K, N)`` or ``"K/N"``: convert only part K (0-based) of N of a job array into the one
        store at ``out``, beside the N - 1 other parts running at once (see :func:`parse_part`;
        ``(None, N)``, ``"auto/N"`` or ``"/N"`` take K from the job array's environment). Shard
        ``g`` (the shards of every split numbered in turn, in the manifest's split order) belongs
        to part ``g % N``. The first part to come creates the store; each part holds its own lock
        ``<out>.lock-part-K-of-N``; a part never marks the store complete: when all parts are
        done, run with ``finalize=True`` (or a plain run, which converts anything still missing).
    finalize
        Convert nothing: check that every sample of the store is written and mark it complete,
        or raise :class:`~eventkit.store.errors.IncompleteStoreError` listing the missing shards.

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
        A bad parameter (``downsample`` larger than the sensor, an unknown executor, a URL such as
        ``s3://...`` for ``from_dir``/``root``, which are local folders, ...).
    SchedulerUnreachableError
        No Dask scheduler answers at ``scheduler``.
    IncompleteStoreError
        With ``finalize``: samples are missing (the message lists their shards).
    """
    part = parse_part(part)
    check_part_options(part, finalize, overwrite, scheduler)
    # Refuse URLs and make every path absolute before anything is created or sent to a worker
    # (a worker started in another directory must see the same files).
    if root is None and os.environ.get("EVENTKIT_ROOT"):
        root = os.environ["EVENTKIT_ROOT"]  # resolved here, in this process's working directory
    root, from_dir = (local_path(p, opt) for p, opt in ((root, "--root (root=)"), (from_dir, "--from (from_dir=)")))
    out = store_location(out)
    if events and representation != "frames":
        raise OptionError(f"--events writes raw events; it cannot be combined with --repr {representation}")
    spec = None if events else make_spec(
        representation, frames=frames, split_by=split_by, duration=duration, dtype=dtype, downsample=downsample,
        binary=binary, bins=bins, polarity=polarity, time_norm=time_norm, tau=tau, dt=dt, cell_size=cell_size,
        surface_size=surface_size, time_window=time_window, decay=decay)
    dtype = spec.dtype if spec is not None else dtype
    with sigterm_as_interrupt():  # SIGTERM unwinds like Ctrl-C: the lock is released, the store stays resumable
        return _convert(dataset, frames, split_by, duration, dtype, downsample, binary, events, root, from_dir, out,
                        executor, workers, scheduler, progress, overwrite, part, finalize, spec=spec)


#: Environment variables holding the task's index in a job array: SLURM, PBS Pro / OpenPBS, LSF.
ARRAY_INDEX_VARS = ("SLURM_ARRAY_TASK_ID", "PBS_ARRAY_INDEX", "LSB_JOBINDEX")


def parse_part(part: tuple[int | None, int] | str | None) -> tuple[int, int] | None:
    """``(K, N)`` from ``"K/N"``, ``"auto/N"``, ``"/N"`` or a tuple; None stays None.

    Without K (``auto``, empty or None) K is read from the first of ``$SLURM_ARRAY_TASK_ID``,
    ``$PBS_ARRAY_INDEX`` and ``$LSB_JOBINDEX`` that is set. K is 0-based: run the array with
    indices 0..N-1 (``sbatch --array=0-N-1``, ``qsub -J 0-N-1``). LSF array indices start at 1
    (``bsub -J "name[1-N]"``), so K is ``$LSB_JOBINDEX - 1``; an explicit K is taken as it is.

    Raises
    ------
    OptionError
        N < 1, K outside 0..N-1, a value that is no number, or K omitted with no array variable set.
    """
    if part is None:
        return None
    opt = "--part (part=)"
    if isinstance(part, str):
        k_text, sep, n_text = part.strip().partition("/")
        if not sep:
            raise OptionError(f"{opt} {part!r}: expected K/N (part K of N, K from 0), e.g. 0/4, or auto/N")
        k: Any = None if k_text.strip().lower() in ("", "auto") else k_text.strip()
        n: Any = n_text.strip()
    else:
        try:
            k, n = part
        except (TypeError, ValueError):
            raise OptionError(f"{opt} {part!r}: expected (K, N), part K of N with K from 0") from None
    try:
        n = int(n)
    except (TypeError, ValueError):
        raise OptionError(f"{opt} {part!r}: N (the number of parts) must be a whole number, got {n!r}") from None
    if n < 1:
        raise OptionError(f"{opt} {part!r}: N (the number of parts) must be at least 1, got {n}")
    src = ""
    if k is None:
        var = next((v for v in ARRAY_INDEX_VARS if os.environ.get(v, "").strip()), None)
        if var is None:
            raise OptionError(f"{opt} {part!r}: no part number given and none of ${', $'.join(ARRAY_INDEX_VARS)} "
                              f"is set; give it (--part K/{n}) or run inside a job array")
        k, src = os.environ[var].strip(), f" (from ${var})"
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise OptionError(f"{opt} {part!r}: K (the part number{src}) must be a whole number, got {k!r}") from None
    if src and var == "LSB_JOBINDEX":  # LSF counts array elements from 1
        k, src = k - 1, " (from $LSB_JOBINDEX - 1: LSF array indices start at 1)"
    if not 0 <= k < n:
        raise OptionError(f"{opt} {part!r}: part number {k}{src} is outside 0..{n - 1}; parts count from 0 "
                          f"(run the job array with indices 0-{n - 1})")
    return k, n


def check_part_options(part: tuple[int, int] | None, finalize: bool, overwrite: bool, scheduler: str | None) -> None:
    """Refuse ``part``/``finalize`` combined with options they cannot honour."""
    if part is not None and overwrite:
        raise OptionError("--part cannot be combined with --overwrite: N parts cannot each replace the store; "
                          "delete or move it first, or convert to another --out")
    if part is not None and scheduler is not None:
        raise OptionError("--part cannot be combined with --scheduler: a Dask cluster already spreads the "
                          "shards; use one of them")
    if finalize and part is not None:
        raise OptionError("--finalize cannot be combined with --part: finalize once, after every part is done")
    if finalize and overwrite:
        raise OptionError("--finalize cannot be combined with --overwrite: it only checks and marks the store")


# ``s3://bucket/x``, ``gs://...``, ``file:///...``: a scheme of RFC 3986 (2+ characters, so never a
# drive letter) and ``:/`` -- pathlib (and so click's path options) collapse ``s3://b`` to ``s3:/b``
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def local_path(path: str | os.PathLike[str] | None, option: str) -> Path | None:
    """``path`` as an absolute local path (``~`` expanded; links are kept, not resolved), or None.

    Raises
    ------
    OptionError
        ``path`` is a URL (``s3://...``): ``--root`` and ``--from`` are local or shared-filesystem folders.
    """
    if path is None:
        return None
    text = os.fspath(path)
    if isinstance(text, str) and _URL.match(text):  # a local folder really named "s3:" can be given as ./s3:/...
        raise OptionError(
            f"{text}: {option} must be a local or shared-filesystem folder, not a URL (only --out, the store, "
            f"may be on an object store such as s3://)"
        )
    return Path(os.path.abspath(os.path.expanduser(text)))


def store_location(out: str | os.PathLike[str] | None) -> Any:
    """``--out`` as an absolute local path, or an object-store location for a URL (``s3://bucket/x.zarr``)."""
    from ..store._remote import is_url, location

    if out is not None and is_url(out):
        return location(out)  # file:// becomes a local Path (absolute already)
    return local_path(out, "--out (out=)")


def _convert(dataset, frames, split_by, duration, dtype, downsample, binary, events, root, from_dir, out, executor,
             workers, scheduler, progress, overwrite, part=None, finalize=False, spec=None) -> ConversionReport:
    """:func:`convert` with checked, absolute paths."""
    from ..store._replace import replace_store
    from ..store.layout import store_name

    m = dataset if isinstance(dataset, DatasetManifest) else get_manifest(dataset)
    if spec is None and not events:
        spec = FrameSpec(frames, split_by, duration, dtype or "uint16", downsample, binary)
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
    name = store_name({"events": True}, kind="events") if events else spec.store_name()
    store_path = out if out is not None else Path(os.path.abspath(dataset_dir(m, root) / "stores" / name))
    common = dict(
        splits=counts, classes=list(m.classes), dataset=m.name, manifest_version=_manifest_id(m),
        decoder_versions=_decoder_versions(m), overwrite=overwrite,
    )
    if finalize:
        return _finalize(store_path, m, spec, samples, counts, params, events, dtype, common)
    if isinstance(scheduler, DeferredScheduler) and (overwrite or not _is_complete(store_path)):
        # the batch jobs before the store, so a cluster that cannot start leaves nothing behind; SIGTERM
        # is not deferred here: waiting for queued jobs may take long, and their owner cancels them
        ex.start(len(samples))

    with replace_store(store_path, overwrite=overwrite) as target:
        report = _convert_into(target, m, spec, samples, counts, params, events, dtype, common, ex, progress, part)
    if target.swapped:
        report.store = target.final
    return report


def _is_complete(store: Path) -> bool:
    """Whether ``store`` is marked complete (then a re-run has nothing to do and submits no batch jobs)."""
    from ..store.errors import StoreError
    from ..store.layout import read_root_attrs

    try:
        return (read_root_attrs(store) or {}).get("complete") is True
    except (StoreError, OSError):  # damaged or unreadable: the run itself reports it
        return False


def _convert_into(target: Target, m: DatasetManifest, spec: FrameSpec | None, samples: list[Sample],
                  counts: dict[str, int], params: dict[str, Any], events: bool, dtype: str, common: dict[str, Any],
                  ex: LazyExecutor, progress: bool, part: tuple[int, int] | None = None) -> ConversionReport:
    """Create (or resume) the store at ``target.path`` and convert every missing sample (of ``part``) into it."""
    store_path = target.path
    writer = None
    try:
        writer = _open_writer(target, m, spec, samples, params, events, dtype, common, ex, part)
        per_shard = writer.samples_per_shard
        missing = {s: set(writer.missing(s).tolist()) for s in m.splits}
        # event shards are all-or-nothing (redo whole); frame shards keep what is there
        plan = plan_shards(m.splits, samples, per_shard, missing, part=part, whole=events)
        report = ConversionReport(store_path, counts, part=part, skipped=plan.skipped, part_shards=plan.owned)
        tasks = [ShardTask(m, spec, store_path, writer.cache_key, p.split, p.shard, p.samples,
                           "events" if events else "frames", p.todo) for p in plan.shards]
        # a part never marks the store complete: the others may still be writing
        run_writer = writer if part is None else _PartWriter(writer)
        run_conversion(ex, convert_shard, tasks, run_writer, report, progress=progress, desc=f"convert {m.name}")
        if part is not None:
            failed = {(f.split, f.sample_id) for f in report.failures}
            report.part_written = sum(1 for t in tasks if not any((t.split, s.sample_id) in failed for _, s in t.samples))
            report.complete = writer.attrs.get("complete") is True  # finalized before this re-run; never set here
    finally:
        if writer is not None:
            writer.close()  # release the lock on any exit (finalize has already released it)
        ex.close()
    return report


class _PartWriter:
    """A writer as :func:`run_conversion` sees it in a part run: ``finalize`` only closes (no ``complete``)."""

    def __init__(self, writer) -> None:
        self._writer = writer

    def finalize(self) -> None:
        self._writer.close()

    def close(self) -> None:
        self._writer.close()


def _open_writer(target: Target, m: DatasetManifest, spec: FrameSpec | None, samples: list[Sample],
                 params: dict[str, Any], events: bool, dtype: str, common: dict[str, Any], ex: LazyExecutor,
                 part: tuple[int, int] | None, t_max: int | None = None):
    """Create or resume the store's writer, holding the store's lock (plain run) or the part's lock.

    A plain run holds the store's lock throughout and is refused while a part runs. A part takes
    its own lock, then the store's lock only while it creates or opens the store (the other
    parts starting at once wait for it), so creation is race-free and N parts write at once:
    each writes only its own shards, and ``done`` records are per sample.
    """
    from ..store import create_store
    from ..store._lock import WriterLock, part_lock_path
    from ..store.event_store import create_event_store
    from ..store.layout import lock_path

    def create(lock: bool):
        if events:
            return target.create(create_event_store, sensor=m.sensor, lock=lock, **common)
        tm = t_max if t_max is not None else _t_max(spec, m, samples, ex, target.path)
        return target.create(create_store, t_max=tm, sensor=spec.sensor_out(m.sensor), params=params, dtype=dtype,
                             lock=lock, **common)

    store = target.path
    if part is None:
        writer = create(True)
        try:
            for path in {store, target.final}:  # an --overwrite run writes <out>.new: the parts write <out>
                _refuse_live_parts(path, None)
        except BaseException:
            writer.close()
            raise
        return writer
    store.parent.mkdir(parents=True, exist_ok=True)
    mine = WriterLock(part_lock_path(store, *part), store)
    mine.acquire()
    try:
        _refuse_live_parts(store, part)
        brief = WriterLock(lock_path(store), store, brief=True)
        brief.acquire(wait_s=120.0)  # the other parts hold it only to create or open the store
        try:
            writer = create(False)
        finally:
            brief.release()
        writer.adopt_lock(mine)
    except BaseException:
        mine.release()
        raise
    return writer


def _refuse_live_parts(store: Path, part: tuple[int, int] | None) -> None:
    """Refuse to write while a part run writes ``store`` (a plain run), or one split another way (``part``)."""
    from ..store._lock import live_owner, part_lock_path, part_lock_paths
    from ..store.errors import StoreLockedError

    for path in part_lock_paths(store):
        if part is not None and (path == part_lock_path(store, *part) or path.name.endswith(f"-of-{part[1]}")):
            continue
        owner = live_owner(path)
        if owner is None:
            continue
        who = f"process {owner.get('pid', '?')} on host {owner.get('host', '?')}"
        suffix = path.name[len(store.name) + len(".lock-part-"):].replace("-of-", "/")
        if part is None:
            raise StoreLockedError(
                f"{store}: job-array part {suffix} ({who}) is writing this store (lock {path}); wait for every "
                f"part to finish, then run `eventkit convert ... --finalize` (or this command again)"
            )
        raise StoreLockedError(
            f"{store}: job-array part {suffix} ({who}) is writing this store split into another number of "
            f"parts (lock {path}); every part of one store must use the same N (--part K/{suffix.split('/')[1]})"
        )


def _finalize(store_path: Path, m: DatasetManifest, spec: FrameSpec | None, samples: list[Sample],
              counts: dict[str, int], params: dict[str, Any], events: bool, dtype: str,
              common: dict[str, Any]) -> ConversionReport:
    """Check every sample of the store is written and mark it complete; list what is missing if not."""
    from ..store._replace import Target
    from ..store.errors import IncompleteStoreError, StoreNotFoundError
    from ..store.layout import read_root_attrs

    attrs = read_root_attrs(store_path) if store_path.is_dir() else None
    if attrs is None:
        raise StoreNotFoundError(f"{store_path}: no store to finalize; run the job-array parts "
                                 f"(eventkit convert ... --part K/N) first, or a plain conversion")
    # t_max from the store (its cache key still checks every parameter): no pass over the data
    t_max = attrs.get("t_max") if isinstance(attrs.get("t_max"), int) else None
    target = Target(store_path, store_path, replacing=False)
    writer = _open_writer(target, m, spec, samples, params, events, dtype, common, None, None, t_max=t_max)
    try:
        per_shard = writer.samples_per_shard
        missing = {s: set(writer.missing(s).tolist()) for s in m.splits}
        report = ConversionReport(store_path, counts, skipped=sum(counts.values()) - sum(map(len, missing.values())))
        if not any(missing.values()):
            writer.finalize()
            report.complete = True
            return report
        gaps = [(g, split, shard, [s.sample_id for i, s in group if i in missing[split]])
                for g, (split, shard, group) in enumerate(shards_of(m.splits, samples, per_shard))]
        gaps = [x for x in gaps if x[3]]
        shown = "; ".join(f"{split} shard {shard} (global shard {g}: {len(ids)} sample(s), e.g. {ids[0]})"
                          for g, split, shard, ids in gaps[:8]) + (f"; and {len(gaps) - 8} more" if len(gaps) > 8 else "")
        raise IncompleteStoreError(
            f"{store_path}: cannot finalize, {sum(len(x[3]) for x in gaps)} sample(s) in {len(gaps)} shard(s) not "
            f"written: {shown}. Global shard g belongs to part g % N: re-run those parts (--part K/N), or run "
            f"without --part to convert what is missing"
        )
    finally:
        writer.close()


def _t_max(spec: FrameSpec, m: DatasetManifest, samples: list[Sample], ex, store: Path | None = None) -> int:
    if spec.frames is not None:
        return spec.frames
    if store is not None and _is_complete(store):
        # nothing left to convert: keep the stored T rather than decode every recording (and start a
        # cluster) to measure it again; a store of other parameters is still refused by its cache key
        from ..store.layout import read_root_attrs

        stored = (read_root_attrs(store) or {}).get("t_max")
        if isinstance(stored, int) and stored > 0:
            return stored
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
