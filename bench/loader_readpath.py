"""Single-process FrameDataset read timing (uint16 and float32): `python -m bench.loader_readpath LABEL`.

Used for before/after comparisons of the store read path (run it from two checkouts, interleaved).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._timing import force_single_thread

force_single_thread()

import bench.loader as L  # noqa: E402


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "eventkit"
    frames, labels = L.make_frames(128)
    with tempfile.TemporaryDirectory() as tmp:
        _time(label, L.build(Path(tmp), frames, labels))


def _time(label: str, ds: dict) -> None:
    u = ds["eventkit FrameDataset (uint16, default)"][0]
    f = ds["eventkit FrameDataset (dtype=float32)"][0]
    idx = list(range(128))
    out = {}
    for name, d in (("uint16", u), ("float32", f)):
        d.__getitems__(idx[:16])
        ts = []
        for r in range(7):
            t0 = time.perf_counter()
            for b in range(0, 128, 16):
                d.__getitems__(idx[b:b + 16])
            ts.append((time.perf_counter() - t0) / 128 * 1e6)
        out[name] = statistics.median(ts)
    print(label, " ".join(f"{k} {v:.0f} us/sample" for k, v in out.items()))


if __name__ == "__main__":
    main()
