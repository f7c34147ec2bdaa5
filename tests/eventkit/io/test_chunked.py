"""The chunked-decoding loop (eventkit.io._chunked) on toy formats, against whole-file references.

Each toy step turns items into events whose ``t`` is the item's file offset, so a wrong offset,
a dropped or repeated byte at a chunk boundary, or a read past ``end`` shows up in the columns.
"""

from __future__ import annotations

import numpy as np
import pytest

from eventkit.io._chunked import EventSink, decode_chunks

REC = 3  # toy fixed-size record: x, y, p


def _fixed_reference(data: bytes, start: int, end: int) -> np.ndarray:
    """(t, x, y, p) rows of the whole records in data[start:end], computed without the loop."""
    body = np.frombuffer(data[start:end], dtype=np.uint8)
    body = body[: body.size // REC * REC].reshape(-1, REC).astype(np.int64)
    t = start + REC * np.arange(body.shape[0], dtype=np.int64)
    return np.stack([t, body[:, 0], body[:, 1], body[:, 2] & 1], axis=1)


def _rows(ev: np.ndarray) -> np.ndarray:
    return np.stack([ev[k].astype(np.int64) for k in "txyp"], axis=1)


def _fixed_step(seen: list[tuple[int, int]]):
    def step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
        seen.append((offset, chunk.shape[0]))
        recs = chunk.reshape(-1, REC)
        k = recs.shape[0]
        t, x, y, p = (sink.events[c] for c in "txyp")
        t[sink.n : sink.n + k] = offset + REC * np.arange(k)
        x[sink.n : sink.n + k] = recs[:, 0]
        y[sink.n : sink.n + k] = recs[:, 1]
        p[sink.n : sink.n + k] = recs[:, 2] & 1
        sink.n += k
        return chunk.shape[0]

    return step


@pytest.fixture
def payload(tmp_path):
    rng = np.random.default_rng(7)
    data = b"HEADER--" + rng.integers(0, 256, REC * 1000, dtype=np.uint8).tobytes()
    path = tmp_path / "toy.bin"
    path.write_bytes(data)
    return str(path), data


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 4, 10, 299, 3000, 1 << 20])
def test_fixed_records_do_not_depend_on_the_chunk_size(payload, chunk_bytes):
    path, data = payload
    seen: list[tuple[int, int]] = []
    ev = decode_chunks(path, 8, len(data), _fixed_step(seen), capacity=1000, chunk_bytes=chunk_bytes, unit=REC)
    np.testing.assert_array_equal(_rows(ev), _fixed_reference(data, 8, len(data)))
    assert all(n % REC == 0 and n <= max(REC, chunk_bytes) for _, n in seen)
    assert [off for off, _ in seen] == list(np.cumsum([8] + [n for _, n in seen[:-1]]))


def test_nothing_at_or_past_end_is_read(payload):
    """A file that grows while it is read: decoded as it was sized."""
    path, data = payload
    end = 8 + REC * 500
    seen: list[tuple[int, int]] = []
    ev = decode_chunks(path, 8, end, _fixed_step(seen), capacity=500, chunk_bytes=64, unit=REC)
    np.testing.assert_array_equal(_rows(ev), _fixed_reference(data, 8, end))
    assert max(off + n for off, n in seen) == end


def test_a_file_that_shrank_ends_early_with_whole_records(payload):
    path, data = payload
    with open(path, "r+b") as f:
        f.truncate(8 + REC * 10 + 2)  # 10 records and a cut one
    ev = decode_chunks(path, 8, len(data), _fixed_step([]), capacity=1000, chunk_bytes=7, unit=REC)
    np.testing.assert_array_equal(_rows(ev), _fixed_reference(data, 8, 8 + REC * 10))


def test_lead_bytes_are_used_instead_of_reading_them_again(payload):
    path, data = payload
    lead = data[8:500]
    garbage = data[:8] + bytes(492) + data[500:]  # the file no longer holds the lead bytes
    with open(path, "wb") as f:
        f.write(garbage)
    for chunk_bytes in (5, 64, 1 << 20):
        step = _fixed_step([])
        ev = decode_chunks(path, 8, len(data), step, capacity=1000, chunk_bytes=chunk_bytes, unit=REC, lead=lead)
        np.testing.assert_array_equal(_rows(ev), _fixed_reference(data, 8, len(data)))


# ---------------------------------------------------------------- variable-size items


def _variable_file(tmp_path, rng) -> tuple[str, bytes, list[tuple[int, int, int]]]:
    """Items: a length byte L (1..6) and L-1 more bytes; L == 7 starts a skip item whose next
    byte says how many bytes to skip past it. Returns the path, the bytes and the reference
    (offset, L, first byte after the length or 0) of every decoded item."""
    parts, ref, pos = [], [], 0
    for _ in range(400):
        if rng.random() < 0.1:
            n = int(rng.integers(0, 40))
            parts.append(bytes([7, n]) + bytes(rng.integers(0, 256, n, dtype=np.uint8)))
            pos += 2 + n
            continue
        length = int(rng.integers(1, 7))
        body = bytes(rng.integers(0, 256, length - 1, dtype=np.uint8))
        parts.append(bytes([length]) + body)
        ref.append((pos, length, body[0] if body else 0))
        pos += length
    data = b"".join(parts)
    path = tmp_path / "var.bin"
    path.write_bytes(data)
    return str(path), data, ref


def _variable_step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
    """Decode whole items; leave a cut one (at most 5 bytes, or 1 byte of a skip item) for later."""
    i, n = 0, chunk.shape[0]
    while i < n:
        length = int(chunk[i])
        if length == 7:
            if i + 2 > n:
                break
            i += 2 + int(chunk[i + 1])
            if i > n:
                return i  # past the chunk: a skip
            continue
        if i + length > n:
            break
        sink.reserve(sink.n + 1)
        sink.events[sink.n] = (offset + i, length, int(chunk[i + 1]) if length > 1 else 0, 0)
        sink.n += 1
        i += length
    return i


@pytest.mark.parametrize("chunk_bytes", [6, 7, 13, 64, 1 << 20])
def test_cut_items_are_handed_back_and_skips_seek(tmp_path, chunk_bytes):
    path, data, ref = _variable_file(tmp_path, np.random.default_rng(chunk_bytes))
    ev = decode_chunks(path, 0, len(data), _variable_step, capacity=0, chunk_bytes=chunk_bytes, keep=5)
    got = list(zip(ev["t"].tolist(), ev["x"].tolist(), ev["y"].tolist()))
    assert got == ref


def test_a_step_that_leaves_more_than_keep_is_a_bug(payload):
    path, data = payload
    with pytest.raises(RuntimeError, match="unconsumed"):
        decode_chunks(path, 0, len(data), lambda chunk, off, sink: 0, capacity=0, chunk_bytes=16, keep=4)


def test_reserve_grows_and_keeps_the_decoded_events():
    sink = EventSink(2)
    sink.events[:2] = [(1, 2, 3, 1), (4, 5, 6, 0)]
    sink.n = 2
    raw = sink.raw
    sink.reserve(3)
    assert sink.events.shape[0] == 3 and sink.raw is not raw and sink.raw.size == 3 * 13
    sink.reserve(10, guess=50)
    assert sink.events.shape[0] == 50
    assert sink.result().tolist() == [(1, 2, 3, 1), (4, 5, 6, 0)]


def test_an_open_file_is_read_from_its_payload_and_left_open(payload):
    path, data = payload
    with open(path, "rb") as f:
        f.read(100)  # wherever the caller left it
        ev = decode_chunks(f, 8, len(data), _fixed_step([]), capacity=1000, chunk_bytes=64, unit=REC)
        assert not f.closed
    np.testing.assert_array_equal(_rows(ev), _fixed_reference(data, 8, len(data)))
