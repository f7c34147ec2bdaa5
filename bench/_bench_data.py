"""Synthetic benchmark inputs under ``bench/_data/`` (git-ignored), rebuilt when missing.

Every builder is deterministic (fixed seeds), writes to a temporary name and renames at the
end, so an interrupted run never leaves a half-written file that looks complete.

=====================  =====================================================================
name                   content
=====================  =====================================================================
aedat31_gesture        one full-size synthetic DVS128 Gesture recording (AEDAT 3.1, ~7 M ev)
                       from /work/shared/tools/make_synthetic_dvsgesture.py --recordings 1
aedat31_gesture_cut    the first packets of that recording (>= 500 k events), for SpikingJelly
aedat2_davis346        10 M DVS events, jAER DAVIS address layout (Davis346B header)
aedat2_dvs128          10 M events, jAER DVS128 address layout
aedat2_dvs128_small    100 k events, same layout (per-file overhead; CIFAR10-DVS files are small)
atis_bin               10 M events, N-MNIST/N-Caltech 40-bit ATIS records (34x34, 23-bit t)
aedat4_lz4/_zstd       10 M events 640x480, written by dv-processing (LZ4 / ZSTD packets)
evt2 / evt3 / dat      10 M events 640x480, written by expelliarmus' Wizard.save
=====================  =====================================================================

The 10 M-event files mimic the decoder study in the shared reference notes: uniform random
x/y (worst case for compression), random polarity, timestamps at about 1 M events/s.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "_data"
GESTURE_TOOL = Path("/work/shared/tools/make_synthetic_dvsgesture.py")
N_EVENTS = 10_000_000
CUT_EVENTS = 500_000
SMALL_EVENTS = 100_000  # one small recording (per-file overhead), CIFAR10-DVS-like short header
SEED = 20261122


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _random_events(n: int, width: int, height: int, seed: int, t_span: int | None = None):
    """Sorted timestamps (about 1 M ev/s unless ``t_span``), uniform x/y, random p."""
    rng = np.random.default_rng(seed)
    span = t_span if t_span is not None else n  # 1 event per microsecond on average
    t = np.sort(rng.integers(0, span, n, dtype=np.int64))
    x = rng.integers(0, width, n, dtype=np.int64)
    y = rng.integers(0, height, n, dtype=np.int64)
    p = rng.integers(0, 2, n, dtype=np.int64)
    return t, x, y, p


# ---------------------------------------------------------------- AEDAT 3.1 (DVS128 Gesture)


def _build_gesture(out: Path) -> None:
    root = DATA_DIR / "dvsgesture"
    if not any(root.glob("DvsGesture/*.aedat")):
        subprocess.run(
            [sys.executable, str(GESTURE_TOOL), str(root), "--recordings", "1", "--seed", "0"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    src = sorted(root.glob("DvsGesture/*.aedat"))[0]
    os.replace(src, out)


def _build_gesture_cut(out: Path) -> None:
    """Header + whole packets from the start of the full recording until >= CUT_EVENTS events."""
    src = dataset("aedat31_gesture")
    data = src.read_bytes()
    end = data.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    pos, n = end, 0
    while n < CUT_EVENTS and pos + 28 <= len(data):
        _etype, _src, esize, _off, _ovf, cap, _num, _valid = struct.unpack_from("<HHIIIIII", data, pos)
        pos += 28 + cap * esize
        n += cap
    tmp = _tmp(out)
    tmp.write_bytes(data[:pos])
    os.replace(tmp, out)


# ---------------------------------------------------------------- AEDAT 2.0 (jAER)


def _jaer_header(chip: str) -> bytes:
    lines = [
        "#!AER-DAT2.0",
        "# This is a raw AE data file - do not edit",
        "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event",
        "# Timestamps tick is 1 us",
        "# created Sun Nov 22 12:00:00 UTC 2026 by eventkit bench/_bench_data.py (synthetic)",
        f"# AEChip: {chip}",
        "#End of Preferences for this AEChip",
    ]
    return "".join(line + "\r\n" for line in lines).encode("ascii")


def _write_aedat2(out: Path, chip: str, addr: np.ndarray, t: np.ndarray) -> None:
    words = np.empty((addr.shape[0], 2), dtype=">u4")
    words[:, 0] = addr
    words[:, 1] = t
    tmp = _tmp(out)
    with open(tmp, "wb") as f:
        f.write(_jaer_header(chip))
        words.tofile(f)
    os.replace(tmp, out)


def _build_aedat2_davis346(out: Path) -> None:
    t, x, y, p = _random_events(N_EVENTS, 346, 260, SEED + 1)
    y[0] = 0  # the first data byte must not be '#' (0x23), or '#'-line header scanners misread it
    t += 10_000_000
    # jAER DAVIS DVS event: bit31 = 0 (DVS), y in bits 22..30, x in bits 12..21, p in bit 11
    addr = (y << 22) | (x << 12) | (p << 11)
    _write_aedat2(out, "eu.seebetter.ini.chips.davis.Davis346B", addr, t)


def _build_aedat2_dvs128(out: Path, n: int = N_EVENTS) -> None:
    t, x, y, p = _random_events(n, 128, 128, SEED + 2)
    t += 10_000_000
    # jAER DVS128: y in bits 8..14, x in bits 1..7, polarity in bit 0
    addr = (y << 8) | (x << 1) | p
    _write_aedat2(out, "ch.unizh.ini.jaer.chip.retina.DVS128", addr, t)


# ---------------------------------------------------------------- ATIS .bin (N-MNIST)


def _build_atis_bin(out: Path) -> None:
    # 23-bit timestamps, no overflow records: every peer decodes such a file the same way
    t, x, y, p = _random_events(N_EVENTS, 34, 34, SEED + 3, t_span=1 << 23)
    rec = np.empty((N_EVENTS, 5), dtype=np.uint8)
    rec[:, 0] = x
    rec[:, 1] = y
    rec[:, 2] = (p << 7) | ((t >> 16) & 0x7F)
    rec[:, 3] = (t >> 8) & 0xFF
    rec[:, 4] = t & 0xFF
    tmp = _tmp(out)
    rec.tofile(tmp)
    os.replace(tmp, out)


# ---------------------------------------------------------------- AEDAT 4 (dv-processing)


def _build_aedat4(out: Path, compression: str) -> None:
    import datetime

    import dv_processing as dv

    res = (640, 480)
    batch, batch_us = 10_000, 10_000
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)  # the writer wants the .aedat4 suffix
    cfg = dv.io.MonoCameraWriter.EventOnlyConfig("DVXplorer_bench", res, getattr(dv.CompressionType, compression))
    writer = dv.io.MonoCameraWriter(str(tmp), cfg)
    start = 10_000_000
    for i in range(N_EVENTS // batch):
        store = dv.data.generate.uniformEventsWithinTimeRange(
            start + i * batch_us, datetime.timedelta(microseconds=batch_us), res, batch, SEED + i
        )
        writer.writeEvents(store)
    del writer  # flushes and closes the file
    os.replace(tmp, out)


# ---------------------------------------------------------------- Prophesee (expelliarmus)


def _build_prophesee(out: Path, encoding: str) -> None:
    import expelliarmus

    t, x, y, p = _random_events(N_EVENTS, 640, 480, SEED + 4)
    arr = np.empty(N_EVENTS, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    arr["t"], arr["x"], arr["y"], arr["p"] = t, x, y, p
    # expelliarmus insists on the final suffix, so write to "<stem>.tmp<suffix>"
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    expelliarmus.Wizard(encoding=encoding).save(str(tmp), arr)
    os.replace(tmp, out)


_BUILDERS = {
    "aedat31_gesture": ("dvsgesture_user01.aedat", _build_gesture),
    "aedat31_gesture_cut": ("dvsgesture_user01_cut500k.aedat", _build_gesture_cut),
    "aedat2_davis346": ("davis346_10M.aedat", _build_aedat2_davis346),
    "aedat2_dvs128": ("dvs128_10M.aedat", _build_aedat2_dvs128),
    "aedat2_dvs128_small": ("dvs128_100k.aedat", lambda p: _build_aedat2_dvs128(p, SMALL_EVENTS)),
    "atis_bin": ("atis_10M.bin", _build_atis_bin),
    "aedat4_lz4": ("dvx640_10M_lz4.aedat4", lambda p: _build_aedat4(p, "LZ4")),
    "aedat4_zstd": ("dvx640_10M_zstd.aedat4", lambda p: _build_aedat4(p, "ZSTD")),
    "evt2": ("evt2_10M.raw", lambda p: _build_prophesee(p, "evt2")),
    "evt3": ("evt3_10M.raw", lambda p: _build_prophesee(p, "evt3")),
    "dat": ("dat_10M.dat", lambda p: _build_prophesee(p, "dat")),
}


def dataset(name: str) -> Path:
    """Path of benchmark input ``name``; builds it first when it is missing."""
    fname, build = _BUILDERS[name]
    path = DATA_DIR / fname
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        print(f"[bench] building {path.relative_to(DATA_DIR.parent.parent)} ...", file=sys.stderr, flush=True)
        build(path)
    return path


if __name__ == "__main__":
    for n in sys.argv[1:] or list(_BUILDERS):
        print(n, dataset(n), dataset(n).stat().st_size)
