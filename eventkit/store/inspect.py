"""Describe a store without reading its frames: what ``eventkit inspect`` prints.

Works on complete and incomplete stores (it reads the small per-sample arrays and ``zarr.json``
directly, never the frames) and on both kinds, frame stores and event stores.

>>> facts = inspect_store("frames-T16-number.zarr")
>>> facts["splits"]["train"]["samples"], facts["compression_ratio"]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ._remote import RemotePath, location, zarr_store
from .errors import StoreCorruptError, StoreNotFoundError
from .integrity import DAMAGE_ERRORS, missing_chunks, validate_root_attrs, validate_split_metadata
from .layout import read_root_attrs

__all__ = ["codec_description", "inspect_store", "length_stats", "mark_for_rewrite", "verify_store"]

# Bytes of one stored event: the columns t, x, y, p are int64, uint16, uint16, uint8.
EVENT_BYTES = 8 + 2 + 2 + 1
#: Masks read per split for the class shares of a segmentation store (evenly spaced written
#: samples): enough for shares to a fraction of a percent, and inspect stays quick on large stores.
MASK_SAMPLES = 256
#: The mask value of pixels that no class covers (segmentation stores).
IGNORE_INDEX = 255


def inspect_store(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Facts about a frame or event store, as a JSON-ready dict.

    Parameters
    ----------
    path
        The store directory (``*.zarr``).

    Returns
    -------
    dict
        ``path``, ``kind`` (``"frames"``/``"events"``), ``complete``, ``samples``, ``written``,
        ``missing`` (totals over splits), ``splits`` (per split: ``samples``, ``written``,
        ``missing``, ``label_counts`` by class name and, for frame stores, ``lengths`` (T
        statistics of the written samples: min, median, max, mean, histogram as ``[T, count]``
        pairs); for event stores ``events`` (events per sample: total, min, median, max,
        mean)), ``lengths`` (all splits together), ``dtype``, ``frame_shape`` (``[T_max, P, H,
        W]``), ``sensor``, ``params``, ``cache_key``, ``classes``, ``dataset``,
        ``manifest_version``, ``decoder_versions``, ``eventkit_version`` (of the writer),
        ``format_version``, ``codec`` (text) and ``compressor`` (Zarr config),
        ``samples_per_shard``, ``disk_bytes`` and ``disk_files`` (whole store), ``data_bytes``
        (the frame or event files), ``raw_bytes`` (the written samples uncompressed, frames
        padded to T_max), ``compression_ratio`` (raw / data, None before any data) and
        ``bytes_per_sample``, ``created``, ``finalized``, ``partial_files`` (leftovers of a
        killed writer). A segmentation store (masks) adds ``masks``: ``classes``, ``ignore_index``,
        ``class_fractions`` (pixel share by class name), ``ignore_fraction``, ``other_fraction``
        (values that name no class), estimated from ``sampled`` of the ``of`` written masks (at
        most :data:`MASK_SAMPLES` per split, evenly spaced), and per split ``masks`` (pixel counts).

    Raises
    ------
    StoreNotFoundError
        If ``path`` holds no eventkit store.
    """
    p = location(path)  # a local folder or an object-store URL (s3://...)
    attrs = read_root_attrs(p) if p.is_dir() else None
    if attrs is None or attrs.get("eventkit_store") not in ("frames", "events"):
        what = "does not exist" if not p.exists() else "holds no eventkit store (no zarr.json with eventkit attrs)"
        raise StoreNotFoundError(f"{p}: {what}; give a store made by `eventkit convert` (a *.zarr folder)")
    validate_root_attrs(p, attrs)
    kind = attrs["eventkit_store"]
    root = zarr.open_group(zarr_store(p, read_only=True), mode="r", zarr_format=3)
    classes = [str(c) for c in attrs.get("classes", [])]
    splits: dict[str, dict[str, Any]] = {}
    all_lengths: list[np.ndarray] = []
    raw = data = 0
    for split, n in attrs.get("splits", {}).items():
        info, arrays = _split_arrays(root, split, int(n), kind)
        written = arrays["done"]
        info["missing_files"] = _missing_files(p, attrs, split, written) if info["created"] else []
        if "unreadable" in info:  # the per-sample arrays themselves are damaged
            info["missing_files"].append(str(p / split))
        info["label_counts"] = _label_counts(arrays["labels"][written], classes)
        split_data = _tree_size(p / split / ("frames" if kind == "frames" else "events"))[0]
        if kind == "frames":
            lengths = arrays["lengths"][written]
            all_lengths.append(lengths)
            info["lengths"] = length_stats(lengths, int(attrs["t_max"]))
            split_raw = int(written.sum()) * _sample_nbytes(attrs)
        else:
            counts = arrays["counts"][written]
            info["events"] = _event_stats(counts)
            split_raw = int(counts.sum()) * EVENT_BYTES
        if kind == "frames" and attrs.get("masks") and info["created"]:
            info["masks"] = _mask_stats(root[split], written, len(classes))
        info["data_bytes"], info["raw_bytes"] = split_data, split_raw
        raw, data = raw + split_raw, data + split_data
        splits[split] = info
    disk_bytes, disk_files, partial = _tree_size(p)
    total = sum(s["samples"] for s in splits.values())
    written_total = sum(s["written"] for s in splits.values())
    damaged_files = [f for v in splits.values() for f in v["missing_files"]]
    facts: dict[str, Any] = {
        "path": str(p),
        "damaged_files": damaged_files,
        "kind": kind,
        "complete": bool(attrs.get("complete")) and not damaged_files,
        "marked_complete": bool(attrs.get("complete")),
        "samples": total,
        "written": written_total,
        "missing": total - written_total,
        "dataset": attrs.get("dataset"),
        "manifest_version": attrs.get("manifest_version"),
        "decoder_versions": attrs.get("decoder_versions", {}),
        "params": attrs.get("params", {}),
        "sensor": attrs.get("sensor"),
        "classes": classes,
        "cache_key": attrs.get("cache_key"),
        "eventkit_version": attrs.get("eventkit_version"),
        "format_version": attrs.get("format_version"),
        "codec": codec_description(attrs.get("compressor")),
        "compressor": attrs.get("compressor"),
        "samples_per_shard": attrs.get("samples_per_shard"),
        "created": attrs.get("created"),
        "finalized": attrs.get("finalized"),
        "disk_bytes": disk_bytes,
        "disk_files": disk_files,
        "partial_files": partial,
        "data_bytes": data,
        "raw_bytes": raw,
        "compression_ratio": round(raw / data, 3) if data else None,
        "bytes_per_sample": round(data / written_total, 1) if written_total else None,
        "splits": splits,
    }
    if kind == "frames":
        w, h, pol = attrs["sensor"]
        facts["dtype"] = attrs.get("dtype")
        facts["t_max"] = int(attrs["t_max"])
        facts["frame_shape"] = [int(attrs["t_max"]), int(pol), int(h), int(w)]
        facts["lengths"] = length_stats(np.concatenate(all_lengths) if all_lengths else np.zeros(0, np.int64),
                                        int(attrs["t_max"]))  # fmt: skip
        if attrs.get("masks"):
            facts["masks"] = _merge_mask_stats([v["masks"] for v in splits.values() if "masks" in v], classes)
    else:
        facts["dtype"] = "events (t int64, x uint16, y uint16, p uint8)"
    return facts


def verify_store(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read every chunk of every split through the verifying readers; list the damaged samples.

    Returns
    -------
    list of dict
        One entry per damaged sample: ``split``, ``index`` (None when a whole split's metadata is
        damaged), ``sample_id`` (None if unreadable), ``problem`` and ``file`` (None if unknown),
        by split and index. Empty for a healthy store. Samples not yet written (``done == 0`` in an
        incomplete store) are not damage.

    Raises
    ------
    StoreNotFoundError
        If ``path`` holds no eventkit store.
    StoreCorruptError
        If the root metadata is damaged (nothing else can be read).
    """
    from types import SimpleNamespace

    from .event_store import EventSplit
    from .reader import FrameSplit

    p = location(path)  # a local folder or an object-store URL (s3://...)
    attrs = read_root_attrs(p) if p.is_dir() else None
    if attrs is None or attrs.get("eventkit_store") not in ("frames", "events"):
        what = "does not exist" if not p.exists() else "holds no eventkit store"
        raise StoreNotFoundError(f"{p}: {what}; give a store made by `eventkit convert`")
    validate_root_attrs(p, attrs)
    kind = attrs["eventkit_store"]
    root = zarr.open_group(zarr_store(p, read_only=True), mode="r", zarr_format=3)
    store = SimpleNamespace(path=p, attrs=attrs)
    damaged: dict[tuple[str, int | None], dict[str, Any]] = {}
    for split in attrs["splits"]:

        def note(lo: int | None, hi: int | None, problem: str, file: str | None, split: str = split) -> None:
            for i in [None] if lo is None else range(lo, hi):
                damaged.setdefault((split, i), {"split": split, "index": i, "sample_id": None, "problem": problem,
                                                "file": file})  # fmt: skip

        if not (p / split).is_dir() and not attrs.get("complete"):
            continue  # not created yet
        try:
            validate_split_metadata(p, split, attrs)
            group = root[split]
            cls = FrameSplit if kind == "frames" else EventSplit
            args = (attrs["t_max"],) if kind == "frames" else (attrs["samples_per_shard"],)
            view = cls(group, split, *args, store=store, on_damage=note)
        except (StoreCorruptError, KeyError) as exc:
            note(None, None, str(exc).split(": ", 1)[-1] if isinstance(exc, StoreCorruptError) else "missing", None)
            continue
        check = np.flatnonzero(view.done) if not attrs.get("complete") else range(len(view))
        for i in check:
            bad = view.verify_sample(int(i)) if view.done[i] else None
            if bad is not None:
                note(int(i), int(i) + 1, *bad)
        for (s, i), entry in damaged.items():
            if s == split and i is not None and 0 <= i < len(view.sample_ids):
                entry["sample_id"] = str(view.sample_ids[i]) or None
    return [damaged[k] for k in sorted(damaged, key=lambda k: (k[0], -1 if k[1] is None else k[1]))]


def mark_for_rewrite(path: str | os.PathLike[str], damaged: list[dict[str, Any]]) -> dict[str, int]:
    """Mark the shards holding damaged samples as not written, so a resumed conversion rewrites them.

    Sets the ``done`` flags of every sample of each damaged shard (a shard is rewritten whole) to 0
    and the store's ``complete`` to false, under the writer lock. Deletes nothing: re-running the
    same ``eventkit convert`` command then rewrites exactly those shards.

    Parameters
    ----------
    path
        The store.
    damaged
        :func:`verify_store`'s list.

    Returns
    -------
    dict
        ``{split: samples marked}``.

    Raises
    ------
    StoreCorruptError
        If a split's metadata is damaged (a conversion cannot rewrite that: delete the store).
    StoreLockedError
        If a conversion is writing the store.
    """
    from ._lock import WriterLock
    from .integrity import read_chunked
    from .layout import lock_path
    from .writer import STORE_EVERY_CHUNK

    p = location(path)  # a local folder or an object-store URL (s3://...)
    whole = sorted({d["split"] for d in damaged if d["index"] is None})
    if whole:
        raise StoreCorruptError(f"{p}: the metadata of split(s) {', '.join(whole)} is damaged, which a resumed "
                                f"conversion cannot rewrite; delete the store and run `eventkit convert` again")  # fmt: skip
    attrs = read_root_attrs(p) or {}
    s = int(attrs.get("samples_per_shard", 1))
    lock = WriterLock(lock_path(p), p)
    lock.acquire()
    try:
        root = zarr.open_group(zarr_store(p, read_only=False), mode="r+", zarr_format=3)
        marked: dict[str, int] = {}
        for split in sorted({d["split"] for d in damaged}):
            arr = root[f"{split}/done"].with_config(STORE_EVERY_CHUNK)
            done = read_chunked(arr, s, lambda lo, hi, problem: None).astype(np.uint8)  # damaged: 0
            for b in {int(d["index"]) // s for d in damaged if d["split"] == split}:
                done[b * s : b * s + s] = 0
            arr[:] = done  # a whole-array write: no damaged chunk is read back
            marked[split] = int(done.size - done.sum())
        if damaged:
            root.attrs.update({"complete": False})
    finally:
        lock.release()
    return marked


def length_stats(lengths: np.ndarray, t_max: int | None = None) -> dict[str, Any]:
    """T distribution: ``count``, ``min``, ``median``, ``max``, ``mean`` and ``histogram``.

    The histogram lists ``[T, number of samples]`` for every T that occurs, ascending; the
    statistics are None when there are no lengths.
    """
    a = np.asarray(lengths, dtype=np.int64)
    values, counts = np.unique(a, return_counts=True)
    out: dict[str, Any] = {"count": int(a.size), "t_max": t_max}
    if a.size == 0:
        return {**out, "min": None, "median": None, "max": None, "mean": None, "histogram": []}
    return {
        **out,
        "min": int(a.min()),
        "median": _num(np.median(a)),
        "max": int(a.max()),
        "mean": round(float(a.mean()), 3),
        "histogram": [[int(v), int(c)] for v, c in zip(values, counts)],
    }


def codec_description(spec: dict[str, Any] | None) -> str:
    """A short text for a Zarr codec config: ``blosc zstd clevel=3 bitshuffle``."""
    if not spec:
        return "none"
    name = str(spec.get("name", "?"))
    conf = dict(spec.get("configuration", {}))
    if name == "blosc":
        parts = [name, str(conf.get("cname", "")), f"clevel={conf.get('clevel')}", str(conf.get("shuffle", ""))]
        return " ".join(x for x in parts if x)
    if name in ("zstd", "gzip"):
        return f"{name} level={conf.get('level')}"
    return " ".join([name, *(f"{k}={v}" for k, v in sorted(conf.items()))])


# -- helpers ---------------------------------------------------------------------------------
def _split_arrays(root: zarr.Group, split: str, n: int, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a split's small arrays; a split a killed writer never created reads as all missing."""
    names = ("labels", "lengths") if kind == "frames" else ("labels", "counts")
    try:
        g = root[split]
        done = g["done"][:].astype(bool)  # flags first, as the reader: later writes stay invisible
        arrays = {"done": done, **{k: np.asarray(g[k][:]) for k in names}}
        if any(a.shape != (n,) for a in arrays.values()):
            raise StoreCorruptError(f"{split}: per-sample arrays do not hold {n} samples")
        created = True
    except DAMAGE_ERRORS as exc:  # KeyError: not created yet; else damaged (--verify names the samples)
        arrays = {"done": np.zeros(n, bool), **{k: np.zeros(n, np.int64) for k in names}}
        created = False
        unreadable = None if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
    else:
        unreadable = None
    written = int(arrays["done"].sum())
    info = {"samples": n, "written": written, "missing": n - written, "created": created}
    if unreadable:
        info["unreadable"] = unreadable
    return info, arrays


def _mask_stats(group: Any, written: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Pixel counts per mask value over up to :data:`MASK_SAMPLES` evenly spaced written masks of a split.

    ``pixels[k]`` counts class ``k``, ``ignored`` the value 255, ``other`` values that name no class
    (a damaged or mislabelled mask). A mask array that cannot be read gives ``unreadable``.
    """
    done = np.flatnonzero(written)
    pick = done[np.unique(np.linspace(0, len(done) - 1, MASK_SAMPLES).round().astype(np.int64))] if len(done) else done
    stats: dict[str, Any] = {"sampled": int(len(pick)), "of": int(len(done)), "pixels": [0] * num_classes,
                             "ignored": 0, "other": 0}  # fmt: skip
    if not len(pick):
        return stats
    try:
        masks = np.asarray(group["mask"].get_orthogonal_selection((pick, slice(None), slice(None))))
    except DAMAGE_ERRORS as exc:
        stats["unreadable"] = f"{type(exc).__name__}: {exc}"
        return stats
    counts = np.bincount(masks.ravel(), minlength=256)
    stats["pixels"] = [int(c) for c in counts[:num_classes]]
    stats["ignored"] = int(counts[IGNORE_INDEX])
    stats["other"] = int(counts.sum() - counts[:num_classes].sum() - counts[IGNORE_INDEX])
    return stats


def _merge_mask_stats(per_split: list[dict[str, Any]], classes: list[str]) -> dict[str, Any]:
    """All splits' :func:`_mask_stats` together, with shares: ``class_fractions``, ``ignore_fraction``."""
    pixels = np.sum([s["pixels"] for s in per_split], axis=0) if per_split else np.zeros(len(classes), np.int64)
    ignored = sum(s["ignored"] for s in per_split)
    other = sum(s["other"] for s in per_split)
    total = int(pixels.sum()) + ignored + other
    frac = (lambda c: round(c / total, 6)) if total else (lambda c: None)
    return {"classes": len(classes), "ignore_index": IGNORE_INDEX, "sampled": sum(s["sampled"] for s in per_split),
            "of": sum(s["of"] for s in per_split), "pixels": int(total),
            "class_fractions": {name: frac(int(c)) for name, c in zip(classes, pixels)},
            "ignore_fraction": frac(ignored), "other_fraction": frac(other)}  # fmt: skip


def _missing_files(p: Path, attrs: dict[str, Any], split: str, written: np.ndarray) -> list[str]:
    """Chunk and shard files of written samples that are gone (only known when every chunk is stored)."""
    if attrs.get("chunks_stored") != "all":
        return []
    s, n = int(attrs["samples_per_shard"]), int(written.size)
    names = ["labels", "sample_ids"] + (["lengths", "frames"] if attrs["eventkit_store"] == "frames" else ["counts"])
    out = []
    for name in names:
        for c in missing_chunks(p, split, name, n, s):
            if written[c * s : c * s + s].any():
                out.append(str(p / split / name / "c" / "/".join([str(c)] + ["0"] * (4 if name == "frames" else 0))))
    if attrs.get("complete") and not written.all():  # a deleted done chunk reads as "not written"
        for c in missing_chunks(p, split, "done", n, s):
            out.append(str(p / split / "done" / "c" / str(c)))
    return out


def _label_counts(labels: np.ndarray, classes: list[str]) -> dict[str, int]:
    """``{class name: count}`` in class order (all classes, zeros included); unknown labels by number."""
    values, counts = np.unique(np.asarray(labels, dtype=np.int64), return_counts=True)
    out = {name: 0 for name in classes}
    for v, c in zip(values.tolist(), counts.tolist()):
        out[classes[v] if 0 <= v < len(classes) else str(v)] = int(c)
    return out


def _event_stats(counts: np.ndarray) -> dict[str, Any]:
    a = np.asarray(counts, dtype=np.int64)
    if a.size == 0:
        return {"total": 0, "min": None, "median": None, "max": None, "mean": None}
    return {"total": int(a.sum()), "min": int(a.min()), "median": _num(np.median(a)), "max": int(a.max()),
            "mean": round(float(a.mean()), 1)}  # fmt: skip


def _sample_nbytes(attrs: dict[str, Any]) -> int:
    w, h, p = attrs["sensor"]
    return int(attrs["t_max"]) * int(p) * int(h) * int(w) * np.dtype(attrs["dtype"]).itemsize


def _tree_size(path: Path) -> tuple[int, int, int]:
    """``(bytes, files, partial files)`` under ``path`` (zeros if it does not exist)."""
    if isinstance(path, RemotePath):  # objects appear whole: never partial
        return (*path.tree_size(), 0)
    size = files = partial = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                size += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # a writer renamed or removed it meanwhile
                continue
            files += 1
            partial += name.endswith(".partial")
    return size, files, partial


def _num(x: float) -> int | float:
    """A median as an int when whole, else a float."""
    x = float(x)
    return int(x) if x.is_integer() else x
