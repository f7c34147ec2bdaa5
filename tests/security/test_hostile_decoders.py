"""Hostile and damaged recordings (issue 11, item 7): every failure is one DecodeError naming the file.

Every hostile file is built here. What is checked:

* known escapes of non-DecodeError exceptions (a deflate bit flip in an ES-ImageNet ``.npz``, an
  unterminated ``.npy`` header, a non-ASCII digit in an AEDAT 4 stream name or an EVT 2.0 width)
  and the backstop in :func:`eventkit.read_events` that turns library exceptions into DecodeError
  while our own bugs (TypeError...) stay visible;
* hostile AEDAT 4 info XML (billion laughs, an external entity naming /etc/passwd) is a DecodeError;
* HDF5 / MAT 7.3 files whose data lives in other files of the disk (external links, external or
  virtual storage) are refused, the other file untouched;
* events outside the sensor a file declares (ASL-DVS ``.mat``, SHD ``.h5``) are refused;
* event-count bombs (a deflated ``.npz``, HDF5 fill-value datasets, a MAT 7.3 of fill values, a
  Zstandard AEDAT 4 packet) are refused before allocation, at default limits, with a message
  saying how to raise them; raising them works; real samples pass at default limits;
* in a conversion, one corrupt ES-ImageNet file fails only its own sample;
* a property test per format over files built here: any byte flip or cut -> DecodeError or
  valid events inside the declared sensor, never another exception or a hang.

Already covered elsewhere and not repeated: cuts and overwrites of the real samples
(``tests/eventkit/io/test_corruption.py``), AEDAT 4 random flips and lying packet sizes
(``tests/eventkit/io/test_aedat4.py``), per-format truncation and out-of-sensor tests in
``tests/eventkit/io/test_*.py``.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventkit
from eventkit.errors import DecodeError
from eventkit.io import FORMATS
from eventkit.io.aedat2_writer import write_aedat2
from eventkit.io.aedat31_writer import write_aedat31
from eventkit.io.hdf5 import hdf5_num_samples, iter_hdf5_samples

pytestmark = pytest.mark.timeout(120)


# ------------------------------------------------------------------------------ builders


def _events(n: int, w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=eventkit.EVENT_DTYPE)
    ev["t"] = np.cumsum(rng.integers(0, 50, n))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n)
    return ev


def _es_imagenet(path: Path, n: int = 300, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)

    def cols(k: int) -> np.ndarray:
        return np.column_stack([rng.integers(0, 224, k), rng.integers(0, 224, k), rng.integers(0, 8, k)]).astype(float)

    np.savez_compressed(path, pos=cols(n), neg=cols(n // 2))
    return path


def _asl_vars(n: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "ts": np.sort(rng.integers(0, 10**6, n)).astype(float)[:, None],
        "x": rng.integers(0, 240, n).astype(float)[:, None],
        "y": rng.integers(0, 180, n).astype(float)[:, None],
        "pol": rng.integers(0, 2, n).astype(float)[:, None],
    }


def _write_v73(path: Path, variables: dict[str, np.ndarray]) -> Path:
    from tests.eventkit.io.test_matlab import _write_v73 as write

    write(path, variables)
    return path


def _write_shd(path: Path, units: list[np.ndarray], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        times = g.create_dataset("times", (len(units),), dtype=h5py.vlen_dtype(np.dtype(np.float32)))
        unit_ds = g.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
        for i, u in enumerate(units):
            times[i] = np.sort(rng.uniform(0, 1.4, len(u))).astype(np.float32)
            unit_ds[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.arange(len(units), dtype=np.uint16))
    return path


def _build(kind: str, d: Path) -> tuple[Path, str]:
    """A valid file of ``kind`` -> (path, format name)."""
    if kind == "aedat2":
        write_aedat2(d / "a.aedat", _events(200, 128, 128))
        return d / "a.aedat", "aedat2"
    if kind == "aedat31":
        write_aedat31(d / "a.aedat", _events(200, 128, 128))
        return d / "a.aedat", "aedat31"
    if kind == "aedat4":
        from tests.eventkit.io.test_aedat4 import LZ4, mixed_file

        (d / "a.aedat4").write_bytes(mixed_file(LZ4)[0])
        return d / "a.aedat4", "aedat4"
    if kind == "atis_bin":
        e = _events(200, 34, 34)
        rec = bytearray()
        for t, x, y, p in zip(e["t"].tolist(), e["x"].tolist(), e["y"].tolist(), e["p"].tolist()):
            rec += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
        (d / "a.bin").write_bytes(bytes(rec))
        return d / "a.bin", "atis_bin"
    if kind == "prophesee_dat":
        e = _events(200, 304, 240)
        head = b"% Data file containing Event2D events\n% Version 2\n% Width 304\n% Height 240\n" + bytes([12, 8])
        words = np.empty((e.size, 2), "<u4")
        words[:, 0] = e["t"]
        words[:, 1] = e["x"].astype(np.uint32) | (e["y"].astype(np.uint32) << 14) | (e["p"].astype(np.uint32) << 28)
        (d / "a.dat").write_bytes(head + words.tobytes())
        return d / "a.dat", "prophesee_dat"
    if kind == "evt2":
        e = _events(200, 640, 480)
        words = [0x8 << 28]
        for t, x, y, p in zip(e["t"].tolist(), e["x"].tolist(), e["y"].tolist(), e["p"].tolist()):
            words += [(0x8 << 28) | (t >> 6), (p << 28) | ((t & 63) << 22) | (x << 11) | y]
        (d / "a.raw").write_bytes(b"% evt 2.0\n% geometry 640x480\n% end\n" + np.array(words, "<u4").tobytes())
        return d / "a.raw", "evt2"
    if kind == "evt3":
        e = _events(200, 1280, 720)
        words = []
        for t, x, y, p in zip(e["t"].tolist(), e["x"].tolist(), e["y"].tolist(), e["p"].tolist()):
            words += [(0x8 << 12) | (t >> 12), (0x6 << 12) | (t & 0xFFF), y, (0x2 << 12) | (p << 11) | x]
        head = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n"
        (d / "a.raw").write_bytes(head + np.array(words, "<u2").tobytes())
        return d / "a.raw", "evt3"
    if kind == "npz":
        e = _events(300, 34, 34)
        np.savez_compressed(d / "a.npz", t=e["t"], x=e["x"], y=e["y"], p=e["p"])
        return d / "a.npz", "npz"
    if kind == "npy":
        np.save(d / "a.npy", _events(300, 34, 34))
        return d / "a.npy", "npy"
    if kind == "es_imagenet":
        return _es_imagenet(d / "a.npz"), "es_imagenet"
    if kind == "h5_shd":
        rng = np.random.default_rng(1)
        return _write_shd(d / "a.h5", [rng.integers(0, 700, 30) for _ in range(3)]), "hdf5"
    if kind == "h5_generic":
        e = _events(300, 346, 260)
        with h5py.File(d / "a.h5", "w") as f:
            g = f.create_group("events")
            for k in "txyp":
                g.create_dataset(k, data=e[k], compression="gzip", chunks=(64,))
        return d / "a.h5", "hdf5"
    if kind == "mat_v5":
        scipy.io.savemat(d / "a.mat", _asl_vars(), do_compression=True)
        return d / "a.mat", "mat"
    if kind == "mat_v73":
        return _write_v73(d / "a.mat", _asl_vars()), "mat"
    raise KeyError(kind)


KINDS = ["aedat2", "aedat31", "aedat4", "atis_bin", "prophesee_dat", "evt2", "evt3", "npz", "npy", "es_imagenet",
         "h5_shd", "h5_generic", "mat_v5", "mat_v73"]  # fmt: skip


def _decode(kind: str, path: Path, fmt: str) -> np.ndarray:
    if kind == "h5_shd":  # many samples per file: decode them all
        parts = [ev for ev, _ in iter_hdf5_samples(path)]
        return np.concatenate(parts) if parts else np.empty(0, eventkit.EVENT_DTYPE)
    return eventkit.read_events(path, format=fmt)


def _member_data_offset(path: Path, member: str) -> tuple[int, int]:
    """(local header offset, first data byte) of a zip member."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    return info.header_offset, info.header_offset + 30 + name_len + extra_len


# ------------------------------------------------------------------- 1. known escapes


def test_es_imagenet_deflate_bit_flips_are_decode_errors_with_the_member_offset(tmp_path: Path) -> None:
    src = _es_imagenet(tmp_path / "sample.npz", n=2000)
    header, data = _member_data_offset(src, "pos.npy")
    raw = src.read_bytes()
    zlib_seen = 0
    for k in range(40):  # bit flips across the deflate stream of 'pos'
        bad = bytearray(raw)
        bad[data + 20 + 37 * k] ^= 1 << (k % 8)
        path = tmp_path / f"flip{k}.npz"
        path.write_bytes(bytes(bad))
        try:
            eventkit.read_events(path)
        except DecodeError as err:
            assert err.path == str(path) and str(path) in str(err)
            assert "'pos'" in err.reason and err.offset == header
            zlib_seen += "zlib.error" in err.reason
    assert zlib_seen, "no flip reached zlib's own error: the test lost its point"


def _npy_header(text: bytes) -> bytes:
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


@pytest.mark.parametrize(
    "text",
    [
        b"{'descr': '<i8', 'fortran_order': False, 'shape': (3, 'abc" + b" " * 40 + b"\n",  # tokenize.TokenError
        b"{'descr': '<i8', 'fortran_order': False, 'shape': (3," + b" " * 40 + b"\n",
        b"{'descr': [('t', '<i8')], 'fortran_order': False, 'shape': (-5,), }" + b" " * 8 + b"\n",
        b"\xff\xfe" + b" " * 60 + b"\n",
    ],
)
def test_bad_npy_headers_in_npy_and_npz(tmp_path: Path, text: bytes) -> None:
    npy = tmp_path / "bad.npy"
    npy.write_bytes(_npy_header(text) + bytes(64))
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(npy)
    assert err.value.path == str(npy) and err.value.offset == 0
    npz = tmp_path / "bad.npz"
    with zipfile.ZipFile(npz, "w") as z:
        for k in "txyp":
            z.writestr(f"{k}.npy", _npy_header(text) + bytes(64))
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(npz)
    assert err.value.path == str(npz) and err.value.offset is not None


def test_aedat4_stream_named_with_a_superscript_digit_is_not_a_stream(tmp_path: Path) -> None:
    from tests.eventkit.io.test_aedat4 import LZ4, aedat4_bytes, make_events, packets_of

    ev = make_events(50, 64, 48, 0)
    streams = {0: ("EVTS", (64, 48)), "²": ("EVTS", (64, 48)), "1": ("IMUS", None)}
    path = tmp_path / "sup.aedat4"
    path.write_bytes(aedat4_bytes(packets_of(ev, [50]), streams, LZ4))
    got = eventkit.read_events(path)
    assert all((got[k] == ev[k]).all() for k in "txyp")


_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "lollollollollollollollollollol">'
    + b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10))
    + b']><dv version="2.0"><node name="outInfo">&l9;</node></dv>'
)
_EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><dv version="2.0">'
    b'<node name="0" path="/outInfo/0/"><attr key="typeIdentifier" type="string">&e;</attr></node></dv>'
)


@pytest.mark.parametrize("xml", [_LAUGHS, _EXTERNAL], ids=["billion_laughs", "external_entity"])
def test_aedat4_hostile_info_xml_is_a_decode_error(tmp_path: Path, xml: bytes) -> None:
    from tests.eventkit.io.test_aedat4 import LZ4, flatbuffer

    hdr = flatbuffer([("<i", LZ4), ("<q", -1), ("ref", lambda b: b.string(xml))], b"IOHE", size_prefixed=False)
    path = tmp_path / "x.aedat4"
    path.write_bytes(b"#!AER-DAT4.0\r\n" + struct.pack("<i", len(hdr)) + hdr)
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path)
    assert err.value.path == str(path) and "XML" in err.value.reason and "root:" not in str(err.value)


@pytest.mark.parametrize("line", [b"% format EVT2;width=\xc2\xb2;height=480\n", b"% width \xc2\xb2\n% height 4\n"])
def test_evt2_width_with_a_superscript_digit_is_no_geometry(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "sup.raw"
    words = np.array([0x8 << 28, (1 << 28) | (3 << 22) | (5 << 11) | 7], "<u4").tobytes()
    path.write_bytes(b"% evt 2.0\n" + line + b"% end\n" + words)
    ev = eventkit.read_events(path, format="evt2")
    assert [(int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])) for e in ev] == [(3, 5, 7, 1)]


@pytest.mark.parametrize(
    "exc",
    [zlib.error("bad"), KeyError("k"), struct.error("s"), OSError("Invalid argument"), MemoryError(),
     UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), RuntimeError("h5"), IndexError("i"), OverflowError("o")],
)  # fmt: skip
def test_backstop_turns_library_errors_into_decode_errors(tmp_path: Path, monkeypatch, exc: BaseException) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(10))

    def boom(p):
        raise exc

    monkeypatch.setitem(FORMATS, "atis_bin", dataclasses.replace(FORMATS["atis_bin"], read=boom))
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path, format="atis_bin")
    assert err.value.path == str(path) and type(exc).__name__ in err.value.reason


@pytest.mark.parametrize("exc", [TypeError("bug"), AttributeError("bug"), NameError("bug"), PermissionError(13, "no")])
def test_backstop_keeps_our_bugs_and_file_system_errors_visible(tmp_path: Path, monkeypatch, exc) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(10))

    def boom(p):
        raise exc

    monkeypatch.setitem(FORMATS, "atis_bin", dataclasses.replace(FORMATS["atis_bin"], read=boom))
    with pytest.raises(type(exc)):
        eventkit.read_events(path, format="atis_bin")


# ------------------------------------------------------------------- 2. declared sensors


@pytest.mark.parametrize("field, value, limit", [("x", 240, "x must be < 240"), ("y", 180, "y must be < 180"),
                                                 ("x", 65535, "x must be < 240")])  # fmt: skip
@pytest.mark.parametrize("version", ["v5", "v73"])
def test_asl_dvs_events_outside_the_sensor_are_refused(tmp_path: Path, field: str, value: int, limit: str,
                                                       version: str) -> None:  # fmt: skip
    v = _asl_vars(20)
    v[field][7, 0] = value
    path = tmp_path / "asl.mat"
    scipy.io.savemat(path, v) if version == "v5" else _write_v73(path, v)
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path)
    msg = str(err.value)
    assert str(path) in msg and "event 7" in msg and f"{field} = {value}" in msg and "240 x 180" in msg and limit in msg


def test_asl_dvs_edge_of_the_sensor_decodes(tmp_path: Path) -> None:
    v = _asl_vars(20)
    v["x"][3, 0], v["y"][3, 0] = 239, 179
    path = tmp_path / "asl.mat"
    scipy.io.savemat(path, v)
    ev = eventkit.read_events(path)
    assert (int(ev["x"][3]), int(ev["y"][3])) == (239, 179) and ev.size == 20


def test_shd_unit_outside_the_700_units_is_refused(tmp_path: Path) -> None:
    units = [np.arange(10) * 60, np.array([1, 2, 700, 3])]
    path = _write_shd(tmp_path / "shd.h5", units)
    assert eventkit.io.hdf5.read_hdf5(path, sample=0)["x"].max() == 540
    with pytest.raises(DecodeError) as err:
        eventkit.io.hdf5.read_hdf5(path, sample=1)
    msg = str(err.value)
    assert str(path) in msg and "sample 1" in msg and "unit 700 at spike 2" in msg and "700 units" in msg
    with pytest.raises(DecodeError):
        list(iter_hdf5_samples(path))


# ------------------------------------------------- HDF5 data kept in other files of the disk


def _other_file(tmp_path: Path) -> Path:
    other = tmp_path / "elsewhere" / "private.h5"
    other.parent.mkdir()
    with h5py.File(other, "w") as f:
        g = f.create_group("events")
        for k in "txyp":
            g.create_dataset(k, data=np.ones(5, np.uint8))
    return other


@pytest.mark.parametrize("how", ["external_link", "external_storage", "virtual", "mat_v73_link"])
def test_hdf5_data_in_other_files_is_refused(tmp_path: Path, how: str) -> None:
    other = _other_file(tmp_path)
    path = tmp_path / ("x.mat" if how.startswith("mat") else "x.h5")
    with h5py.File(path, "w", userblock_size=512 if how.startswith("mat") else 0) as f:
        if how == "external_link":
            f["events"] = h5py.ExternalLink(str(other), "/events")
        elif how == "external_storage":
            g = f.create_group("events")
            g.create_dataset("t", shape=(5,), dtype="u1", external=[(str(other), 0, 5)])
            for k in "xyp":
                g.create_dataset(k, data=np.zeros(5, np.uint8))
        elif how == "virtual":
            g = f.create_group("events")
            layout = h5py.VirtualLayout(shape=(5,), dtype="u1")
            layout[:] = h5py.VirtualSource(str(other), "events/t", shape=(5,))
            g.create_virtual_dataset("t", layout)
            for k in "xyp":
                g.create_dataset(k, data=np.zeros(5, np.uint8))
        else:
            for k in ("ts", "x", "y"):
                f.create_dataset(k, data=np.zeros((1, 5)))
            f["pol"] = h5py.ExternalLink(str(other), "/events/p")
    if how.startswith("mat"):
        with open(path, "r+b") as fh:
            fh.write(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")
    before = other.read_bytes()
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path)
    assert str(path) in str(err.value) and "other file" in str(err.value)
    assert other.read_bytes() == before


# ------------------------------------------------------------------- 3. event-count bombs


def _deflated_npz(path: Path, n: int) -> Path:
    """An honest npz of n zero events (uint8 columns): tiny on disk, n * 13 bytes decoded."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for k in "txyp":
            buf = io.BytesIO()
            np.save(buf, np.zeros(n, np.uint8))
            z.writestr(f"{k}.npy", buf.getvalue())
    return path


def _assert_bomb(err: DecodeError, path: Path, declared: int) -> None:
    msg = str(err)
    assert str(path) in msg and f"declared {declared} events" in msg
    assert "max_expand_ratio" in msg and "EVENTKIT_MAX_DECODE_RATIO" in msg
    if "more than the limit" not in msg:
        assert f"file of {path.stat().st_size} bytes" in msg


def test_deflated_npz_bomb_is_refused_before_allocation_and_allowed_when_raised(tmp_path: Path) -> None:
    path = _deflated_npz(tmp_path / "bomb.npz", 6_000_000)
    assert path.stat().st_size < 200_000
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path)
    _assert_bomb(err.value, path, 6_000_000)
    ev = eventkit.read_events(path, max_expand_ratio=1e6)
    assert ev.size == 6_000_000 and int(ev["x"].max()) == 0


def test_npz_header_declaring_50m_events_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as z:
        for k in "txyp":
            head = io.BytesIO()
            np.lib.format.write_array_header_1_0(head, {"descr": "<i8", "fortran_order": False, "shape": (50_000_000,)})
            z.writestr(f"{k}.npy", head.getvalue() + bytes(80))
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path)
    _assert_bomb(err.value, path, 50_000_000)


def test_es_imagenet_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for k in ("pos", "neg"):
            buf = io.BytesIO()
            np.save(buf, np.zeros((2_000_000, 3), np.float64))
            z.writestr(f"{k}.npy", buf.getvalue())
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path, format="es_imagenet")
    assert str(path) in str(err.value) and "decompression bomb" in str(err.value)


def test_hdf5_fill_value_datasets_declaring_300m_events_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for k in "txyp":
            g.create_dataset(k, shape=(300_000_000,), dtype="u1", fillvalue=0)
    assert path.stat().st_size < 10_000
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path)
    _assert_bomb(err.value, path, 300_000_000)


def test_hdf5_compound_and_shd_sample_count_bombs_are_refused(tmp_path: Path) -> None:
    comp = tmp_path / "compound.h5"
    with h5py.File(comp, "w") as f:
        f.create_dataset("events", shape=(200_000_000,), dtype=[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(comp)
    _assert_bomb(err.value, comp, 200_000_000)
    shd = tmp_path / "shd.h5"
    with h5py.File(shd, "w") as f:
        g = f.create_group("spikes")
        g.create_dataset("times", (300_000_000,), dtype=h5py.vlen_dtype(np.float32))
        g.create_dataset("units", (300_000_000,), dtype=h5py.vlen_dtype(np.uint16))
    for call in (hdf5_num_samples, lambda p: list(iter_hdf5_samples(p))):
        with pytest.raises(DecodeError) as err:
            call(shd)
        _assert_bomb(err.value, shd, 300_000_000)


def test_mat_bombs_are_refused(tmp_path: Path) -> None:
    v73 = tmp_path / "v73.mat"
    with h5py.File(v73, "w", userblock_size=512) as f:
        for k in ("ts", "x", "y", "pol"):
            f.create_dataset(k, shape=(1, 100_000_000), dtype="<f8", fillvalue=0.0)
    with open(v73, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(v73)
    _assert_bomb(err.value, v73, 100_000_000)
    v5 = tmp_path / "v5.mat"
    n = 6_000_000
    scipy.io.savemat(v5, {k: np.zeros((n, 1), np.uint8) for k in ("ts", "x", "y", "pol")}, do_compression=True)
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(v5)
    _assert_bomb(err.value, v5, n)


def test_zstd_aedat4_packet_bomb_is_refused(tmp_path: Path) -> None:
    from tests.eventkit.io.test_aedat4 import ZSTD, aedat4_bytes, flatbuffer

    n = 5_500_000  # 88 MB of zero events (inside the sensor) in one packet of a 3 kB file
    packet = flatbuffer([("ref", lambda b: b.vector(n, bytes(16 * n)))], b"EVTS")
    path = tmp_path / "bomb.aedat4"
    path.write_bytes(aedat4_bytes([(0, packet)], {0: ("EVTS", (64, 48))}, ZSTD, table=False))
    assert path.stat().st_size < 100_000
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path)
    assert str(path) in str(err.value) and "decompression bomb" in str(err.value) and "packet at byte" in str(err.value)
    assert eventkit.read_events(path, max_expand_ratio=1e6).size == n  # a genuine file: raise the limit


def test_limits_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    path, fmt = _build("npz", tmp_path)
    monkeypatch.setenv("EVENTKIT_MAX_EVENTS", "100")
    with pytest.raises(DecodeError) as err:
        eventkit.read_events(path)
    msg = str(err.value)
    assert "declared 300 events, more than the limit of 100" in msg and "EVENTKIT_MAX_EVENTS" in msg
    assert eventkit.read_events(path, max_events=300).size == 300  # the keyword wins
    monkeypatch.setenv("EVENTKIT_MAX_EVENTS", "lots")
    with pytest.raises(eventkit.EventkitError, match="EVENTKIT_MAX_EVENTS"):
        eventkit.read_events(path)
    monkeypatch.delenv("EVENTKIT_MAX_EVENTS")
    with pytest.raises(eventkit.EventkitError, match="max_expand_ratio"):
        eventkit.read_events(path, max_expand_ratio=-1)


def test_real_samples_pass_at_default_limits() -> None:
    from tests.conftest import SAMPLES_DIR, sample_names

    names = sample_names()
    if not names:
        pytest.skip("no shared samples on this machine")
    for name in names:
        eventkit.read_events(SAMPLES_DIR / name)  # no DecodeError at default limits


# ------------------------------------------------------------------- 4. conversions


def test_one_corrupt_es_imagenet_file_fails_only_its_own_sample(tmp_path: Path) -> None:
    from eventkit.datasets.registry import get_manifest
    from eventkit.pipeline import convert
    from eventkit.store import open_store

    base = tmp_path / "data" / "ES-imagenet-0.18"
    for k in range(1000):  # the class_folders rule needs every class folder
        (base / "train" / f"class{k}").mkdir(parents=True)
    (base / "val").mkdir()
    train = ["class0/a.npz", "class0/b.npz", "class1/c.npz", "class2/d.npz", "class999/e.npz"]
    for i, rel in enumerate(train):
        _es_imagenet(base / "train" / rel, n=200, seed=i)
    for i, name in enumerate(["v1.npz", "v2.npz"]):
        _es_imagenet(base / "val" / name, n=200, seed=10 + i)
    (base / "vallabel.txt").write_text("v1.npz 3\nv2.npz 4\n")
    bad = base / "train" / "class1" / "c.npz"
    raw = bad.read_bytes()
    _, data = _member_data_offset(bad, "pos.npy")
    for k in range(200):  # the first flip that makes zlib itself fail (the reported case)
        flipped = bytearray(raw)
        flipped[data + 10 + k] ^= 0x40
        bad.write_bytes(bytes(flipped))
        try:
            eventkit.read_events(bad)
        except DecodeError as err:
            if "zlib.error" in err.reason:
                break
    else:
        pytest.fail("no flip reached zlib's own error")
    out = tmp_path / "s.zarr"
    r = convert(get_manifest("es-imagenet"), frames=2, from_dir=tmp_path / "data", out=out, executor="serial",
                progress=False)  # fmt: skip
    assert not r.complete and r.converted == 6
    assert [(f.split, f.sample_id, f.source) for f in r.failures] == [("train", "train/class1/c.npz", str(bad))]
    assert str(bad) in r.failures[0].reason and "zlib.error" in r.failures[0].reason
    st = open_store(out, allow_incomplete=True)
    assert list(st["train"].available) == [0, 1, 3, 4] and list(st["test"].available) == [0, 1]


# ------------------------------------------------------------------- 5. property tests

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
_BUILT: dict[str, tuple[bytes, str, str]] = {}


def _valid(kind: str, tmp_path: Path) -> tuple[bytes, str, str]:
    if kind not in _BUILT:
        d = tmp_path / f"src_{kind}"
        d.mkdir()
        path, fmt = _build(kind, d)
        _decode(kind, path, fmt)  # the unmodified file decodes
        _BUILT[kind] = (path.read_bytes(), fmt, path.suffix)
    return _BUILT[kind]


def _check(kind: str, tmp_path: Path, data: bytes, fmt: str, suffix: str) -> None:
    path = tmp_path / f"mutant{suffix}"
    path.write_bytes(data)
    try:
        ev = _decode(kind, path, fmt)
    except DecodeError as err:
        assert err.path == str(path) and err.reason
        assert err.offset is None or 0 <= err.offset <= len(data)
        return
    assert ev.dtype == eventkit.EVENT_DTYPE and ev.ndim == 1
    if not ev.size:
        return
    assert int(ev["p"].max()) <= 1
    spec = FORMATS[fmt]
    sensor = spec.sensor(path) if spec.sensor is not None else None
    if sensor is not None:
        assert int(ev["x"].max()) < sensor.width and int(ev["y"].max()) < sensor.height
        assert int(ev["p"].max()) < sensor.polarities
    if fmt == "es_imagenet":  # the decoder sorts by step
        assert bool(np.all(ev["t"][1:] >= ev["t"][:-1]))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_any_flip_or_cut_is_a_decode_error_or_valid_events(tmp_path: Path, kind: str, data) -> None:
    raw, fmt, suffix = _valid(kind, tmp_path)
    mode = data.draw(st.sampled_from(["cut", "flip", "header"]))
    if mode == "cut":
        mutant = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        hi = min(len(raw), 600) if mode == "header" else len(raw)
        mutant = bytearray(raw)
        for at, value in data.draw(st.lists(st.tuples(st.integers(0, hi - 1), st.integers(0, 255)), min_size=1,
                                            max_size=4)):  # fmt: skip
            mutant[at] = value
        mutant = bytes(mutant)
    _check(kind, tmp_path, mutant, fmt, suffix)
