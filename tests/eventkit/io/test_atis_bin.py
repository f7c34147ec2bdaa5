"""ATIS 40-bit ``.bin`` decoder: files packed here from the documented record layout.

Golden peer: none needed beyond the shared N-MNIST samples (Tonic 1.7.0 / SpikingJelly 2.0.0,
checked in test_samples.py); these tests build records with plain byte packing.
"""

from __future__ import annotations

import numpy as np
import pytest

import eventkit
from eventkit.errors import DecodeError
from eventkit.io import atis_bin
from eventkit.io.atis_bin import read_atis_bin


def pack(records) -> bytes:
    """Pack (x, y, p, t) tuples into 5-byte ATIS records, independently of the decoder."""
    out = bytearray()
    for x, y, p, t in records:
        out += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def write(tmp_path, data: bytes, name: str = "rec.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def cols(ev):
    return [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev]


def test_fields_decode_exactly(tmp_path):
    recs = [(0, 0, 0, 0), (33, 33, 1, 1), (255, 239, 1, (1 << 23) - 1), (7, 15, 0, 0x12345)]
    ev = read_atis_bin(write(tmp_path, pack(recs)))
    assert ev.dtype == eventkit.EVENT_DTYPE
    assert cols(ev) == [[t, x, y, p] for x, y, p, t in recs]


def test_overflow_records_are_dropped_and_advance_time(tmp_path):
    recs = [(1, 2, 1, 100), (0, 240, 0, 0), (3, 4, 0, 50), (0, 240, 1, 77), (0, 240, 0, 0), (5, 6, 1, 10)]
    ev = read_atis_bin(write(tmp_path, pack(recs)))
    assert cols(ev) == [[100, 1, 2, 1], [50 + 8192, 3, 4, 0], [10 + 3 * 8192, 5, 6, 1]]


def test_overflow_state_carries_across_slices(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    recs, expect, offset = [], [], 0
    for i in range(500):
        if i % 37 == 0:
            recs.append((0, 240, 0, 0))
            offset += 8192
        t = int(rng.integers(0, 1 << 23))
        x, y, p = int(rng.integers(0, 256)), int(rng.integers(0, 240)), int(rng.integers(0, 2))
        recs.append((x, y, p, t))
        expect.append([t + offset, x, y, p])
    path = write(tmp_path, pack(recs))
    monkeypatch.setattr(atis_bin, "CHUNK_BYTES", 5 * 7 + 3)  # chunks end mid-stream, not mid-record
    assert cols(read_atis_bin(path)) == expect


def test_empty_file_is_no_events(tmp_path):
    ev = read_atis_bin(write(tmp_path, b""))
    assert ev.shape == (0,) and ev.dtype == eventkit.EVENT_DTYPE


def test_only_overflow_records_is_no_events(tmp_path):
    assert read_atis_bin(write(tmp_path, pack([(0, 240, 0, 0)] * 3))).shape == (0,)


@pytest.mark.parametrize("extra", [1, 2, 3, 4])
def test_trailing_partial_record_raises_with_offset(tmp_path, extra):
    data = pack([(1, 2, 1, 3), (4, 5, 0, 6)]) + b"\x01\x02\x03\x04"[:extra]
    with pytest.raises(DecodeError) as info:
        read_atis_bin(write(tmp_path, data))
    assert info.value.offset == 10
    assert "5-byte" in info.value.reason


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_atis_bin(tmp_path / "nope.bin")


def test_registry_selects_by_suffix_only(tmp_path):
    path = write(tmp_path, pack([(1, 2, 1, 3)]))
    assert atis_bin.FORMAT.sniff is None and atis_bin.FORMAT.suffixes == (".bin",)
    assert eventkit.guess_format(path) == "atis_bin"
    assert cols(eventkit.read_events(path)) == [[3, 1, 2, 1]]
