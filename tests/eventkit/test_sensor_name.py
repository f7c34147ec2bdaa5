"""One vocabulary: a sensor's ``(width, height, polarities)`` is ``sensor`` everywhere; the former
(Tonic-style) keyword ``sensor_size=`` and attribute ``.sensor_size`` still work, with a DeprecationWarning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import eventkit
from eventkit.examples import moving_bar_events

SENSOR = (8, 6, 2)
EVENTS = moving_bar_events(0.01, SENSOR, rate=50_000, seed=1)

# (function, its other keyword arguments): each public function that took sensor_size=
CALLS = [
    (eventkit.to_frames, {"frames": 3, "split_by": "time"}),
    (eventkit.to_voxel_grid, {"bins": 3}),
    (eventkit.to_time_surface, {"tau": 1000.0, "dt": 2000}),
    (eventkit.to_averaged_time_surface, {"cell_size": 4, "surface_size": 3, "time_window": 1000, "tau": 1000.0}),
]


@pytest.mark.parametrize(("fn", "kw"), CALLS, ids=lambda v: getattr(v, "__name__", ""))
def test_old_keyword_gives_the_same_result_with_a_warning(fn, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name (and the positional form) warn about nothing
        new = fn(EVENTS, sensor=SENSOR, **kw)
        positional = fn(EVENTS, SENSOR, **kw)
    with pytest.warns(DeprecationWarning, match=r"sensor_size= is deprecated, use sensor="):
        old = fn(EVENTS, sensor_size=SENSOR, **kw)
    np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(positional, new)
    with pytest.raises(TypeError, match="both sensor= and its old name sensor_size="):
        fn(EVENTS, sensor=SENSOR, sensor_size=SENSOR, **kw)


def test_old_keyword_of_validate_events_and_moving_bar_events():
    with pytest.warns(DeprecationWarning, match="use sensor="):
        assert eventkit.validate_events(EVENTS, sensor_size=SENSOR) is EVENTS
    with pytest.warns(DeprecationWarning, match="use sensor="), pytest.raises(eventkit.EventFormatError, match="x = 7"):
        eventkit.validate_events(EVENTS, sensor_size=(7, 6, 2))  # the old keyword still checks
    with pytest.warns(DeprecationWarning, match="use sensor="):
        old = moving_bar_events(0.01, sensor_size=SENSOR, rate=50_000, seed=1)
    np.testing.assert_array_equal(old, EVENTS)


def test_event_transforms_and_datasets_keep_sensor_size(tmp_path):
    pytest.importorskip("torch")
    from eventkit.store import create_store
    from eventkit.torch import FrameDataset
    from eventkit.torch import event_transforms as ET

    for cls in (ET.RandomHorizontalFlipEvents, ET.EventDropEvents):
        with pytest.warns(DeprecationWarning, match="use sensor="):
            old = cls(sensor_size=SENSOR, seed=3)
        new = cls(sensor=SENSOR, seed=3)
        assert new.sensor == old.sensor == eventkit.SensorSize(*SENSOR)
        np.testing.assert_array_equal(old(EVENTS), new(EVENTS))
        with pytest.warns(DeprecationWarning, match=r"\.sensor_size is deprecated, use \.sensor"):
            assert new.sensor_size == new.sensor

    w = create_store(tmp_path / "s.zarr", splits={"train": 1}, t_max=1, sensor=SENSOR, params={"frames": 1},
                     classes=["a"], dataset="toy")  # fmt: skip
    w.write_sample("train", 0, np.zeros((1, 2, 6, 8), np.uint16), 0, "s0")
    w.finalize()
    ds = FrameDataset(tmp_path / "s.zarr", "train")
    assert ds.sensor == eventkit.SensorSize(*SENSOR)
    with pytest.warns(DeprecationWarning, match=r"FrameDataset\.sensor_size is deprecated, use \.sensor"):
        assert ds.sensor_size == ds.sensor
