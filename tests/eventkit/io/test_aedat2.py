"""AEDAT 2.0 (jAER) decoder: files built here byte by byte from the documented layout.

Records are packed with ``struct`` (big-endian address, timestamp), independently of the decoder.
Peer cross-check: ``tests/golden/aedat2_dvs128.aedat`` decoded by Tonic 1.7.0's raw word reader
(with jAER's DVS128 fields) and by SpikingJelly 2.0's CIFAR10-DVS reader; see
``tests/golden/make_aedat_goldens.py``. The DAVIS layout is checked against the real DAVIS240C
sample in ``test_samples.py`` (SpikingJelly, Tonic and dv agree on it).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import eventkit
from eventkit import DecodeError, EVENT_DTYPE, make_events
from eventkit.io import aedat2, guess_format
from eventkit.io.aedat2 import FORMAT, read_aedat2
from eventkit.io.aedat2_writer import write_aedat2
from tests.conftest import SAMPLES_DIR, rows, txyp_digest

GOLDEN = Path(__file__).resolve().parents[2] / "golden"

DVS128_CHIP = "ch.unizh.ini.jaer.chip.retina.DVS128"
DAVIS240_CHIP = "eu.seebetter.ini.chips.davis.DAVIS240C"


def header(chip: str | None = DVS128_CHIP, eol: bytes = b"\r\n") -> bytes:
    lines = [b"#!AER-DAT2.0", b"# This is a raw AE data file - do not edit", b"# Timestamps tick is 1 us"]
    if chip is not None:
        lines.append(b"# AEChip: " + chip.encode())
    return b"".join(ln + eol for ln in lines)


def recs(*pairs: tuple[int, int]) -> bytes:
    return b"".join(struct.pack(">II", a, t) for a, t in pairs)


def dvs(x: int, y: int, on: bool) -> int:
    """jAER DVS128 address: y bits 8..14, x bits 1..7, bit 0 = 0 for ON."""
    return (y << 8) | (x << 1) | (0 if on else 1)


def davis(x: int, y: int, on: bool) -> int:
    """jAER DAVIS address: y bits 22..30, x bits 12..21, polarity bit 11 (1 = ON)."""
    return (y << 22) | (x << 12) | (int(on) << 11)


def write(tmp_path: Path, data: bytes, name: str = "f.aedat") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------------------------------- layouts


def test_dvs128_fields_polarity_and_special_words(tmp_path):
    data = header() + recs(
        (dvs(3, 5, on=True), 10),
        (dvs(127, 0, on=False), 11),
        (0x8000 | dvs(1, 1, True), 12),  # external sync input: dropped
        (0x80000000 | dvs(2, 2, True), 13),  # special: dropped
        (dvs(0, 127, on=True), 14),
    )
    ev = read_aedat2(write(tmp_path, data))
    assert ev.dtype == EVENT_DTYPE
    # raw address fields (no x mirror); raw polarity bit 0 = ON in jAER's DVS128
    assert rows(ev) == [[10, 3, 5, 1], [11, 127, 0, 0], [14, 0, 127, 1]]


def test_davis_fields_drop_aps_imu_and_external(tmp_path):
    data = header(DAVIS240_CHIP) + recs(
        (davis(239, 179, True), 100),
        (0x80000000 | davis(5, 5, True), 101),  # APS sample
        (0x80000000 | 0xC00 | davis(1, 1, False), 102),  # IMU
        (0x400 | davis(7, 7, False), 103),  # external input event
        (davis(0, 0, False), 104),
    )
    ev = read_aedat2(write(tmp_path, data))
    assert rows(ev) == [[100, 239, 179, 1], [104, 0, 0, 0]]


@pytest.mark.parametrize(
    "chip,size",
    [
        ("eu.seebetter.ini.chips.davis.Davis346red", (346, 260)),
        ("eu.seebetter.ini.chips.davis.DAVIS346B", (346, 260)),
        ("eu.seebetter.ini.chips.davis.DAVIS240C", (240, 180)),
        ("eu.seebetter.ini.chips.davis.Davis640", (640, 480)),
        ("ch.unizh.ini.jaer.chip.retina.DVS128", (128, 128)),
        ("ch.unizh.ini.jaer.chip.retina.Tmpdiff128", (128, 128)),
    ],
)
def test_chip_table_sensor_and_bounds(tmp_path, chip, size):
    w, h = size
    layout = "dvs128" if size == (128, 128) and "davis" not in chip.lower() else "davis"
    enc = dvs if layout == "dvs128" else davis
    p = write(tmp_path, header(chip) + recs((enc(w - 1, h - 1, True), 1)))
    assert FORMAT.sensor(p) == (w, h, 2)
    assert rows(read_aedat2(p)) == [[1, w - 1, h - 1, 1]]
    if layout == "davis":
        bad = write(tmp_path, header(chip) + recs((enc(0, 0, True), 1), (enc(w, 0, True), 2)), "bad.aedat")
        with pytest.raises(DecodeError, match="outside") as ei:
            read_aedat2(bad)
        assert ei.value.offset == len(header(chip)) + 8
        bad = write(tmp_path, header(chip) + recs((enc(0, h, True), 1)), "bad2.aedat")
        with pytest.raises(DecodeError, match="outside"):
            read_aedat2(bad)


def test_no_chip_line_auto_detects_dvs128(tmp_path):
    p = write(tmp_path, header(None) + recs((dvs(100, 50, True), 1), (dvs(1, 2, False), 2)))
    assert rows(read_aedat2(p)) == [[1, 100, 50, 1], [2, 1, 2, 0]]
    assert FORMAT.sensor(p) is None


def test_no_chip_line_auto_detects_davis(tmp_path, monkeypatch):
    # the first chunk fits DVS128; a later one does not: the decoder must restart as DAVIS
    monkeypatch.setattr(aedat2, "CHUNK_BYTES", 16)
    words = [(davis(3, 0, True), 1), (davis(2, 0, False), 2), (davis(200, 150, True), 3), (0x400, 4)]
    p = write(tmp_path, header(None) + recs(*words))
    assert rows(read_aedat2(p)) == [[1, 3, 0, 1], [2, 2, 0, 0], [3, 200, 150, 1]]


def test_unknown_chip_falls_back_to_auto(tmp_path):
    p = write(tmp_path, header("org.example.SomeRetina") + recs((davis(300, 200, False), 9)))
    assert rows(read_aedat2(p)) == [[9, 300, 200, 0]]


def test_layout_override(tmp_path):
    data = header(DVS128_CHIP) + recs((davis(10, 20, True), 5))
    p = write(tmp_path, data)
    assert rows(read_aedat2(p, layout="davis")) == [[5, 10, 20, 1]]
    assert rows(read_aedat2(p, layout="DAVIS240C")) == [[5, 10, 20, 1]]
    q = write(tmp_path, header(DAVIS240_CHIP) + recs((dvs(7, 9, False), 6)), "q.aedat")
    assert rows(read_aedat2(q, layout="dvs128")) == [[6, 7, 9, 0]]
    with pytest.raises(ValueError, match="unknown AEDAT 2.0 layout"):
        read_aedat2(p, layout="nonsense")
    # 'davis' keeps the header's DAVIS sensor: x = 300 is outside a DAVIS240C
    r = write(tmp_path, header(DAVIS240_CHIP) + recs((davis(300, 1, True), 6)), "r.aedat")
    with pytest.raises(DecodeError):
        read_aedat2(r, layout="davis")


# ---------------------------------------------------------------------------------------- headers


def test_header_only_and_empty_payload(tmp_path):
    p = write(tmp_path, header())
    ev = read_aedat2(p)
    assert ev.dtype == EVENT_DTYPE and ev.shape == (0,)


def test_header_cut_mid_line_is_all_header(tmp_path):
    p = write(tmp_path, header() + b"#<preferences EXTERNAL_XML_VERS")
    assert read_aedat2(p).shape == (0,)


def test_lf_line_ends(tmp_path):
    p = write(tmp_path, header(eol=b"\n") + recs((dvs(1, 2, True), 3)))
    assert rows(read_aedat2(p)) == [[3, 1, 2, 1]]


def test_first_record_starting_with_hash_byte_is_not_header(tmp_path):
    # a DAVIS address whose top byte is 0x23 ('#'): y = 140, followed by binary bytes
    a = davis(17, 140, True)
    assert a >> 24 == 0x23
    p = write(tmp_path, header(DAVIS240_CHIP) + recs((a, 0x0000000A), (davis(1, 1, False), 0x0000000B)))
    assert rows(read_aedat2(p)) == [[10, 17, 140, 1], [11, 1, 1, 0]]


def test_not_aedat2(tmp_path):
    p = write(tmp_path, b"#!AER-DAT3.1\r\n#!END-HEADER\r\n")
    with pytest.raises(DecodeError, match="not an AEDAT 2.0") as ei:
        read_aedat2(p)
    assert ei.value.offset == 0
    with pytest.raises(DecodeError):
        read_aedat2(write(tmp_path, b"", "empty.aedat"))


@pytest.mark.parametrize("extra", [1, 4, 7])
def test_trailing_partial_record(tmp_path, extra):
    h = header()
    p = write(tmp_path, h + recs((dvs(1, 1, True), 1), (dvs(2, 2, True), 2)) + b"\x00" * extra)
    with pytest.raises(DecodeError, match="truncated") as ei:
        read_aedat2(p)
    assert ei.value.offset == len(h) + 16


# ---------------------------------------------------------------------------------------- time


def test_wrap_31_bit(tmp_path):
    top = (1 << 31) - 5
    p = write(tmp_path, header(DAVIS240_CHIP) + recs(
        (davis(1, 1, True), top), (davis(1, 1, True), 3), (davis(1, 1, True), top), (davis(1, 1, True), 2)))
    assert read_aedat2(p)["t"].tolist() == [top, (1 << 31) + 3, (1 << 31) + top, (1 << 32) + 2]


def test_wrap_32_bit(tmp_path):
    p = write(tmp_path, header() + recs(
        (dvs(1, 1, True), (1 << 31) + 7), (dvs(1, 1, True), (1 << 32) - 1), (dvs(1, 1, True), 4)))
    assert read_aedat2(p)["t"].tolist() == [(1 << 31) + 7, (1 << 32) - 1, (1 << 32) + 4]


def test_small_decrease_is_not_a_wrap(tmp_path):
    p = write(tmp_path, header() + recs((dvs(1, 1, True), 5000), (dvs(1, 1, True), 4000), (dvs(1, 1, True), 6000)))
    assert read_aedat2(p)["t"].tolist() == [5000, 4000, 6000]


def test_dropped_words_do_not_count_for_wraps(tmp_path):
    # an APS word with a wild timestamp between two DVS events changes nothing
    p = write(tmp_path, header(DAVIS240_CHIP) + recs(
        (davis(1, 1, True), 100), (0x80000000, 0x7FFFFFF0), (davis(1, 1, True), 200)))
    assert read_aedat2(p)["t"].tolist() == [100, 200]


# ---------------------------------------------------------------------------------------- chunks, API


def test_chunked_decode_equals_whole(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    n = 1000
    addr = [davis(int(x), int(y), bool(q)) for x, y, q in
            zip(rng.integers(0, 240, n), rng.integers(0, 180, n), rng.integers(0, 2, n))]
    t = np.cumsum(rng.integers(0, 50, n))
    p = write(tmp_path, header(DAVIS240_CHIP) + recs(*zip(addr, t.tolist())))
    whole = read_aedat2(p)
    monkeypatch.setattr(aedat2, "CHUNK_BYTES", 8 * 7)
    assert np.array_equal(read_aedat2(p), whole)
    assert whole.shape == (n,) and whole["t"].tolist() == t.tolist()


def test_sniff_and_read_events(tmp_path):
    p = write(tmp_path, header() + recs((dvs(1, 2, True), 3)), "x.aedat")
    assert guess_format(p) == "aedat2"
    assert rows(eventkit.read_events(p)) == [[3, 1, 2, 1]]
    assert FORMAT.name == "aedat2" and FORMAT.title == "AEDAT 2.0 (jAER)"
    assert FORMAT.sniff(b"#!AER-DAT2.0\r\n") and not FORMAT.sniff(b"#!AER-DAT3.1\r\n")


# ---------------------------------------------------------------------------------------- writer


@pytest.mark.parametrize("layout,size", [("dvs128", (128, 128)), ("davis", (240, 180))])
def test_writer_round_trip_with_wraps(tmp_path, layout, size):
    rng = np.random.default_rng(7)
    n = 5000
    t = np.cumsum(rng.integers(0, 3_000_000, n)) + (1 << 31) - 10**9  # crosses 2**31 and 2**32
    ev = make_events(t, rng.integers(0, size[0], n), rng.integers(0, size[1], n), rng.integers(0, 2, n))
    p = tmp_path / "rt.aedat"
    write_aedat2(p, ev, layout)
    assert np.array_equal(read_aedat2(p), ev)
    assert FORMAT.sensor(p) == (*size, 2)


def test_writer_empty_and_bounds(tmp_path):
    p = tmp_path / "e.aedat"
    write_aedat2(p, make_events([], [], [], []))
    assert read_aedat2(p).shape == (0,)
    with pytest.raises(eventkit.EventFormatError):
        write_aedat2(p, make_events([1], [128], [0], [1]), "dvs128")
    with pytest.raises(ValueError):
        write_aedat2(p, make_events([1], [1], [0], [1]), "davis", chip=DVS128_CHIP)


# ---------------------------------------------------------------------------------------- peers


def test_golden_dvs128_matches_tonic_and_spikingjelly():
    gold = json.loads((GOLDEN / "aedat_goldens.json").read_text())["aedat2_dvs128.aedat"]
    ev = read_aedat2(GOLDEN / "aedat2_dvs128.aedat")
    for peer in gold["decoders"]:
        assert ev.shape == (peer["event_count"],), peer["peer"]
        assert rows(ev[:5]) == peer["first_5_txyp"], peer["peer"]
        assert txyp_digest(ev) == peer["sha256_txyp_int64"], peer["peer"]


def test_real_samples_sensor():
    p = SAMPLES_DIR / "aedat2_davis240c_IMU_translBoxes.aedat"
    if not p.exists():
        pytest.skip("shared samples not present")
    assert FORMAT.sensor(p) == (240, 180, 2)
    assert FORMAT.sensor(SAMPLES_DIR / "aedat2_davis346red_header_only_tonic.aedat") == (346, 260, 2)
