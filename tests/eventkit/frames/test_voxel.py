"""to_voxel_grid: NumPy reference (property tests), invariants, edge cases and validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventkit.errors import EventFormatError, OptionError
from eventkit.events import make_events
from eventkit.frames import to_voxel_grid
from eventkit.frames.repr_reference import voxel_reference


@st.composite
def samples(draw):
    w = draw(st.integers(1, 9))
    h = draw(st.integers(1, 7))
    pol = draw(st.sampled_from([1, 2]))
    n = draw(st.integers(0, 60))
    t = draw(st.lists(st.integers(0, 5000), min_size=n, max_size=n))
    if draw(st.booleans()):
        t = sorted(t)
    x = draw(st.lists(st.integers(0, w - 1), min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, h - 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return make_events(np.array(t, np.int64), x, y, p), (w, h, pol)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=samples(),
    bins=st.integers(1, 6),
    polarity=st.sampled_from(["signed", "split"]),
    time_norm=st.sampled_from(["e2vid", "tonic"]),
    downsample=st.sampled_from([None, 2, 3]),
)
def test_matches_reference(sample, bins, polarity, time_norm, downsample):
    ev, sensor = sample
    got = to_voxel_grid(ev, sensor, bins=bins, polarity=polarity, time_norm=time_norm, downsample=downsample,
                        dtype=np.float64)
    want = voxel_reference(ev, sensor, bins=bins, polarity=polarity, time_norm=time_norm, downsample=downsample)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(sample=samples(), bins=st.integers(1, 6))
def test_e2vid_scaling_keeps_every_event(sample, bins):
    ev, sensor = sample
    split = to_voxel_grid(ev, sensor, bins=bins, polarity="split", dtype=np.float64)
    assert split.sum() == pytest.approx(ev.size, abs=1e-9)
    assert split.min(initial=0.0) >= 0.0


def test_float32_default_and_dtypes():
    ev = make_events([0, 10, 20], [0, 1, 2], [0, 0, 0], [1, 0, 1])
    assert to_voxel_grid(ev, (3, 1, 2), bins=3).dtype == np.float32
    g16 = to_voxel_grid(ev, (3, 1, 2), bins=3, dtype="float16")
    assert g16.dtype == np.float16
    np.testing.assert_array_equal(g16, to_voxel_grid(ev, (3, 1, 2), bins=3).astype(np.float16))


def test_hand_computed_grid():
    # t = 0, 5, 10 with B = 3: u = 0, 1, 2 (e2vid) -> each event sits on one bin
    ev = make_events([0, 5, 10], [0, 1, 2], [0, 0, 0], [1, 0, 1])
    g = to_voxel_grid(ev, (3, 1, 2), bins=3)
    np.testing.assert_array_equal(g[:, 0, 0], np.diag([1.0, -1.0, 1.0]))
    # Tonic's B scaling: u = 0, 1.5, 3 -> the middle event splits, the last (u = 3) vanishes
    g = to_voxel_grid(ev, (3, 1, 2), bins=3, time_norm="tonic")
    np.testing.assert_allclose(g[:, 0, 0], [[1, 0, 0], [0, -0.5, 0], [0, -0.5, 0]])


def test_degenerate_inputs_are_defined():
    # one timestamp: everything in bin 0 (Tonic: NaN from 0 / 0)
    ev = make_events([7, 7], [0, 1], [0, 0], [1, 1])
    g = to_voxel_grid(ev, (2, 1, 2), bins=4, time_norm="tonic")
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[0, 0, 0], [1, 1])
    assert not g[1:].any()
    # no events: zeros of the right shape (Tonic raises)
    empty = make_events([], [], [], [])
    assert to_voxel_grid(empty, (5, 4, 2), bins=3, polarity="split").shape == (3, 2, 4, 5)


def test_unsorted_uses_min_and_max():
    ev = make_events([10, 0, 5], [0, 1, 2], [0, 0, 0], [1, 1, 1])
    g = to_voxel_grid(ev, (3, 1, 2), bins=3)
    np.testing.assert_array_equal(g[:, 0, 0], [[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_one_polarity_sensor_counts_every_event_positive():
    ev = make_events([0, 10], [0, 0], [0, 0], [0, 0])
    g = to_voxel_grid(ev, (1, 1, 1), bins=2)
    np.testing.assert_array_equal(g.ravel(), [1, 1])


def test_input_not_modified():
    ev = make_events([0, 3, 9], [0, 1, 2], [0, 0, 0], [0, 0, 1])
    before = ev.copy()
    to_voxel_grid(ev, (3, 1, 2), bins=2)
    np.testing.assert_array_equal(ev, before)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"bins": 0}, "bins"),
        ({"bins": 2.5}, "bins"),
        ({"bins": 2, "polarity": "both"}, "polarity"),
        ({"bins": 2, "time_norm": "x"}, "time_norm"),
        ({"bins": 2, "dtype": "uint8"}, "dtype"),
        ({"bins": 2, "downsample": 0}, "downsample"),
    ],
)
def test_bad_options(kw, match):
    ev = make_events([0], [0], [0], [0])
    with pytest.raises(OptionError, match=match):
        to_voxel_grid(ev, (2, 2, 2), **kw)


def test_event_outside_sensor():
    ev = make_events([0, 1], [0, 5], [0, 0], [0, 1])
    with pytest.raises(EventFormatError, match="event 1: x = 5"):
        to_voxel_grid(ev, (4, 4, 2), bins=2)
