"""AEDAT 4.0 decoder: files built from the documented layout, dv-processing goldens, corruption.

The files in the first group are written by the small FlatBuffer / AEDAT 4.0 builder below, which
follows the published schemas (IOHeader, FileDataTable, EventPacket) and shares no code with the
decoder. It lays objects out "forward" (every referenced object after its reference, vtables
before their tables), unlike flatc's back-to-front builder, so the decoder is also checked against
a legal layout that DV itself never produces.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import lz4.frame
import numpy as np
import pytest
import zstandard

import eventkit
from eventkit.errors import DecodeError
from eventkit.io import FORMATS, guess_format
from eventkit.io.aedat4 import aedat4_streams, read_aedat4
from tests.conftest import txyp_digest

GOLDEN = Path(__file__).resolve().parents[2] / "golden"

NONE, LZ4, LZ4_HIGH, ZSTD, ZSTD_HIGH = range(5)

# --------------------------------------------------------------------------------------------
# A tiny FlatBuffer builder (forward layout)
# --------------------------------------------------------------------------------------------


class _Builder:
    """Writes tables whose fields are ``None`` (absent), scalars/structs ``(fmt, value)`` or
    references ``("ref", emit)`` where ``emit(builder) -> position`` writes the referenced object."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def pad(self, align: int, extra: int = 0) -> None:
        while (len(self.buf) + extra) % align:
            self.buf.append(0)

    def patch_ref(self, at: int, target: int) -> None:
        struct.pack_into("<I", self.buf, at, target - at)

    def table(self, fields: list) -> int:
        # inline layout: soffset, then each field at its natural alignment
        layout, pos = [], 4
        for f in fields:
            if f is None:
                layout.append(0)
                continue
            if f[0] == "struct":  # PacketHeader-like struct of int32s
                size, align = len(f[1]), 4
            else:
                size = struct.calcsize("<I" if f[0] == "ref" else f[0])
                align = size
            while pos % align:
                pos += 1
            layout.append(pos)
            pos += size
        self.pad(2)
        vt = len(self.buf)
        self.buf += struct.pack(f"<HH{len(fields)}H", 4 + 2 * len(fields), pos, *layout)
        self.pad(8)
        table = len(self.buf)
        self.buf += bytes(pos)
        struct.pack_into("<i", self.buf, table, table - vt)
        refs = []
        for f, off in zip(fields, layout):
            if f is None:
                continue
            if f[0] == "ref":
                refs.append((table + off, f[1]))
            elif f[0] == "struct":
                self.buf[table + off : table + off + len(f[1])] = f[1]
            else:
                struct.pack_into(f[0], self.buf, table + off, f[1])
        for at, emit in refs:
            self.patch_ref(at, emit(self))
        return table

    def vector(self, count: int, data: bytes) -> int:
        self.pad(8, extra=4)  # elements 8-aligned
        pos = len(self.buf)
        self.buf += struct.pack("<I", count) + data
        return pos

    def string(self, s: bytes) -> int:
        self.pad(4)
        pos = len(self.buf)
        self.buf += struct.pack("<I", len(s)) + s + b"\0"
        return pos

    def table_vector(self, tables: list[list]) -> int:
        self.pad(4)
        pos = len(self.buf)
        self.buf += struct.pack("<I", len(tables)) + bytes(4 * len(tables))
        for i, fields in enumerate(tables):
            self.patch_ref(pos + 4 + 4 * i, self.table(fields))
        return pos


def flatbuffer(fields: list, ident: bytes = b"", size_prefixed: bool = True) -> bytes:
    b = _Builder()
    b.buf += bytes(4) + ident
    b.patch_ref(0, b.table(fields))
    out = bytes(b.buf)
    return struct.pack("<I", len(out)) + out if size_prefixed else out


def event_structs(t, x, y, p) -> bytes:
    rec = np.zeros(len(t), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1"), ("pad", "V3")])
    rec["t"], rec["x"], rec["y"], rec["p"] = t, x, y, p
    return rec.tobytes()


def event_packet(t, x, y, p, *, omit_vector: bool = False) -> bytes:
    if omit_vector:
        return flatbuffer([None], b"EVTS")
    data = event_structs(t, x, y, p)
    return flatbuffer([("ref", lambda b: b.vector(len(t), data))], b"EVTS")


def imu_packet(n: int) -> bytes:
    # IMU structs are opaque to the events decoder: any bytes will do, tagged IMUS
    return flatbuffer([("ref", lambda b: b.vector(n, bytes(range(48)) * n))], b"IMUS")


def info_xml(streams: dict[int, tuple[str, tuple[int, int] | None]]) -> bytes:
    parts = ['<dv version="2.0">\n<node name="outInfo" path="/outInfo/">']
    for sid, (ident, size) in streams.items():
        parts.append(f'<node name="{sid}" path="/outInfo/{sid}/">')
        parts.append(f'<attr key="typeIdentifier" type="string">{ident}</attr>')
        if size is not None:
            parts.append(f'<node name="info" path="/outInfo/{sid}/info/">')
            parts.append(f'<attr key="sizeX" type="int">{size[0]}</attr><attr key="sizeY" type="int">{size[1]}</attr>')
            parts.append("</node>")
        parts.append("</node>")
    parts.append("</node>\n</dv>\n")
    return "\n".join(parts).encode()


# DV's writers leave the decompressed size out of LZ4 frames; LZ4_HIGH / ZSTD_HIGH files here
# store it (and ZSTD leaves it out), so both frame-header variants are covered.
def compress(data: bytes, compression: int) -> bytes:
    if compression in (LZ4, LZ4_HIGH):
        high = compression == LZ4_HIGH
        return lz4.frame.compress(data, compression_level=9 if high else 0, store_size=high)
    if compression in (ZSTD, ZSTD_HIGH):
        high = compression == ZSTD_HIGH
        return zstandard.ZstdCompressor(level=19 if high else 3, write_content_size=high).compress(data)
    return data


def aedat4_bytes(
    packets: list[tuple[int, bytes]],
    streams: dict[int, tuple[str, tuple[int, int] | None]],
    compression: int = LZ4,
    *,
    table: bool = True,
    table_counts: dict[int, int] | None = None,
) -> bytes:
    """A complete AEDAT 4.0 file: version line, IOHeader, packets, optional FileDataTable."""
    xml = info_xml(streams)

    def header(table_pos: int) -> bytes:
        return flatbuffer(
            [("<i", compression), ("<q", table_pos), ("ref", lambda b: b.string(xml))],
            b"IOHE",
            size_prefixed=False,
        )

    head_len = 14 + 4 + len(header(0))
    body = bytearray()
    entries = []
    for sid, payload in packets:
        comp = compress(payload, compression)
        entries.append((head_len + len(body), sid, len(comp), payload))
        body += struct.pack("<ii", sid, len(comp)) + comp
    table_pos = head_len + len(body) if table else -1
    tail = b""
    if table:
        defs = []
        for off, sid, size, payload in entries:
            # the element count is not knowable from the opaque payload; events are 16 bytes
            n = (table_counts or {}).get(sid, len(payload) // 16)
            defs.append([("<q", off), ("struct", struct.pack("<ii", sid, size)), ("<q", n), ("<q", 0), ("<q", 0)])
        ftab = flatbuffer([("ref", lambda b: b.table_vector(defs))], b"FTAB")
        tail = compress(ftab, compression)
    hdr = header(table_pos)
    assert len(hdr) == head_len - 18
    return b"#!AER-DAT4.0\r\n" + struct.pack("<i", len(hdr)) + hdr + bytes(body) + tail


def make_events(n: int, w: int, h: int, seed: int, t0: int = 1_600_000_000_000_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=eventkit.EVENT_DTYPE)
    ev["t"] = t0 + np.cumsum(rng.integers(0, 50, n))
    ev["x"] = rng.integers(0, w, n)
    ev["y"] = rng.integers(0, h, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def packets_of(ev: np.ndarray, sizes: list[int], sid: int = 0) -> list[tuple[int, bytes]]:
    out, i = [], 0
    for k in sizes:
        part = ev[i : i + k]
        out.append((sid, event_packet(part["t"], part["x"], part["y"], part["p"])))
        i += k
    assert i == len(ev)
    return out


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == eventkit.EVENT_DTYPE and a.shape == b.shape and all((a[k] == b[k]).all() for k in "txyp")


STREAMS = {0: ("EVTS", (64, 48)), 1: ("IMUS", None), 2: ("TRIG", None)}


def mixed_file(compression: int = LZ4, *, table: bool = True, seed: int = 0, **kw) -> tuple[bytes, np.ndarray]:
    """Events in packets of 100, 0 (empty), 37, 250 and a packet without the vector field,
    interleaved with IMU and trigger packets."""
    ev = make_events(387, 64, 48, seed)
    evp = packets_of(ev, [100, 0, 37, 250])
    packets = [
        (1, imu_packet(3)),
        evp[0],
        (2, flatbuffer([("ref", lambda b: b.vector(2, bytes(32)))], b"TRIG")),
        evp[1],
        (1, imu_packet(5)),
        evp[2],
        (0, event_packet([], [], [], [], omit_vector=True)),
        evp[3],
        (1, imu_packet(1)),
    ]
    return aedat4_bytes(packets, STREAMS, compression, table=table, **kw), ev


def write(tmp_path: Path, data: bytes, name: str = "rec.aedat4") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------
# (1) files built from the documented layout
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [NONE, LZ4, LZ4_HIGH, ZSTD, ZSTD_HIGH])
@pytest.mark.parametrize("table", [True, False])
def test_built_file_decodes_exactly(tmp_path: Path, compression: int, table: bool) -> None:
    data, ev = mixed_file(compression, table=table)
    path = write(tmp_path, data)
    assert same(read_aedat4(path), ev)
    assert same(eventkit.read_events(path), ev)


def test_registry_sniff_and_sensor(tmp_path: Path) -> None:
    data, _ = mixed_file()
    path = write(tmp_path, data, "no_suffix.bin")
    assert guess_format(path) == "aedat4"
    fmt = FORMATS["aedat4"]
    assert fmt.title == "AEDAT 4.0 (DV)" and ".aedat4" in fmt.suffixes
    assert fmt.sensor(path) == eventkit.SensorSize(64, 48, 2)
    assert FORMATS["aedat4"].sensor(path) == (64, 48, 2)
    assert {k: s.type for k, s in aedat4_streams(path).items()} == {0: "EVTS", 1: "IMUS", 2: "TRIG"}
    assert not fmt.sniff(b"#!AER-DAT3.1\r\n")


def test_lowest_id_events_stream_and_explicit_stream(tmp_path: Path) -> None:
    a = make_events(50, 32, 32, 1)
    b = make_events(70, 16, 16, 2)
    streams = {5: ("EVTS", (16, 16)), 3: ("EVTS", (32, 32)), 4: ("IMUS", None)}
    packets = packets_of(b, [30, 40], sid=5) + packets_of(a, [50], sid=3) + [(4, imu_packet(2))]
    path = write(tmp_path, aedat4_bytes(packets, streams, ZSTD))
    assert same(read_aedat4(path), a)
    assert same(read_aedat4(path, stream=5), b)
    assert FORMATS["aedat4"].sensor(path) == (32, 32, 2)
    with pytest.raises(ValueError, match="not an events stream"):
        read_aedat4(path, stream=4)


def test_no_events_at_all(tmp_path: Path) -> None:
    empty = aedat4_bytes([], {0: ("EVTS", (8, 8))}, LZ4)
    out = read_aedat4(write(tmp_path, empty))
    assert out.dtype == eventkit.EVENT_DTYPE and out.shape == (0,)
    only_imu = aedat4_bytes([(0, imu_packet(2))], {0: ("IMUS", None)}, LZ4)
    with pytest.raises(DecodeError, match="no events stream"):
        read_aedat4(write(tmp_path, only_imu, "imu.aedat4"))


@pytest.mark.parametrize("counts", [{0: 1}, {0: 0}, {0: 10**15}, {0: -5}])
def test_lying_data_table_only_affects_sizing(tmp_path: Path, counts: dict[int, int]) -> None:
    data, ev = mixed_file(LZ4, table_counts=counts)
    assert same(read_aedat4(write(tmp_path, data)), ev)


def test_garbage_data_table_is_ignored(tmp_path: Path) -> None:
    data, ev = mixed_file(NONE)
    # replace the (uncompressed) table's bytes by noise of the same length
    table_pos = table_position(data)
    noisy = data[:table_pos] + bytes(np.random.default_rng(0).integers(0, 256, len(data) - table_pos, dtype=np.uint8))
    assert same(read_aedat4(write(tmp_path, noisy, "noisy.aedat4")), ev)


def test_many_packets_grow_the_output(tmp_path: Path) -> None:
    ev = make_events(20_000, 640, 480, 3)
    packets = packets_of(ev, [1000] * 20)
    path = write(tmp_path, aedat4_bytes(packets, {0: ("EVTS", (640, 480))}, LZ4, table=False))
    assert same(read_aedat4(path), ev)


# --------------------------------------------------------------------------------------------
# (2) golden files written by dv-processing (an independent writer)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["aedat4_zstd_dvproc", "aedat4_lz4_dvproc"])
def test_dv_processing_goldens(name: str) -> None:
    """Fixtures written by dv-processing 2.0.4 (tests/golden/make_aedat4_goldens.py); expected
    digest from the ``aedat`` 2.3.0 Rust decoder, cross-checked with dv-processing's reader."""
    exp = json.loads((GOLDEN / f"{name}.json").read_text())
    path = GOLDEN / f"{name}.aedat4"
    ev = eventkit.read_events(path)
    assert ev.shape == (exp["event_count"],)
    assert [[int(v) for v in e] for e in ev[:3].tolist()] == exp["first_3_events_txyp"]
    assert [[int(v) for v in e] for e in ev[-3:].tolist()] == exp["last_3_events_txyp"]
    assert txyp_digest(ev) == exp["sha256_txyp_int64"]
    w, h = exp["sensor_size_wh"]
    assert FORMATS["aedat4"].sensor(path) == (w, h, 2)
    eventkit.validate_events(ev, (w, h, 2))


# --------------------------------------------------------------------------------------------
# (3) corruption: DecodeError(path, reason, offset), never another exception or a hang
# --------------------------------------------------------------------------------------------


def table_position(data: bytes) -> int:
    """IOHeader.dataTablePosition of a file made by :func:`aedat4_bytes` (field 1 always present)."""
    root = 18 + struct.unpack_from("<I", data, 18)[0]
    vt = root - struct.unpack_from("<i", data, root)[0]
    return struct.unpack_from("<q", data, root + struct.unpack_from("<H", data, vt + 6)[0])[0]


def packet_offsets(data: bytes) -> list[int]:
    """Packet header offsets of a file made by :func:`aedat4_bytes` (walks the documented layout)."""
    off, out = 18 + struct.unpack_from("<i", data, 14)[0], []
    table_pos = table_position(data)
    end = table_pos if table_pos >= 0 else len(data)
    while off < end:
        out.append(off)
        off += 8 + struct.unpack_from("<i", data, off + 4)[0]
    return out


def expect_decode_error(
    tmp_path: Path, data: bytes, match: str | None = None, offset: int | None = None
) -> DecodeError:
    path = write(tmp_path, data, "bad.aedat4")
    with pytest.raises(DecodeError, match=match) as info:
        read_aedat4(path)
    err = info.value
    assert err.path == str(path) and err.reason and err.offset is not None
    if offset is not None:
        assert err.offset == offset
    return err


def test_every_truncation(tmp_path: Path) -> None:
    data, ev = mixed_file(LZ4, table=False)
    bounds = set(packet_offsets(data)) | {len(data)}
    path = tmp_path / "cut.aedat4"
    # every cut in the version line / header size and around each packet boundary, a sparse
    # sweep elsewhere (each cut is a file write, which dominates the test's time)
    cuts = set(range(0, 24)) | set(range(0, len(data), 29))
    cuts |= {b + d for b in bounds for d in (-9, -8, -7, -1, 1, 4, 7, 8, 9, 12) if 0 <= b + d < len(data)}
    for cut in sorted(cuts):
        path.write_bytes(data[:cut])
        try:
            out = read_aedat4(path)
        except DecodeError as e:
            assert e.offset is not None and 0 <= e.offset <= cut
            continue
        # only a cut exactly between two packets is a valid (shorter) recording
        assert cut in bounds, cut
        assert same(out, ev[: len(out)])


def test_truncated_file_with_data_table(tmp_path: Path) -> None:
    data, ev = mixed_file(ZSTD)
    # cut inside the packets: the header's data-table position now lies past the end
    expect_decode_error(tmp_path, data[: packet_offsets(data)[3] + 5], "data table")
    # cut inside the data table only: every event is intact, the index only sized the output
    assert same(read_aedat4(write(tmp_path, data[:-10])), ev)


def test_truncated_last_packet(tmp_path: Path) -> None:
    data, _ = mixed_file(LZ4, table=False)
    last = packet_offsets(data)[-1]
    expect_decode_error(tmp_path, data[:-3], "truncated", offset=last)


@pytest.mark.parametrize("compression", [LZ4, ZSTD])
def test_bad_compressed_payload(tmp_path: Path, compression: int) -> None:
    data, _ = mixed_file(compression)
    off = packet_offsets(data)[1]  # the first events packet
    bad = bytearray(data)
    size = struct.unpack_from("<i", bad, off + 4)[0]
    bad[off + 8 : off + 8 + size] = bytes(range(7, 7 + size)) if size < 249 else bytes(i % 251 for i in range(size))
    expect_decode_error(tmp_path, bytes(bad), "decompress", offset=off)


@pytest.mark.parametrize("size", [-1, -(2**31), 2**31 - 1, 10**6])
def test_lying_packet_size(tmp_path: Path, size: int) -> None:
    for table in (True, False):
        data, _ = mixed_file(LZ4, table=table)
        off = packet_offsets(data)[2]
        bad = bytearray(data)
        struct.pack_into("<i", bad, off + 4, size)
        expect_decode_error(tmp_path, bytes(bad), "payload bytes", offset=off)


def test_packet_size_too_small_breaks_the_chain(tmp_path: Path) -> None:
    data, _ = mixed_file(LZ4)
    off = packet_offsets(data)[1]
    bad = bytearray(data)
    struct.pack_into("<i", bad, off + 4, struct.unpack_from("<i", bad, off + 4)[0] - 9)
    expect_decode_error(tmp_path, bytes(bad))


def rebuilt(packet: bytes, compression: int = NONE) -> bytes:
    return aedat4_bytes([(0, packet)], {0: ("EVTS", (64, 48))}, compression)


def test_bad_flatbuffer_offsets(tmp_path: Path) -> None:
    good = event_packet([5, 6], [1, 2], [3, 4], [0, 1])
    expected = np.array([(5, 1, 3, 0), (6, 2, 4, 1)], eventkit.EVENT_DTYPE)
    assert same(read_aedat4(write(tmp_path, rebuilt(good))), expected)
    off = packet_offsets(rebuilt(good))[0]
    cases = []
    # root offset far outside the buffer
    b = bytearray(good)
    struct.pack_into("<I", b, 4, 1 << 30)
    cases.append(b)
    # vtable soffset pointing before the buffer
    root = 4 + struct.unpack_from("<I", good, 4)[0]
    b = bytearray(good)
    struct.pack_into("<i", b, root, 1 << 20)
    cases.append(b)
    # vtable size larger than the buffer
    vt = root - struct.unpack_from("<i", good, root)[0]
    b = bytearray(good)
    struct.pack_into("<H", b, vt, 60000)
    cases.append(b)
    # field offset beyond the buffer
    b = bytearray(good)
    struct.pack_into("<H", b, vt + 4, 60000)
    cases.append(b)
    # vector offset beyond the buffer
    field = root + struct.unpack_from("<H", good, vt + 4)[0]
    b = bytearray(good)
    struct.pack_into("<I", b, field, 1 << 28)
    cases.append(b)
    # vector length larger than the buffer
    vec = field + struct.unpack_from("<I", good, field)[0]
    b = bytearray(good)
    struct.pack_into("<I", b, vec, 1 << 26)
    cases.append(b)
    # size prefix and identifier both wrong
    b = bytearray(good)
    struct.pack_into("<I", b, 0, 3)
    b[8:12] = b"\0\0\0\0"
    cases.append(b)
    # a packet that is not an event packet
    cases.append(imu_packet(1))
    # empty and tiny payloads
    cases += [b"", b"\x01"]
    for case in cases:
        expect_decode_error(tmp_path, rebuilt(bytes(case)), offset=off)
        expect_decode_error(tmp_path, rebuilt(bytes(case), LZ4), offset=off)


@pytest.mark.parametrize(
    ("x", "y", "p", "match"),
    [
        (64, 0, 0, "outside"),
        (0, 48, 1, "outside"),
        (-1, 0, 0, "outside"),
        (0, -32768, 0, "outside"),
        (1, 1, 2, "polarity"),
    ],
)
def test_events_outside_declared_sensor(tmp_path: Path, x: int, y: int, p: int, match: str) -> None:
    ok = make_events(10, 64, 48, 4)
    pk = packets_of(ok, [10])
    bad = event_packet([1, 2, 3], [0, x, 0], [0, y, 0], [0, p, 0])
    data = aedat4_bytes(pk + [(1, imu_packet(1)), (0, bad)], STREAMS, ZSTD)
    err = expect_decode_error(tmp_path, data, match, offset=packet_offsets(data)[2])
    assert "event 1" in err.reason


def header_variant(
    compression: int = LZ4,
    table_pos: int = -1,
    xml: bytes | None = None,
    size: int | None = None,
    magic: bytes = b"#!AER-DAT4.0\r\n",
) -> bytes:
    """A one-packet file whose header fields can each be set to a bad value."""
    xml = info_xml({0: ("EVTS", (8, 8))}) if xml is None else xml
    fields = [("<i", compression), ("<q", table_pos), ("ref", lambda b: b.string(xml))]
    hdr = flatbuffer(fields, b"IOHE", size_prefixed=False)
    ev = event_packet([1], [1], [1], [1])
    body = struct.pack("<ii", 0, len(compress(ev, LZ4))) + compress(ev, LZ4)
    return magic + struct.pack("<i", len(hdr) if size is None else size) + hdr + body


def test_header_corruption(tmp_path: Path) -> None:
    assert len(read_aedat4(write(tmp_path, header_variant()))) == 1
    expect_decode_error(tmp_path, header_variant(compression=7), "compression")
    expect_decode_error(tmp_path, header_variant(compression=-1), "compression")
    expect_decode_error(tmp_path, header_variant(table_pos=10**9), "data table")
    expect_decode_error(tmp_path, header_variant(table_pos=20), "data table")
    expect_decode_error(tmp_path, header_variant(size=-4), "header size")
    expect_decode_error(tmp_path, header_variant(size=10**8), "header size")
    expect_decode_error(tmp_path, header_variant(xml=b"<dv><node"), "XML")
    expect_decode_error(tmp_path, header_variant(xml=info_xml({0: ("EVTS", (0, 8))})), "sensor size")
    expect_decode_error(tmp_path, header_variant(magic=b"#!AER-DAT4.0\n\n"), "version line")
    expect_decode_error(tmp_path, b"#!AER-DAT4.0\r\n\x10", "header")
    data = bytearray(header_variant())
    struct.pack_into("<I", data, 18, 1 << 20)  # IOHeader root offset
    expect_decode_error(tmp_path, bytes(data), "IOHeader")
    with pytest.raises(DecodeError):
        FORMATS["aedat4"].sensor(write(tmp_path, header_variant(compression=9), "hdr.aedat4"))


@pytest.mark.parametrize("compression", [NONE, LZ4, ZSTD])
def test_random_byte_flips_raise_only_decode_error(tmp_path: Path, compression: int) -> None:
    data, ev = mixed_file(compression, table=compression != NONE)
    rng = np.random.default_rng(compression)
    path = tmp_path / "flip.aedat4"
    for _ in range(150):
        bad = bytearray(data)
        for i in rng.integers(0, len(bad), rng.integers(1, 4)):
            bad[i] = int(rng.integers(0, 256))
        path.write_bytes(bytes(bad))
        try:
            out = read_aedat4(path)
        except DecodeError as e:
            assert e.offset is not None
        else:
            assert out.dtype == eventkit.EVENT_DTYPE
            eventkit.validate_events(out, (64, 48, 2))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_aedat4(tmp_path / "nope.aedat4")


@pytest.mark.parametrize("compression", [LZ4, LZ4_HIGH, ZSTD, ZSTD_HIGH])
def test_truncated_compressed_stream_with_consistent_sizes(tmp_path: Path, compression: int) -> None:
    """The packet size agrees with the file, but the codec's frame inside it is cut short."""
    ev = make_events(300, 64, 48, 5)
    payload = event_packet(ev["t"], ev["x"], ev["y"], ev["p"])
    comp = compress(payload, compression)
    for cut in (len(comp) - 1, len(comp) // 2, 3):
        data = aedat4_bytes([], {0: ("EVTS", (64, 48))}, compression, table=False)
        data += struct.pack("<ii", 0, cut) + comp[:cut]
        expect_decode_error(tmp_path, data, "decompress", offset=len(data) - cut - 8)


def test_zstd_trailing_garbage_after_frame(tmp_path: Path) -> None:
    payload = event_packet([1], [1], [1], [1])
    comp = zstandard.ZstdCompressor(write_content_size=False).compress(payload) + b"junk"
    data = aedat4_bytes([], {0: ("EVTS", (8, 8))}, ZSTD, table=False) + struct.pack("<ii", 0, len(comp)) + comp
    expect_decode_error(tmp_path, data, "decompress")
