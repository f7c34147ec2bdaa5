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

from .errors import StoreNotFoundError
from .layout import read_root_attrs

__all__ = ["codec_description", "inspect_store", "length_stats"]

# Bytes of one stored event: the columns t, x, y, p are int64, uint16, uint16, uint8.
EVENT_BYTES = 8 + 2 + 2 + 1


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
        killed writer).

    Raises
    ------
    StoreNotFoundError
        If ``path`` holds no eventkit store.
    """
    p = Path(path)
    attrs = read_root_attrs(p) if p.is_dir() else None
    if attrs is None or attrs.get("eventkit_store") not in ("frames", "events"):
        what = "does not exist" if not p.exists() else "holds no eventkit store (no zarr.json with eventkit attrs)"
        raise StoreNotFoundError(f"{p}: {what}; give a store made by `eventkit convert` (a *.zarr folder)")
    kind = attrs["eventkit_store"]
    root = zarr.open_group(p, mode="r", zarr_format=3)
    classes = [str(c) for c in attrs.get("classes", [])]
    splits: dict[str, dict[str, Any]] = {}
    all_lengths: list[np.ndarray] = []
    raw = data = 0
    for split, n in attrs.get("splits", {}).items():
        info, arrays = _split_arrays(root, split, int(n), kind)
        written = arrays["done"]
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
        info["data_bytes"], info["raw_bytes"] = split_data, split_raw
        raw, data = raw + split_raw, data + split_data
        splits[split] = info
    disk_bytes, disk_files, partial = _tree_size(p)
    total = sum(s["samples"] for s in splits.values())
    written_total = sum(s["written"] for s in splits.values())
    facts: dict[str, Any] = {
        "path": str(p),
        "kind": kind,
        "complete": bool(attrs.get("complete")),
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
    else:
        facts["dtype"] = "events (t int64, x uint16, y uint16, p uint8)"
    return facts


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
        created = True
    except KeyError:
        arrays = {"done": np.zeros(n, bool), **{k: np.zeros(n, np.int64) for k in names}}
        created = False
    written = int(arrays["done"].sum())
    return {"samples": n, "written": written, "missing": n - written, "created": created}, arrays


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
