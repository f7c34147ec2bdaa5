"""The "how to add a format" recipe of eventkit/io/__init__.py, followed for a toy format: a
module and one registry line are all that read_events, guess_format and decoder_version need."""

from __future__ import annotations

import os
import struct
import sys
import types

import numpy as np
import pytest

import eventkit.io as io
from eventkit.errors import DecodeError
from eventkit.events import SensorSize
from eventkit.io._chunked import EventSink, decode_chunks
from eventkit.io._common import check_file
from eventkit.io._format import EventFormat

MAGIC = b"TOY1"
RECORD_BYTES = 6  # u32 t, u8 x, u8 y | p << 7


def _toy_module() -> types.ModuleType:
    """eventkit/io/toy.py, as the recipe says (numpy in place of the Numba kernel)."""
    mod = types.ModuleType("eventkit.io.toy")
    mod.DECODER_VERSION = 3
    mod.CHUNK_BYTES = 1 << 20

    def read_toy(path):
        p = check_file(path)
        size = os.path.getsize(p)
        nrec, rest = divmod(size - len(MAGIC), RECORD_BYTES)
        if rest:
            raise DecodeError(p, "truncated record", offset=len(MAGIC) + nrec * RECORD_BYTES)

        def step(chunk: np.ndarray, offset: int, sink: EventSink) -> int:
            rec = chunk.reshape(-1, RECORD_BYTES)
            k, n = rec.shape[0], sink.n
            t, x, y, pol = (sink.events[c] for c in "txyp")  # a Numba kernel would use put_event on sink.raw
            t[n : n + k] = rec[:, :4].copy().view("<u4")[:, 0]
            x[n : n + k] = rec[:, 4]
            y[n : n + k] = rec[:, 5] & 0x7F
            pol[n : n + k] = rec[:, 5] >> 7
            sink.n += k
            return chunk.shape[0]

        return decode_chunks(p, len(MAGIC), size, step, capacity=nrec, chunk_bytes=mod.CHUNK_BYTES, unit=RECORD_BYTES)

    def _sniff(head: bytes) -> bool:
        return head.startswith(MAGIC)

    def _sensor(path) -> SensorSize | None:
        return SensorSize(256, 128, 2)

    mod.read_toy = read_toy
    mod.FORMAT = EventFormat(
        name="toy", title="Toy", read=read_toy, version=mod.DECODER_VERSION, suffixes=(".toy",), sniff=_sniff,
        sensor=_sensor,
    )
    return mod


@pytest.fixture
def toy_registered(monkeypatch):
    mod = _toy_module()
    monkeypatch.setitem(sys.modules, "eventkit.io.toy", mod)
    formats = io._load_registry(("toy",) + io._REGISTRY)  # the one registry line
    monkeypatch.setattr(io, "FORMATS", formats)
    return mod


def test_a_module_and_one_registry_line_are_enough(tmp_path, toy_registered):
    rows = [(10, 1, 2, 1), (20, 255, 127, 0), (4_000_000_000, 0, 0, 1)]
    data = MAGIC + b"".join(struct.pack("<IBB", t, x, y | p << 7) for t, x, y, p in rows)
    path = tmp_path / "rec.bin"  # no .toy suffix: the sniffer picks it
    path.write_bytes(data)
    assert io.guess_format(path) == "toy"
    ev = io.read_events(path)
    assert [tuple(int(v) for v in e) for e in ev] == rows
    assert io.decoder_version("toy") == "3"
    (tmp_path / "cut.toy").write_bytes(data[:-1])
    with pytest.raises(DecodeError) as err:
        io.read_events(tmp_path / "cut.toy")
    assert err.value.offset == len(MAGIC) + 2 * RECORD_BYTES


def test_two_formats_with_one_name_are_refused(toy_registered):
    with pytest.raises(RuntimeError, match="two formats are named 'toy'"):
        io._load_registry(("toy", "toy"))
