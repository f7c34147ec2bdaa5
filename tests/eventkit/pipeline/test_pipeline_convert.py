"""eventkit.convert: frames equal to_frames on each sample, serial == dask, duration mode, cache key, events."""

from __future__ import annotations

import numpy as np
import pytest

from eventkit.events import SensorSize

from .conftest import FRAMES, assert_same_store, gesture_rows, small_shards, store_content, window_events

SENSOR = SensorSize(128, 128, 2)


def test_frames_equal_to_frames_of_each_sample(reference_store, gestures_data, manifest) -> None:
    """Every stored sample is to_frames(its CSV window's events); label = class - 1; counts per split."""
    from eventkit import to_frames
    from eventkit.store import open_store

    store = open_store(reference_store)
    assert store.complete
    assert store.classes == list(manifest.classes)
    assert store.t_max == FRAMES
    for split, n_expected in (("train", 22), ("test", 11)):
        rows = gesture_rows(gestures_data, split)
        assert len(rows) == n_expected == len(store[split])
        for i, (sid, rec, cls, start, end) in enumerate(rows):
            s = store[split][i]
            assert s.sample_id == sid
            assert s.label == cls - 1
            ev = window_events(rec, start, end)
            assert ev.size > 1000
            want = to_frames(ev, SENSOR, frames=FRAMES, split_by="number", dtype=np.uint16)
            assert s.length == FRAMES == want.shape[0]
            np.testing.assert_array_equal(s.frames, want)
            assert int(s.frames.sum()) == ev.size  # counts, nothing dropped


def test_serial_and_dask_give_identical_stores(reference_small_store, gestures_data, manifest, tmp_path) -> None:
    """The dask executor (its own local cluster of 2 processes, 17 shard tasks) == serial, byte for byte."""
    from eventkit.pipeline import convert

    out = tmp_path / "dask.zarr"
    with small_shards():
        r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="dask", workers=2,
                    progress=False)
    assert r.complete and not r.failures
    assert (r.converted, r.skipped) == (33, 0)
    assert r.samples == {"train": 22, "test": 11}
    assert store_content(out)["attrs"]["samples_per_shard"] == 2
    assert_same_store(reference_small_store, out)
    assert not out.with_name(out.name + ".lock").exists()


def test_rerun_of_a_complete_store_converts_nothing(reference_store, gestures_data, manifest) -> None:
    from eventkit.pipeline import convert

    before = store_content(reference_store)
    r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=reference_store, executor="serial",
                progress=False)
    assert (r.converted, r.skipped, r.complete, r.failures) == (0, 33, True, [])
    assert store_content(reference_store) == before


def _stretch_windows(data) -> None:
    """user01: shorten gesture 0 to 60 ms, lengthen gesture 1 by 40 ms into the following gap."""
    p = data / "DvsGesture" / "user01_fluorescent_labels.csv"
    lines = p.read_text().splitlines()
    c, s, e = lines[1].split(",")
    lines[1] = f"{c},{s},{int(s) + 60_000}"
    c, s, e = lines[2].split(",")
    lines[2] = f"{c},{s},{int(e) + 40_000}"
    p.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("executor", ["serial"])
def test_duration_mode_t_max_lengths_padding_and_mask(data_copy, manifest, tmp_path, executor) -> None:
    from eventkit import to_frames
    from eventkit.pipeline import convert
    from eventkit.store import open_store

    _stretch_windows(data_copy)
    d = 50_000
    out = tmp_path / "dur.zarr"
    r = convert(manifest, duration=d, from_dir=data_copy, out=out, executor=executor, progress=False)
    assert r.complete and not r.failures
    store = open_store(out)
    # the longest window is 240 ms: t_max = ceil((240_000 - 1) / 50_000) = 5
    assert store.t_max == 5
    assert store.params == {"duration": d}
    lengths = []
    for split in ("train", "test"):
        sp = store[split]
        for i, (sid, rec, cls, start, end) in enumerate(gesture_rows(data_copy, split)):
            s = sp[i]
            want = to_frames(window_events(rec, start, end), SENSOR, duration=d, dtype=np.uint16)
            assert s.length == want.shape[0] <= store.t_max, sid
            np.testing.assert_array_equal(s.frames[: s.length], want)
            assert not s.frames[s.length :].any(), f"{sid}: padding is not zero"
            np.testing.assert_array_equal(sp.mask(i), np.arange(store.t_max) < s.length)
            lengths.append(s.length)
        np.testing.assert_array_equal(sp.mask(np.arange(len(sp))),
                                      np.arange(store.t_max)[None, :] < sp.lengths[:, None])  # fmt: skip
    assert lengths[0] == 2  # the shortened gesture
    assert lengths[1] == 5  # the lengthened one sets t_max
    assert set(lengths[2:]) == {4}  # 0.2 s gestures: ceil(199_99x / 50_000)


def test_other_parameters_into_an_existing_store_are_refused_then_overwrite_rebuilds(
    gestures_data, manifest, tmp_path
) -> None:
    from eventkit.pipeline import convert
    from eventkit.store import StoreMismatchError, open_store

    out = tmp_path / "s.zarr"
    convert(manifest, frames=4, from_dir=gestures_data, out=out, executor="serial", progress=False)
    before = store_content(out)
    with pytest.raises(StoreMismatchError, match=r"params\.frames: 4 -> 8") as exc:
        convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert "overwrite" in str(exc.value)
    with pytest.raises(StoreMismatchError, match="dtype"):
        convert(manifest, frames=4, dtype="uint8", from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert store_content(out) == before  # a refusal touches nothing
    assert not out.with_name(out.name + ".lock").exists()  # ... and leaves no lock behind

    r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False,
                overwrite=True)
    assert r.complete and r.converted == 33 and r.skipped == 0
    assert open_store(out).params == {"frames": FRAMES, "split_by": "number"}
    assert open_store(out).t_max == FRAMES


def test_event_store_holds_each_samples_decoded_events(gestures_data, manifest, tmp_path) -> None:
    from eventkit.pipeline import convert
    from eventkit.store import open_event_store

    out = tmp_path / "events.zarr"
    r = convert(manifest, events=True, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert r.complete and not r.failures and r.converted == 33
    store = open_event_store(out)
    for split in ("train", "test"):
        rows = gesture_rows(gestures_data, split)
        assert len(store[split]) == len(rows)
        for i, (sid, rec, cls, start, end) in enumerate(rows):
            s = store[split][i]
            assert (s.sample_id, s.label) == (sid, cls - 1)
            np.testing.assert_array_equal(s.events, window_events(rec, start, end))


def test_event_store_dask_equals_serial(gestures_data, manifest, tmp_path) -> None:
    from eventkit.pipeline import convert

    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    convert(manifest, events=True, from_dir=gestures_data, out=a, executor="serial", progress=False)
    r = convert(manifest, events=True, from_dir=gestures_data, out=b, executor="dask", workers=2, progress=False)
    assert r.complete
    assert_same_store(a, b)


def test_bad_arguments_are_refused(gestures_data, manifest, tmp_path) -> None:
    from eventkit.errors import DatasetNotFoundError
    from eventkit.pipeline import convert

    with pytest.raises(ValueError, match="exactly one"):
        convert(manifest, frames=4, duration=1000, from_dir=gestures_data, out=tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="executor"):
        convert(manifest, frames=4, from_dir=gestures_data, out=tmp_path / "x", executor="spark", progress=False)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        convert(manifest, frames=4, from_dir=tmp_path / "nope", out=tmp_path / "x", progress=False)
    with pytest.raises(DatasetNotFoundError):
        convert(manifest, frames=4, from_dir=tmp_path, out=tmp_path / "x", executor="serial", progress=False)


def test_manifest_files_feed_the_cache_key(tmp_path) -> None:
    """Same dataset name and version, different archive bytes: different cache keys."""
    from eventkit.datasets.manifest import load_manifest
    from eventkit.datasets.mirror import mirror_manifest_text
    from eventkit.datasets.registry import get_manifest
    from eventkit.pipeline.convert import _manifest_id

    base = get_manifest("synthetic-gestures")
    ids = []
    for k, payload in enumerate((b"first archive", b"second archive")):
        archive = tmp_path / f"a{k}" / "synthetic-gestures.tar.gz"
        archive.parent.mkdir()
        archive.write_bytes(payload)
        mpath = tmp_path / f"m{k}.toml"
        mpath.write_text(mirror_manifest_text(base, archive, ["http://127.0.0.1:1/x.tar.gz"]))
        ids.append(_manifest_id(load_manifest(mpath)))
    assert ids[0] != ids[1]
    assert all(i.startswith(f"{base.version}+") for i in ids)
    assert _manifest_id(base) == base.version  # generated locally: no files to fingerprint
