"""Float representations through the pipeline: convert -> store -> FrameDataset, names, cache keys, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventkit.errors import OptionError
from eventkit.events import SensorSize
from eventkit.pipeline.spec import FLOAT_STORE_DTYPES, REPRESENTATIONS, HatsSpec, TimeSurfaceSpec, VoxelSpec, make_spec

SENSOR = SensorSize(128, 128, 2)
CFG = dict(train_users=1, test_users=1, lightings_per_user=1, gesture_us=100_000, gap_us=50_000, rate=5_000, seed=3)


@pytest.fixture(scope="module")
def gestures(tmp_path_factory) -> Path:
    from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures

    return Path(generate_synthetic_gestures(tmp_path_factory.mktemp("g") / "data", SyntheticGesturesConfig(**CFG)))


@pytest.fixture(scope="module")
def manifest():
    from eventkit.datasets.registry import get_manifest

    return get_manifest("synthetic-gestures")


def _rows(data: Path, split: str):
    from tests.eventkit.pipeline.conftest import gesture_rows, window_events

    return [(sid, cls, window_events(rec, start, end)) for sid, rec, cls, start, end in gesture_rows(data, split)]


SPECS = [
    ("voxel", {"bins": 4}, "float32"),
    ("voxel", {"bins": 3, "polarity": "split"}, "float16"),
    ("time-surface", {"tau": 20_000, "dt": 30_000}, "float32"),
    ("hats", {"cell_size": 16, "surface_size": 5, "time_window": 5_000, "tau": 2_000}, "float32"),
]


@pytest.mark.parametrize(("rep", "opts", "dtype"), SPECS, ids=[f"{r}-{d}" for r, _, d in SPECS])
def test_convert_store_and_dataset(gestures, manifest, tmp_path, rep, opts, dtype):
    """Every stored sample equals the function on its events; FrameDataset serves it unchanged."""
    from eventkit.pipeline import convert
    from eventkit.store import open_store
    from eventkit.torch import FrameDataset

    out = tmp_path / "s.zarr"
    r = convert(manifest, representation=rep, dtype=dtype, from_dir=gestures, out=out, executor="serial",
                progress=False, **opts)
    assert r.complete and not r.failures
    spec = make_spec(rep, dtype=dtype, **opts)
    store = open_store(out)
    assert store.attrs["params"]["repr"] == rep
    assert store.dtype == np.dtype(dtype)
    ds = FrameDataset(out, "test", dtype=None)
    for i, (sid, cls, ev) in enumerate(_rows(gestures, "test")):
        s = store["test"][i]
        want = spec.integrate(ev, SENSOR)
        assert s.sample_id == sid and s.label == cls - 1
        assert s.length == want.shape[0]
        np.testing.assert_array_equal(s.frames, want)
        x, label = ds[i][:2]
        np.testing.assert_array_equal(x.numpy(), want)
        assert int(label) == cls - 1


def test_store_names_and_cache_keys_differ(gestures, manifest, tmp_path):
    """The representation and its parameters name the store and enter its cache key."""
    from eventkit.pipeline import convert
    from eventkit.store import open_store
    from eventkit.store.errors import StoreMismatchError

    names = {make_spec("frames", frames=4).store_name(), make_spec("voxel", bins=4).store_name(),
             make_spec("voxel", bins=4, polarity="split").store_name(),
             make_spec("voxel", bins=4, dtype="float16").store_name(),
             make_spec("time-surface", tau=1, dt=5).store_name(), make_spec("hats").store_name()}
    assert len(names) == 5  # the dtype is not in the name (it is in the cache key)
    assert make_spec("voxel", bins=4).store_name() == "voxel-B4.zarr"
    assert make_spec("time-surface", tau=20000, dt=50000).store_name() == "timesurface-dt50000-tau20000.zarr"
    assert make_spec("time-surface", tau=20000, dt=50000).params() == make_spec("time-surface", tau=20000.0,
                                                                                  dt=50000).params()
    out = tmp_path / "v.zarr"
    convert(manifest, representation="voxel", bins=2, from_dir=gestures, out=out, executor="serial", progress=False)
    key = open_store(out).cache_key
    with pytest.raises(StoreMismatchError):
        convert(manifest, representation="voxel", bins=3, from_dir=gestures, out=out, executor="serial",
                progress=False)
    with pytest.raises(StoreMismatchError):
        convert(manifest, representation="voxel", bins=2, dtype="float16", from_dir=gestures, out=out,
                executor="serial", progress=False)
    with pytest.raises(StoreMismatchError):
        convert(manifest, representation="time-surface", tau=1, dt=2, from_dir=gestures, out=out,
                executor="serial", progress=False)
    assert open_store(out).cache_key == key


def test_default_store_path_uses_the_representation_name(gestures, manifest, tmp_path):
    from eventkit.pipeline import convert

    r = convert(manifest, representation="hats", cell_size=32, surface_size=3, from_dir=gestures, root=tmp_path,
                executor="serial", progress=False)
    assert r.store.name == "hats-c32-s3-w1000-tau100-exp.zarr"


@pytest.mark.parametrize(
    ("rep", "kw", "match"),
    [
        ("voxel", {}, "--bins"),
        ("voxel", {"bins": 2, "frames": 4}, "count-frame"),
        ("voxel", {"bins": 2, "dtype": "uint16"}, "float32, float16"),
        ("voxel", {"bins": 2, "tau": 3.0}, "--tau"),
        ("time-surface", {"tau": 1.0}, "--dt"),
        ("time-surface", {"tau": -1.0, "dt": 3}, "--tau"),
        ("hats", {"surface_size": 4}, "odd"),
        ("hats", {"downsample": 2}, "downsample"),
        ("frames", {"frames": 4, "bins": 2}, "--bins"),
        ("frames", {"frames": 4, "dtype": "float32"}, "--dtype"),
        ("pixels", {}, "--repr"),
    ],
)
def test_bad_spec_options(rep, kw, match):
    with pytest.raises(OptionError, match=match):
        make_spec(rep, **kw)


def test_spec_shapes():
    assert VoxelSpec(bins=5).sensor_out(SENSOR) == (128, 128, 1)
    assert VoxelSpec(bins=5, polarity="split", downsample=4).sensor_out(SENSOR) == (32, 32, 2)
    assert HatsSpec(cell_size=10, surface_size=5).sensor_out(SensorSize(34, 34, 2)) == (20, 20, 2)
    ts = TimeSurfaceSpec(tau=1.0, dt=10)
    assert ts.frames is None and ts.t_bound(0) == 1 and ts.t_bound(9) == 1 and ts.t_bound(10) == 2


def test_cli_copies_agree():
    from cli import eventkit_cli

    assert eventkit_cli.FLOAT_STORE_DTYPES == FLOAT_STORE_DTYPES
    assert eventkit_cli.REPRESENTATIONS == REPRESENTATIONS


def test_cli_convert_voxel_and_view(gestures, tmp_path):
    from click.testing import CliRunner

    from cli.eventkit_cli import main

    out = tmp_path / "cli.zarr"
    runner = CliRunner()
    res = runner.invoke(main, ["convert", "synthetic-gestures", "--repr", "voxel", "--bins", "3", "--from",
                               str(gestures), "--out", str(out), "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["view", str(out), "--split", "test", "--index", "0", "--out", str(tmp_path / "v")])
    assert res.exit_code == 0, res.output
    assert "3 frames of 128 x 128 (1 channels), voxel values in [-" in res.output
    assert (tmp_path / "v.png").stat().st_size > 100 and (tmp_path / "v.gif").stat().st_size > 100
    res = runner.invoke(main, ["convert", "synthetic-gestures", "--repr", "voxel", "--from", str(gestures),
                               "--out", str(tmp_path / "x.zarr"), "--executor", "serial", "--quiet"])
    assert res.exit_code != 0
    assert "Error:" in res.output and "--bins" in res.output and "Traceback" not in res.output
