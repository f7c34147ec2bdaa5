"""``eventkit.synth.synth_convert``: a folder or array of images -> a Zarr frame store, in parallel.

The job is planned like :func:`eventkit.convert`: the store is created (or resumed: same cache
key) by this process, which holds the writer lock; the samples of each split are cut into
store-shard-aligned tasks (one task writes whole shards, so no two workers share a shard file);
the tasks run on the same executors (``serial``, or ``dask`` on local processes or a cluster at
``scheduler``); the store is finalized when every sample is in it. Re-running the same command
converts only what is missing.

Every sample gets its own generator, seeded from ``(seed, split, sample id)``
(:func:`~eventkit.synth.images.sample_seed`), so the store does not depend on the executor, the
number of workers or the order in which tasks finish.

Store contents: frames ``[N, T, 2, size, size]`` (uint16 counts, channel 0 OFF, 1 ON), labels in
the declared class order. ``params`` in the root attrs (and in the cache key) hold the method and
all of its parameters, ``frames``, ``size``, ``fit``, ``seed``, the class order rule and a
fingerprint of the inputs (ids, labels, file sizes), so another input or parameter is refused
as a different store instead of being mixed into this one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EventkitError, OptionError
from ..pipeline.executors import LazyExecutor
from ..pipeline.plan import Failure, plan_shards
from ..pipeline.run import run_conversion
from ._base import SynthMethod
from .images import FITS, ImageSample, ImageSet, discover_images, load_image, prepare_image, sample_seed

__all__ = ["SynthReport", "SynthShardTask", "make_method", "synth_convert", "synth_shard"]

log = logging.getLogger("eventkit")


def make_method(name: str, **params: Any) -> SynthMethod:
    """Build a method by name with its parameters; ``None`` values keep the defaults.

    ``saccade`` takes :class:`~eventkit.synth.saccade.Saccade` fields and, flat, the
    :class:`~eventkit.synth.dvs_pixel.DVSPixelModel` fields (``threshold``, ``sigma``,
    ``refractory_us``, ``noise_rate_hz``, ...); ``odg`` takes :class:`~eventkit.synth.odg.ODG`
    fields; ``diff`` takes :class:`~eventkit.synth.diff.FrameDiff` fields.
    """
    from dataclasses import fields

    from .diff import FrameDiff
    from .dvs_pixel import DVSPixelModel
    from .odg import ODG
    from .saccade import Saccade

    params = {k: v for k, v in params.items() if v is not None}
    if name == "saccade":
        own = {f.name for f in fields(Saccade)} - {"pixel"}
        pix = {f.name for f in fields(DVSPixelModel)}
        unknown = set(params) - own - pix
        if unknown:
            raise OptionError(f"unknown saccade parameter(s) {sorted(unknown)}")
        return Saccade(**{k: v for k, v in params.items() if k in own},
                       pixel=DVSPixelModel(**{k: v for k, v in params.items() if k in pix}))  # fmt: skip
    from .shift_diff import ShiftDiff

    classes = {"odg": ODG, "diff": FrameDiff, "shift-diff": ShiftDiff}
    if name not in classes:
        raise OptionError(f"unknown --method (method=) {name!r}; choose saccade, odg, diff or shift-diff")
    cls = classes[name]
    unknown = set(params) - {f.name for f in fields(cls)}
    if unknown:
        raise OptionError(f"unknown {name} parameter(s) {sorted(unknown)}")
    return cls(**params)


@dataclass(frozen=True)
class SynthShardTask:
    """Convert and write the samples of one store shard (everything a worker needs, picklable)."""

    method: SynthMethod
    frames: int
    size: int
    fit: str
    seed: int
    store_path: Path
    cache_key: str
    split: str
    shard: int
    samples: tuple[tuple[int, ImageSample], ...]  # (index in split, sample), in index order
    n_classes: int = 0  # segmentation: masks are checked against it
    table: Any = None  # segmentation from COCO: the ClassTable
    # Indices (in split) still to convert; None = all. The others are already in the store (a
    # shard left partly written by an earlier run with failed samples) and are not made again.
    todo: frozenset[int] | None = None


@dataclass(frozen=True)
class SynthShardResult:
    split: str
    shard: int
    written: int
    failures: tuple[Failure, ...] = ()


@dataclass
class SynthReport:
    """What a synth conversion did."""

    store: Path
    samples: dict[str, int]
    classes: tuple[str, ...]
    class_order: str
    converted: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    complete: bool = False


_SAMPLE_ERRORS = (EventkitError, OSError, ValueError)


def convert_image(task: SynthShardTask, sample: ImageSample) -> np.ndarray:
    """Load, prepare and convert one image into ``[T, 2, size, size]`` uint16 frames."""
    m = task.method
    img = prepare_image(load_image(sample), task.size, fit=task.fit, gray=m.gray, resample=m.resample)
    rng = np.random.default_rng(sample_seed(task.seed, sample))
    return m.frames(img, task.frames, rng)


def convert_masked(task: SynthShardTask, sample: ImageSample) -> tuple[np.ndarray, np.ndarray, int]:
    """Frames, fitted mask ``[size, size]`` uint8 and label (its main class) of one segmentation sample."""
    from .images import prepare_mask
    from .seg_inputs import load_mask, mask_label

    frames = convert_image(task, sample)
    mask = prepare_mask(load_mask(sample, task.n_classes, task.table), task.size, fit=task.fit)
    return frames, mask, mask_label(mask, task.n_classes)


def synth_shard(task: SynthShardTask) -> SynthShardResult:
    """Convert every image of ``task``'s shard and write it; list the images that failed.

    The shard is written in one go when every image converts; otherwise the good samples are
    written one by one and the failed ones stay missing (a re-run converts only them: ``todo``).
    """
    from ..pipeline._malloc import tune_allocator
    from ..store import open_store_writer

    tune_allocator()  # as convert_shard: large temporaries, whatever the worker's malloc settings
    good: list[tuple[int, np.ndarray, int, str, np.ndarray | None]] = []
    failures: list[Failure] = []
    for index, s in task.samples:
        if task.todo is not None and index not in task.todo:
            continue
        try:
            if s.mask is not None:
                f, m, label = convert_masked(task, s)
                good.append((index, f, label, s.sample_id, m))
            else:
                good.append((index, convert_image(task, s), s.label, s.sample_id, None))
        except _SAMPLE_ERRORS as err:
            failures.append(Failure(task.split, s.sample_id, s.source, str(err)))
    writer = open_store_writer(task.store_path, lock=False, expect_key=task.cache_key)
    if not failures and task.todo is None:
        writer.write_shard(task.split, task.shard, [(f, label, sid, m) for _, f, label, sid, m in good])
    else:
        for index, f, label, sid, m in good:
            writer.write_sample(task.split, index, f, label, sid, m)
    return SynthShardResult(task.split, task.shard, len(good), tuple(failures))


def synth_convert(
    images: str | os.PathLike[str],
    *,
    method: str | SynthMethod = "saccade",
    out: str | os.PathLike[str],
    classes: list[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    split: str = "train",
    frames: int | None = None,
    size: int = 128,
    fit: str = "crop",
    seed: int = 0,
    method_params: dict[str, Any] | None = None,
    executor: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    samples_per_shard: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    masks: str | os.PathLike[str] | None = None,
    coco: str | os.PathLike[str] | None = None,
    class_table: Any = None,
    min_foreground: int = 0,
) -> SynthReport:
    """Convert a folder or ``.npy`` of images into a frame store (resumable, parallel).

    Segmentation (:mod:`eventkit.synth.seg_inputs`): with ``masks`` (a parallel folder of PNG
    masks), ``coco`` (an instances JSON; ``class_table`` maps its categories, VOC-21 by default;
    ``min_foreground`` drops near-empty images), or when ``images`` is a Pascal VOC 2012 folder,
    the store is a segmentation store holding each sample's mask, fitted exactly like its frames
    (nearest neighbour; ``fit="pad"`` borders are 255, ignore).

    Parameters
    ----------
    images
        Folder of class sub-folders (optionally under ``train/``, ``test/``...) or a ``.npy``
        array (see :mod:`eventkit.synth.images`).
    method
        ``"saccade"``, ``"odg"``, ``"diff"``, or a built method object.
    out
        Store path.
    classes
        Declared class order (label ``k`` is ``classes[k]``); without it folder names are
        string-sorted and the report says so.
    labels
        Labels of a ``.npy`` input (default: the companion file).
    split
        Split name when the input has no split folders.
    frames
        T (default: the method's, 12 for saccade, 8 for odg and diff).
    size, fit
        Output side in pixels and how images are fitted to it.
    seed
        Run seed (noise, jitter).
    method_params
        Parameters for :func:`make_method` when ``method`` is a name.
    executor, workers, scheduler
        As for :func:`eventkit.convert`: ``"auto"`` (default) converts fewer than 500 images, or on
        1-2 CPU cores, in this process and starts a local Dask cluster otherwise.
    samples_per_shard
        Store shard size (default: chosen by the store).
    progress
        Show a progress bar.
    overwrite
        Rebuild a store made with other parameters instead of refusing. Only an eventkit store is
        replaced (written to ``<out>.new``, swapped in when complete); anything else is refused.

    Returns
    -------
    SynthReport

    Raises
    ------
    StoreMismatchError
        The store at ``out`` was made from other inputs or parameters.
    ImageSetError, DatasetNotFoundError
        Bad inputs (the message says what to fix).
    """
    from .._signals import sigterm_as_interrupt
    from ..pipeline.convert import local_path, store_location

    if str(images) == "synthetic-shapes" and not Path(images).exists():  # the embedded segmentation dataset
        from ..datasets.synthetic_shapes import ensure_synthetic_shapes

        images = ensure_synthetic_shapes()
    local_path(images, "IMAGES (images=)")  # refuses a URL; the path itself is kept (it names the image set)
    out = store_location(out)  # a local path made absolute, or an object store (s3://...)
    seg = {"masks": masks, "coco": coco, "class_table": class_table, "min_foreground": int(min_foreground)}
    with sigterm_as_interrupt():  # SIGTERM unwinds like Ctrl-C: the lock is released, the store stays resumable
        return _synth_convert(images, method, out, classes, labels, split, frames, size, fit, seed, method_params,
                              samples_per_shard, executor, workers, scheduler, progress, overwrite, seg)


def _discover(images, classes, labels, split, seg: dict[str, Any]) -> tuple[ImageSet, Any]:
    """The image set (classification or segmentation) and the COCO class table (or None)."""
    from .seg_inputs import VOC21_COCO, discover_coco, discover_masked_folder, discover_voc, is_voc_layout

    given = [k for k in ("masks", "coco") if seg.get(k) is not None]
    if len(given) > 1:
        raise OptionError("give --masks (masks=) or --coco (coco=), not both")
    if (given or is_voc_layout(images)) and labels is not None:
        raise OptionError("--labels (labels=) is for a .npy of images; segmentation inputs take their labels from masks")
    if seg.get("coco") is not None:
        if classes is not None:
            raise OptionError("COCO classes come from the class table (--class-table), not --classes")
        table = seg.get("class_table") or VOC21_COCO
        return discover_coco(images, seg["coco"], table=table, split=split,
                             min_foreground=seg.get("min_foreground", 0)), table  # fmt: skip
    if seg.get("class_table") is not None:
        raise OptionError("--class-table (class_table=) only applies to --coco (coco=)")
    if seg.get("masks") is not None:
        return discover_masked_folder(images, seg["masks"], classes=classes, split=split), None
    if Path(images).is_dir() and is_voc_layout(images):
        iset, how = discover_voc(images, classes=classes)
        log.info("Pascal VOC layout: classes from %s", how)
        return iset, None
    return discover_images(images, classes=classes, labels=labels, split=split), None


def _synth_convert(images, method, out, classes, labels, split, frames, size, fit, seed, method_params,
                   samples_per_shard, executor, workers, scheduler, progress, overwrite, seg=None) -> SynthReport:
    """:func:`synth_convert` with a checked, absolute ``out``."""
    from ..store import create_store
    from ..store._replace import replace_store

    m = method if isinstance(method, SynthMethod) else make_method(method, **(method_params or {}))
    ex = LazyExecutor(executor, workers=workers, scheduler=scheduler)  # checks the options; starts nothing
    if fit not in FITS:
        raise OptionError(f"--fit (fit=) must be one of {FITS}, got {fit!r}")
    t = int(frames if frames is not None else m.default_frames)
    if t < 1 or int(size) < 1:
        raise OptionError(f"need --frames (frames=) >= 1 and --size (size=) >= 1, got {t}, {size}")
    iset, table = _discover(images, classes, labels, split, seg or {})
    segmentation = any(s.mask is not None for s in iset.samples)
    if iset.class_order.startswith("sorted"):
        log.warning("no class order declared: labels follow the sorted folder names %s; "
                    "pass classes (--classes / --classes-file) to fix the order", list(iset.classes))  # fmt: skip
    counts = iset.counts()
    params: dict[str, Any] = {
        **m.params(), "frames": t, "split_by": "time", "size": int(size), "fit": fit, "seed": int(seed),
        "gray": m.gray, "resample": m.resample, "class_order": iset.class_order, "source": iset.fingerprint(),
    }  # fmt: skip
    with replace_store(out, overwrite=overwrite) as target:
        store_path = target.path
        writer = None
        try:
            writer = target.create(
                create_store, splits=counts, t_max=t, sensor=(int(size), int(size), m.channels), params=params,
                dtype=m.frame_dtype, masks=segmentation,
                classes=list(iset.classes), dataset=f"synth:{iset.name}", manifest_version=None,
                decoder_versions={"eventkit.synth": str(m.version)}, samples_per_shard=samples_per_shard,
                overwrite=overwrite,
            )  # fmt: skip
            missing = {sp: set(writer.missing(sp).tolist()) for sp in iset.splits}
            plan = plan_shards(iset.splits, iset.samples, writer.samples_per_shard, missing)
            report = SynthReport(store_path, counts, iset.classes, iset.class_order, skipped=plan.skipped)
            tasks = [SynthShardTask(m, t, int(size), fit, int(seed), store_path, writer.cache_key, p.split, p.shard,
                                    p.samples, len(iset.classes), table, p.todo) for p in plan.shards]  # fmt: skip
            run_conversion(ex, synth_shard, tasks, writer, report, progress=progress, desc=f"synth {m.name}")
        finally:
            if writer is not None:
                writer.close()  # release the lock on any exit (finalize has already released it)
            ex.close()
    if target.swapped:
        report.store = target.final
    return report
