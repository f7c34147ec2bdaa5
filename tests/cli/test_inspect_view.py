"""Rendering (colours, contrast, PNG grid, GIF) and the ``inspect`` / ``view`` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from eventkit_cli.inspect_view import inspect, view
from eventkit.events import EVENT_DTYPE
from eventkit.render import PALETTES, contrast_scale, frames_to_rgb, save_gif, save_grid_png
from eventkit.store import create_event_store, create_store

BLACK = PALETTES["black"]
WHITE = PALETTES["white"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def one_event(t: int = 3, p: int = 2, h: int = 5, w: int = 7, *, pol: int = 1, y: int = 2, x: int = 3) -> np.ndarray:
    f = np.zeros((t, p, h, w), np.uint16)
    f[:, pol, y, x] = 1
    return f


# -- render ----------------------------------------------------------------------------------
def test_rgb_shape_and_on_only_is_on_coloured():
    rgb = frames_to_rgb(one_event(pol=1))
    assert rgb.shape == (3, 5, 7, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 2, 3]) == BLACK["on"]
    rest = np.ones((5, 7), bool)
    rest[2, 3] = False
    assert (rgb[:, rest] == BLACK["bg"]).all()
    # OFF (channel 0) gets the other colour; white background too.
    assert tuple(frames_to_rgb(one_event(pol=0))[1, 2, 3]) == BLACK["off"]
    white = frames_to_rgb(one_event(pol=1), background="white")
    assert tuple(white[0, 2, 3]) == WHITE["on"] and tuple(white[0, 0, 0]) == WHITE["bg"]
    assert BLACK["on"] != BLACK["off"]


def test_rgb_both_polarities_and_merged():
    f = one_event(pol=1) + one_event(pol=0)
    both = frames_to_rgb(f)[0, 2, 3]
    assert tuple(both) == tuple(min(255, a + b) for a, b in zip(BLACK["on"], BLACK["off"]))
    merged = frames_to_rgb(one_event(p=1, pol=0))
    assert merged.shape == (3, 5, 7, 3) and tuple(merged[0, 2, 3]) == BLACK["merged"]
    assert (frames_to_rgb(np.zeros((2, 2, 4, 4), np.uint16)) == 0).all()


def test_contrast_is_robust_to_a_hot_pixel():
    f = np.zeros((1, 2, 20, 20), np.uint16)
    f[0, 1, :, :10] = 1  # 200 ordinary pixels with one event
    f[0, 1, 0, 19] = 60000  # one hot pixel
    assert contrast_scale(f) == 1.0
    assert tuple(frames_to_rgb(f)[0, 5, 5]) == BLACK["on"]  # full colour despite the hot pixel
    dim = frames_to_rgb(f, percentile=100)[0, 5, 5]
    assert int(dim[0]) < BLACK["on"][0] // 4
    # Intensity grows with the count up to the scale.
    g = np.zeros((1, 2, 1, 3), np.uint16)
    g[0, 1, 0] = [1, 2, 4]
    r = frames_to_rgb(g, scale=4)[0, 0, :, 0].astype(int)
    assert r[0] < r[1] < r[2] == BLACK["on"][0]


def test_rgb_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\[T, P, H, W\]"):
        frames_to_rgb(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="P in"):
        frames_to_rgb(np.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError, match="background"):
        frames_to_rgb(np.zeros((1, 2, 4, 4)), background="green")


def test_png_grid_layout_and_colours(tmp_path):
    f = one_event(t=5, pol=1)
    out = save_grid_png(f, tmp_path / "sub" / "g.png", cols=3, scale=2, labels=False)
    im = Image.open(out)
    assert im.format == "PNG" and im.mode == "RGB"
    # 3 columns x 2 rows of 7x5 tiles at scale 2, 2-pixel gaps.
    assert im.size == (3 * 14 + 4 * 2, 2 * 10 + 3 * 2)
    a = np.asarray(im)
    assert tuple(a[2 + 2 * 2, 2 + 3 * 2]) == BLACK["on"]  # tile 0, pixel (y=2, x=3)
    assert tuple(a[2 + 2 * 2 + 1, 2 + 3 * 2 + 1]) == BLACK["on"]  # nearest-neighbour upscaling
    assert tuple(a[0, 0]) == BLACK["sep"]
    # Index labels are drawn into tiles large enough for them (the default scale makes ~256 px tiles).
    labelled = np.asarray(Image.open(save_grid_png(f, tmp_path / "l.png")))
    plain = np.asarray(Image.open(save_grid_png(f, tmp_path / "p.png", labels=False)))
    assert labelled.shape == plain.shape and labelled.shape[0] > 200
    assert (labelled != plain).any(axis=-1).sum() > 10


def test_gif_has_one_frame_per_frame(tmp_path):
    f = np.zeros((6, 2, 5, 7), np.uint16)  # identical (empty) frames must not be merged
    f[0, 1, 2, 3] = 1
    out = save_gif(f, tmp_path / "a.gif", fps=10, scale=3)
    im = Image.open(out)
    assert im.format == "GIF" and im.n_frames == 6
    assert im.size == (21, 15 + 3)  # picture plus the progress bar
    assert im.info["duration"] == 100 and im.info["loop"] == 0
    first = np.asarray(im.convert("RGB"))
    assert tuple(first[2 * 3, 3 * 3]) == BLACK["on"] and tuple(first[0, 0]) == BLACK["bg"]
    with pytest.raises(ValueError, match="fps"):
        save_gif(f, tmp_path / "b.gif", fps=0)


# -- stores for the commands -----------------------------------------------------------------
def frame_store(path, *, finalize=True):
    w = create_store(path, splits={"train": 3, "test": 2}, t_max=4, sensor=(8, 6, 2), params={"frames": 4},
                     classes=["left", "right"], dataset="toy", samples_per_shard=2)  # fmt: skip
    rng = np.random.default_rng(0)
    for split, lengths in (("train", [4, 2, 3]), ("test", [1, 4])):
        if not finalize and split == "test":
            continue
        for s in range(w.n_shards(split)):
            w.write_shard(split, s, [(rng.integers(0, 3, (lengths[i], 2, 6, 8)).astype(np.uint16), i % 2, f"{split}{i}")
                                     for i in w.shard_range(split, s)])  # fmt: skip
    w.finalize() if finalize else w.close()
    return path


def test_inspect_human_and_json(runner, tmp_path):
    store = frame_store(tmp_path / "frames-T4.zarr")
    res = runner.invoke(inspect, [str(store)])
    assert res.exit_code == 0, res.output
    for word in ("complete", "frames store", "[T_max=4, P=2, H=6, W=8] uint16", "compression x", "cache key",
                 "T distribution", "left", "right", "size on disk", "blosc zstd"):  # fmt: skip
        assert word in res.output, word
    res = runner.invoke(inspect, [str(store), "--json"])
    assert res.exit_code == 0, res.output
    facts = json.loads(res.output)
    assert facts["splits"]["train"]["lengths"]["histogram"] == [[2, 1], [3, 1], [4, 1]]
    assert facts["samples"] == 5


def test_inspect_histogram_bins_many_lengths():
    from eventkit_cli.inspect_view import _histogram

    lines = _histogram([[t, 1] for t in range(3, 60)])  # 57 distinct T (variable-T stores)
    assert len(lines) == 12 and lines[0].split()[0] == "T=3-7" and lines[-1].split()[0] == "T=58-59"
    assert sum(int(line.split()[-1]) for line in lines) == 57
    assert [line.split()[0] for line in _histogram([[2, 1], [4, 3]])] == ["T=2", "T=4"]


def test_inspect_incomplete_and_errors(runner, tmp_path):
    store = frame_store(tmp_path / "part.zarr", finalize=False)
    res = runner.invoke(inspect, [str(store)])
    assert res.exit_code == 0, res.output
    assert "INCOMPLETE: 2 of 5 samples not written" in res.output
    (tmp_path / "plain").mkdir()
    for target in (tmp_path / "plain", tmp_path / "missing.zarr"):
        res = runner.invoke(inspect, [str(target)])
        assert res.exit_code == 1
        assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert "Example" in runner.invoke(inspect, ["--help"]).output


def test_view_store_sample(runner, tmp_path, monkeypatch):
    store = frame_store(tmp_path / "frames-T4.zarr")
    res = runner.invoke(view, [str(store), "--split", "train", "--index", "1", "--out", str(tmp_path / "o" / "s1")])
    assert res.exit_code == 0, res.output
    png, gif = tmp_path / "o" / "s1.png", tmp_path / "o" / "s1.gif"
    assert str(png) in res.output and str(gif) in res.output
    assert Image.open(png).format == "PNG"
    assert Image.open(gif).n_frames == 2  # the sample's length, not t_max
    assert "split 'train' sample 1 (train1): class 1 'right'" in res.output  # which sample, which class
    # Default split train, negative index, default output name in the working directory.
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(view, [str(store), "-i", "-1", "--scale", "2", "--fps", "4"])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "frames-T4-train-2.gif").n_frames == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--split", "val"], "no split 'val'; it has train, test"),
        (["--index", "3"], "sample 3 out of range"),
        (["--index", "-4"], "out of range"),
        (["--frames", "8"], "holds frames already"),
    ],
)
def test_view_store_errors(runner, tmp_path, args, message):
    store = frame_store(tmp_path / "s.zarr")
    res = runner.invoke(view, [str(store), *args, "--out", str(tmp_path / "x")])
    assert res.exit_code == 1
    assert message in res.output and res.output.startswith("Error: ") and res.output.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_view_unwritten_sample_and_non_store(runner, tmp_path):
    store = frame_store(tmp_path / "part.zarr", finalize=False)
    res = runner.invoke(view, [str(store), "--split", "test", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "has not been written yet" in res.output
    (tmp_path / "plain").mkdir()
    res = runner.invoke(view, [str(tmp_path / "plain")])
    assert res.exit_code == 1 and "not an eventkit store" in res.output
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    res = runner.invoke(view, [str(bad), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and res.output.count("\n") == 1
    assert "Example" in runner.invoke(view, ["--help"]).output


def test_view_recording(runner, tmp_path):
    from eventkit.examples import moving_bar_events
    from eventkit.io.aedat31_writer import write_aedat31

    rec = tmp_path / "bar.aedat"
    write_aedat31(rec, moving_bar_events(0.2, (128, 128), seed=1), source="DVS128")
    res = runner.invoke(view, [str(rec), "-T", "5", "--split-by", "time", "--out", str(tmp_path / "bar")])
    assert res.exit_code == 0, res.output
    assert "5 frames of 128 x 128" in res.output
    assert Image.open(tmp_path / "bar.gif").n_frames == 5
    assert Image.open(tmp_path / "bar.png").size[0] > 128
    res = runner.invoke(view, [str(rec), "--index", "2"])
    assert res.exit_code == 1 and "is a recording; --split and --index select a sample of a store" in res.output
    res = runner.invoke(view, [str(tmp_path / "missing.aedat")])
    assert res.exit_code == 1 and "no such file or folder" in res.output


def test_view_event_store(runner, tmp_path):
    w = create_event_store(tmp_path / "ev.zarr", splits={"train": 2}, sensor=(10, 10, 2), classes=["a"],
                           dataset="toy", samples_per_shard=2)  # fmt: skip
    samples = []
    for i in range(2):
        ev = np.zeros(40, EVENT_DTYPE)
        ev["t"], ev["x"], ev["y"], ev["p"] = np.arange(40), np.arange(40) % 10, i, np.arange(40) % 2
        samples.append((ev, 0, f"s{i}"))
    w.write_shard("train", 0, samples)
    w.finalize()
    res = runner.invoke(view, [str(tmp_path / "ev.zarr"), "-i", "1", "-T", "4", "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    assert "4 frames of 10 x 10 (2 polarities), 40 events" in res.output
    assert Image.open(tmp_path / "e.gif").n_frames == 4


def test_view_says_when_there_is_nothing_to_see(runner, tmp_path):
    """A recording with no events in a declared sensor renders blank frames, and says so."""
    from eventkit.io.aedat31_writer import write_aedat31

    rec = tmp_path / "empty.aedat"
    write_aedat31(rec, np.zeros(0, EVENT_DTYPE), source="DVS128")
    res = runner.invoke(view, [str(rec), "-T", "3", "--out", str(tmp_path / "empty")])
    assert res.exit_code == 0, res.output
    assert "0 events" in res.output and "holds no events" in res.output and "blank" in res.output


def test_curves_have_a_run_title_and_the_legend_off_the_data(tmp_path):
    from snnmodels.training.plots import plot_curves

    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "train_acc": 0.5, "val_acc": 0.4}
               for e in range(1, 6)]
    plain = np.asarray(Image.open(plot_curves(history, tmp_path / "a.png")).convert("L"))
    titled = np.asarray(Image.open(plot_curves(history, tmp_path / "b.png", title="plif-gesture run a")).convert("L"))
    assert titled.shape[0] == plain.shape[0] + 20 and (titled[:20] < 128).any()  # the run title, in its own band
    assert (titled[20:] == plain).all()  # the panels below it, unchanged
    # Inside the accuracy frame (x 500..890, y 22..310), the top-right corner, where the legend used
    # to be drawn over the curves, holds only white and the light grid.
    assert plain[24:60, 790:888].min() >= 200
    # The legend is in the header band, beside the panel title.
    assert (plain[:20, 700:890] < 128).sum() > 20


def test_inspect_all_written_but_not_finalized_says_finalize(runner, tmp_path):
    """The parts of a job array wrote every sample but none may mark the store complete."""
    w = create_store(tmp_path / "s.zarr", splits={"train": 2}, t_max=2, sensor=(4, 3, 2), params={"frames": 2},
                     classes=["a"], dataset="toy", samples_per_shard=2)  # fmt: skip
    w.write_shard("train", 0, [(np.ones((2, 2, 3, 4), np.uint16), 0, f"s{i}") for i in w.shard_range("train", 0)])
    w.close()  # not finalized
    res = runner.invoke(inspect, [str(tmp_path / "s.zarr")])
    assert res.exit_code == 0, res.output
    assert "all 2 samples written but not marked complete" in res.output and "--finalize" in res.output
    assert "0 of 2 samples not written" not in res.output


def test_a_rerun_on_a_complete_store_writes_nothing(tmp_path):
    """Finalizing a store that is already complete keeps its attributes (no new timestamp)."""
    from eventkit.store import open_store

    w = create_store(tmp_path / "s.zarr", splits={"train": 1}, t_max=2, sensor=(4, 3, 2), params={"frames": 2},
                     classes=["a"], dataset="toy", samples_per_shard=1)  # fmt: skip
    w.write_shard("train", 0, [(np.ones((2, 2, 3, 4), np.uint16), 0, "s0")])
    w.finalize()
    meta = tmp_path / "s.zarr" / "zarr.json"
    before = (meta.read_bytes(), meta.stat().st_mtime_ns)
    w2 = create_store(tmp_path / "s.zarr", splits={"train": 1}, t_max=2, sensor=(4, 3, 2), params={"frames": 2},
                      classes=["a"], dataset="toy", samples_per_shard=1)  # fmt: skip
    w2.finalize()
    assert (meta.read_bytes(), meta.stat().st_mtime_ns) == before
    assert open_store(tmp_path / "s.zarr").attrs["complete"] is True
