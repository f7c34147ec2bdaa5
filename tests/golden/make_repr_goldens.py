"""Regenerate tests/golden/repr_tonic_*.npz: Tonic 1.7 voxel grids, time surfaces and HATS on the shared samples.

Run from the repository root with Tonic installed and /work/shared/samples present (the product and
the tests never import Tonic)::

    .venv/bin/python tests/golden/make_repr_goldens.py

Each file holds the input events (``t`` int64, ``x``/``y``/``p`` uint16/uint8 columns, plus
``width``/``height``/``polarities``), the sample's sha256, and one output per call of Tonic's
transforms, stored as float32 (Tonic returns float64 for voxel grids and time surfaces; the tests
compare with a float32-sized tolerance):

``voxel_B{B}``
    ``tonic.transforms.ToVoxelGrid(sensor_size, n_time_bins=B)``: ``[B, 1, H, W]``.
``ts_dt{dt}_tau{tau}``
    ``tonic.transforms.ToTimesurface(sensor_size, dt=dt, tau=tau)``: ``[T, P, H, W]``.
``hats_c{cell}_s{size}_w{window}_tau{tau}_{decay}``
    ``tonic.transforms.ToAveragedTimesurface(...)``: ``[n_cells, P, S, S]``.

Tonic gets the events as a structured array of int64 ``x, y, p, t`` fields (the dtype its own
datasets use): with unsigned fields its HATS code wraps ``x_j - x_i`` and its voxel code writes
``-1`` into ``p``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
SAMPLES = Path("/work/shared/samples")

# (golden name, sample file, sensor, voxel bins, time-surface (dt, tau) calls, HATS calls)
CASES = [
    ("nmnist", "nmnist_train_00001_label5.bin", (34, 34, 2), [5], [(50_000, 20_000)],
     [(10, 5, 20_000, 5_000, "exp"), (17, 3, 50_000, 10_000, "lin")]),
    ("ncars", "ncars_obj_004397_td.dat", (120, 100, 2), [4], [(25_000, 10_000)], [(20, 5, 10_000, 3_000, "exp")]),
    ("stmnist", "stmnist_tonic_sample.mat", (10, 10, 2), [3, 8], [(100_000, 50_000)], [(5, 3, 100_000, 50_000, "exp")]),
]


def main() -> None:
    import tonic
    import tonic.transforms as tt

    from eventkit import read_events

    total = 0
    for name, file, sensor, voxel_bins, ts_calls, hats_calls in CASES:
        path = SAMPLES / file
        ev = read_events(path)
        w, h, _ = sensor
        if ev.size and (int(ev["x"].max()) >= w or int(ev["y"].max()) >= h):
            raise SystemExit(f"{file}: events outside the {w}x{h} sensor")
        tev = np.zeros(ev.size, dtype=[("x", np.int64), ("y", np.int64), ("p", np.int64), ("t", np.int64)])
        for k in "xypt":
            tev[k] = ev[k]
        out: dict[str, np.ndarray] = {
            "t": ev["t"].astype(np.int64), "x": ev["x"], "y": ev["y"], "p": ev["p"],
            "width": np.int64(w), "height": np.int64(h), "polarities": np.int64(sensor[2]),
            "sample_sha256": np.array(hashlib.sha256(path.read_bytes()).hexdigest()),
            "tonic_version": np.array(tonic.__version__),
        }
        for b in voxel_bins:
            out[f"voxel_B{b}"] = np.asarray(tt.ToVoxelGrid(sensor, n_time_bins=b)(tev.copy()), np.float32)
        for dt, tau in ts_calls:
            out[f"ts_dt{dt}_tau{tau}"] = np.asarray(tt.ToTimesurface(sensor, dt=dt, tau=tau)(tev.copy()), np.float32)
        for cell, size, window, tau, decay in hats_calls:
            fn = tt.ToAveragedTimesurface(sensor, surface_size=size, cell_size=cell, time_window=window, tau=tau,
                                          decay=decay)
            out[f"hats_c{cell}_s{size}_w{window}_tau{tau}_{decay}"] = np.asarray(fn(tev.copy()), np.float32)
        dest = HERE / f"repr_tonic_{name}.npz"
        np.savez_compressed(dest, **out)
        total += dest.stat().st_size
        print(f"{dest.name}: {ev.size} events, {sorted(k for k in out if k[:3] in ('vox', 'ts_', 'hat'))}")
    print(f"total {total} bytes (tonic {tonic.__version__})")


if __name__ == "__main__":
    main()
