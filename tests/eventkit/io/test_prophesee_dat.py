"""Prophesee / ATIS ``.dat`` decoder: files packed here from the documented layouts.

Golden peer: expelliarmus 1.1.12 (files it wrote and its decode, in
tests/golden/prophesee_expelliarmus.json, made by tests/golden/make_prophesee_goldens.py).
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pytest

import eventkit
from eventkit.errors import DecodeError
from eventkit.io import prophesee_dat
from eventkit.io.prophesee_dat import read_prophesee_dat
from tests.conftest import txyp_digest

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "prophesee_expelliarmus.json"


def header(*lines: str) -> bytes:
    return b"".join(f"% {line}\n".encode() for line in lines)


def event2d(records) -> bytes:
    """(t, x, y, p) -> u32 t, u32 (x | y << 14 | p << 28)."""
    return b"".join(struct.pack("<II", t, x | (y << 14) | (p << 28)) for t, x, y, p in records)


def legacy(records) -> bytes:
    """(t, x, y, p) -> one u64: t bits 0-31, x 32-40, y 41-48, p 49 (NAV Gesture / kAER)."""
    return b"".join(struct.pack("<Q", t | (x << 32) | (y << 41) | (p << 49)) for t, x, y, p in records)


def write(tmp_path, data: bytes, name: str = "rec.dat"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rows(ev):
    return [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev]


V2 = header("Data file containing Event2D events", "Version 2", "Date 2017-10-31 11:27:54")
RECS = [(0, 6, 18, 1), (66, 42, 35, 0), (1 << 31, 16383, 16383, 1), (4_000_000_000, 0, 0, 0)]


def test_event2d_version2(tmp_path):
    ev = read_prophesee_dat(write(tmp_path, V2 + b"\x00\x08" + event2d(RECS)))
    assert ev.dtype == eventkit.EVENT_DTYPE
    assert rows(ev) == [list(r) for r in RECS]
    assert prophesee_dat.FORMAT.sensor(tmp_path / "rec.dat") is None


def test_bits_above_polarity_are_ignored(tmp_path):
    data = V2 + b"\x0c\x08" + struct.pack("<II", 5, 3 | (4 << 14) | (1 << 28) | (0x7 << 29))
    assert rows(read_prophesee_dat(write(tmp_path, data))) == [[5, 3, 4, 1]]


def test_gen1_header_gives_sensor_and_bounds(tmp_path):
    hdr = header("Date 2019-02-11 10:00:00", "Version 2", "Height 240", "Width 304")
    path = write(tmp_path, hdr + b"\x0c\x08" + event2d([(1, 303, 239, 1), (2, 0, 0, 0)]))
    assert prophesee_dat.FORMAT.sensor(path) == eventkit.SensorSize(304, 240, 2)
    assert rows(read_prophesee_dat(path)) == [[1, 303, 239, 1], [2, 0, 0, 0]]


@pytest.mark.parametrize("x, y", [(304, 0), (0, 240), (5000, 5000)])
def test_out_of_sensor_event_raises(tmp_path, x, y):
    hdr = header("Version 2", "Height 240", "Width 304")
    path = write(tmp_path, hdr + b"\x0c\x08" + event2d([(1, 1, 1, 1), (2, x, y, 0)]))
    with pytest.raises(DecodeError) as info:
        read_prophesee_dat(path)
    assert info.value.offset == len(hdr) + 2 + 8


def test_nav_gesture_legacy_variant(tmp_path):
    """No ``Version`` line: the 9/8/1-bit ATIS address layout (no rebasing, no y flip)."""
    recs = [(1000, 303, 239, 1), (900, 0, 0, 0), (1200, 511, 255, 1)]
    hdr = header("Data file containing ATIS td events", "Date 2016-06-01 12:00:00")
    ev = read_prophesee_dat(write(tmp_path, hdr + b"\x00\x08" + legacy(recs)))
    assert rows(ev) == [list(r) for r in recs]


def test_version1_is_legacy_and_type_byte_not_interpreted(tmp_path):
    hdr = header("Version 1")
    ev = read_prophesee_dat(write(tmp_path, hdr + b"\x07\x08" + legacy([(5, 300, 200, 1)])))
    assert rows(ev) == [[5, 300, 200, 1]]


def test_headerless_file_is_legacy(tmp_path):
    ev = read_prophesee_dat(write(tmp_path, legacy([(7, 12, 34, 1), (9, 56, 78, 0)])))
    assert rows(ev) == [[7, 12, 34, 1], [9, 56, 78, 0]]


def test_timestamp_wrap_is_undone(tmp_path):
    recs = [(0xFFFFFF00, 1, 1, 1), (0x10, 2, 2, 0), (0x05, 3, 3, 1)]
    ev = read_prophesee_dat(write(tmp_path, V2 + b"\x00\x08" + event2d(recs)))
    assert ev["t"].tolist() == [0xFFFFFF00, (1 << 32) + 0x10, (1 << 32) + 0x05]


def test_state_carries_across_slices(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    recs = [(int(t), int(x), int(y), int(p)) for t, x, y, p in zip(
        np.sort(rng.integers(0, 1 << 32, 300)), rng.integers(0, 304, 300), rng.integers(0, 240, 300), rng.integers(0, 2, 300))]
    recs += [(3, 1, 1, 1)]  # a wrap in a late slice
    path = write(tmp_path, V2 + b"\x00\x08" + event2d(recs))
    monkeypatch.setattr(prophesee_dat, "CHUNK_BYTES", 8 * 5)
    ev = read_prophesee_dat(path)
    assert rows(ev[:-1]) == [list(r) for r in recs[:-1]]
    assert int(ev["t"][-1]) == (1 << 32) + 3


def test_empty_payload_and_header_only(tmp_path):
    assert read_prophesee_dat(write(tmp_path, V2 + b"\x00\x08", "a.dat")).shape == (0,)
    assert read_prophesee_dat(write(tmp_path, V2, "b.dat")).shape == (0,)
    assert read_prophesee_dat(write(tmp_path, b"", "c.dat")).shape == (0,)


def test_file_ending_inside_type_size_bytes_raises(tmp_path):
    with pytest.raises(DecodeError) as info:
        read_prophesee_dat(write(tmp_path, V2 + b"\x00"))
    assert info.value.offset == len(V2)


@pytest.mark.parametrize("extra", [1, 4, 7])
def test_trailing_partial_record_raises(tmp_path, extra):
    data = V2 + b"\x00\x08" + event2d(RECS[:2]) + b"\x01" * extra
    with pytest.raises(DecodeError) as info:
        read_prophesee_dat(write(tmp_path, data))
    assert info.value.offset == len(V2) + 2 + 16


def test_unsupported_type_or_size_raises(tmp_path):
    with pytest.raises(DecodeError, match="event type 14"):
        read_prophesee_dat(write(tmp_path, V2 + b"\x0e\x08" + event2d(RECS), "trig.dat"))
    with pytest.raises(DecodeError, match="event size 16"):
        read_prophesee_dat(write(tmp_path, V2 + b"\x00\x10" + event2d(RECS), "big.dat"))


def test_sniff_and_registry(tmp_path):
    data = V2 + b"\x00\x08" + event2d(RECS)
    assert prophesee_dat.FORMAT.sniff(data)
    assert not prophesee_dat.FORMAT.sniff(header("evt 2.0") + b"\x00" * 8)
    assert not prophesee_dat.FORMAT.sniff(header("format EVT3;height=720;width=1280") + b"\x00" * 8)
    assert not prophesee_dat.FORMAT.sniff(b"#!AER-DAT2.0\r\n")
    path = write(tmp_path, data, "noext")
    assert eventkit.guess_format(path) == "prophesee_dat"
    assert rows(eventkit.read_events(path)) == [list(r) for r in RECS]


def test_matches_expelliarmus_golden(tmp_path):
    """Golden: a DAT file written by expelliarmus 1.1.12 decodes exactly as expelliarmus reads it."""
    case = json.loads(GOLDEN.read_text())["cases"]["dat"]
    path = write(tmp_path, base64.b64decode(case["file_b64"]))
    ev = eventkit.read_events(path)
    assert ev.shape == (case["event_count"],)
    assert txyp_digest(ev) == case["sha256_txyp_int64"]
