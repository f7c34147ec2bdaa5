"""The one shard planner and runner of ``eventkit convert`` and ``eventkit synth``.

The planner against a hand-made reference; then the behaviour both commands share, tested on
both: a partly written shard converts only its missing samples (and counts the others as
skipped), and an error mid-run releases the writer lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from eventkit.pipeline.plan import plan_shards, shards_of

from .conftest import FRAMES


@dataclass(frozen=True)
class _S:
    split: str
    name: str


SAMPLES = [_S("train", f"a{i}") for i in range(5)] + [_S("test", f"b{i}") for i in range(3)]


def test_shards_of_cuts_each_split_in_order() -> None:
    got = [(sp, k, [(i, s.name) for i, s in g]) for sp, k, g in shards_of(["train", "test"], SAMPLES, 2)]
    assert got == [
        ("train", 0, [(0, "a0"), (1, "a1")]), ("train", 1, [(2, "a2"), (3, "a3")]), ("train", 2, [(4, "a4")]),
        ("test", 0, [(0, "b0"), (1, "b1")]), ("test", 1, [(2, "b2")]),
    ]  # fmt: skip


@pytest.mark.parametrize("part", [None, (0, 2), (1, 2), (2, 3)])
@pytest.mark.parametrize("whole", [False, True])
def test_plan_shards_matches_a_reference(part, whole) -> None:
    missing = {"train": {1, 2, 3}, "test": {2}}
    plan = plan_shards(["train", "test"], SAMPLES, 2, missing, part=part, whole=whole)
    # reference: shard g = (split, k, indices); keep g % N == K
    shards = [("train", 0, [0, 1]), ("train", 1, [2, 3]), ("train", 2, [4]), ("test", 0, [0, 1]), ("test", 1, [2])]
    owned = [s for g, s in enumerate(shards) if part is None or g % part[1] == part[0]]
    want, skipped = [], 0
    for split, k, idx in owned:
        todo = [i for i in idx if i in missing[split]]
        if whole and todo:
            todo = idx
        skipped += len(idx) - len(todo)
        if todo:
            want.append((split, k, None if todo == idx else frozenset(todo)))
    assert [(p.split, p.shard, p.todo) for p in plan.shards] == want
    assert plan.skipped == skipped and plan.owned == len(owned)


# --- the shared behaviour, on both commands --------------------------------------------------


@pytest.fixture
def images(tmp_path) -> Path:
    PIL = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            PIL.fromarray((rng.random((12, 12)) * 255).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def _synth(images: Path, out: Path, **kw):
    from eventkit.synth import synth_convert

    return synth_convert(images, method="odg", out=out, classes=["a", "b"], size=8, frames=2, executor="serial",
                         samples_per_shard=4, progress=False, **kw)  # fmt: skip


def test_synth_converts_only_the_missing_samples_of_a_partly_written_shard(images, tmp_path, monkeypatch) -> None:
    from eventkit.synth import convert as sc
    from eventkit.store import open_store

    real_load = sc.load_image

    def flaky(sample):  # a transient read error (a network file system's hiccup) on one image
        if sample.sample_id == "a/1":
            raise OSError("input/output error")
        return real_load(sample)

    out = tmp_path / "s.zarr"
    with monkeypatch.context() as mp:
        mp.setattr(sc, "load_image", flaky)
        r = _synth(images, out)
    assert (r.converted, r.skipped, len(r.failures), r.complete) == (5, 0, 1, False)
    made = []
    real = sc.convert_image
    monkeypatch.setattr(sc, "convert_image", lambda task, s: made.append(s.sample_id) or real(task, s))
    r = _synth(images, out)
    assert (r.converted, r.skipped, r.failures, r.complete) == (1, 5, [], True)
    assert made == ["a/1"]  # the shard's other samples were not made again
    ref = _synth(images, tmp_path / "ref.zarr")
    a, b = open_store(out)["train"], open_store(tmp_path / "ref.zarr")["train"]
    for i in range(len(b)):
        assert np.array_equal(a[i].frames, b[i].frames) and a[i].sample_id == b[i].sample_id
    assert ref.converted == 6


def _lock_of(out: Path) -> Path:
    from eventkit.store.layout import lock_path

    return lock_path(out)


def test_an_error_mid_run_releases_the_lock_in_synth_and_convert(images, gestures_data, manifest, tmp_path,
                                                                 monkeypatch) -> None:  # fmt: skip
    import importlib

    from eventkit.pipeline import convert

    pc = importlib.import_module("eventkit.pipeline.convert")  # the module (the package exports the function)
    sc = importlib.import_module("eventkit.synth.convert")

    def boom(*a, **k):
        raise RuntimeError("boom")

    runs = {
        "synth": (sc, lambda out: _synth(images, out)),
        "convert": (pc, lambda out: convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out,
                                            executor="serial", progress=False)),  # fmt: skip
    }
    for name, (mod, run) in runs.items():
        out = tmp_path / f"{name}.zarr"
        with monkeypatch.context() as mp:
            mp.setattr(mod, "run_conversion", boom)
            with pytest.raises(RuntimeError, match="boom"):
                run(out)
        assert not _lock_of(out).exists(), name
        r = run(out)  # the next run is not refused, and resumes
        assert r.complete and not r.failures, name
