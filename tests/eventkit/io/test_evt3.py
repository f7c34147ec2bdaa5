"""Prophesee EVT 3.0 decoder: word streams packed here from the published EVT 3.0 layout.

Golden peer: expelliarmus 1.1.12 for x, y and p only (an EVT 3.0 file it wrote, in
tests/golden/prophesee_expelliarmus.json). Its EVT 3.0 timestamps are wrong (it counts a TIME_LOW
decrease as an overflow), so t is checked against a literal walk of the same words written here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import eventkit
from eventkit.errors import DecodeError
from eventkit.io import evt3
from eventkit.io.evt3 import read_evt3

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "prophesee_expelliarmus.json"
HDR = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n"


def addr_y(y):
    return y


def addr_x(x, p):
    return (0x2 << 12) | (p << 11) | x


def base_x(x, p):
    return (0x3 << 12) | (p << 11) | x


def vect12(mask):
    return (0x4 << 12) | mask


def vect8(mask):
    return (0x5 << 12) | mask


def t_low(v):
    return (0x6 << 12) | v


def t_high(v):
    return (0x8 << 12) | v


def words(*ws) -> bytes:
    return np.array(ws, dtype="<u2").tobytes()


def write(tmp_path, data: bytes, name: str = "rec.raw"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rows(ev):
    return [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev]


def literal_t(ws) -> list[int]:
    """Time of each event-producing word, walked literally (the oracle: latest TIME_HIGH/LOW)."""
    high = low = wraps = 0
    seen = False
    out = []
    for w in ws:
        typ, v = w >> 12, w & 0xFFF
        if typ == 0x8:
            if seen and v < high:
                wraps += 1
            high, seen = v, True
        elif typ == 0x6:
            low = v
        elif seen and typ in (0x2, 0x4, 0x5):
            n = 1 if typ == 0x2 else bin(v if typ == 0x4 else v & 0xFF).count("1")
            out += [(wraps << 24) | (high << 12) | low] * n
    return out


def test_single_events_and_literal_time(tmp_path):
    ws = [t_high(0x592), t_low(0x001), addr_y(300), addr_x(700, 1), t_low(0x00D), addr_x(701, 0), addr_y(719), addr_x(1279, 1)]
    ev = read_evt3(write(tmp_path, HDR + words(*ws)))
    t1, t2 = (0x592 << 12) | 1, (0x592 << 12) | 13
    assert rows(ev) == [[t1, 700, 300, 1], [t2, 701, 300, 0], [t2, 1279, 719, 1]]


def test_time_low_decrease_is_not_an_overflow(tmp_path):
    ws = [t_high(2861), t_low(811), addr_y(5), addr_x(1, 1), t_low(800), addr_x(2, 1), t_high(2862), t_low(3), addr_x(3, 0)]
    ev = read_evt3(write(tmp_path, HDR + words(*ws)))
    assert ev["t"].tolist() == [2861 * 4096 + 811, 2861 * 4096 + 800, 2862 * 4096 + 3]
    assert ev["t"].tolist() == literal_t(ws)


def test_time_high_wrap_adds_2_pow_24(tmp_path):
    ws = [t_high(0xFFF), t_low(0xFFF), addr_x(1, 1), t_high(0), t_low(1), addr_x(2, 0), t_high(0), addr_x(3, 0)]
    ev = read_evt3(write(tmp_path, HDR + words(*ws)))
    assert ev["t"].tolist() == [(1 << 24) - 1, (1 << 24) + 1, (1 << 24) + 1]


def test_vector_events(tmp_path):
    ws = [t_high(1), t_low(2), addr_y(10), base_x(100, 1), vect12(0b100000000101), vect8(0b10000001), base_x(0, 0), vect8(0xFF), vect12(0)]
    ev = read_evt3(write(tmp_path, HDR + words(*ws)))
    t = (1 << 12) | 2
    assert rows(ev) == (
        [[t, 100, 10, 1], [t, 102, 10, 1], [t, 111, 10, 1], [t, 112, 10, 1], [t, 119, 10, 1]]
        + [[t, x, 10, 0] for x in range(8)]
    )


def test_vect8_ignores_bits_8_to_11(tmp_path):
    ws = [t_high(1), addr_y(1), base_x(0, 1), vect8(0xF01)]
    assert rows(read_evt3(write(tmp_path, HDR + words(*ws)))) == [[4096, 0, 1, 1]]


def test_skipped_words_and_events_before_first_time_high(tmp_path):
    ws = [addr_y(3), addr_x(5, 1), base_x(0, 1), vect12(0xFFF), t_high(7), (0x7 << 12) | 0xF, (0xA << 12) | 0x101,
          (0xE << 12) | 1, (0xF << 12) | 0xABC, addr_x(6, 0)]
    assert rows(read_evt3(write(tmp_path, HDR + words(*ws)))) == [[7 << 12, 6, 3, 0]]


def test_state_carries_across_slices_and_output_grows(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    ws = []
    high = 0
    for _ in range(400):
        r = int(rng.integers(0, 10))
        if r == 0:
            high = (high + 1) & 0xFFF
            ws.append(t_high(high))
        elif r == 1:
            ws.append(t_low(int(rng.integers(0, 4096))))
        elif r == 2:
            ws.append(addr_y(int(rng.integers(0, 720))))
        elif r == 3:
            ws.append(base_x(int(rng.integers(0, 1000)), int(rng.integers(0, 2))))
        elif r == 4:
            ws.append(vect12(int(rng.integers(0, 4096))))
        elif r == 5:
            ws.append(vect8(int(rng.integers(0, 256))))
        else:
            ws.append(addr_x(int(rng.integers(0, 1280)), int(rng.integers(0, 2))))
    ws = [t_high(0)] + ws
    path = write(tmp_path, HDR + words(*ws))
    whole = read_evt3(path)
    monkeypatch.setattr(evt3, "CHUNK_BYTES", 2 * 5)
    sliced = read_evt3(path)
    assert np.array_equal(whole, sliced)
    assert whole["t"].tolist() == literal_t(ws)


@pytest.mark.parametrize("typ", [0x1, 0x9, 0xB, 0xC, 0xD])
def test_reserved_type_raises_with_offset(tmp_path, typ):
    with pytest.raises(DecodeError) as info:
        read_evt3(write(tmp_path, HDR + words(t_high(1), addr_x(1, 1), typ << 12)))
    assert info.value.offset == len(HDR) + 4


@pytest.mark.parametrize(
    "ws, bad",
    [
        ([t_high(1), addr_y(0), addr_x(1280, 1)], 2),
        ([t_high(1), addr_y(720), addr_x(0, 1)], 2),
        ([t_high(1), addr_y(0), base_x(1270, 0), vect12(0b1), vect12(0b1)], 4),  # 1282
        ([t_high(1), addr_y(0), base_x(1275, 0), vect8(0b100000)], 3),  # 1280
    ],
)
def test_out_of_sensor_raises(tmp_path, ws, bad):
    with pytest.raises(DecodeError) as info:
        read_evt3(write(tmp_path, HDR + words(*ws)))
    assert info.value.offset == len(HDR) + 2 * bad


def test_trailing_odd_byte_raises(tmp_path):
    with pytest.raises(DecodeError) as info:
        read_evt3(write(tmp_path, HDR + words(t_high(1), addr_x(1, 1)) + b"\x01"))
    assert info.value.offset == len(HDR) + 4


def test_empty_payload(tmp_path):
    assert read_evt3(write(tmp_path, HDR)).shape == (0,)


def test_header_declaring_another_encoding_is_refused(tmp_path):
    with pytest.raises(DecodeError, match="evt2"):
        read_evt3(write(tmp_path, b"% evt 2.0\n" + words(t_high(1))))


def test_data_starting_with_percent_space_after_end_line(tmp_path):
    # 0x2025 little-endian is the bytes "% ": an EVT_ADDR_X word, not a header line, after "% end".
    data = b"% evt 3.0\n% end\n" + words(0x2025, t_high(1), 0x2025)
    ev = read_evt3(write(tmp_path, data))
    assert rows(ev) == [[4096, 0x25, 0, 0]]


def test_sniff_and_sensor(tmp_path):
    assert evt3.FORMAT.sniff(HDR)
    assert evt3.FORMAT.sniff(b"% evt 3.0 \n")
    assert not evt3.FORMAT.sniff(b"% evt 2.0\n")
    assert not evt3.FORMAT.sniff(b"\x00\x80")
    path = write(tmp_path, HDR + words(t_high(1)), "rec.bin")
    assert eventkit.guess_format(path) == "evt3"
    assert evt3.FORMAT.sensor(path) == eventkit.SensorSize(1280, 720, 2)


def test_matches_expelliarmus_golden_xyp_and_literal_t(tmp_path):
    """Golden: expelliarmus 1.1.12 wrote this EVT 3.0 file; x, y, p match its decode, t the literal walk."""
    case = json.loads(GOLDEN.read_text())["cases"]["evt3"]
    data = base64.b64decode(case["file_b64"])
    path = write(tmp_path, data)
    ev = eventkit.read_events(path)
    assert ev.shape == (case["event_count"],)
    xyp = hashlib.sha256(np.concatenate([ev[k].astype("<i8") for k in "xyp"]).tobytes()).hexdigest()
    assert xyp == case["sha256_xyp_int64"]
    end = evt3.parse_raw_header(data).data_start
    ws = np.frombuffer(data[end:], dtype="<u2").tolist()
    assert ev["t"].tolist() == literal_t(ws)
