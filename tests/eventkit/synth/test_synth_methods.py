"""eventkit.synth methods: saccade (DVS pixel model), ODG, frame differencing.

Small images only (the machine's two cores are shared): every test runs in well under a second
once the Numba kernel is compiled (cached on disk).
"""

from __future__ import annotations

import numpy as np
import pytest

from eventkit import EVENT_DTYPE, to_frames
from eventkit.synth import (
    ODG,
    ODG_DIRECTIONS,
    ODG_TRACE,
    DVSPixelModel,
    FrameDiff,
    Saccade,
    emit_events,
    prepare_image,
    shift_image,
)

H, W, EDGE = 12, 24, 12
QUIET = DVSPixelModel(threshold=0.2, sigma=0.0, refractory_us=0.0, noise_rate_hz=0.0)


def step_image(bright_right: bool = True) -> np.ndarray:
    """Dark (0) left of column EDGE, bright (1) from it on (or the reverse)."""
    img = np.zeros((H, W), np.float32)
    if bright_right:
        img[:, EDGE:] = 1.0
    else:
        img[:, :EDGE] = 1.0
    return img


def natural_like(seed: int = 3, h: int = 20, w: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((h // 4, w // 4)).astype(np.float32)
    return prepare_image(base, (w, h), fit="stretch")


# -- motion ------------------------------------------------------------------------------------
def test_shift_image_integer_and_subpixel() -> None:
    img = np.arange(20, dtype=np.float32).reshape(4, 5) / 20
    out = shift_image(img, 1, 0)
    np.testing.assert_array_equal(out[:, 1:], img[:, :-1])
    np.testing.assert_array_equal(out[:, 0], img[:, 0])  # edge replicated
    z = shift_image(img, 0, 2, border="zero")
    np.testing.assert_array_equal(z[:2], 0)
    np.testing.assert_array_equal(z[2:], img[:2])
    half = shift_image(img, 0.5, 0)
    np.testing.assert_allclose(half[:, 1:], (img[:, 1:] + img[:, :-1]) / 2, rtol=1e-6)


# -- saccade / pixel model -----------------------------------------------------------------------
def test_events_have_the_event_dtype_and_are_sorted() -> None:
    for m in (Saccade(), ODG(), FrameDiff()):
        ev = m.events(natural_like())
        assert ev.dtype == EVENT_DTYPE and ev.size > 0, m.name
        assert np.all(np.diff(ev["t"]) >= 0), m.name
        assert ev["t"].min() >= 0 and ev["t"].max() < m.duration_us(), m.name
        assert ev["x"].max() < 20 and ev["y"].max() < 20


@pytest.mark.parametrize("bright_right, polarity", [(True, 0), (False, 1)])
def test_edge_moving_right_gives_the_right_polarity_place_and_time(bright_right: bool, polarity: int) -> None:
    # image translated right by one pixel during [0, 100 ms): column EDGE takes the value of column
    # EDGE - 1, so it gets darker (OFF) when the bright side is on the right, brighter (ON) otherwise.
    seg = 100_000
    m = Saccade(path=((0, 0), (1, 0)), segment_us=seg, samples_per_px=64, pixel=QUIET)
    ev = m.events(step_image(bright_right))
    assert ev.size > 0
    assert set(ev["x"].tolist()) == {EDGE}
    assert set(ev["p"].tolist()) == {polarity}
    assert sorted(set(ev["y"].tolist())) == list(range(H))
    # every row crosses the same number of thresholds: floor((ln(1 + eps) - ln(eps)) / C)
    n = int(np.floor((np.log(1 + QUIET.log_eps) - np.log(QUIET.log_eps)) / QUIET.threshold))
    assert np.all(np.bincount(ev["y"], minlength=H) == n)
    # the i-th crossing happens when the (linear) intensity reaches the i-th level: check the time
    eps, c = QUIET.log_eps, QUIET.threshold
    i = np.arange(1, n + 1)
    if polarity == 0:  # 1 -> 0: intensity 1 - f, level ln(1 + eps) - i C
        f = (1 + eps) * (1 - np.exp(-i * c))
    else:  # 0 -> 1: intensity f, level ln(eps) + i C
        f = eps * (np.exp(i * c) - 1)
    row0 = np.sort(ev["t"][ev["y"] == 0])
    np.testing.assert_allclose(row0, f * seg, atol=seg / 64 * 0.05 + 1)  # within 5% of a sample step


def test_edge_out_and_back_flips_polarity_between_segments() -> None:
    seg = 50_000
    m = Saccade(path=((0, 0), (1, 0), (0, 0)), segment_us=seg, pixel=QUIET)
    ev = m.events(step_image(True))
    first, second = ev[ev["t"] < seg], ev[ev["t"] >= seg]
    assert first.size == second.size > 0
    assert set(first["p"].tolist()) == {0} and set(second["p"].tolist()) == {1}
    assert set(ev["x"].tolist()) == {EDGE}


def test_vertical_motion_of_a_vertical_edge_gives_nothing() -> None:
    m = Saccade(path=((0, 0), (0, 2)), pixel=QUIET)
    assert m.events(step_image()).size == 0


@pytest.mark.parametrize("method", [Saccade(), ODG(), FrameDiff(), FrameDiff(jitter=0.7)])
@pytest.mark.parametrize("value", [0.0, 0.4, 1.0])
def test_constant_image_gives_no_events(method, value: float) -> None:
    # noise off; ODG's border suppression (as published) removes the image outline's events too
    img = np.full((H, W), value, np.float32)
    assert method.events(img, rng=5).size == 0
    assert method.frames(img, 4, rng=5).sum() == 0


def test_refractory_period_thins_events_and_is_respected() -> None:
    img = step_image()
    fast = Saccade(path=((0, 0), (1, 0)), segment_us=2_000, pixel=QUIET)
    refr = Saccade(path=((0, 0), (1, 0)), segment_us=2_000,
                   pixel=DVSPixelModel(threshold=0.2, sigma=0.0, refractory_us=500.0))  # fmt: skip
    a, b = fast.events(img), refr.events(img)
    assert 0 < b.size < a.size
    for y in range(H):
        t = np.sort(b["t"][b["y"] == y])
        assert np.all(np.diff(t) >= 499)  # floored µs of crossings >= 500 µs apart


def test_threshold_mismatch_is_a_fixed_sensor_property() -> None:
    m = DVSPixelModel(sigma=0.05, mismatch_seed=3)
    on1, off1 = m.thresholds(H, W)
    on2, off2 = DVSPixelModel(sigma=0.05, mismatch_seed=3).thresholds(H, W)
    np.testing.assert_array_equal(on1, on2)
    np.testing.assert_array_equal(off1, off2)
    assert on1.std() > 0.02 and not np.array_equal(on1, off1)
    assert not np.array_equal(on1, DVSPixelModel(sigma=0.05, mismatch_seed=4).thresholds(H, W)[0])
    assert on1.min() >= m.c_min


def test_determinism_with_a_seed() -> None:
    img = natural_like()
    noisy = Saccade(pixel=DVSPixelModel(noise_rate_hz=50.0))
    a, b, c = noisy.events(img, 11), noisy.events(img, np.random.default_rng(11)), noisy.events(img, 12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # noise count is Poisson(rate * pixels * duration): 50 Hz * 400 px * 0.3 s = 6000 expected
    clean = Saccade().events(img)
    assert 5500 < a.size - clean.size < 6500
    jit = FrameDiff(jitter=0.5)
    np.testing.assert_array_equal(jit.frames(img, 6, 4), jit.frames(img, 6, 4))
    assert not np.array_equal(jit.frames(img, 6, 4), jit.frames(img, 6, 5))
    # without noise/jitter the seed does not matter
    np.testing.assert_array_equal(Saccade().events(img, 1), Saccade().events(img, 2))


def test_emit_events_matches_a_python_reference() -> None:
    rng = np.random.default_rng(0)
    logi = np.cumsum(rng.normal(0, 0.15, (30, 3, 4)), axis=0).astype(np.float32)
    times = np.cumsum(rng.integers(50, 150, 30)).astype(np.float64)
    model = DVSPixelModel(threshold=0.2, sigma=0.04, refractory_us=120.0, mismatch_seed=9)
    ev = emit_events(logi, times, model, sort=False)
    con, coff = model.thresholds(3, 4)
    ref_rows = []
    for y in range(3):
        for x in range(4):
            ref, last = float(logi[0, y, x]), -np.inf
            for k in range(1, 30):
                a, b = float(logi[k - 1, y, x]), float(logi[k, y, x])
                for sign, c in ((1, float(con[y, x])), (-1, float(coff[y, x]))):
                    while sign * (b - ref) >= c:
                        ref += sign * c
                        tc = times[k - 1] + (ref - a) / (b - a) * (times[k] - times[k - 1])
                        if tc - last >= 120.0:
                            ref_rows.append((int(np.floor(tc)), x, y, int(sign > 0)))
                            last = tc
    got = [(int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])) for e in ev]
    assert len(got) == len(ref_rows)
    for g, r in zip(got, ref_rows):  # float32 vs float64 arithmetic: a time may differ by 1 µs
        assert g[1:] == r[1:] and abs(g[0] - r[0]) <= 1


def test_saccade_frames_count_every_event_in_time_bins() -> None:
    img = natural_like()
    m = Saccade()
    ev = m.events(img)
    fr = m.frames(img, 12)
    assert fr.shape == (12, 2, 20, 20) and fr.dtype == np.uint16
    assert int(fr.sum()) == ev.size
    # 12 bins over 3 saccades of 100 ms: bin k holds [25 ms k, 25 ms (k + 1))
    k = 5
    sel = (ev["t"] >= 25_000 * k) & (ev["t"] < 25_000 * (k + 1))
    assert int(fr[k].sum()) == int(sel.sum())


# -- ODG ---------------------------------------------------------------------------------------
def test_odg_reproduces_the_published_per_step_directions() -> None:
    # ES-ImageNet's trace (Lin et al. 2021): rows 1,0,2,1,0,2,1,1,2 and columns 0,2,1,0,1,2,0,1,1
    assert [r for r, _ in ODG_TRACE] == [1, 0, 2, 1, 0, 2, 1, 1, 2]
    assert [c for _, c in ODG_TRACE] == [0, 2, 1, 0, 1, 2, 0, 1, 1]
    assert ODG_DIRECTIONS == ((2, -1), (-1, 2), (-1, -1), (1, -1), (1, 2), (-2, -1), (1, 0), (0, 1))
    # one bright dot at (x0, y0): at step k the dot appears (ON) at P_k and leaves (OFF) P_{k-1}
    x0, y0 = 9, 7
    img = np.zeros((16, 20), np.float32)
    img[y0, x0] = 1.0
    m = ODG(step_us=1000)
    ev = m.events(img)
    assert ev.size == 16
    for k in range(1, 9):
        step = ev[ev["t"] == (k - 1) * 1000]
        (r0, c0), (r1, c1) = ODG_TRACE[k - 1], ODG_TRACE[k]
        on = step[step["p"] == 1]
        off = step[step["p"] == 0]
        assert [(int(on["x"][0]), int(on["y"][0]))] == [(x0 + c1 - 1, y0 + r1 - 1)] and on.size == 1
        assert [(int(off["x"][0]), int(off["y"][0]))] == [(x0 + c0 - 1, y0 + r0 - 1)] and off.size == 1
        dx, dy = ODG_DIRECTIONS[k - 1]
        assert (int(on["x"][0]) - int(off["x"][0]), int(on["y"][0]) - int(off["y"][0])) == (dx, dy)


def test_odg_threshold_is_strict_on_intensity_differences() -> None:
    img = np.zeros((10, 10), np.float32)
    img[5, 5] = 0.18
    assert ODG(threshold=0.18).events(img).size == 0
    img[5, 5] = 0.19
    assert ODG(threshold=0.18).events(img).size == 16


def test_odg_frames_are_the_eight_binary_step_frames() -> None:
    img = natural_like(h=24, w=24)
    m = ODG()
    fr = m.frames(img)
    masks = m.step_masks(img)
    assert fr.shape == (8, 2, 24, 24)
    np.testing.assert_array_equal(fr, masks.astype(np.uint16))
    assert fr.max() == 1


def test_odg_edge_polarity() -> None:
    # step 1 moves the image right by 2 (column 0 -> 2 on the canvas; output x = canvas x - 1): the
    # edge goes from output column EDGE - 1 to EDGE + 1, so columns EDGE - 1 and EDGE darken (OFF)
    fr = ODG().frames(step_image(True))
    cols_off = np.nonzero(fr[0, 0].any(axis=0))[0]
    assert fr[0, 1].sum() == 0 and list(cols_off) == [EDGE - 1, EDGE]
    # step 8 moves down (0, +1): a vertical edge gives nothing
    assert fr[7].sum() == 0


# -- frame differencing ------------------------------------------------------------------------
def test_diff_frames_and_events_agree_and_have_t_frames() -> None:
    img = natural_like()
    for t in (1, 5, 16):
        m = FrameDiff(n_frames=t)
        fr = m.frames(img, t)
        ev = m.events(img)
        assert fr.shape == (t, 2, 20, 20)
        again = to_frames(ev, (20, 20, 2), frames=t, split_by="time", t_start=0, t_end=m.duration_us())
        np.testing.assert_array_equal(fr, again)


def test_diff_edge_polarity_and_binary() -> None:
    m = FrameDiff(path=((0, 0), (4, 0)), threshold=0.2)
    fr = m.frames(step_image(True), 4)  # 1 px right per frame: column EDGE + k darkens at frame k
    for k in range(4):
        assert fr[k, 1].sum() == 0
        assert list(np.nonzero(fr[k, 0].any(axis=0))[0]) == [EDGE + k]
    b = FrameDiff(path=((0, 0), (4, 0)), threshold=0.2, binary=True).frames(step_image(True), 4)
    assert b.max() == 1 and np.array_equal(b > 0, fr > 0)


# -- preparation -------------------------------------------------------------------------------
def test_prepare_image_fits_and_grays() -> None:
    rgb = np.zeros((30, 60, 3), np.uint8)
    rgb[..., 0] = 255
    assert prepare_image(rgb, 16).shape == (16, 16)
    np.testing.assert_allclose(prepare_image(rgb, 16, gray="luma"), 0.299, rtol=1e-5)
    np.testing.assert_allclose(prepare_image(rgb, 16, gray="max"), 1.0)
    pad = prepare_image(rgb, 16, fit="pad", gray="max")
    assert pad[0].sum() == 0 and pad[8].min() == 1.0  # letterbox above, content in the middle
    assert prepare_image(rgb, (20, 10), fit="stretch").shape == (10, 20)
    with pytest.raises(ValueError):
        prepare_image(rgb, 16, fit="zoom")


@pytest.mark.parametrize("border", ["edge", "zero"])
def test_fused_render_equals_shift_then_log(border: str) -> None:
    img = natural_like(h=13, w=17)
    m = Saccade(path=((0, 0), (1.3, -2.6), (-3.2, 0.4)), border=border)
    times, logi = m.log_frames(img)
    t2, disp = m.sample_plan()
    np.testing.assert_array_equal(times, t2)
    ref = np.stack([np.log(np.float32(m.pixel.log_eps) + shift_image(img, dx, dy, border)) for dx, dy in disp])
    np.testing.assert_allclose(logi, ref, rtol=0, atol=2e-6)
