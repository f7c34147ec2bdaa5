"""to_time_surface and to_averaged_time_surface (HATS): NumPy references, rules, edge cases, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventkit.errors import EventFormatError, OptionError
from eventkit.events import make_events
from eventkit.frames import hats_cells, to_averaged_time_surface, to_time_surface
from eventkit.frames.repr_reference import hats_reference, time_surface_reference
from eventkit.frames.time_surface import time_surface_count


@st.composite
def samples(draw, max_t=3000, max_n=50):
    w = draw(st.integers(1, 12))
    h = draw(st.integers(1, 9))
    pol = draw(st.sampled_from([1, 2]))
    n = draw(st.integers(0, max_n))
    t = draw(st.lists(st.integers(0, max_t), min_size=n, max_size=n))
    if draw(st.booleans()):
        t = sorted(t)
    x = draw(st.lists(st.integers(0, w - 1), min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, h - 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return make_events(np.array(t, np.int64), x, y, p), (w, h, pol)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=samples(),
    dt=st.integers(1, 1500),
    ov_frac=st.floats(0, 0.9),
    tau=st.sampled_from([1.0, 37.5, 400.0, 5000.0]),
    incomplete=st.booleans(),
    downsample=st.sampled_from([None, 2, 3]),
)
def test_time_surface_matches_reference(sample, dt, ov_frac, tau, incomplete, downsample):
    ev, sensor = sample
    ov = int(dt * ov_frac)
    got = to_time_surface(ev, sensor, tau=tau, dt=dt, overlap=ov, include_incomplete=incomplete,
                          downsample=downsample, dtype=np.float64)
    want = time_surface_reference(ev, sensor, tau=tau, dt=dt, overlap=ov, include_incomplete=incomplete,
                                  downsample=downsample)
    assert got.shape == want.shape
    # decay by repeated products: ~1e-16 relative a window; float64 subnormals (< 1e-307) keep few bits
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-300)
    span = int(ev["t"].max() - ev["t"].min()) if ev.size else 0
    assert got.shape[0] == time_surface_count(span, dt, ov, incomplete)


def test_time_surface_hand_computed():
    # t = 0, 10, 25 at pixels 0, 0, 1 (ON); dt = 10: windows end at 10, 20, 30
    ev = make_events([0, 10, 25], [0, 0, 1], [0, 0, 0], [1, 1, 1])
    s = to_time_surface(ev, (2, 1, 2), tau=10.0, dt=10, dtype=np.float64)
    assert s.shape == (3, 2, 1, 2)
    assert not s[:, 0].any()  # no OFF event
    np.testing.assert_allclose(s[:, 1, 0, 0], [math.exp(-1), math.exp(-1), math.exp(-2)])
    np.testing.assert_allclose(s[:, 1, 0, 1], [0, 0, math.exp(-0.5)])
    # Tonic's complete windows only: span 25 -> (25 - 10) // 10 + 1 = 2 surfaces; the event at 25 is ignored
    s2 = to_time_surface(ev, (2, 1, 2), tau=10.0, dt=10, include_incomplete=False, dtype=np.float64)
    np.testing.assert_array_equal(s2, s[:2])


def test_time_surface_overlap_samples_at_window_end():
    """With overlap the surface is read at the window's end (Tonic reads it at (i + 1) * dt)."""
    ev = make_events([0, 4, 12], [0, 0, 0], [0, 0, 0], [1, 1, 1])
    s = to_time_surface(ev, (1, 1, 2), tau=1.0, dt=8, overlap=4, dtype=np.float64)
    # windows [0, 8), [4, 12), [8, 16): ends 8, 12, 16; latest events before them 4, 4, 12
    np.testing.assert_allclose(s[:, 1, 0, 0], [math.exp(-4), math.exp(-8), math.exp(-4)])


def test_time_surface_tiny_values_are_exact_zero_in_float32():
    ev = make_events([0, 10_000], [0, 1], [0, 0], [1, 1])
    s = to_time_surface(ev, (2, 1, 2), tau=1.0, dt=10_000)
    assert s.dtype == np.float32
    ref = time_surface_reference(ev, (2, 1, 2), tau=1.0, dt=10_000).astype(np.float32)
    np.testing.assert_array_equal(s, ref)
    s16 = to_time_surface(ev, (2, 1, 2), tau=3000.0, dt=1000, dtype="float16")
    np.testing.assert_array_equal(s16, time_surface_reference(ev, (2, 1, 2), tau=3000.0, dt=1000).astype(np.float16))


def test_time_surface_empty_and_unsorted():
    empty = make_events([], [], [], [])
    s = to_time_surface(empty, (3, 2, 2), tau=5.0, dt=10)
    assert s.shape == (1, 2, 2, 3) and not s.any()
    ev = make_events([20, 0, 10], [0, 0, 0], [0, 0, 0], [1, 1, 1])
    srt = make_events([0, 10, 20], [0, 0, 0], [0, 0, 0], [1, 1, 1])
    np.testing.assert_array_equal(to_time_surface(ev, (1, 1, 2), tau=5.0, dt=7),
                                  to_time_surface(srt, (1, 1, 2), tau=5.0, dt=7))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"tau": 0, "dt": 5}, "tau"),
        ({"tau": float("nan"), "dt": 5}, "tau"),
        ({"tau": 1, "dt": 0}, "dt"),
        ({"tau": 1, "dt": 5, "overlap": 5}, "overlap"),
        ({"tau": 1, "dt": 5, "include_incomplete": "yes"}, "include_incomplete"),
        ({"tau": 1, "dt": 5, "dtype": "int16"}, "dtype"),
    ],
)
def test_time_surface_bad_options(kw, match):
    ev = make_events([0], [0], [0], [0])
    with pytest.raises(OptionError, match=match):
        to_time_surface(ev, (2, 2, 2), **kw)


def test_time_surface_bad_event():
    ev = make_events([0, 1], [0, 1], [0, 3], [0, 1])
    with pytest.raises(EventFormatError, match="event 1: y = 3"):
        to_time_surface(ev, (2, 2, 2), tau=1.0, dt=5)


# ---------------------------------------------------------------------------------------------- HATS


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=samples(max_t=2000, max_n=40),
    cell=st.integers(1, 6),
    size=st.sampled_from([1, 3, 5]),
    window=st.integers(0, 2500),
    tau=st.sampled_from([10.0, 300.0]),
    decay=st.sampled_from(["exp", "lin"]),
)
def test_hats_matches_reference(sample, cell, size, window, tau, decay):
    ev, sensor = sample
    got = to_averaged_time_surface(ev, sensor, cell_size=cell, surface_size=size, time_window=window, tau=tau,
                                   decay=decay, layout="cells", dtype=np.float64)
    want = hats_reference(ev, sensor, cell_size=cell, surface_size=size, time_window=window, tau=tau, decay=decay)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    grid = to_averaged_time_surface(ev, sensor, cell_size=cell, surface_size=size, time_window=window, tau=tau,
                                    decay=decay, dtype=np.float64)
    assert grid.shape[0] == 1
    np.testing.assert_array_equal(hats_cells(grid, size), got)


def test_hats_hand_computed():
    # two ON events in one 4x4 cell, one pixel apart, 10 µs apart, tau 10: second sees the first at (-1, 0)
    ev = make_events([0, 10], [1, 2], [1, 1], [1, 1])
    h = to_averaged_time_surface(ev, (4, 4, 2), cell_size=4, surface_size=3, time_window=100, tau=10.0,
                                 layout="cells", dtype=np.float64)
    assert h.shape == (1, 2, 3, 3)
    want = np.zeros((3, 3))
    want[1, 1] = 2 / 2
    want[1, 0] = math.exp(-1) / 2
    np.testing.assert_allclose(h[0, 1], want)
    assert not h[0, 0].any()
    # grid layout of a 2x1-cell sensor: cell (1, 0) sits in columns 3..5
    ev = make_events([0], [5], [0], [0])
    g = to_averaged_time_surface(ev, (6, 3, 2), cell_size=3, surface_size=3, time_window=10, tau=1.0)
    assert g.shape == (1, 2, 3, 6)
    assert g[0, 0, 1, 4] == 1 and g.sum() == 1


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"surface_size": 4}, "odd"),
        ({"cell_size": 0}, "cell_size"),
        ({"time_window": -1}, "time_window"),
        ({"tau": -1}, "tau"),
        ({"decay": "log"}, "decay"),
        ({"layout": "flat"}, "layout"),
    ],
)
def test_hats_bad_options(kw, match):
    ev = make_events([0], [0], [0], [0])
    with pytest.raises(OptionError, match=match):
        to_averaged_time_surface(ev, (8, 8, 2), **kw)
