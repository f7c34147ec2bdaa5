"""NumPy .npy / .npz decoders: every accepted layout, dtype normalisation and every refusal."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest

import eventkit
from eventkit import EVENT_DTYPE, DecodeError
from eventkit.io import FORMATS
from eventkit.io.numpy_files import NPY_FORMAT, NPZ_FORMAT, read_npy, read_npz

T = np.array([5, 10, 10, 2_000_000_000_000], dtype=np.int64)
X = np.array([0, 1, 127, 33], dtype=np.int64)
Y = np.array([3, 0, 2, 100], dtype=np.int64)
P = np.array([1, 0, 0, 1], dtype=np.int64)


def _expected(t=T, x=X, y=Y, p=P) -> np.ndarray:
    return eventkit.make_events(t, x, y, p)


def _structured(dtype, t=T, x=X, y=Y, p=P) -> np.ndarray:
    arr = np.zeros(len(t), dtype=dtype)
    for name, col in (("t", t), ("x", x), ("y", y), ("p", p)):
        for field in arr.dtype.names:
            if field.lower() in {
                "t": ("t", "ts", "timestamp", "timestamps"),
                "x": ("x",),
                "y": ("y",),
                "p": ("p", "pol", "polarity", "on"),
            }[name]:
                arr[field] = col
    return arr


# ----------------------------------------------------------------------------------- .npy


@pytest.mark.parametrize(
    "dtype",
    [
        [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")],  # expelliarmus
        [("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")],  # tonic events_struct
        [("p", "<i8"), ("t", "<i8"), ("x", "<i8"), ("y", "<i8")],  # TUMVIE order, all int64
        [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "?")],  # CIFAR10-DVS (tonic)
        [("t", ">i8"), ("x", ">u4"), ("y", ">u4"), ("p", ">i4")],  # big-endian
        [("ts", "<i8"), ("x", "<u2"), ("y", "<u2"), ("polarity", "i1")],  # aliases
        [("timestamp", "<i8"), ("X", "<u2"), ("Y", "<u2"), ("on", "?")],  # aliases, upper case
        [("t", "<f8"), ("x", "<f4"), ("y", "<f8"), ("p", "<f4")],  # integral floats
    ],
)
def test_npy_structured_layouts(tmp_path, dtype) -> None:
    path = tmp_path / "ev.npy"
    np.save(path, _structured(dtype))
    ev = read_npy(path)
    assert ev.dtype == EVENT_DTYPE
    assert np.array_equal(ev, _expected())


def test_npy_dvs_lip_int8_and_int32(tmp_path) -> None:
    """DVS-Lip: t <i4, x i1, y i1, p i1."""
    dt = [("t", "<i4"), ("x", "i1"), ("y", "i1"), ("p", "i1")]
    arr = _structured(dt, t=np.array([0, 1, 2, 2**31 - 1]))
    np.save(tmp_path / "lip.npy", arr)
    ev = read_npy(tmp_path / "lip.npy")
    assert ev["t"].tolist() == [0, 1, 2, 2**31 - 1]
    assert ev["x"].tolist() == X.tolist()


def test_npy_signed_polarity_normalised(tmp_path) -> None:
    arr = _structured([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "i1")], p=np.array([1, -1, -1, 1]))
    np.save(tmp_path / "s.npy", arr)
    assert read_npy(tmp_path / "s.npy")["p"].tolist() == [1, 0, 0, 1]
    # all OFF in -1/+1 convention
    arr["p"] = -1
    np.save(tmp_path / "s.npy", arr)
    assert read_npy(tmp_path / "s.npy")["p"].tolist() == [0, 0, 0, 0]


def test_npy_empty_and_eventkit_roundtrip(tmp_path) -> None:
    np.save(tmp_path / "e.npy", np.zeros(0, dtype=EVENT_DTYPE))
    ev = read_npy(tmp_path / "e.npy")
    assert ev.dtype == EVENT_DTYPE and ev.shape == (0,)
    full = _expected()
    np.save(tmp_path / "f.npy", full)
    assert np.array_equal(read_npy(tmp_path / "f.npy"), full)


def test_npy_chunked_conversion(tmp_path, monkeypatch) -> None:
    """Columns are converted slice by slice; errors report the global event index."""
    from eventkit.io import numpy_files

    monkeypatch.setattr(numpy_files, "CHUNK_EVENTS", 3)
    n = 10
    arr = np.zeros(n, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])
    arr["t"] = np.arange(n)
    arr["x"] = np.arange(n)
    arr["p"] = np.where(np.arange(n) % 2, 1, -1)
    np.save(tmp_path / "c.npy", arr)
    ev = read_npy(tmp_path / "c.npy")
    assert ev["x"].tolist() == list(range(n)) and ev["p"].tolist() == [i % 2 for i in range(n)]
    arr["x"][7] = -2
    np.save(tmp_path / "c.npy", arr)
    with pytest.raises(DecodeError, match=r"'x'.*negative.*event 7"):
        read_npy(tmp_path / "c.npy")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("x", -1, r"field 'x'.*negative"),
        ("y", 70000, r"field 'y'.*uint16"),
        ("p", 2, r"field 'p'.*polarity"),
        ("t", 1.5, r"field 't'.*non-integer.*microseconds"),
        ("t", np.nan, r"field 't'.*nan"),
        ("x", np.inf, r"field 'x'.*inf"),
    ],
)
def test_npy_values_that_do_not_fit(tmp_path, field, value, match) -> None:
    dt = [("t", "<f8"), ("x", "<f8"), ("y", "<i8"), ("p", "<i8")]
    arr = _structured(dt)
    arr[field][2] = value
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(DecodeError, match=match) as err:
        read_npy(tmp_path / "bad.npy")
    assert err.value.path == str(tmp_path / "bad.npy")


def test_npy_mixed_polarity_conventions_refused(tmp_path) -> None:
    arr = _structured([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "i1")], p=np.array([1, -1, 0, 1]))
    np.save(tmp_path / "m.npy", arr)
    with pytest.raises(DecodeError, match=r"'p'.*mixes -1, 0 and 1"):
        read_npy(tmp_path / "m.npy")


def test_npy_uint64_time_overflow_refused(tmp_path) -> None:
    arr = _structured([("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    arr["t"][1] = 2**63
    np.save(tmp_path / "o.npy", arr)
    with pytest.raises(DecodeError, match=r"'t'.*overflows int64"):
        read_npy(tmp_path / "o.npy")


def test_npy_bool_coordinate_and_string_field_refused(tmp_path) -> None:
    arr = _structured([("t", "<i8"), ("x", "?"), ("y", "<u2"), ("p", "u1")], x=np.array([0, 1, 1, 0]))
    np.save(tmp_path / "b.npy", arr)
    with pytest.raises(DecodeError, match=r"'x'.*boolean"):
        read_npy(tmp_path / "b.npy")
    arr = np.zeros(2, dtype=[("t", "<i8"), ("x", "U3"), ("y", "<u2"), ("p", "u1")])
    np.save(tmp_path / "u.npy", arr)
    with pytest.raises(DecodeError, match=r"'x'.*dtype"):
        read_npy(tmp_path / "u.npy")


def test_npy_missing_and_duplicate_fields(tmp_path) -> None:
    np.save(tmp_path / "m.npy", np.zeros(3, dtype=[("t", "<i8"), ("x", "<u2"), ("p", "u1")]))
    with pytest.raises(DecodeError, match=r"missing event field\(s\) \['y'\]"):
        read_npy(tmp_path / "m.npy")
    np.save(tmp_path / "d.npy", np.zeros(3, dtype=[("t", "<i8"), ("ts", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")]))
    with pytest.raises(DecodeError, match=r"'t' and 'ts' both"):
        read_npy(tmp_path / "d.npy")


def test_npy_plain_and_multidimensional_arrays_refused(tmp_path) -> None:
    np.save(tmp_path / "plain.npy", np.zeros((5, 4), dtype=np.int64))
    with pytest.raises(DecodeError, match="not a structured array"):
        read_npy(tmp_path / "plain.npy")
    np.save(tmp_path / "2d.npy", np.zeros((2, 2), dtype=EVENT_DTYPE))
    with pytest.raises(DecodeError, match=r"shape \(2, 2\)"):
        read_npy(tmp_path / "2d.npy")
    np.save(tmp_path / "sub.npy", np.zeros(2, dtype=[("t", "<i8"), ("x", "<u2", (2,)), ("y", "<u2"), ("p", "u1")]))
    with pytest.raises(DecodeError, match="sub-array"):
        read_npy(tmp_path / "sub.npy")


def test_npy_object_array_never_unpickled(tmp_path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"t": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DecodeError, match="never unpickles"):
        read_npy(tmp_path / "obj.npy")
    # a raw pickle with an .npy name
    (tmp_path / "raw.npy").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DecodeError, match="not a readable NumPy"):
        read_npy(tmp_path / "raw.npy")


def test_npy_truncated_and_garbage(tmp_path) -> None:
    np.save(tmp_path / "full.npy", _expected())
    data = (tmp_path / "full.npy").read_bytes()
    for cut in (0, 5, 40, len(data) - 1):
        (tmp_path / "cut.npy").write_bytes(data[:cut])
        with pytest.raises(DecodeError) as err:
            read_npy(tmp_path / "cut.npy")
        assert err.value.offset is None or 0 <= err.value.offset <= cut
    (tmp_path / "cut.npy").write_bytes(data[:-1])
    with pytest.raises(DecodeError, match="truncated"):
        read_npy(tmp_path / "cut.npy")
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': oops }\n")
    with pytest.raises(DecodeError):
        read_npy(tmp_path / "junk.npy")


def test_npy_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        read_npy("/nonexistent/events.npy")


# ----------------------------------------------------------------------------------- .npz


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_spikingjelly_layout(tmp_path, compressed) -> None:
    save = np.savez_compressed if compressed else np.savez
    u32 = np.uint32
    save(tmp_path / "sj.npz", t=T[:3].astype(u32), x=X[:3].astype(u32), y=Y[:3].astype(u32), p=P[:3].astype(u32))
    ev = read_npz(tmp_path / "sj.npz")
    assert np.array_equal(ev, _expected(T[:3], X[:3], Y[:3], P[:3]))
    assert eventkit.guess_format(tmp_path / "sj.npz") == "npz"


def test_npz_mixed_dtypes_aliases_and_extra_members(tmp_path) -> None:
    np.savez(tmp_path / "a.npz", ts=T, x=X.astype(np.int16), y=Y.astype(np.uint8), pol=np.array([1, -1, -1, 1]), meta=np.arange(2))
    ev = read_npz(tmp_path / "a.npz")
    assert np.array_equal(ev, _expected())


def test_npz_single_structured_array(tmp_path) -> None:
    arr = _structured([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    np.savez(tmp_path / "s.npz", events=arr)
    assert np.array_equal(read_npz(tmp_path / "s.npz"), _expected())


def test_npz_errors(tmp_path) -> None:
    np.savez(tmp_path / "len.npz", t=T, x=X, y=Y[:3], p=P)
    with pytest.raises(DecodeError, match="unequal lengths"):
        read_npz(tmp_path / "len.npz")
    np.savez(tmp_path / "miss.npz", t=T, x=X, y=Y)
    with pytest.raises(DecodeError, match=r"missing event field\(s\) \['p'\]"):
        read_npz(tmp_path / "miss.npz")
    np.savez(tmp_path / "neg.npz", t=T, x=X - 5, y=Y, p=P)
    with pytest.raises(DecodeError, match=r"field 'x'.*negative"):
        read_npz(tmp_path / "neg.npz")
    np.savez(tmp_path / "2d.npz", t=T, x=X.reshape(2, 2), y=Y, p=P)
    with pytest.raises(DecodeError, match=r"field 'x'.*shape \(2, 2\)"):
        read_npz(tmp_path / "2d.npz")
    np.savez_compressed(tmp_path / "frames.npz", frames=np.zeros((2, 2, 4, 4)))
    with pytest.raises(DecodeError, match="frames file"):
        read_npz(tmp_path / "frames.npz")
    np.savez(tmp_path / "other.npz", a=np.arange(3), b=np.arange(3))
    with pytest.raises(DecodeError, match=r"holds arrays \['a', 'b'\]"):
        read_npz(tmp_path / "other.npz")


def test_npz_pickled_member_never_unpickled(tmp_path) -> None:
    np.savez(tmp_path / "obj.npz", t=np.array([1, None], dtype=object), x=X[:2], y=Y[:2], p=P[:2])
    with pytest.raises(DecodeError, match="never unpickles"):
        read_npz(tmp_path / "obj.npz")


def test_npz_corrupt_and_truncated(tmp_path) -> None:
    np.savez_compressed(tmp_path / "ok.npz", t=np.arange(1000), x=np.arange(1000) % 34, y=np.zeros(1000, int), p=np.ones(1000, int))
    data = (tmp_path / "ok.npz").read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(DecodeError):
            read_npz(tmp_path / "cut.npz")
    bad = bytearray(data)
    bad[200:210] = b"\xff" * 10  # inside the first compressed member
    (tmp_path / "crc.npz").write_bytes(bytes(bad))
    with pytest.raises(DecodeError):
        read_npz(tmp_path / "crc.npz")


def test_npy_and_npz_name_swaps_still_decode(tmp_path) -> None:
    np.save(tmp_path / "ev.npy", _expected())
    (tmp_path / "really_npy.npz").write_bytes((tmp_path / "ev.npy").read_bytes())
    assert np.array_equal(read_npz(tmp_path / "really_npy.npz"), _expected())
    np.savez(tmp_path / "ev.npz", t=T, x=X, y=Y, p=P)
    (tmp_path / "really_npz.npy").write_bytes((tmp_path / "ev.npz").read_bytes())
    assert np.array_equal(read_npy(tmp_path / "really_npz.npy"), _expected())


def test_formats_registered_and_sniffed(tmp_path) -> None:
    assert FORMATS["npy"] is NPY_FORMAT and FORMATS["npz"] is NPZ_FORMAT
    assert NPY_FORMAT.title == "NumPy .npy (structured events)"
    assert NPZ_FORMAT.title == "NumPy .npz (t, x, y, p arrays)"
    assert NPY_FORMAT.suffixes == (".npy",) and NPZ_FORMAT.suffixes == (".npz",)
    np.save(tmp_path / "noext", _expected())
    assert eventkit.guess_format(tmp_path / "noext.npy") == "npy"
    np.savez(tmp_path / "arch_noext", t=T, x=X, y=Y, p=P)
    (tmp_path / "arch_noext.npz").rename(tmp_path / "arch_noext.bin_unknown")
    assert eventkit.guess_format(tmp_path / "arch_noext.bin_unknown") == "npz"
    # an ordinary zip (e.g. a downloaded dataset archive) is not sniffed as npz
    with zipfile.ZipFile(tmp_path / "dataset.zip", "w") as z:
        z.writestr("DVS-Lip/readme.txt", "hello")
    head = (tmp_path / "dataset.zip").read_bytes()
    assert not NPZ_FORMAT.sniff(head) and not NPY_FORMAT.sniff(head)
    assert eventkit.read_events(tmp_path / "noext.npy").shape == (4,)
