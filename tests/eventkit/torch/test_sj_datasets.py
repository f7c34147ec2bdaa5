"""SpikingJelly-style dataset classes (eventkit.torch.datasets) on a tiny synthetic-gestures dataset.

The dataset is generated locally (no network): the registered synthetic-gestures generator is
swapped for a tiny configuration so download-on-first-use and conversion take about a second.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import eventkit
from eventkit.datasets import generators
from eventkit.datasets.registry import list_datasets
from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures
from eventkit.errors import DownloadError, EventkitError
from eventkit.store import StoreNotFoundError
from eventkit.torch import FrameDataset, pad_collate
from eventkit.torch import datasets as D
from eventkit.torch.dataset import DatasetArgumentError

TINY = SyntheticGesturesConfig(train_users=2, test_users=1, lightings_per_user=1, gesture_us=200_000, gap_us=50_000,
                               rate=20_000, seed=1)  # fmt: skip


def tiny_generator(out_dir):
    return generate_synthetic_gestures(out_dir, TINY)


@pytest.fixture
def tiny(monkeypatch):
    """synthetic-gestures generates the tiny dataset (what `eventkit download` would generate)."""
    monkeypatch.setitem(generators.GENERATORS, "synthetic-gestures", tiny_generator)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return Path(generate_synthetic_gestures(tmp_path_factory.mktemp("tiny") / "data", TINY))


def test_class_list_covers_every_bundled_manifest():
    names = {m.name for m in list_datasets()}
    assert names == set(D.CLASS_NAMES)
    for name, cls_name in D.CLASS_NAMES.items():
        cls = getattr(D, cls_name)
        assert cls.dataset_name == name and issubclass(cls, FrameDataset) and cls_name in D.__all__
    from eventkit.torch.datasets import (  # noqa: F401  (the names SpikingJelly users import)
        CIFAR10DVS, DVS128Gesture, NMNIST, SHD, SSC, ASLDVS, NCaltech101, SpikingHeidelbergDigits,
    )
    assert SpikingHeidelbergDigits is SHD


def test_first_use_downloads_converts_and_matches_frame_dataset(tiny, tmp_path, tiny_data):
    root = tmp_path / "root"
    ds = D.SyntheticGestures(root=root, train=True, data_type="frame", frames_number=4, split_by="number",
                             progress=False, executor="serial")  # fmt: skip
    assert (root / "synthetic-gestures" / "stores" / "frames-T4-number.zarr").is_dir()
    report = eventkit.convert("synthetic-gestures", frames=4, split_by="number", from_dir=tiny_data,
                              out=tmp_path / "ref.zarr", executor="serial", progress=False)  # fmt: skip
    ref = FrameDataset(report.store, "train")
    assert len(ds) == len(ref) == 22 and ds.classes == ref.classes
    for i in (0, 7, len(ref) - 1):
        (x, y), (rx, ry) = ds[i], ref[i]
        assert x.dtype == torch.float32 and x.shape == (4, 2, 128, 128)
        assert y == ry and torch.equal(x, rx)
    test = D.SyntheticGestures(root=root, train=False, frames_number=4, progress=False)  # reuses the store
    assert len(test) == 11 and test.split == "test"
    x, y, n = pad_collate([ds[0], ds[1]])
    assert x.shape == (2, 4, 2, 128, 128) and n.tolist() == [4, 4]
    again = pickle.loads(pickle.dumps(ds))  # spawn workers pickle it
    assert type(again) is D.SyntheticGestures and torch.equal(again[3][0], ds[3][0])


def test_duration_event_mode_and_split_names(tiny, tmp_path):
    root = tmp_path / "root"
    ds = D.SyntheticGestures(root, False, "frame", duration=50_000, progress=False, executor="serial")
    x, y, length = ds[0]  # variable T
    assert x.shape[0] == length and ds.variable_length
    ev = D.NeuromorphicDataset("synthetic-gestures", root, data_type="event", split="test", progress=False,
                               executor="serial")  # fmt: skip
    events, label = ev[2]
    assert events.dtype == eventkit.EVENT_DTYPE and len(events) == ev.counts[2] and label == ev.targets[2]
    assert len(ev.__getitems__([0, 1])) == 2


def test_download_false_names_the_command(tmp_path):
    with pytest.raises(StoreNotFoundError, match="eventkit convert synthetic-gestures -T 8"):
        D.SyntheticGestures(tmp_path, frames_number=8, download=False)
    assert not (tmp_path / "synthetic-gestures" / "stores").exists()


def test_manual_dataset_says_what_to_fetch(tmp_path):
    with pytest.raises(DownloadError, match=r"DvsGesture\.tar\.gz") as err:
        D.DVS128Gesture(tmp_path, train=True, frames_number=16, split_by="number", progress=False)
    assert str(tmp_path / "dvs128-gesture" / "download") in str(err.value)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"frames_number": 16, "duration": 10_000}, "frames_number .* or duration .*, not both"),
    ({"duration": 10_000, "split_by": "number"}, "split_by goes with frames_number"),
    ({"frames_number": 0}, "frames_number must be a positive integer"),
    ({"frames_number": 2.5}, "frames_number must be a positive integer"),
    ({"split_by": "count"}, "split_by must be 'number' or 'time'"),
    ({"data_type": "frames"}, "data_type must be 'frame' or 'event'"),
    ({"data_type": "event", "frames_number": 16}, "frames_number only apply to data_type='frame'"),
    ({"train": None}, r"train=None needs split=, one of \['train', 'test'\]"),
    ({"train": "yes"}, "train must be True, False or None"),
    ({"split": "valid"}, r"unknown split='valid'; its splits are \['train', 'test'\]"),
    ({"custom_integrate_function": lambda e, h, w: e}, "custom_integrate_function is not supported"),
    ({"dtype": "nonsense"}, "dtype must be a torch or NumPy dtype"),
])  # fmt: skip
def test_bad_arguments_one_clear_error_before_any_work(tiny, tmp_path, kwargs, match):
    with pytest.raises(DatasetArgumentError, match=match) as err:
        D.SyntheticGestures(tmp_path, progress=False, executor="serial", **kwargs)
    assert isinstance(err.value, EventkitError) and isinstance(err.value, ValueError)
    assert not (tmp_path / "synthetic-gestures").exists()  # refused before any download or conversion


def test_datasets_without_train_test_need_split(tmp_path):
    with pytest.raises(DatasetArgumentError, match=r"asl-dvs has no 'train' split .*split='all'"):
        D.ASLDVS(tmp_path)
    with pytest.raises(DatasetArgumentError, match="unknown split='val'"):
        D.SSC(tmp_path, split="val")
    with pytest.raises(TypeError, match="NeuromorphicDataset"):
        D._Named(tmp_path)
    assert not any(tmp_path.iterdir())
