"""Event store: ragged round trip, offsets, resume by shard, completeness and key checks."""

from __future__ import annotations

import numpy as np
import pytest

from eventkit.events import EVENT_DTYPE
from eventkit.store import IncompleteStoreError, StoreMismatchError, create_event_store, open_event_store

SPLITS = {"train": 7, "test": 2}


def events(split: str, i: int) -> np.ndarray:
    rng = np.random.default_rng([i, len(split)])
    n = int(rng.integers(0, 50))  # includes empty samples
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 10_000, n))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)
    return ev


def create(path, **kw):
    args = dict(splits=SPLITS, sensor=(34, 34, 2), classes=list("0123456789"), dataset="toy", samples_per_shard=3)
    return create_event_store(path, **{**args, **kw})


def write(w, split, shard):
    w.write_shard(split, shard, [(events(split, i), i % 10, f"s{i}") for i in w.shard_range(split, shard)])


def test_event_store_round_trip_and_resume(tmp_path):
    path = tmp_path / "ev.zarr"
    w = create(path)
    write(w, "train", 1)
    write(w, "train", 1)  # idempotent
    w.close()
    with pytest.raises(IncompleteStoreError):
        open_event_store(path)
    assert open_event_store(path, allow_incomplete=True)["train"][4].sample_id == "s4"
    with pytest.raises(StoreMismatchError, match="params"):
        create(path, params={"denoise": 1000})
    w = create(path)
    # the shards still to write, as the pipeline finds them: those holding a missing sample
    todo = {split: sorted({int(i) // w.samples_per_shard for i in w.missing(split)}) for split in SPLITS}
    assert todo["train"] == [0, 2]
    for split, shards in todo.items():
        for b in shards:
            write(w, split, b)
    w.finalize()
    st = open_event_store(path)
    for split, n in SPLITS.items():
        view = st[split]
        assert len(view) == n and view.offsets[-1] == sum(events(split, i).size for i in range(n))
        for i in range(n):
            got = view[i]
            np.testing.assert_array_equal(got.events, events(split, i))
            assert got.label == i % 10 and got.sample_id == f"s{i}"
            assert view.offsets[i + 1] - view.offsets[i] == got.events.size


def test_frame_and_event_stores_share_one_reader(tmp_path):
    """Both readers are StoreReaders: the same attrs properties, split lookup and pickling by path."""
    import pickle

    from eventkit.store import FrameStore, create_store, open_store
    from eventkit.store._reader_base import StoreReader

    ev = tmp_path / "ev.zarr"
    w = create(ev)
    write(w, "train", 0)
    w.close()
    fr = tmp_path / "fr.zarr"
    fw = create_store(fr, splits={"train": 2}, t_max=2, sensor=(4, 4, 2), params={"frames": 2}, classes=["a"],
                      dataset="toy")  # fmt: skip
    fw.close()
    stores = [open_event_store(ev, allow_incomplete=True), open_store(fr, allow_incomplete=True)]
    assert isinstance(stores[1], FrameStore)
    for st in stores:
        assert isinstance(st, StoreReader) and not st.complete and len(st.cache_key) == 64
        assert st.classes == list(st.attrs["classes"]) and tuple(st.sensor) == tuple(st.attrs["sensor"])
        with pytest.raises(KeyError, match="unknown split"):
            st["nope"]
        again = pickle.loads(pickle.dumps(st))
        assert type(again) is type(st) and again.path == st.path and again._options == st._options
        assert list(again) == list(st) and len(again["train"]) == len(st["train"])


def test_old_shard_names_still_work_with_a_warning(tmp_path):
    # samples_per_block= / n_blocks / block_range / write_block were the event store's names for
    # samples_per_shard= / n_shards / shard_range / write_shard: old callers keep working
    with pytest.warns(DeprecationWarning, match="samples_per_shard"):
        w = create_event_store(tmp_path / "old.zarr", splits=SPLITS, sensor=(34, 34, 2), classes=list("0123456789"),
                               dataset="toy", samples_per_block=3)  # fmt: skip
    assert w.samples_per_shard == 3
    with pytest.warns(DeprecationWarning, match="samples_per_shard"):
        assert w.samples_per_block == 3
    with pytest.warns(DeprecationWarning, match="n_shards"):
        assert w.n_blocks("train") == w.n_shards("train") == 3
    with pytest.warns(DeprecationWarning, match="shard_range"):
        assert w.block_range("train", 2) == w.shard_range("train", 2) == range(6, 7)
    with pytest.warns(DeprecationWarning, match="write_shard"):
        w.write_block("test", 0, [(events("test", i), i, f"s{i}") for i in range(2)])
    assert w.missing("test").size == 0
    with pytest.raises(TypeError, match="samples_per_shard"):
        create(tmp_path / "both.zarr", samples_per_block=3)  # both names given
