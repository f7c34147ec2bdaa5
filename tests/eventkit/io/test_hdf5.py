"""HDF5 decoder: SHD/SSC vlen spike files (sample selection, labels, time conversion), generic layouts, refusals."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import eventkit
from eventkit import EVENT_DTYPE, DecodeError, EventkitError
from eventkit.io import FORMATS
from eventkit.io.hdf5 import (
    FORMAT,
    SHD_SENSOR,
    SampleSelectionError,
    hdf5_labels,
    hdf5_num_samples,
    iter_hdf5_samples,
    read_hdf5,
)


def _write_shd(path, samples, labels=None, time_dtype=np.float32) -> None:
    """SHD layout as the Zenke lab files have it: vlen spikes/times (s), vlen spikes/units, labels."""
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        times = g.create_dataset("times", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
        units = g.create_dataset("units", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
        for i, (t, u) in enumerate(samples):
            times[i] = np.asarray(t, dtype=time_dtype)
            units[i] = np.asarray(u, dtype=np.uint16)
        if labels is not None:
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        f.create_group("extra").create_dataset("speaker", data=np.zeros(len(samples), dtype=np.uint16))


def _shd_samples(n=5, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(0, 40))
        out.append((np.sort(rng.uniform(0, 1.4, k)), rng.integers(0, 700, k)))
    return out


def test_shd_multi_sample(tmp_path) -> None:
    path = tmp_path / "shd_train.h5"
    samples = _shd_samples()
    _write_shd(path, samples, labels=[3, 1, 4, 1, 5])
    for i, (t, u) in enumerate(samples):
        ev = read_hdf5(path, sample=i)
        assert ev.dtype == EVENT_DTYPE
        t32 = np.asarray(t, dtype=np.float32)
        assert ev["t"].tolist() == [int(v) for v in (t32 * np.float32(1e6))]  # truncation, float32 product
        assert ev["x"].tolist() == list(u)
        assert not ev["y"].any() and not ev["p"].any()
    assert hdf5_num_samples(path) == 5
    assert hdf5_labels(path).tolist() == [3, 1, 4, 1, 5]
    assert hdf5_labels(path).dtype == np.int64
    pairs = list(iter_hdf5_samples(path))
    assert [lab for _, lab in pairs] == [3, 1, 4, 1, 5]
    for i, (ev, _) in enumerate(pairs):
        assert np.array_equal(ev, read_hdf5(path, sample=i))
    assert FORMAT.sensor(path) == SHD_SENSOR == (700, 1, 1)
    assert eventkit.guess_format(path) == "hdf5"


def test_shd_iteration_crosses_read_blocks(tmp_path, monkeypatch) -> None:
    from eventkit.io import hdf5

    monkeypatch.setattr(hdf5, "CHUNK_SAMPLES", 2)
    samples = _shd_samples(7, seed=2)
    _write_shd(tmp_path / "b.h5", samples, labels=range(7))
    got = list(iter_hdf5_samples(tmp_path / "b.h5"))
    assert [lab for _, lab in got] == list(range(7))
    assert [len(ev) for ev, _ in got] == [len(t) for t, _ in samples]


def test_shd_time_truncation_matches_tonic(tmp_path) -> None:
    """float32(1e-6) * float32(1e6) == 1.0 (Tonic gives 1 us); 2.9999995e-6 s truncates to 2 us, not 3."""
    t = np.array([1e-6, 2.9999995e-6, 0.5, 1.2345678], dtype=np.float32)
    _write_shd(tmp_path / "t.h5", [(t, [0, 1, 2, 699])])
    ev = read_hdf5(tmp_path / "t.h5")  # one sample: sample may be omitted
    assert ev["t"].tolist() == (t * np.float32(1e6)).astype(np.int64).tolist()
    assert ev["t"].tolist()[:3] == [1, 2, 500000]


@pytest.mark.parametrize("time_dtype", [np.float16, np.float64])
def test_shd_other_float_widths(tmp_path, time_dtype) -> None:
    t = np.array([0.25, 0.5, 1.0], dtype=time_dtype)
    _write_shd(tmp_path / "w.h5", [(t, [1, 2, 3])])
    assert read_hdf5(tmp_path / "w.h5")["t"].tolist() == [250000, 500000, 1000000]


def test_shd_sample_none_on_multi_sample_is_clear(tmp_path) -> None:
    path = tmp_path / "ssc_valid.h5"
    _write_shd(path, _shd_samples(3), labels=[0, 1, 2])
    with pytest.raises(SampleSelectionError, match=r"holds 3 samples.*sample=i.*0\.\.2.*iter_hdf5_samples") as err:
        read_hdf5(path)
    assert isinstance(err.value, EventkitError) and isinstance(err.value, ValueError)
    assert not isinstance(err.value, DecodeError)
    with pytest.raises(SampleSelectionError):
        eventkit.read_events(path)
    with pytest.raises(SampleSelectionError, match="out of range"):
        read_hdf5(path, sample=3)
    with pytest.raises(SampleSelectionError, match="out of range"):
        read_hdf5(path, sample=-1)
    with pytest.raises(SampleSelectionError, match="integer"):
        read_hdf5(path, sample="1")


def test_shd_empty_and_unlabelled(tmp_path) -> None:
    _write_shd(tmp_path / "e.h5", [(np.zeros(0), np.zeros(0))])
    assert read_hdf5(tmp_path / "e.h5").shape == (0,)
    assert hdf5_labels(tmp_path / "e.h5") is None
    assert list(iter_hdf5_samples(tmp_path / "e.h5"))[0][1] is None
    _write_shd(tmp_path / "z.h5", [])
    with pytest.raises(SampleSelectionError, match="no samples"):
        read_hdf5(tmp_path / "z.h5")
    assert list(iter_hdf5_samples(tmp_path / "z.h5")) == []


def test_shd_corrupt_contents(tmp_path) -> None:
    _write_shd(tmp_path / "nan.h5", [([0.1, np.nan], [1, 2])])
    with pytest.raises(DecodeError, match=r"sample 0: spike time nan"):
        read_hdf5(tmp_path / "nan.h5")
    with h5py.File(tmp_path / "pair.h5", "w") as f:
        f.create_dataset("spikes/times", (1,), dtype=h5py.vlen_dtype(np.float32))[0] = [0.1, 0.2, 0.3]
        f.create_dataset("spikes/units", (1,), dtype=h5py.vlen_dtype(np.uint16))[0] = [1, 2]
    with pytest.raises(DecodeError, match="3 spike times but 2 unit indices"):
        read_hdf5(tmp_path / "pair.h5")
    _write_shd(tmp_path / "lab.h5", _shd_samples(3), labels=[1, 2])
    with pytest.raises(DecodeError, match="'labels'"):
        hdf5_labels(tmp_path / "lab.h5")
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f["spikes/times"] = np.zeros(3, dtype=np.float32)
        f["spikes/units"] = np.zeros(3, dtype=np.uint16)
    with pytest.raises(DecodeError, match="variable-length"):
        read_hdf5(tmp_path / "flat.h5")


# ------------------------------------------------------------------------------ generic


def _cols():
    return {
        "t": np.array([10, 20, 30, 40], dtype=np.int64),
        "x": np.array([0, 5, 345, 2], dtype=np.int16),
        "y": np.array([1, 259, 0, 3], dtype=np.uint32),
        "p": np.array([True, False, True, True]),
    }


def _expected():
    c = _cols()
    return eventkit.make_events(c["t"], c["x"], c["y"], c["p"])


def test_generic_events_group(tmp_path) -> None:
    with h5py.File(tmp_path / "g.h5", "w") as f:
        g = f.create_group("events")
        for k, v in _cols().items():
            g.create_dataset(k, data=v, chunks=True, compression="gzip")
        g.attrs["label"] = 7
        f.create_dataset("t_offset", data=123)  # DSEC: not applied
    assert np.array_equal(read_hdf5(tmp_path / "g.h5"), _expected())
    assert np.array_equal(read_hdf5(tmp_path / "g.h5", sample=0), _expected())
    assert hdf5_labels(tmp_path / "g.h5").tolist() == [7]
    ((ev, label),) = list(iter_hdf5_samples(tmp_path / "g.h5"))
    assert label == 7 and np.array_equal(ev, _expected())
    assert FORMAT.sensor(tmp_path / "g.h5") is None
    with pytest.raises(SampleSelectionError, match="one events sample"):
        read_hdf5(tmp_path / "g.h5", sample=1)


def test_generic_chunked_reads(tmp_path, monkeypatch) -> None:
    from eventkit.io import numpy_files

    monkeypatch.setattr(numpy_files, "CHUNK_EVENTS", 3)
    n = 11
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["events/t"] = np.arange(n)
        f["events/x"] = np.arange(n)
        f["events/y"] = np.arange(n)[::-1]
        f["events/p"] = np.where(np.arange(n) % 3, 1, -1).astype(np.int8)
    ev = read_hdf5(tmp_path / "c.h5")
    assert ev["y"].tolist() == list(range(n))[::-1]
    assert ev["p"].tolist() == [int(i % 3 != 0) for i in range(n)]


def test_generic_top_level_aliases_and_compound(tmp_path) -> None:
    c = _cols()
    with h5py.File(tmp_path / "top.hdf5", "w") as f:
        f["ts"] = c["t"]
        f["x"] = c["x"]
        f["y"] = c["y"]
        f["polarity"] = np.where(c["p"], 1, -1)
        f.attrs["label"] = np.uint8(2)
    assert np.array_equal(read_hdf5(tmp_path / "top.hdf5"), _expected())
    assert hdf5_labels(tmp_path / "top.hdf5").tolist() == [2]
    arr = np.zeros(4, dtype=[("x", "<u2"), ("y", "<u2"), ("p", "u1"), ("t", "<i8")])
    for k, v in c.items():
        arr[k] = v
    with h5py.File(tmp_path / "cmp.h5", "w") as f:
        f["events"] = arr
    assert np.array_equal(read_hdf5(tmp_path / "cmp.h5"), _expected())
    assert hdf5_labels(tmp_path / "cmp.h5") is None


def test_generic_errors(tmp_path) -> None:
    c = _cols()
    with h5py.File(tmp_path / "miss.h5", "w") as f:
        for k in "txy":
            f[f"events/{k}"] = c[k]
    with pytest.raises(DecodeError, match=r"missing event field\(s\) \['p'\]"):
        read_hdf5(tmp_path / "miss.h5")
    with h5py.File(tmp_path / "neg.h5", "w") as f:
        for k, v in c.items():
            f[f"events/{k}"] = v
        del f["events/x"]
        f["events/x"] = np.array([0, -3, 1, 1])
    with pytest.raises(DecodeError, match=r"field 'x' \(stored as 'events/x'\).*negative.*event 1"):
        read_hdf5(tmp_path / "neg.h5")
    with h5py.File(tmp_path / "len.h5", "w") as f:
        for k, v in c.items():
            f[f"events/{k}"] = v[:3] if k == "p" else v
    with pytest.raises(DecodeError, match="unequal lengths"):
        read_hdf5(tmp_path / "len.h5")
    with h5py.File(tmp_path / "ft.h5", "w") as f:
        for k, v in c.items():
            f[f"events/{k}"] = v / 1e6 if k == "t" else v
    with pytest.raises(DecodeError, match=r"field 't'.*non-integer.*microseconds"):
        read_hdf5(tmp_path / "ft.h5")
    with h5py.File(tmp_path / "none.h5", "w") as f:
        f["images"] = np.zeros((2, 2))
    with pytest.raises(DecodeError, match=r"no event layout.*\['images'\]"):
        read_hdf5(tmp_path / "none.h5")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["events"] = np.zeros((4, 4))
    with pytest.raises(DecodeError, match="named fields"):
        read_hdf5(tmp_path / "plain.h5")


def test_corrupt_and_truncated_files(tmp_path) -> None:
    _write_shd(tmp_path / "ok.h5", _shd_samples(20, seed=4), labels=range(20))
    data = (tmp_path / "ok.h5").read_bytes()
    for cut in (0, 8, 100, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.h5").write_bytes(data[:cut])
        with pytest.raises(DecodeError):
            read_hdf5(tmp_path / "cut.h5", sample=0)
        assert FORMAT.sensor(tmp_path / "cut.h5") in (None, SHD_SENSOR)  # never raises
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xab" * 4000)
    for call in (read_hdf5, hdf5_labels, hdf5_num_samples, lambda p: list(iter_hdf5_samples(p))):
        with pytest.raises(DecodeError) as err:
            call(tmp_path / "junk.h5")
        assert err.value.path == str(tmp_path / "junk.h5")


def test_format_description_and_sniff(tmp_path) -> None:
    assert FORMATS["hdf5"] is FORMAT
    assert FORMAT.title == "HDF5 events (SHD/SSC spikes, generic events group)"
    assert FORMAT.suffixes == (".h5", ".hdf5")
    assert FORMAT.sniff(b"\x89HDF\r\n\x1a\n\x00")
    assert FORMAT.sniff(b"\x00" * 512 + b"\x89HDF\r\n\x1a\n")  # user block
    assert not FORMAT.sniff(b"MATLAB 7.3 MAT-file".ljust(512) + b"\x89HDF\r\n\x1a\n")
    assert not FORMAT.sniff(b"PK\x03\x04")
    with pytest.raises(FileNotFoundError):
        read_hdf5(tmp_path / "absent.h5")
