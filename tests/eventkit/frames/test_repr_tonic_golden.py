"""Voxel grids, time surfaces and HATS against Tonic 1.7's outputs on the shared samples.

The goldens (tests/golden/repr_tonic_*.npz) hold the input events and Tonic's outputs; they are
made by tests/golden/make_repr_goldens.py. Each golden is reproduced with the options that select
Tonic's behaviour (``time_norm="tonic"``, ``include_incomplete=False``, ``layout="cells"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventkit.events import make_events
from eventkit.frames import to_averaged_time_surface, to_time_surface, to_voxel_grid

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
FILES = sorted(GOLDEN.glob("repr_tonic_*.npz"))


def _cases():
    for path in FILES:
        with np.load(path) as z:
            for key in z.files:
                if key.split("_")[0] in ("voxel", "ts", "hats"):
                    yield pytest.param(path, key, id=f"{path.stem}-{key}")


def _load(path: Path):
    with np.load(path) as z:
        ev = make_events(z["t"], z["x"], z["y"], z["p"])
        sensor = (int(z["width"]), int(z["height"]), int(z["polarities"]))
        return ev, sensor, {k: z[k] for k in z.files}


def test_goldens_present_and_small():
    assert len(FILES) >= 3
    assert sum(p.stat().st_size for p in FILES) < 150_000


@pytest.mark.parametrize(("path", "key"), list(_cases()))
def test_tonic_golden(path: Path, key: str):
    ev, sensor, z = _load(path)
    want = z[key]
    before = ev.copy()
    kind, *args = key.split("_")
    if kind == "voxel":
        got = to_voxel_grid(ev, sensor, bins=int(args[0][1:]), time_norm="tonic", dtype=np.float64)
    elif kind == "ts":
        dt, tau = int(args[0][2:]), float(args[1][3:])
        got = to_time_surface(ev, sensor, tau=tau, dt=dt, include_incomplete=False, dtype=np.float64)
    else:
        cell, size, window = int(args[0][1:]), int(args[1][1:]), int(args[2][1:])
        tau, decay = float(args[3][3:]), args[4]
        got = to_averaged_time_surface(ev, sensor, cell_size=cell, surface_size=size, time_window=window, tau=tau,
                                       decay=decay, layout="cells", dtype=np.float64)
    assert got.shape == want.shape
    # goldens are float32; HATS also sums in float32 on Tonic's side
    np.testing.assert_allclose(got, want.astype(np.float64), rtol=2e-6, atol=2e-6)
    np.testing.assert_array_equal(ev, before)  # input never modified


def test_default_voxel_differs_from_tonic_only_by_the_scaling():
    """Our default (E2VID's (B - 1) scaling) is not Tonic's grid, but Tonic's is one option away."""
    ev, sensor, z = _load(GOLDEN / "repr_tonic_nmnist.npz")
    ours = to_voxel_grid(ev, sensor, bins=5, dtype=np.float64)
    assert not np.allclose(ours, z["voxel_B5"], atol=1e-3)
    # every event keeps its weight with (B - 1); Tonic loses the event(s) at t1 and part of the last interval
    signed = float(np.where(ev["p"] == 1, 1.0, -1.0).sum())
    assert ours.sum() == pytest.approx(signed, abs=1e-6)
    assert abs(z["voxel_B5"].astype(np.float64).sum() - signed) > 1e-3


def test_default_time_surface_adds_the_incomplete_window():
    """include_incomplete=True (default) keeps the events after Tonic's last complete window."""
    ev, sensor, z = _load(GOLDEN / "repr_tonic_nmnist.npz")
    want = z["ts_dt50000_tau20000"]
    ours = to_time_surface(ev, sensor, tau=20_000, dt=50_000, dtype=np.float64)
    assert ours.shape[0] == want.shape[0] + 1
    np.testing.assert_allclose(ours[:-1], want, rtol=2e-6, atol=2e-6)
    # the extra surface sees the last event: its pixel is recent
    t_last = int(ev["t"].max())
    assert ours[-1].max() >= np.exp(-(int(ev["t"].min()) + ours.shape[0] * 50_000 - t_last) / 20_000) - 1e-9
