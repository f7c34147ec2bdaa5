"""FrameDataset and EventDataset over tiny stores: samples, dtypes, errors, workers, pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, WeightedRandomSampler

from eventkit.errors import EventkitError
from eventkit.events import make_events
from eventkit.store import StoreNotFoundError, create_event_store, create_store, open_store
from eventkit.torch import EventDataset, FrameDataset, pad_collate
from eventkit.torch.dataset import DatasetArgumentError
from eventkit.torch import event_transforms as ET
from eventkit.torch import transforms as T

SENSOR = (6, 5, 2)  # width, height, polarities
CLASSES = ["a", "b", "c"]
SPLITS = {"train": 10, "test": 3}


def _frames(split: str, i: int, t: int) -> np.ndarray:
    rng = np.random.default_rng([i, len(split)])
    w, h, p = SENSOR
    return rng.integers(0, 70_000, (t, p, h, w)).clip(0, 65535).astype(np.uint16)  # uint16 values above int16


def _store(path: Path, *, variable: bool) -> Path:
    params = {"duration": 1000} if variable else {"frames": 4, "split_by": "number"}
    w = create_store(path, splits=SPLITS, t_max=4, sensor=SENSOR, params=params, classes=CLASSES, dataset="toy",
                     samples_per_shard=4)  # fmt: skip
    for split, n in SPLITS.items():
        for i in range(n):
            w.write_sample(split, i, _frames(split, i, 1 + i % 4 if variable else 4), i % 3, f"{split}-{i}")
    w.finalize()
    return path


@pytest.fixture(scope="module")
def fixed(tmp_path_factory) -> Path:
    return _store(tmp_path_factory.mktemp("fixed") / "stores" / "frames-T4-number.zarr", variable=False)


@pytest.fixture(scope="module")
def variable(tmp_path_factory) -> Path:
    return _store(tmp_path_factory.mktemp("var") / "frames-D1000.zarr", variable=True)


def _events(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    n = 50 + 10 * i
    return make_events(np.sort(rng.integers(0, 5000, n)), rng.integers(0, 6, n), rng.integers(0, 5, n), rng.integers(0, 2, n))


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ev") / "events.zarr"
    w = create_event_store(path, splits={"train": 5}, sensor=SENSOR, classes=CLASSES, dataset="toy", samples_per_shard=2)
    for b in range(w.n_shards("train")):
        w.write_shard("train", b, [(_events(i), i % 3, f"s{i}") for i in w.shard_range("train", b)])
    w.finalize()
    return path


# ------------------------------------------------------------------ FrameDataset


def test_fixed_samples_labels_and_default_dtype(fixed):
    ds = FrameDataset(fixed, "train")
    assert len(ds) == 10 and ds.classes == CLASSES and not ds.variable_length
    assert ds.targets.tolist() == [i % 3 for i in range(10)] and ds.lengths.tolist() == [4] * 10
    x, y = ds[3]
    assert x.shape == (4, 2, 5, 6) and x.dtype == torch.float32  # the default: every torch op works
    assert y == 0
    np.testing.assert_array_equal(x.numpy(), _frames("train", 3, 4))
    assert x.max().item() == _frames("train", 3, 4).max()  # uint16 would raise NotImplementedError here
    conv = torch.nn.Conv2d(2, 1, 3)
    assert conv(x).shape == (4, 1, 3, 4)
    assert ds[-1][1] == 9 % 3
    assert "Number of datapoints: 10" in repr(ds) and "Split: train" in repr(ds)


@pytest.mark.parametrize(("dtype", "expect"), [(torch.float32, torch.float32), (torch.int32, torch.int32),
                                               (np.int64, torch.int64), (torch.bfloat16, torch.bfloat16)])  # fmt: skip
def test_dtype_argument(fixed, dtype, expect):
    x, _ = FrameDataset(fixed, dtype=dtype)[1]
    assert x.dtype == expect
    rtol = 2**-8 if dtype is torch.bfloat16 else 0  # bfloat16 keeps 8 significant bits
    np.testing.assert_allclose(x.to(torch.float64).numpy(), _frames("train", 1, 4), rtol=rtol)


def test_dtype_none_is_the_stored_integer_fast_path(fixed):
    ds = FrameDataset(fixed, dtype=None)
    x, _ = ds[2]
    assert x.dtype == torch.uint16 and ds.dtype == torch.uint16
    np.testing.assert_array_equal(x.numpy(), _frames("train", 2, 4))
    batch = ds.__getitems__([0, 1])  # the batched path keeps it too
    assert batch[0][0].dtype == torch.uint16
    assert "stored uint16 -> torch.uint16" in repr(ds)


def test_variable_length_returns_trimmed_frames_and_length(variable):
    ds = FrameDataset(variable, "train")
    assert ds.variable_length
    for i in range(5):
        x, y, length = ds[i]
        assert length == 1 + i % 4 and x.shape[0] == length
        np.testing.assert_array_equal(x.numpy(), _frames("train", i, length))
    x, y = FrameDataset(variable, return_length=False)[0]
    x, y, n = FrameDataset(variable.parent / "frames-D1000.zarr", "test", return_length=True)[2]
    assert n == 3


def test_return_length_on_fixed_store_and_transforms(fixed):
    ds = FrameDataset(fixed, return_length=True, transform=T.RandomTemporalDelete(3, seed=0),
                      target_transform=lambda y: y + 100)  # fmt: skip
    x, y, n = ds[4]
    assert x.shape[0] == 3 and n == 3 and y == 101  # length follows the transformed frames


def test_unknown_split_lists_valid_ones(fixed):
    with pytest.raises(DatasetArgumentError, match=r"unknown split 'val'.*'train', 'test'"):
        FrameDataset(fixed, "val")


def test_missing_store_says_which_command_to_run(tmp_path):
    path = tmp_path / "root" / "dvs128-gesture" / "stores" / "frames-T16-number.zarr"
    with pytest.raises(StoreNotFoundError) as err:
        FrameDataset(path)
    assert f"eventkit convert dvs128-gesture -T 16 --split-by number --root {tmp_path / 'root'}" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError, match=r"eventkit convert DATASET --duration 5000 --out .*frames-D5000.zarr"):
        FrameDataset(tmp_path / "frames-D5000.zarr")
    with pytest.raises(FileNotFoundError, match="--events"):
        EventDataset(tmp_path / "x" / "stores" / "events-abc.zarr")


@pytest.mark.parametrize("dtype", ["nonsense", object, 3])
def test_bad_dtype(fixed, dtype):
    with pytest.raises(DatasetArgumentError, match="dtype must be a torch or NumPy dtype") as err:
        FrameDataset(fixed, dtype=dtype)
    assert isinstance(err.value, (EventkitError, ValueError))


def test_accepts_an_open_store(fixed):
    store = open_store(fixed)
    ds = FrameDataset(store, "test")
    assert len(ds) == 3 and ds.root == fixed


def test_pickles_without_open_handles(fixed):
    ds = FrameDataset(fixed, transform=T.RandomHorizontalFlip(seed=3))
    ds[0]
    blob = pickle.dumps(ds)
    assert b"ShardReader" not in blob and b"zarr" not in blob.replace(b".zarr", b"")
    ds2 = pickle.loads(blob)
    plain = FrameDataset(fixed)[2][0]
    got = ds2[2][0]
    assert torch.equal(got, plain) or torch.equal(got, plain[..., torch.arange(5, -1, -1)])


def _all(loader):
    out = {}
    for x, y, idx in loader:
        for xi, yi, ii in zip(x, y, idx):
            out[int(ii)] = (xi, int(yi))
    return out


class _WithIndex(torch.utils.data.Dataset):
    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return (*self.ds[i], i)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_persistent(fixed, context):
    ds = FrameDataset(fixed)
    workers = 2 if context == "fork" else 1
    loader = DataLoader(_WithIndex(ds), batch_size=3, shuffle=True, num_workers=workers, persistent_workers=True,
                        multiprocessing_context=context)  # fmt: skip
    for _epoch in range(2):
        got = _all(loader)
        assert sorted(got) == list(range(10))
        for i, (x, y) in got.items():
            assert y == i % 3
            np.testing.assert_array_equal(x.numpy(), _frames("train", i, 4))


def test_variable_length_loader_with_pad_collate(variable):
    loader = DataLoader(FrameDataset(variable), batch_size=4, collate_fn=pad_collate, num_workers=1)
    x, y, lengths = next(iter(loader))
    assert x.shape == (4, 4, 2, 5, 6) and lengths.tolist() == [1, 2, 3, 4] and y.tolist() == [0, 1, 2, 0]
    assert x[0, 1:].eq(0).all()


def test_subset_and_class_balanced_sampler(fixed):
    ds = FrameDataset(fixed)
    sub = Subset(ds, [i for i in range(len(ds)) if ds.targets[i] != 2])
    assert {sub[i][1] for i in range(len(sub))} == {0, 1}
    weights = 1.0 / np.bincount(ds.targets)[ds.targets]
    sampler = WeightedRandomSampler(weights, num_samples=300, generator=torch.Generator().manual_seed(0))
    counts = np.bincount(ds.targets[list(sampler)], minlength=3)
    assert counts.min() > 70  # about 100 each, although class 0 has 4 samples and class 2 has 3


# ------------------------------------------------------------------ EventDataset


def test_event_dataset_integrates_on_the_fly(events):
    import eventkit

    ds = EventDataset(events, "train")
    x, y = ds[3]
    assert y == 0 and x.dtype == torch.float32
    assert EventDataset(events, "train", dtype=None)[3][0].dtype == torch.uint16
    expect = eventkit.to_frames(_events(3), SENSOR, frames=16, split_by="number")
    np.testing.assert_array_equal(x.numpy(), expect)
    assert ds.counts.tolist() == [50, 60, 70, 80, 90]


def test_event_dataset_variable_and_raw_events(events):
    import eventkit

    ds = EventDataset(events, to_frames={"duration": 1000}, dtype=torch.float32)
    x, y, n = ds[1]
    expect = eventkit.to_frames(_events(1), SENSOR, duration=1000)
    assert n == expect.shape[0] == x.shape[0] and x.dtype == torch.float32
    ev, y = EventDataset(events, to_frames=None)[2]
    np.testing.assert_array_equal(ev, _events(2))


def test_event_dataset_event_transform_and_loader(events):
    flip = ET.RandomHorizontalFlipEvents(SENSOR, p=1.0)
    ds = EventDataset(events, to_frames={"frames": 2}, event_transform=flip, dtype=torch.int32)
    x, _ = ds[0]
    plain, _ = EventDataset(events, to_frames={"frames": 2}, dtype=torch.int32)[0]
    assert torch.equal(x, plain.flip(-1))
    batches = list(DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True))
    assert sum(b[0].shape[0] for b in batches) == 5
