"""Fixtures of the conversion-pipeline tests: a tiny synthetic-gestures dataset and reference stores.

The dataset (2 train users + 1 test user, one lighting each, 11 gestures of 0.2 s per recording:
22 train and 11 test samples, ~46 k events per recording) is generated once per session; tests
that damage it work on a copy. Stores are compared by :func:`store_content` (every array's
values and every attr except the timestamps).
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

CFG_KW = dict(train_users=2, test_users=1, lightings_per_user=1, gesture_us=200_000, gap_us=50_000, rate=20_000,
              seed=1)  # fmt: skip
FRAMES = 8
SMALL_S = 2  # samples per shard in the tests that need many shards (22 + 11 samples -> 11 + 6 tasks)


def store_content(path: Path) -> dict:
    """Every array's values and the root/split attrs except timestamps: what must be identical."""
    g = zarr.open_group(path, mode="r")
    out: dict = {"attrs": {k: v for k, v in g.attrs.items() if k not in ("created", "finalized")}}

    def walk(group: zarr.Group, prefix: str) -> None:
        for name, sub in group.groups():
            out[prefix + name + "/attrs"] = dict(sub.attrs)
            walk(sub, prefix + name + "/")
        for name, arr in group.arrays():
            a = arr[...]
            if a.dtype.kind in "biuf" or a.dtype.names:
                out[prefix + name] = (str(a.dtype), a.shape, a.tobytes())
            else:
                out[prefix + name] = (str(a.dtype), a.shape, json.dumps([str(s) for s in a.ravel()]))

    walk(g, "")
    return out


def assert_same_store(a: Path, b: Path) -> None:
    ca, cb = store_content(a), store_content(b)
    assert sorted(ca) == sorted(cb)
    for k in ca:
        assert ca[k] == cb[k], f"{k} differs between {a.name} and {b.name}"


def done_count(path: Path) -> int:
    """Samples whose ``done`` flag is set (0 while the store does not exist yet)."""
    try:
        g = zarr.open_group(path, mode="r")
        return sum(int(np.asarray(sub["done"][:]).sum()) for _, sub in g.groups())
    except Exception:  # not created yet, or metadata being written
        return 0


@contextlib.contextmanager
def small_shards(s: int = SMALL_S):
    """Make new frame stores use ``s`` samples per shard (many shards -> many tasks)."""
    import eventkit.store.writer as writer

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(writer, "choose_samples_per_shard", lambda nbytes, n=None: s)
        yield


def gesture_rows(data: Path, split: str) -> list[tuple[str, Path, int, int, int]]:
    """``(sample_id, recording, class 1..11, start, end)`` of every sample of ``split``, read directly."""
    base = data / "DvsGesture"
    out = []
    for rec in (base / f"trials_to_{split}.txt").read_text().split():
        stem = rec[: -len(".aedat")]
        with open(base / f"{stem}_labels.csv", newline="") as f:
            rows = [r for r in csv.reader(f) if r][1:]
        out += [(f"{stem}_{k}", base / rec, int(c), int(s), int(e)) for k, (c, s, e) in enumerate(rows)]
    return out


def window_events(recording: Path, start: int, end: int) -> np.ndarray:
    from eventkit.io import read_events

    ev = read_events(recording, format="aedat31")
    return ev[(ev["t"] >= start) & (ev["t"] < end)]


@pytest.fixture(scope="session")
def gestures_data(tmp_path_factory) -> Path:
    """The tiny synthetic-gestures dataset (read-only: copy it before damaging it)."""
    from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures

    return Path(generate_synthetic_gestures(tmp_path_factory.mktemp("gestures") / "data",
                                            SyntheticGesturesConfig(**CFG_KW)))  # fmt: skip


@pytest.fixture
def data_copy(gestures_data: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(gestures_data, dst)
    return dst


@pytest.fixture(scope="session")
def manifest():
    from eventkit.datasets.registry import get_manifest

    return get_manifest("synthetic-gestures")


@pytest.fixture(scope="session")
def reference_store(gestures_data: Path, manifest, tmp_path_factory) -> Path:
    """An uninterrupted serial conversion, T=8 by number, default shards."""
    from eventkit.pipeline import convert

    out = tmp_path_factory.mktemp("ref") / "frames.zarr"
    r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert r.complete and not r.failures
    return out


@pytest.fixture(scope="session")
def reference_small_store(gestures_data: Path, manifest, tmp_path_factory) -> Path:
    """An uninterrupted serial conversion, T=8 by number, SMALL_S samples per shard."""
    from eventkit.pipeline import convert

    out = tmp_path_factory.mktemp("ref_small") / "frames.zarr"
    with small_shards():
        r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert r.complete and not r.failures
    return out


def child_env() -> dict:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


PYTHON = sys.executable
