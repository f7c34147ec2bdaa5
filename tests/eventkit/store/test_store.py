"""Frame store: round trip, idempotence, resume, cache keys, completeness, locks, masks."""

from __future__ import annotations

import json
import os
import pickle
import socket

import numpy as np
import pytest
from _store_helpers import PARAMS, SPLITS, T_MAX, content, create, files, sample, write_all

from eventkit.errors import EventkitError
from eventkit.store import (
    IncompleteStoreError,
    StoreLockedError,
    StoreMismatchError,
    StoreNotFoundError,
    cache_key,
    key_inputs,
    open_store,
    open_store_writer,
    store_name,
)
from eventkit.store.layout import choose_samples_per_shard, lock_path


def test_round_trip(tmp_path):
    path = tmp_path / "s.zarr"
    w = create(path)
    write_all(w)
    w.finalize()
    st = open_store(path)
    assert st.complete and st.classes == ["a", "b", "c"] and st.params == PARAMS
    assert tuple(st.sensor) == (6, 5, 2) and st.t_max == T_MAX and st.dtype == np.uint16
    assert list(st) == list(SPLITS)
    for split, n in SPLITS.items():
        view = st[split]
        assert len(view) == n and view.frames.shape == (n, T_MAX, 2, 5, 6)
        for i in range(n):
            frames, label, sid = sample(split, i)
            got = view[i]
            assert got.length == len(frames) and got.label == label and got.sample_id == sid
            np.testing.assert_array_equal(got.frames[: got.length], frames)
            assert not got.frames[got.length :].any()  # zero padding
        np.testing.assert_array_equal(view.read_frames([3, 1]), np.stack([view[3].frames, view[1].frames]))
    assert st["test"][-1].sample_id == "test-0004"
    with pytest.raises(IndexError):
        st["test"][5]
    with pytest.raises(KeyError, match="unknown split"):
        st["valid"]


def test_write_sample_equals_write_shard(tmp_path):
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    wa = create(a)
    write_all(wa)
    wa.finalize()
    wb = create(b)
    for split, n in SPLITS.items():
        for i in reversed(range(n)):  # any order
            wb.write_sample(split, i, *sample(split, i))
    wb.finalize()
    assert content(a) == content(b)
    assert files(a) == files(b)


def test_idempotent_rewrite(tmp_path):
    path = tmp_path / "s.zarr"
    w = create(path)
    write_all(w)
    before = files(path)
    w.write_sample("train", 2, *sample("train", 2))
    w.write_shard("train", 1, [sample("train", i) for i in w.shard_range("train", 1)])
    assert files(path) == before
    frames, _, _ = sample("train", 5)
    w.write_sample("train", 2, frames, 2, "replaced")  # a rewrite replaces
    w.finalize()
    got = open_store(path)["train"][2]
    assert got.sample_id == "replaced" and got.label == 2
    np.testing.assert_array_equal(got.frames[: got.length], frames)


def test_resume_reports_missing_and_completes(tmp_path):
    ref, path = tmp_path / "ref.zarr", tmp_path / "s.zarr"
    w = create(ref)
    write_all(w)
    w.finalize()
    w = create(path)
    w.write_shard("train", 1, [sample("train", i) for i in w.shard_range("train", 1)])
    w.write_sample("test", 3, *sample("test", 3))
    w.close()  # interrupted: never finalized
    w = create(path)  # same parameters: resume
    np.testing.assert_array_equal(w.missing("train"), [0, 1, 2, 3, 8, 9, 10])
    np.testing.assert_array_equal(w.missing_shards("train"), [0, 2])
    np.testing.assert_array_equal(w.missing("test"), [0, 1, 2, 4])
    with pytest.raises(IncompleteStoreError, match="train: 7"):
        w.finalize()
    for split in SPLITS:
        for i in w.missing(split):
            w.write_sample(split, int(i), *sample(split, int(i)))
    w.finalize()
    assert content(path) == content(ref)
    assert not lock_path(path).exists()


def test_cache_key_mismatch_is_an_error(tmp_path):
    path = tmp_path / "s.zarr"
    create(path).close()
    with pytest.raises(StoreMismatchError, match=r"params\.frames: 4 -> 8") as err:
        create(path, params={"frames": 8, "split_by": "number"})
    assert isinstance(err.value, ValueError) and isinstance(err.value, EventkitError)
    with pytest.raises(StoreMismatchError, match="decoder_versions"):
        create(path, decoder_versions={"toy": "2"})
    with pytest.raises(StoreMismatchError, match="dtype"):
        create(path, dtype="uint8")
    with pytest.raises(StoreMismatchError, match="splits"):
        create(path, splits={"train": 12, "test": 5})
    create(path, params={"frames": 8, "split_by": "number"}, overwrite=True).close()
    with pytest.raises(StoreMismatchError, match="not an eventkit store"):
        (tmp_path / "junk").mkdir()
        (tmp_path / "junk" / "f").write_text("x")
        create(tmp_path / "junk")


def test_open_checks_expected_key_and_params(tmp_path):
    path = tmp_path / "s.zarr"
    w = create(path)
    write_all(w)
    key = w.cache_key
    w.finalize()
    assert open_store(path, expect_key=key, expect_params=dict(reversed(PARAMS.items()))).cache_key == key
    with pytest.raises(StoreMismatchError, match="cache key"):
        open_store(path, expect_key="0" * 64)
    with pytest.raises(StoreMismatchError, match=r"split_by: 'number' -> 'time'"):
        open_store(path, expect_params={"frames": T_MAX, "split_by": "time"})
    with pytest.raises(StoreMismatchError, match="cache key"):
        open_store_writer(path, expect_key="0" * 64)


def test_incomplete_store_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    w = create(path)
    w.write_sample("train", 0, *sample("train", 0))
    with pytest.raises(IncompleteStoreError, match="incomplete"):
        open_store(path)
    st = open_store(path, allow_incomplete=True)
    assert not st.complete
    np.testing.assert_array_equal(st["train"].available, [0])
    assert st["train"][0].sample_id == "train-0000"
    with pytest.raises(IncompleteStoreError, match="sample 1 of split 'train'"):
        st["train"][1]
    w.close()
    with pytest.raises(StoreNotFoundError) as err:
        open_store(tmp_path / "nothing.zarr")
    assert isinstance(err.value, FileNotFoundError)


def test_lock_refuses_second_writer_and_takes_over_stale(tmp_path):
    path = tmp_path / "s.zarr"
    w = create(path)
    owner = json.loads(lock_path(path).read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    with pytest.raises(StoreLockedError, match=rf"process {os.getpid()}"):
        create(path)
    with pytest.raises(StoreLockedError):
        open_store_writer(path)
    open_store_writer(path, lock=False).close()  # a coordinator's worker
    w.close()
    assert not lock_path(path).exists()
    # A lock left by a dead process on this host is stale and is taken over.
    dead = _dead_pid()
    lock_path(path).write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
    create(path).close()
    # A lock from another host cannot be checked: refused, naming the file to delete.
    lock_path(path).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(StoreLockedError, match="elsewhere.*delete the lock file"):
        create(path)


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_mask_semantics(tmp_path):
    path = tmp_path / "s.zarr"
    w = create(path)
    write_all(w)
    w.finalize()
    view = open_store(path)["train"]
    for i in range(len(view)):
        m = view.mask(i)
        assert m.shape == (T_MAX,) and m.dtype == bool
        np.testing.assert_array_equal(m, np.arange(T_MAX) < view.lengths[i])
        assert not view[i].frames[~m].any()
    both = view.mask([0, 1])
    assert both.shape == (2, T_MAX)
    np.testing.assert_array_equal(both[1], view.mask(1))


def test_values_that_would_wrap_are_refused(tmp_path):
    w = create(tmp_path / "s.zarr")
    frames = np.full((2, 2, 5, 6), 70_000, dtype=np.int64)
    with pytest.raises(ValueError, match="do not fit"):
        w.write_sample("train", 0, frames, 0, "x")
    with pytest.raises(ValueError, match=r"frames must be \[T <= 4"):
        w.write_sample("train", 0, np.zeros((5, 2, 5, 6), np.uint16), 0, "x")
    with pytest.raises(IndexError):
        w.write_sample("train", 11, np.zeros((1, 2, 5, 6), np.uint16), 0, "x")
    w.write_sample("train", 0, np.zeros((0, 2, 5, 6), np.uint16), 0, "empty")  # an empty sample is valid
    w.close()


def test_store_is_picklable_for_dataloader_workers(tmp_path):
    path = tmp_path / "s.zarr"
    w = create(path)
    write_all(w)
    w.finalize()
    st = pickle.loads(pickle.dumps(open_store(path)))
    assert st["test"][2].sample_id == "test-0002"


def test_cache_key_is_canonical():
    base = dict(kind="frames", dataset="d", manifest_version="1", decoder_versions={"a": "1", "b": "2"},
                dtype="<u2", sensor=(128, 128, 2), format_version=1)  # fmt: skip
    k1 = cache_key(key_inputs(params={"frames": 16, "split_by": "number"}, **base))
    k2 = cache_key(key_inputs(params={"split_by": "number", "frames": np.int64(16)}, **base))
    assert k1 == k2 and len(k1) == 64
    assert k1 != cache_key(key_inputs(params={"frames": 16, "split_by": "time"}, **base))


def test_store_name_and_shard_size():
    assert store_name({"frames": 16, "split_by": "number"}) == "frames-T16-number.zarr"
    assert store_name({"duration": 50_000}) == "frames-D50000.zarr"
    assert store_name({"frames": 16, "split_by": "time", "downsample": 4}).startswith("frames-T16-time-")
    assert choose_samples_per_shard(16 * 2 * 128 * 128 * 2) == 32  # DVS128 Gesture, 1 MiB/sample
    assert choose_samples_per_shard(16 * 2 * 34 * 34 * 2) == 256  # N-MNIST
    assert choose_samples_per_shard(16 * 2 * 34 * 34 * 2, n_samples=10) == 16


@pytest.mark.parametrize("codec", ["default", "zstd", "gzip"])
def test_fast_shard_reader_matches_zarr(tmp_path, codec):
    from zarr.codecs import GzipCodec, ZstdCodec

    comp = {"default": None, "zstd": ZstdCodec(level=3), "gzip": GzipCodec(level=5)}[codec]
    path = tmp_path / "s.zarr"
    w = create(path, compressor=comp)
    write_all(w)
    w.write_sample("train", 4, np.zeros((2, 2, 5, 6), np.uint16), 0, "empty")  # all-zero chunk: not stored
    w.finalize()
    view = open_store(path)["train"]
    assert view._fast is not None
    for i in range(len(view)):
        got = view[i].frames
        assert got.flags.writeable and got.dtype == np.uint16
        np.testing.assert_array_equal(got, view.frames[i])
