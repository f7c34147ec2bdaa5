"""Deterministic test frames and a store builder (plain NumPy: no dependency on eventkit.frames)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import zarr

SENSOR = (6, 5, 2)  # width, height, polarities
T_MAX = 4
SPLITS = {"train": 11, "test": 5}
PARAMS = {"frames": T_MAX, "split_by": "number"}


def sample(split: str, i: int) -> tuple[np.ndarray, int, str]:
    """Sample ``i`` of ``split``: 1..T_MAX sparse uint16 frames, a label and an id."""
    rng = np.random.default_rng([i, len(split)])
    t = int(rng.integers(1, T_MAX + 1))
    w, h, p = SENSOR
    frames = (rng.poisson(0.4, (t, p, h, w)) * rng.integers(0, 2, (t, p, h, w))).astype(np.uint16)
    return frames, i % 3, f"{split}-{i:04d}"


def create(path: Path, **kw):
    from eventkit.store import create_store

    args = dict(splits=SPLITS, t_max=T_MAX, sensor=SENSOR, params=PARAMS, classes=["a", "b", "c"],
                dataset="toy", manifest_version="1", decoder_versions={"toy": "1"}, samples_per_shard=4)  # fmt: skip
    args.update(kw)
    return create_store(path, **args)


def write_all(w, splits=SPLITS) -> None:
    for split in splits:
        for shard in w.missing_shards(split):
            w.write_shard(split, int(shard), [sample(split, i) for i in w.shard_range(split, int(shard))])


def content(path: Path) -> dict:
    """Every array's values and the root/split attrs except timestamps: what must be identical."""
    g = zarr.open_group(path, mode="r")
    out = {"attrs": {k: v for k, v in g.attrs.items() if k not in ("created", "finalized")}}
    for split_name, sub in g.groups():
        out[split_name + "/attrs"] = dict(sub.attrs)
        for name, arr in sub.arrays():
            out[f"{split_name}/{name}"] = (arr.dtype, arr.shape, arr[...].tobytes() if arr.dtype != object else None)
            if arr.dtype.kind not in "iuf":
                out[f"{split_name}/{name}"] = (str(arr.dtype), arr.shape, json.dumps([str(s) for s in arr[...]]))
    return out


def files(path: Path) -> dict[str, bytes]:
    """Every file's bytes except the root zarr.json (which holds the timestamps)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file() and p.relative_to(path) != Path("zarr.json")}
