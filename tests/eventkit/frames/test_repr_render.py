"""eventkit.render with float representations: signed voxel grids and sub-1 float values."""

from __future__ import annotations

import numpy as np

from eventkit.events import make_events
from eventkit.frames import to_averaged_time_surface, to_time_surface, to_voxel_grid
from eventkit.render import PALETTES, contrast_scale, frames_to_rgb, save_grid_png


def test_signed_grid_uses_on_and_off_colours():
    g = np.zeros((1, 1, 1, 3), np.float32)
    g[0, 0, 0] = [2.0, -2.0, 0.0]
    rgb = frames_to_rgb(g, percentile=100, gamma=1.0)
    pal = PALETTES["black"]
    assert tuple(rgb[0, 0, 0]) == pal["on"]
    assert tuple(rgb[0, 0, 1]) == pal["off"]
    assert tuple(rgb[0, 0, 2]) == pal["bg"]


def test_unsigned_one_channel_stays_merged_colour():
    g = np.ones((1, 1, 1, 1), np.float32)
    assert tuple(frames_to_rgb(g)[0, 0, 0]) == PALETTES["black"]["merged"]


def test_float_scale_below_one_is_kept_and_counts_floor_at_one():
    assert contrast_scale(np.array([0.0, 0.2, 0.4], np.float32), 100) == np.float32(0.4)
    assert contrast_scale(np.array([0, 1], np.uint16), 100) == 1.0
    # a time surface's brightest pixel reaches full colour even when every value is < 1
    s = np.zeros((1, 2, 1, 2), np.float32)
    s[0, 1, 0, 0] = 0.3
    rgb = frames_to_rgb(s, percentile=100, gamma=1.0)
    assert tuple(rgb[0, 0, 0]) == PALETTES["black"]["on"]


def test_pictures_of_each_representation(tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    ev = make_events(np.sort(rng.integers(0, 100_000, n)), rng.integers(0, 20, n), rng.integers(0, 20, n),
                     rng.integers(0, 2, n))
    reps = {
        "voxel": to_voxel_grid(ev, (20, 20, 2), bins=4),
        "voxel16": to_voxel_grid(ev, (20, 20, 2), bins=4, dtype="float16"),
        "ts": to_time_surface(ev, (20, 20, 2), tau=10_000, dt=25_000),
        "hats": to_averaged_time_surface(ev, (20, 20, 2), cell_size=10, surface_size=5, time_window=20_000,
                                         tau=5_000),
    }
    for name, x in reps.items():
        png = save_grid_png(x, tmp_path / f"{name}.png")
        assert png.stat().st_size > 100
