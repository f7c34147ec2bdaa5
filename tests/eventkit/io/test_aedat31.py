"""AEDAT 3.1 (cAER) decoder and writer: files built here with ``struct`` from the documented layout.

Peer cross-check: ``tests/golden/aedat31_mixed_packets.aedat`` (polarity packets with overflow
0..2, special and IMU6 packets in between) decoded by SpikingJelly 2.0's ``load_aedat_v3``; see
``tests/golden/make_aedat_goldens.py``. Files from the independent generator
``../shared/tools/make_synthetic_dvsgesture.py`` (decoded exactly by SpikingJelly and Tonic) are
compared with the generator's own ground truth.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eventkit
from eventkit import DecodeError, EVENT_DTYPE, make_events
from eventkit.io import aedat31, guess_format
from eventkit.io.aedat31 import FORMAT, read_aedat31
from eventkit.io.aedat31_writer import packet_bounds, write_aedat31
from tests.conftest import SHARED_TOOLS, rows, txyp_digest

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
HEAD = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2020-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n"


def head(source: str | None = "DVS128", version: bytes = b"3.1") -> bytes:
    src = f"#Source 1: {source}\r\n".encode() if source else b""
    return b"#!AER-DAT" + version + b"\r\n#Format: RAW\r\n" + src + b"#!END-HEADER\r\n"


def pkt_header(etype=1, source=1, size=8, tsoff=4, overflow=0, capacity=None, number=0, valid=None) -> bytes:
    capacity = number if capacity is None else capacity
    valid = number if valid is None else valid
    return struct.pack("<HHIIIIII", etype, source, size, tsoff, overflow, capacity, number, valid)


def pol(x: int, y: int, p: int, ts: int, valid: int = 1) -> bytes:
    """One polarity event: data (bit 0 valid, bit 1 polarity, bits 2..16 y, bits 17..31 x), timestamp."""
    return struct.pack("<II", (x << 17) | (y << 2) | (p << 1) | valid, ts)


def pol_packet(events, overflow=0, source=1, **kw) -> bytes:
    body = b"".join(pol(*e) for e in events)
    return pkt_header(1, source, 8, 4, overflow, number=len(events), **kw) + body


def other_packet(etype: int, size: int, count: int, fill: int = 0xAB) -> bytes:
    return pkt_header(etype, 1, size, 4, 0, number=count) + bytes([fill]) * (size * count)


def write(tmp_path: Path, data: bytes, name: str = "f.aedat") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------------------------------- decoding


def test_polarity_fields_overflow_and_skipped_packets(tmp_path):
    data = head() + b"".join([
        other_packet(0, 8, 2),  # special events
        pol_packet([(1, 2, 1, 10), (127, 127, 0, 20)]),
        other_packet(3, 36, 3),  # IMU6
        other_packet(2, 1000, 1),  # a frame-like packet with a big event size
        pol_packet([(5, 6, 0, 7)], overflow=2),
        other_packet(3, 36, 0),  # empty packet
    ])
    ev = read_aedat31(write(tmp_path, data))
    assert ev.dtype == EVENT_DTYPE
    assert rows(ev) == [[10, 1, 2, 1], [20, 127, 127, 0], [(2 << 31) | 7, 5, 6, 0]]


def test_invalid_events_are_dropped(tmp_path):
    data = head() + pol_packet([(1, 1, 1, 1), (2, 2, 1, 2, 0), (3, 3, 0, 3)], valid=2)
    assert rows(read_aedat31(write(tmp_path, data))) == [[1, 1, 1, 1], [3, 3, 3, 0]]


def test_invalid_event_outside_sensor_is_ignored(tmp_path):
    data = head() + pol_packet([(500, 500, 1, 2, 0), (3, 3, 0, 3)], valid=1)
    assert rows(read_aedat31(write(tmp_path, data))) == [[3, 3, 3, 0]]


def test_payload_uses_event_number_not_capacity(tmp_path):
    # capacity > number is legal (a partly filled buffer); only `number` events follow
    data = head() + pol_packet([(1, 1, 1, 5)], capacity=4) + pol_packet([(2, 2, 0, 6)])
    assert rows(read_aedat31(write(tmp_path, data))) == [[5, 1, 1, 1], [6, 2, 2, 0]]


def test_empty_after_header_and_empty_packets(tmp_path):
    assert read_aedat31(write(tmp_path, head())).shape == (0,)
    assert read_aedat31(write(tmp_path, head() + pol_packet([]) + pol_packet([]), "b.aedat")).shape == (0,)


def test_aedat30_is_accepted(tmp_path):
    p = write(tmp_path, head(version=b"3.0") + pol_packet([(1, 2, 1, 3)]))
    assert guess_format(p) == "aedat31"
    assert rows(read_aedat31(p)) == [[3, 1, 2, 1]]


# ---------------------------------------------------------------------------------------- sources


def test_sensor_from_source_line(tmp_path):
    p = write(tmp_path, head("DAVIS346B") + pol_packet([(345, 259, 1, 1)]))
    assert FORMAT.sensor(p) == (346, 260, 2)
    assert rows(read_aedat31(p)) == [[1, 345, 259, 1]]
    assert FORMAT.sensor(write(tmp_path, head() + b"", "d.aedat")) == (128, 128, 2)
    assert FORMAT.sensor(write(tmp_path, head(None), "n.aedat")) is None


@pytest.mark.parametrize("xy", [(128, 0), (0, 128), (32767, 32767)])
def test_event_outside_sensor(tmp_path, xy):
    first = pol_packet([(1, 1, 1, 1)])
    data = head() + first + pol_packet([(2, 2, 1, 2), (*xy, 1, 3)])
    with pytest.raises(DecodeError, match="outside the sensor") as ei:
        read_aedat31(write(tmp_path, data))
    assert ei.value.offset == len(head()) + len(first) + 28 + 8


def test_unknown_source_is_unbounded(tmp_path):
    p = write(tmp_path, head("SomeFutureCamera") + pol_packet([(2000, 1000, 1, 4)]))
    assert FORMAT.sensor(p) is None
    assert rows(read_aedat31(p)) == [[4, 2000, 1000, 1]]


def test_two_sources_each_bounded(tmp_path):
    h = b"#!AER-DAT3.1\r\n#Source 1: DVS128\r\n#Source 2: DAVIS346B\r\n#!END-HEADER\r\n"
    ok = h + pol_packet([(300, 200, 1, 1)], source=2) + pol_packet([(100, 100, 0, 2)], source=1)
    p = write(tmp_path, ok)
    assert FORMAT.sensor(p) is None  # two different sensors
    assert rows(read_aedat31(p)) == [[1, 300, 200, 1], [2, 100, 100, 0]]
    with pytest.raises(DecodeError, match="outside"):
        read_aedat31(write(tmp_path, h + pol_packet([(300, 10, 1, 1)], source=1), "bad.aedat"))


def test_undeclared_source_uses_the_only_declared_sensor(tmp_path):
    with pytest.raises(DecodeError, match="outside"):
        read_aedat31(write(tmp_path, head() + pol_packet([(200, 1, 1, 1)], source=0)))


# ---------------------------------------------------------------------------------------- corrupt input


@pytest.mark.parametrize("data,match,offset", [
    (b"#!AER-DAT3.1\r\n#Format: RAW\r\n", "truncated header", 28),
    (b"#!AER-DAT3.1\r\n#Format: RA", "ends inside a header line", 14),
    (b"#!AER-DAT3.1\r\n#Format: RAW\r\nxyz\r\n#!END-HEADER\r\n", "does not start with '#'", 28),
    (b"#!AER-DAT2.0\r\n", "not an AEDAT 3.1", 0),
    (b"", "not an AEDAT 3.1", 0),
])
def test_bad_headers(tmp_path, data, match, offset):
    with pytest.raises(DecodeError, match=match) as ei:
        read_aedat31(write(tmp_path, data))
    assert ei.value.offset == offset


@pytest.mark.parametrize("cut", [1, 10, 27])
def test_truncated_packet_header(tmp_path, cut):
    full = head() + pol_packet([(1, 1, 1, 1)])
    second = pol_packet([(2, 2, 1, 2)])
    p = write(tmp_path, full + second[:cut])
    with pytest.raises(DecodeError, match="truncated packet header") as ei:
        read_aedat31(p)
    assert ei.value.offset == len(full)


@pytest.mark.parametrize("cut", [28, 29, 36, 43])
def test_truncated_polarity_payload(tmp_path, cut):
    first = head() + pol_packet([(1, 1, 1, 1)])
    p = write(tmp_path, first + pol_packet([(2, 2, 1, 2), (3, 3, 1, 3)])[:cut])
    with pytest.raises(DecodeError, match="truncated packet payload") as ei:
        read_aedat31(p)
    assert ei.value.offset == len(first)


def test_truncated_skipped_payload(tmp_path):
    first = head() + pol_packet([(1, 1, 1, 1)])
    p = write(tmp_path, first + other_packet(2, 1000, 3)[:-1])
    with pytest.raises(DecodeError, match="truncated packet payload") as ei:
        read_aedat31(p)
    assert ei.value.offset == len(first)


def test_event_number_lying_huge_is_an_error_not_a_hang(tmp_path):
    p = write(tmp_path, head() + pkt_header(1, 1, 8, 4, 0, capacity=0x7FFFFFFF, number=0x7FFFFFFF, valid=0) + pol(1, 1, 1, 1))
    with pytest.raises(DecodeError, match="truncated"):
        read_aedat31(p)
    p = write(tmp_path, head() + pkt_header(5, 1, 0x7FFFFFFF, 4, 0, number=0x7FFFFFFF) + b"x" * 64, "g.aedat")
    with pytest.raises(DecodeError, match="truncated"):
        read_aedat31(p)


@pytest.mark.parametrize("kw,match", [
    ({"size": 4}, "eventSize 4"),
    ({"size": 16}, "eventSize 16"),
    ({"tsoff": 0}, "eventTSOffset 0"),
    ({"number": 2, "capacity": 1}, "impossible packet header"),
    ({"number": 1, "valid": 2}, "impossible packet header"),
    ({"number": 0xFFFFFFFF}, "negative"),
    ({"overflow": 0x80000000}, "negative"),
])
def test_lying_packet_headers(tmp_path, kw, match):
    kw = {"number": 1, **kw}
    p = write(tmp_path, head() + pol_packet([(1, 1, 1, 1)]) + pkt_header(**kw) + pol(2, 2, 1, 2) * 2)
    with pytest.raises(DecodeError, match=match) as ei:
        read_aedat31(p)
    assert ei.value.offset == len(head()) + 36


def test_garbage_after_header_never_crashes(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(200):
        body = rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes()
        p = write(tmp_path, head() + body, f"g{i}.aedat")
        try:
            ev = read_aedat31(p)
        except DecodeError as e:
            assert 0 <= e.offset <= os.path.getsize(p)
        else:
            eventkit.validate_events(ev, (128, 128, 2))


# ---------------------------------------------------------------------------------------- chunking


def test_chunk_boundaries_anywhere(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    parts, expect = [], []
    for k in range(20):
        evs = [(int(rng.integers(128)), int(rng.integers(128)), int(rng.integers(2)), int(rng.integers(1 << 31)))
               for _ in range(int(rng.integers(0, 40)))]
        parts.append(pol_packet(evs, overflow=k))
        expect += [[t | (k << 31), x, y, q] for x, y, q, t in evs]
        parts.append(other_packet(2, 97, int(rng.integers(0, 5))))
    p = write(tmp_path, head() + b"".join(parts))
    assert rows(read_aedat31(p)) == expect
    for chunk in (1, 7, 8, 28, 29, 64, 333):
        monkeypatch.setattr(aedat31, "CHUNK_BYTES", chunk)
        assert rows(read_aedat31(p)) == expect, chunk


def test_sniff_suffix_and_read_events(tmp_path):
    p = write(tmp_path, HEAD + pol_packet([(1, 2, 1, 3)]))
    assert guess_format(p) == "aedat31"
    assert rows(eventkit.read_events(p)) == [[3, 1, 2, 1]]
    assert FORMAT.name == "aedat31" and FORMAT.title == "AEDAT 3.1 (cAER)" and ".aedat" in FORMAT.suffixes
    assert FORMAT.sniff(b"#!AER-DAT3.1\r\n") and not FORMAT.sniff(b"#!AER-DAT2.0\r\n")


# ---------------------------------------------------------------------------------------- writer


def _packet_headers(path: Path) -> list[tuple[int, ...]]:
    """Walk the packets of a file by the documented layout (independent of the decoder)."""
    data = path.read_bytes()
    pos = data.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    out = []
    while pos < len(data):
        h = struct.unpack_from("<HHIIIIII", data, pos)
        out.append(h)
        pos += 28 + h[2] * h[6]
    assert pos == len(data)
    return out


def test_writer_round_trip_and_packets(tmp_path):
    rng = np.random.default_rng(11)
    n = 30_000
    t = np.cumsum(rng.integers(0, 2_000, n)) + (1 << 31) - 20_000_000  # crosses the 2**31 overflow
    ev = make_events(t, rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))
    p = tmp_path / "rt.aedat"
    n_pk = write_aedat31(p, ev, packet_interval_us=50_000, max_packet_events=500)
    assert np.array_equal(read_aedat31(p), ev)
    hdrs = _packet_headers(p)
    assert len(hdrs) == n_pk
    counts = np.array([h[6] for h in hdrs])
    assert counts.sum() == n and counts.max() <= 500
    assert all(h[0] == 1 and h[2] == 8 and h[3] == 4 and h[5] == h[6] == h[7] for h in hdrs)
    # every packet has one overflow value, equal to its events' t >> 31
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for h, s, c in zip(hdrs, starts, counts):
        assert set((t[s : s + c] >> 31).tolist()) == {h[4]}
        assert t[s + c - 1] - t[s] < 50_000 + 2_000 * 500
    assert {h[4] for h in hdrs} == {0, 1}


def test_packet_bounds_rules():
    t = np.array([0, 5, 9, 10, 11, 25, (1 << 31) - 1, 1 << 31, (1 << 31) + 1], dtype=np.int64)
    b = packet_bounds(t, 10, 2)
    # (2**31 - 1) and 2**31 share a 10 µs bin but not an overflow value: split there
    assert b.tolist() == [0, 2, 3, 5, 6, 7, 9]
    assert packet_bounds(np.zeros(0, np.int64), 10, 2).tolist() == [0]


def test_writer_atomic_and_validation(tmp_path):
    p = tmp_path / "a.aedat"
    good = make_events([1, 2], [1, 2], [3, 4], [0, 1])
    write_aedat31(p, good)
    before = p.read_bytes()
    with pytest.raises(eventkit.EventFormatError):
        write_aedat31(p, make_events([1], [128], [0], [1]))  # outside DVS128
    with pytest.raises(eventkit.EventFormatError):
        write_aedat31(p, make_events([-1], [1], [0], [1]))
    with pytest.raises(ValueError):
        write_aedat31(p, good, source="NoSuchCamera")
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.aedat"]  # no temp files left behind
    write_aedat31(p, good, source="DAVIS346B", start_time="2024-01-01 00:00:00 (TZ+0000)")
    assert FORMAT.sensor(p) == (346, 260, 2)
    assert b"#Start-Time: 2024-01-01" in p.read_bytes()
    assert np.array_equal(read_aedat31(p), good)
    write_aedat31(p, make_events([], [], [], []))
    assert read_aedat31(p).shape == (0,)


# ---------------------------------------------------------------------------------------- peers


def test_golden_matches_spikingjelly():
    gold = json.loads((GOLDEN / "aedat_goldens.json").read_text())["aedat31_mixed_packets.aedat"]
    ev = read_aedat31(GOLDEN / "aedat31_mixed_packets.aedat")
    (peer,) = gold["decoders"]
    assert ev.shape == (peer["event_count"],)
    assert rows(ev[:5]) == peer["first_5_txyp"]
    assert txyp_digest(ev) == peer["sha256_txyp_int64"]
    assert set((ev["t"] >> 31).tolist()) == {0, 1, 2}


def test_synthetic_dvsgesture_generator_truth(tmp_path):
    tool = SHARED_TOOLS / "make_synthetic_dvsgesture.py"
    if not tool.exists():
        pytest.skip(f"{tool} not present")
    out, truth = tmp_path / "gen", tmp_path / "truth"
    subprocess.run(
        [sys.executable, str(tool), str(out), "--recordings", "2", "--rate-scale", "0.1",
         "--duration-scale", "0.2", "--truth-dir", str(truth)],
        check=True, capture_output=True,
    )
    files = sorted((out / "DvsGesture").glob("*.aedat"))
    assert len(files) == 2
    for f in files:
        ev = eventkit.read_events(f)
        ref = np.load(truth / f"{f.stem}.npz")
        assert ev.shape == ref["t"].shape
        for k in "txyp":
            assert np.array_equal(ev[k].astype(np.int64), ref[k].astype(np.int64)), (f.name, k)
        assert FORMAT.sensor(f) == (128, 128, 2)
