"""Regenerate the AEDAT 4.0 golden fixtures (run by hand; tests never import the peers used here).

Writer: iniVation's dv-processing (``dv_processing.io.MonoCameraWriter``), an implementation of
the format independent of eventkit. Each file holds an events stream (id 0), an IMU stream and a
trigger stream, with events written in several batches so there are several event packets
interleaved with IMU/trigger packets.

Expected values: decoded by the ``aedat`` Rust decoder (lowest-id events stream, packets
concatenated), cross-checked with dv-processing's own reader
(``MonoCameraRecording.getNextEventBatch``); the script refuses to write a fixture unless both
agree. The digest follows ``tests.conftest.txyp_digest``.

Usage::

    .venv/bin/python tests/golden/make_aedat4_goldens.py
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import aedat
import dv_processing as dv
import numpy as np

HERE = Path(__file__).resolve().parent
SIZE = (346, 260)
T0 = 1_700_000_000_000_000


def digest(t, x, y, p) -> str:
    cols = [np.asarray(c).astype("<i8") for c in (t, x, y, p)]
    return hashlib.sha256(np.concatenate(cols).tobytes()).hexdigest()


def rows(*cols) -> list[list[int]]:
    return [[int(v) for v in row] for row in zip(*cols)]


def write(path: Path, compression) -> None:
    cfg = dv.io.MonoCameraWriter.Config("DAVIS346_golden", compression)
    cfg.addEventStream(SIZE)
    cfg.addImuStream()
    cfg.addTriggerStream()
    w = dv.io.MonoCameraWriter(str(path), cfg)
    w.setPackagingCount(4)  # IMU samples / triggers per packet, so they interleave with events
    t = T0
    for i in range(6):
        if i % 2:
            ev = dv.data.generate.uniformEventsWithinTimeRange(
                t, datetime.timedelta(milliseconds=5), SIZE, 500, i
            )
        else:
            ev = dv.data.generate.normallyDistributedEvents(t, (173, 130), (40, 30), 700, i)
        w.writeEvents(ev)
        for k in range(4):
            ts = t + 1000 * k
            w.writeImu(dv.IMU(ts, 30.0, 0.1 * k, 0.0, 9.81, 0.01, 0.02, 0.03, 0.0, 0.0, 0.0))
        w.writeTrigger(dv.Trigger(t + 500, dv.TriggerType.EXTERNAL_SIGNAL_RISING_EDGE))
        t += 10_000
    del w


def decode_with_aedat(path: Path) -> tuple[np.ndarray, ...]:
    dec = aedat.Decoder(str(path))
    streams = dec.id_to_stream()
    sid = min(k for k, v in streams.items() if v["type"] == "events")
    parts = [pk["events"] for pk in dec if pk["stream_id"] == sid and "events" in pk]
    ev = np.concatenate(parts)
    return ev["t"].astype(np.int64), ev["x"], ev["y"], ev["on"].astype(np.uint8), streams


def decode_with_dv(path: Path) -> str:
    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while True:
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        parts.append(batch.numpy())
    ev = np.concatenate(parts)
    return digest(ev["timestamp"], ev["x"], ev["y"], ev["polarity"])


def main() -> None:
    for name, comp in (("zstd", dv.CompressionType.ZSTD), ("lz4", dv.CompressionType.LZ4)):
        path = HERE / f"aedat4_{name}_dvproc.aedat4"
        write(path, comp)
        t, x, y, p, streams = decode_with_aedat(path)
        d = digest(t, x, y, p)
        if decode_with_dv(path) != d:
            raise SystemExit(f"{path.name}: aedat and dv-processing disagree; not writing the fixture")
        expect = {
            "file": path.name,
            "writer": f"dv-processing {dv.__version__} MonoCameraWriter, compression {name.upper()}",
            "decoder": f"aedat {getattr(aedat, '__version__', '2.3.0')} (Decoder, lowest-id events stream)",
            "cross_check": "dv-processing MonoCameraRecording.getNextEventBatch: same digest",
            "sensor_size_wh": list(SIZE),
            "streams": {str(k): v["type"] for k, v in sorted(streams.items())},
            "event_count": int(len(t)),
            "first_3_events_txyp": rows(t[:3], x[:3], y[:3], p[:3]),
            "last_3_events_txyp": rows(t[-3:], x[-3:], y[-3:], p[-3:]),
            "sha256_txyp_int64": d,
        }
        path.with_suffix(".json").write_text(json.dumps(expect, indent=1) + "\n")
        print(path.name, path.stat().st_size, "bytes,", len(t), "events")


if __name__ == "__main__":
    main()
