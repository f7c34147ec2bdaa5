"""inspect_store: counts, T distribution, completeness, sizes, labels; event stores; errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eventkit.events import EVENT_DTYPE
from eventkit.store import StoreNotFoundError, create_event_store, create_store
from eventkit.store.inspect import codec_description, inspect_store, length_stats

SENSOR = (6, 5, 2)
T_MAX = 4
SPLITS = {"train": 6, "test": 3}
CLASSES = ["a", "b", "c"]
# Known lengths and labels per sample.
LENGTHS = {"train": [1, 2, 2, 4, 4, 4], "test": [3, 4, 0]}
LABELS = {"train": [0, 0, 1, 2, 2, 2], "test": [1, 1, 0]}


def frames_of(split: str, i: int) -> np.ndarray:
    rng = np.random.default_rng([i, len(split)])
    w, h, p = SENSOR
    return rng.integers(0, 3, (LENGTHS[split][i], p, h, w)).astype(np.uint16)


def make_store(path, shards=None, finalize=True):
    w = create_store(path, splits=SPLITS, t_max=T_MAX, sensor=SENSOR, params={"frames": T_MAX, "split_by": "number"},
                     classes=CLASSES, dataset="toy", manifest_version="1", samples_per_shard=2)  # fmt: skip
    for split in SPLITS:
        for shard in range(w.n_shards(split)):
            if shards is not None and (split, shard) not in shards:
                continue
            w.write_shard(split, shard, [(frames_of(split, i), LABELS[split][i], f"{split}{i}")
                                         for i in w.shard_range(split, shard)])  # fmt: skip
    w.finalize() if finalize else w.close()
    return path


def test_complete_store_facts(tmp_path):
    f = inspect_store(make_store(tmp_path / "s.zarr"))
    json.dumps(f)  # JSON-ready
    assert f["kind"] == "frames" and f["complete"] is True
    assert (f["samples"], f["written"], f["missing"]) == (9, 9, 0)
    assert f["splits"]["train"]["samples"] == 6 and f["splits"]["test"]["written"] == 3
    assert f["dtype"] == "uint16" and f["frame_shape"] == [T_MAX, 2, 5, 6] and f["t_max"] == T_MAX
    tr = f["splits"]["train"]["lengths"]
    assert (tr["min"], tr["median"], tr["max"], tr["count"]) == (1, 3, 4, 6)
    assert tr["mean"] == pytest.approx(17 / 6, abs=1e-3)
    assert tr["histogram"] == [[1, 1], [2, 2], [4, 3]]
    assert f["splits"]["test"]["lengths"]["histogram"] == [[0, 1], [3, 1], [4, 1]]
    assert f["lengths"]["histogram"] == [[0, 1], [1, 1], [2, 2], [3, 1], [4, 4]]
    assert f["splits"]["train"]["label_counts"] == {"a": 2, "b": 1, "c": 3}
    assert f["splits"]["test"]["label_counts"] == {"a": 1, "b": 2, "c": 0}
    assert f["params"] == {"frames": T_MAX, "split_by": "number"} and f["classes"] == CLASSES
    assert len(f["cache_key"]) == 64 and f["eventkit_version"] and f["format_version"] == 1
    assert f["codec"] == "blosc zstd clevel=3 bitshuffle"
    # Sizes: raw is the padded frames of the written samples; the data files are part of the disk size.
    assert f["raw_bytes"] == 9 * T_MAX * 2 * 5 * 6 * 2
    assert 0 < f["data_bytes"] < f["disk_bytes"]
    assert f["disk_files"] > 0 and f["partial_files"] == 0
    assert f["compression_ratio"] == pytest.approx(f["raw_bytes"] / f["data_bytes"], rel=1e-3)


def test_incomplete_store_counts_missing(tmp_path):
    path = make_store(tmp_path / "s.zarr", shards={("train", 0), ("train", 2)}, finalize=False)
    f = inspect_store(path)
    assert f["complete"] is False
    assert (f["samples"], f["written"], f["missing"]) == (9, 4, 5)
    assert (f["splits"]["train"]["written"], f["splits"]["train"]["missing"]) == (4, 2)
    assert (f["splits"]["test"]["written"], f["splits"]["test"]["missing"]) == (0, 3)
    # Only written samples count: train 0, 1, 4, 5.
    assert f["splits"]["train"]["lengths"]["histogram"] == [[1, 1], [2, 1], [4, 2]]
    assert f["splits"]["train"]["label_counts"] == {"a": 2, "b": 0, "c": 2}
    assert f["splits"]["test"]["lengths"]["min"] is None and f["splits"]["test"]["lengths"]["histogram"] == []
    assert f["raw_bytes"] == 4 * T_MAX * 2 * 5 * 6 * 2


def test_event_store_facts(tmp_path):
    counts = {"train": [5, 0, 7], "test": [3]}
    w = create_event_store(tmp_path / "ev.zarr", splits={"train": 3, "test": 1}, sensor=(34, 34, 2), classes=["x", "y"],
                           dataset="toy", samples_per_shard=2)  # fmt: skip
    for split, ns in counts.items():
        for b in range(w.n_shards(split)):
            samples = []
            for i in w.shard_range(split, b):
                ev = np.zeros(ns[i], EVENT_DTYPE)
                ev["t"] = np.arange(ns[i])
                samples.append((ev, i % 2, f"{split}{i}"))
            w.write_shard(split, b, samples)
    w.finalize()
    f = inspect_store(tmp_path / "ev.zarr")
    json.dumps(f)
    assert f["kind"] == "events" and f["complete"] and f["written"] == 4
    ev = f["splits"]["train"]["events"]
    assert (ev["total"], ev["min"], ev["median"], ev["max"]) == (12, 0, 5, 7)
    assert f["splits"]["train"]["label_counts"] == {"x": 2, "y": 1}
    assert f["raw_bytes"] == 15 * 13
    assert "lengths" not in f["splits"]["train"]


def test_not_a_store(tmp_path):
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        inspect_store(tmp_path / "nope.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreNotFoundError, match="no eventkit store"):
        inspect_store(tmp_path / "plain")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(StoreNotFoundError):
        inspect_store(f)


def test_helpers():
    assert length_stats(np.array([2, 2, 3, 8]), 8)["median"] == 2.5
    assert length_stats(np.array([], np.int64))["count"] == 0
    assert codec_description(None) == "none"
    assert codec_description({"name": "zstd", "configuration": {"level": 3, "checksum": False}}) == "zstd level=3"
