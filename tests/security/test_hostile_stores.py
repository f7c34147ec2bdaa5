"""Hostile stores: a frame or event store on a shared disk may be half-written, truncated, bit-flipped
or hand-edited. Every read must give the right data or one ``StoreCorruptError`` naming the store, the
split, the sample and the file, never zeros, another sample's frames or a codec's own exception.

Each test builds a small store, damages it, and checks the error (or the data)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import google_crc32c
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from eventkit_cli.inspect_view import inspect
from eventkit.store import StoreCorruptError, create_event_store, create_store, open_event_store, open_store
from eventkit.store.inspect import inspect_store, verify_store
from eventkit.torch import FrameDataset, pad_collate

SENSOR = (6, 5, 2)  # width, height, polarities
T_MAX, S = 4, 4
SPLITS = {"train": 11, "test": 5}
CLASSES = ["a", "b", "c"]


def _sample(split: str, i: int) -> tuple[np.ndarray, int, str]:
    rng = np.random.default_rng([i, len(split)])
    t = int(rng.integers(1, T_MAX + 1))
    w, h, p = SENSOR
    frames = (rng.integers(1, 5, (t, p, h, w)) * rng.integers(0, 2, (t, p, h, w))).astype(np.uint16)
    frames[0, 0, 0, 0] = i + 1  # never all zero, and unlike every other sample
    return frames, i % 3, f"{split}-{i:04d}"


def build(path: Path, **kw) -> Path:
    """A complete frame store with 2 splits, 4 samples per shard."""
    args = dict(splits=SPLITS, t_max=T_MAX, sensor=SENSOR, params={"frames": T_MAX, "split_by": "number"},
                classes=CLASSES, dataset="toy", samples_per_shard=S)  # fmt: skip
    args.update(kw)
    w = create_store(path, **args)
    for split in args["splits"]:
        for shard in range(w.n_shards(split)):
            w.write_shard(split, shard, [_sample(split, i) for i in w.shard_range(split, shard)])
    w.finalize()
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("pristine") / "frames-T4-number.zarr")


@pytest.fixture
def store(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the pristine store for one test to damage."""
    dst = tmp_path / pristine.name
    shutil.copytree(pristine, dst)
    return dst


def shard(store: Path, split: str = "train", k: int = 0) -> Path:
    return store / split / "frames" / "c" / str(k) / "0" / "0" / "0" / "0"


def expected(split: str, i: int) -> np.ndarray:
    f, _, _ = _sample(split, i)
    out = np.zeros((T_MAX, *f.shape[1:]), np.uint16)
    out[: len(f)] = f
    return out


def assert_corrupt(exc: pytest.ExceptionInfo, store: Path, *parts: str) -> None:
    """One StoreCorruptError whose message names the store, each of ``parts`` and the fix."""
    assert exc.type.__mro__[0] is StoreCorruptError or issubclass(exc.type, StoreCorruptError)
    msg = str(exc.value)
    assert str(store) in msg and "\n" not in msg
    for p in parts:
        assert p in msg, (p, msg)
    assert "eventkit convert" in msg


def edit_json(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def rewrite_index(path: Path, fn) -> None:
    """Change a shard's index and give it a valid crc32c (a forged, not a flipped, index)."""
    data = bytearray(path.read_bytes())
    n = 16 * S
    idx = np.frombuffer(bytes(data[-n - 4 : -4]), "<u8").reshape(S, 2).copy()
    fn(idx)
    body = idx.tobytes()
    data[-n - 4 :] = body + struct.pack("<I", google_crc32c.value(body))
    path.write_bytes(bytes(data))


# -- shard files -------------------------------------------------------------------------------
def test_pristine_store_reads_back_exactly(store):
    view = open_store(store)["train"]
    for i in range(SPLITS["train"]):
        np.testing.assert_array_equal(view[i].frames, expected("train", i))
    assert verify_store(store) == []


def test_flipped_shard_index_byte_is_caught_not_another_samples_frames(store):
    f = shard(store)
    data = bytearray(f.read_bytes())
    data[-4 - 16 * S + 16] ^= 0x01  # offset of chunk 1: would point into chunk 0's bytes
    f.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][1]
    assert_corrupt(exc, store, "sample 1 of split 'train'", "crc32c", str(f))


def test_forged_index_pointing_outside_the_file(store):
    f = shard(store)
    rewrite_index(f, lambda idx: idx.__setitem__((2, 0), 1 << 40))
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][2]
    assert_corrupt(exc, store, "sample 2 of split 'train'", "outside the file", str(f))


def test_forged_index_with_huge_length_does_not_allocate(store):
    rewrite_index(shard(store), lambda idx: idx.__setitem__((0, 1), (1 << 64) - 2))
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][0]
    assert_corrupt(exc, store, "sample 0 of split 'train'")


def test_forged_index_marks_a_written_chunk_empty(store):
    rewrite_index(shard(store), lambda idx: idx.__setitem__(3, np.iinfo(np.uint64).max))
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][3]
    assert_corrupt(exc, store, "sample 3 of split 'train'", "missing")


def test_truncated_shard(store):
    f = shard(store, k=1)
    f.write_bytes(f.read_bytes()[:-7])
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][5]
    assert_corrupt(exc, store, "sample 5 of split 'train'", str(f))


def test_shard_cut_to_nothing(store):
    shard(store, k=1).write_bytes(b"")
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][4]
    assert_corrupt(exc, store, "sample 4 of split 'train'", "shorter than its")


def test_deleted_shard_is_not_zeros(store):
    f = shard(store, k=2)
    f.unlink()
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][9]
    assert_corrupt(exc, store, "sample 9 of split 'train'", "missing", str(f))
    assert not inspect_store(store)["complete"]  # inspect no longer calls it complete
    assert str(f) in inspect_store(store)["damaged_files"]


def test_flipped_chunk_byte_fails_its_checksum(store):
    f = shard(store)
    data = bytearray(f.read_bytes())
    data[20] ^= 0x04  # inside chunk 0's compressed bytes
    f.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][0]
    assert_corrupt(exc, store, "sample 0 of split 'train'", "checksum", str(f))


@pytest.mark.parametrize("nbytes", [1 << 31, 8, 0])
def test_forged_chunk_header_with_a_valid_checksum(store, nbytes):
    """A Blosc header claiming another size (2 GiB, too few bytes) is refused before decoding."""
    f = shard(store)
    data = bytearray(f.read_bytes())
    off, n = (int(x) for x in np.frombuffer(bytes(data[-4 - 16 * S :][:16]), "<u8"))
    struct.pack_into("<I", data, off + 4, nbytes)  # chunk 0's Blosc header: nbytes
    body = bytes(data[off : off + n - 4])
    struct.pack_into("<I", data, off + n - 4, google_crc32c.value(body))
    f.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"][0]
    assert_corrupt(exc, store, "sample 0 of split 'train'", "Blosc header")


def _flip_each(store: Path, positions) -> None:
    """Flip each byte position of shard 0 in turn: StoreCorruptError or the written frames, never others."""
    f = shard(store)
    orig = f.read_bytes()
    wrong = 0
    for pos in positions(len(orig)):
        data = bytearray(orig)
        data[pos] ^= 0xFF
        f.write_bytes(bytes(data))
        view = open_store(store)["train"]
        for i in range(S):
            try:
                frames = view[i].frames
            except StoreCorruptError:
                continue
            wrong += not np.array_equal(frames, expected("train", i))
    assert wrong == 0


def test_byte_flips_in_a_shard_give_the_error_or_the_right_frames(store):
    """Every 5th byte of the chunks and every byte of the index (the full sweep is marked slow)."""
    _flip_each(store, lambda n: sorted({*range(0, n, 5), *range(n - 4 - 16 * S, n)}))


@pytest.mark.slow
def test_every_byte_flip_in_a_shard_gives_the_error_or_the_right_frames(store):
    _flip_each(store, range)


# -- per-sample arrays ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["labels", "lengths", "sample_ids", "done"])
def test_deleted_small_chunk_is_refused_at_open(store, name):
    f = store / "test" / name / "c" / "1"
    f.unlink()
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["test"]
    assert_corrupt(exc, store, "sample 4 of split 'test'")


@pytest.mark.parametrize("name", ["labels", "lengths", "sample_ids", "done"])
def test_garbage_small_chunk_is_refused_at_open(store, name):
    f = store / "train" / name / "c" / "0"
    f.write_bytes(b"\x28\xb5\x2f\xfd" + b"\xff" * 40)  # zstd magic, then garbage
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"]
    assert_corrupt(exc, store, "split 'train'", str(f))


def test_out_of_range_label_is_refused(store):
    import zarr

    zarr.open_array(store / "train" / "labels", mode="r+")[3] = 7  # no class 7
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"]
    assert_corrupt(exc, store, "sample 3 of split 'train'", "label 7")


# -- metadata ------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe", b"[1, 2]", b"[" * 100_000])
def test_root_metadata_not_json(store, content):
    (store / "zarr.json").write_bytes(content)
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)
    assert str(store / "zarr.json") in str(exc.value)
    with pytest.raises(StoreCorruptError):
        inspect_store(store)


@pytest.mark.parametrize("attr,value", [("t_max", None), ("t_max", "4"), ("sensor", [6, 5]), ("splits", []),
                                        ("splits", {"../../outside": 3}), ("classes", "abc"), ("dtype", "object"),
                                        ("samples_per_shard", 0)])  # fmt: skip
def test_root_attrs_missing_or_wrong_type(store, attr, value):
    def change(doc):
        if value is None:
            del doc["attributes"][attr]
        else:
            doc["attributes"][attr] = value

    edit_json(store / "zarr.json", change)
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)
    assert attr in str(exc.value) and str(store) in str(exc.value)


@pytest.mark.parametrize("name,field,value", [
    ("done", "shape", [10]), ("labels", "shape", [12]), ("frames", "shape", [11, 4, 2, 5, 7]),
    ("frames", "data_type", "float64"), ("lengths", "data_type", "int8"), ("done", "node_type", "group"),
])  # fmt: skip
def test_array_metadata_disagrees_with_the_root_attrs(store, name, field, value):
    edit_json(store / "train" / name / "zarr.json", lambda doc: doc.__setitem__(field, value))
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)
    assert_corrupt(exc, store, str(store / "train" / name / "zarr.json"))


def test_array_metadata_not_json(store):
    (store / "test" / "frames" / "zarr.json").write_text("{")
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)
    assert_corrupt(exc, store, "frames")


# -- consumers -----------------------------------------------------------------------------------
def test_frame_dataset_raises_on_a_deleted_shard(store):
    shard(store, k=1).unlink()
    ds = FrameDataset(store, "train")
    with pytest.raises(StoreCorruptError):
        ds[5]
    with pytest.raises(StoreCorruptError) as exc:
        ds.__getitems__([0, 5])  # the batched path
    assert_corrupt(exc, store, "sample 5 of split 'train'")
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=pad_collate)
    with pytest.raises(StoreCorruptError):
        list(loader)


def test_frame_dataset_refuses_a_deleted_labels_chunk(store):
    (store / "train" / "labels" / "c" / "2").unlink()
    with pytest.raises(StoreCorruptError) as exc:
        FrameDataset(store, "train")
    assert_corrupt(exc, store, "sample 8..10 of split 'train'", "labels")


def test_training_data_refuses_a_damaged_store(store):
    from snnmodels.training.data import store_batches

    shard(store, k=0).write_bytes(b"\x00" * 20)
    with pytest.raises(StoreCorruptError) as exc:  # preloaded
        list(store_batches(store, "train", batch_size=4))
    assert_corrupt(exc, store, "split 'train'")
    with pytest.raises(StoreCorruptError) as exc:  # streamed through a DataLoader
        list(store_batches(store, "train", batch_size=4, preload=False))
    assert_corrupt(exc, store, "split 'train'")
    (store / "test" / "labels" / "c" / "0").unlink()
    with pytest.raises(StoreCorruptError):
        store_batches(store, "test", batch_size=4)


def test_worker_error_comes_back_as_one_line(store):
    from eventkit.store.integrity import unwrap_worker_error

    shard(store, k=0).unlink()
    ds = FrameDataset(store, "train")
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1, collate_fn=pad_collate)
    with pytest.raises(StoreCorruptError) as exc:
        list(loader)
    clean = unwrap_worker_error(exc.value)
    assert isinstance(clean, StoreCorruptError) and "\n" not in str(clean) and str(store) in str(clean)


# -- inspect --verify ------------------------------------------------------------------------------
def test_inspect_verify_lists_damaged_samples(store):
    shard(store, k=2).unlink()
    (store / "test" / "labels" / "c" / "0").unlink()
    res = CliRunner().invoke(inspect, [str(store), "--verify", "--json"])
    assert res.exit_code == 1, res.output
    facts = json.loads(res.output)
    bad = {(d["split"], d["index"]) for d in facts["damaged"]}
    assert bad == {("train", 8), ("train", 9), ("train", 10), *(("test", i) for i in range(4))}
    assert {d["sample_id"] for d in facts["damaged"] if d["split"] == "train"} == {"train-0008", "train-0009",
                                                                                   "train-0010"}  # fmt: skip
    assert facts["complete"] is False and facts["verified"] is False
    text = CliRunner().invoke(inspect, [str(store), "--verify"])
    assert text.exit_code == 1 and "DAMAGED" in text.output and "train-0009" in text.output
    assert "Traceback" not in text.output


def test_inspect_verify_clean_store_exits_zero(store):
    res = CliRunner().invoke(inspect, [str(store), "--verify"])
    assert res.exit_code == 0, res.output
    assert "verified" in res.output


def test_inspect_on_broken_metadata_is_one_error_line(store):
    (store / "zarr.json").write_text("{")
    res = CliRunner().invoke(inspect, [str(store), "--verify"])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and res.output.count("\n") == 1


# -- compatibility: stores written before every chunk was stored ---------------------------------------
def test_older_store_with_an_all_zero_sample_still_reads_zeros(tmp_path):
    """Stores without ``chunks_stored`` leave all-zero chunks out: those read as zeros (correct data)."""
    p = build(tmp_path / "old.zarr", splits={"train": 4})
    w = create_store(p, splits={"train": 4}, t_max=T_MAX, sensor=SENSOR, params={"frames": T_MAX, "split_by": "number"},
                     classes=CLASSES, dataset="toy", samples_per_shard=S, overwrite=True)  # fmt: skip
    w._arrays["train"]["frames"] = w._arrays["train"]["frames"].with_config({"write_empty_chunks": False})
    zero = np.zeros((T_MAX, 2, 5, 6), np.uint16)
    w.write_shard("train", 0, [(zero, 0, "z0"), *(_sample("train", i) for i in (1, 2, 3))])
    w.finalize()
    edit_json(p / "zarr.json", lambda doc: doc["attributes"].pop("chunks_stored"))
    view = open_store(p)["train"]
    np.testing.assert_array_equal(view[0].frames, zero)
    np.testing.assert_array_equal(view[1].frames, expected("train", 1))


# -- event store ------------------------------------------------------------------------------------
def _event_store(path: Path) -> Path:
    from eventkit.events import EVENT_DTYPE

    w = create_event_store(path, splits={"train": 4}, sensor=SENSOR, classes=CLASSES, dataset="toy",
                           samples_per_shard=2)  # fmt: skip
    for b in range(2):
        samples = []
        for i in w.shard_range("train", b):
            ev = np.zeros(3 + i, EVENT_DTYPE)
            ev["t"], ev["x"], ev["y"], ev["p"] = np.arange(3 + i), 1, 2, 1
            samples.append((ev, i % 3, f"e{i}"))
        w.write_shard("train", b, samples)
    w.finalize()
    return path


def test_event_store_damaged_shard(tmp_path):
    p = _event_store(tmp_path / "events.zarr")
    assert len(open_event_store(p)["train"][3].events) == 6
    f = p / "train" / "events" / "1" / "t" / "c" / "0"
    f.write_bytes(f.read_bytes()[:5])
    with pytest.raises(StoreCorruptError) as exc:
        open_event_store(p)["train"][3]
    assert_corrupt(exc, p, "sample 3 of split 'train'")
    f.unlink()
    with pytest.raises(StoreCorruptError) as exc:
        open_event_store(p)["train"][2]
    assert_corrupt(exc, p, "sample 2 of split 'train'", "missing")
    assert {d["index"] for d in verify_store(p)} == {2, 3}


def test_event_store_counts_disagree_with_shard(tmp_path):
    import zarr

    p = _event_store(tmp_path / "events.zarr")
    zarr.open_array(p / "train" / "counts", mode="r+")[0] = 100
    with pytest.raises(StoreCorruptError) as exc:
        open_event_store(p)["train"][0]
    assert_corrupt(exc, p, "sample 0 of split 'train'", "the counts say")


def test_inspect_verify_names_samples_of_a_garbage_labels_chunk(store):
    (store / "test" / "labels" / "c" / "0").write_bytes(b"garbage")
    assert inspect_store(store)["complete"] is False  # plain inspect: no traceback, not "complete"
    res = CliRunner().invoke(inspect, [str(store), "--verify", "--json"])
    assert res.exit_code == 1
    damaged = json.loads(res.output)["damaged"]
    assert [(d["split"], d["index"]) for d in damaged] == [("test", i) for i in range(4)]
    assert all(d["file"] == str(store / "test" / "labels" / "c" / "0") for d in damaged)


@pytest.mark.parametrize("damage", ["shard", "labels"])
def test_snnmodels_train_refuses_a_damaged_store_in_one_line(store, tmp_path, damage):
    from eventkit_cli.snnmodels_cli import main

    victim = shard(store, k=1) if damage == "shard" else store / "train" / "labels" / "c" / "1"
    victim.unlink()
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", "--store", str(store), "--epochs", "1", "--out", str(out),
                                    "--backend", "torch", "--device", "cpu"])  # fmt: skip
    assert res.exit_code == 1, res.output
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert str(victim) in res.output and "split 'train'" in res.output
    assert not (out / "last.pt").exists()


def test_repair_marks_damaged_shards_and_a_resumed_conversion_restores_them(store):
    from eventkit.store import IncompleteStoreError

    shard(store, k=1).unlink()
    (store / "test" / "labels" / "c" / "0").write_bytes(b"garbage")
    f = shard(store, k=0)
    data = bytearray(f.read_bytes())
    data[20] ^= 0x04
    f.write_bytes(bytes(data))
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file() and "done" not in p.parts
              and p.name != "zarr.json"}  # fmt: skip
    res = CliRunner().invoke(inspect, [str(store), "--verify", "--repair"])
    assert res.exit_code == 0, res.output
    assert "re-run the same `eventkit convert`" in res.output
    assert {p: p.read_bytes() for p in before} == before  # nothing deleted or changed but done flags
    with pytest.raises(IncompleteStoreError):
        open_store(store)
    resumed = create_store(store, splits=SPLITS, t_max=T_MAX, sensor=SENSOR, classes=CLASSES, dataset="toy",
                           params={"frames": T_MAX, "split_by": "number"}, samples_per_shard=S)  # fmt: skip
    assert {s: resumed.missing_shards(s).tolist() for s in SPLITS} == {"train": [0, 1], "test": [0]}
    for split in SPLITS:
        for k in resumed.missing_shards(split):
            resumed.write_shard(split, int(k), [_sample(split, i) for i in resumed.shard_range(split, int(k))])
    resumed.finalize()
    assert verify_store(store) == []
    for split, n in SPLITS.items():
        view = open_store(store)[split]
        for i in range(n):
            np.testing.assert_array_equal(view[i].frames, expected(split, i))
            assert view[i].label == i % 3


def test_repair_refuses_damaged_metadata_and_needs_verify(store):
    edit_json(store / "train" / "done" / "zarr.json", lambda doc: doc.__setitem__("shape", [3]))
    res = CliRunner().invoke(inspect, [str(store), "--verify", "--repair"])
    assert res.exit_code == 1 and "delete the store" in res.output
    assert CliRunner().invoke(inspect, [str(store), "--repair"]).exit_code == 2


def test_edited_codec_chain_is_refused_not_read_another_way(store):
    """Dropping the index crc32c from zarr.json must not turn the checks off."""

    def drop_crc(doc):
        doc["codecs"][0]["configuration"]["index_codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}}]

    edit_json(store / "train" / "frames" / "zarr.json", drop_crc)
    with pytest.raises(StoreCorruptError) as exc:
        open_store(store)["train"]
    assert_corrupt(exc, store, "codecs")
