"""Prophesee EVT 2.0 decoder: word streams packed here from the published EVT 2.0 layout.

Golden peer: expelliarmus 1.1.12 (an EVT 2.0 file it wrote and its decode, in
tests/golden/prophesee_expelliarmus.json, made by tests/golden/make_prophesee_goldens.py).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

import eventkit
from eventkit.errors import DecodeError
from eventkit.io import evt2
from eventkit.io.evt2 import read_evt2
from tests.conftest import txyp_digest

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "prophesee_expelliarmus.json"
HDR = b"% date 2024-01-01 00:00:00\n% evt 2.0\n% geometry 640x480\n% end\n"


def cd(p, tlow, x, y):
    return (p << 28) | (tlow << 22) | (x << 11) | y


def th(v):
    return (0x8 << 28) | v


def words(*ws) -> bytes:
    return np.array(ws, dtype="<u4").tobytes()


def write(tmp_path, data: bytes, name: str = "rec.raw"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rows(ev):
    return [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev]


def test_cd_events_and_time_high(tmp_path):
    data = HDR + words(th(5), cd(1, 3, 639, 479), cd(0, 63, 0, 0), th(6), cd(1, 0, 10, 20))
    ev = read_evt2(write(tmp_path, data))
    assert rows(ev) == [[(5 << 6) | 3, 639, 479, 1], [(5 << 6) | 63, 0, 0, 0], [6 << 6, 10, 20, 1]]


def test_trigger_others_continued_skipped_and_events_before_time_high_dropped(tmp_path):
    data = HDR + words(cd(1, 1, 1, 1), (0xA << 28) | (5 << 22) | 1, th(2), (0xE << 28) | 7, (0xF << 28) | 9, cd(0, 4, 2, 3))
    assert rows(read_evt2(write(tmp_path, data))) == [[(2 << 6) | 4, 2, 3, 0]]


def test_time_high_wrap_adds_2_pow_34(tmp_path):
    data = HDR + words(th(0x0FFFFFFF), cd(1, 1, 1, 1), th(0), cd(0, 2, 2, 2))
    assert read_evt2(write(tmp_path, data))["t"].tolist() == [(0x0FFFFFFF << 6) | 1, (1 << 34) | 2]


def test_state_carries_across_slices(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    ws, expect = [], []
    for high in range(1, 60):
        ws.append(th(high))
        for _ in range(int(rng.integers(0, 5))):
            lo, x, y, p = (int(v) for v in (rng.integers(0, 64), rng.integers(0, 640), rng.integers(0, 480), rng.integers(0, 2)))
            ws.append(cd(p, lo, x, y))
            expect.append([(high << 6) | lo, x, y, p])
    path = write(tmp_path, HDR + words(*ws))
    monkeypatch.setattr(evt2, "CHUNK_BYTES", 4 * 3)
    assert rows(read_evt2(path)) == expect


@pytest.mark.parametrize("typ", [0x2, 0x3, 0x7, 0x9, 0xB, 0xC, 0xD])
def test_reserved_type_raises_with_offset(tmp_path, typ):
    with pytest.raises(DecodeError) as info:
        read_evt2(write(tmp_path, HDR + words(th(1), cd(1, 0, 1, 1), typ << 28)))
    assert info.value.offset == len(HDR) + 8


@pytest.mark.parametrize("x, y", [(640, 0), (0, 480), (2047, 2047)])
def test_out_of_sensor_raises(tmp_path, x, y):
    with pytest.raises(DecodeError) as info:
        read_evt2(write(tmp_path, HDR + words(th(1), cd(1, 0, x, y))))
    assert info.value.offset == len(HDR) + 4


def test_without_geometry_bound_is_11_bits(tmp_path):
    data = b"% evt 2.0\n" + words(th(1), cd(1, 0, 2047, 2047))
    path = write(tmp_path, data)
    assert evt2.FORMAT.sensor(path) is None
    assert rows(read_evt2(path)) == [[64, 2047, 2047, 1]]


@pytest.mark.parametrize("extra", [1, 2, 3])
def test_trailing_partial_word_raises(tmp_path, extra):
    with pytest.raises(DecodeError) as info:
        read_evt2(write(tmp_path, HDR + words(th(1), cd(1, 0, 1, 1)) + b"\x00" * extra))
    assert info.value.offset == len(HDR) + 8


def test_empty_payload(tmp_path):
    assert read_evt2(write(tmp_path, HDR)).shape == (0,)


def test_header_declaring_another_encoding_is_refused(tmp_path):
    with pytest.raises(DecodeError, match="evt3"):
        read_evt2(write(tmp_path, b"% evt 3.0\n" + words(th(1))))


@pytest.mark.parametrize(
    "head, size",
    [
        (b"% geometry 1280x720\n", (1280, 720)),
        (b"% format EVT2;height=320;width=320\n", (320, 320)),
        (b"% plugin_name hal_plugin_gen3_fx3\n", (640, 480)),
        (b"% plugin_name hal_plugin_gen41_evk3\n", (1280, 720)),
        (b"% Width 304\n% Height 240\n", (304, 240)),
    ],
)
def test_sensor_from_header(tmp_path, head, size):
    path = write(tmp_path, b"% evt 2.0\n" + head + words(th(1)))
    assert evt2.FORMAT.sensor(path) == eventkit.SensorSize(*size, 2)


def test_sniff_decides_by_header_not_suffix(tmp_path):
    assert evt2.FORMAT.sniff(b"% evt 2.0\n" + b"\x00" * 8)
    assert evt2.FORMAT.sniff(b"% format EVT2;height=480;width=640\n")
    assert not evt2.FORMAT.sniff(b"% evt 3.0\n")
    assert not evt2.FORMAT.sniff(b"% evt 2.1\n")
    assert not evt2.FORMAT.sniff(b"% Version 2\n\x00\x08")
    assert evt2.FORMAT.suffixes == ()
    path = write(tmp_path, HDR + words(th(1), cd(1, 1, 1, 1)), "rec.anything")
    assert eventkit.guess_format(path) == "evt2"


def test_matches_expelliarmus_golden(tmp_path):
    """Golden: an EVT 2.0 file written by expelliarmus 1.1.12 decodes exactly as expelliarmus reads it."""
    case = json.loads(GOLDEN.read_text())["cases"]["evt2"]
    path = write(tmp_path, base64.b64decode(case["file_b64"]))
    ev = eventkit.read_events(path)
    assert ev.shape == (case["event_count"],)
    assert txyp_digest(ev) == case["sha256_txyp_int64"]
