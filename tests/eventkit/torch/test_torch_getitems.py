"""FrameDataset.__getitems__ (+ pad_collate's no-copy path) returns exactly what per-sample loading does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, default_collate

from eventkit.store import create_store
from eventkit.torch import FrameDataset, pad_collate

SENSOR = (6, 5, 2)  # width, height, polarities
N = 11
ORDER = [7, 2, 9, 0, 10, 3, 3, 5, 1, 8, 4, 6]  # shuffled, one repeat, a last partial batch


def _frames(i: int, t: int) -> np.ndarray:
    w, h, p = SENSOR
    return np.random.default_rng(i).integers(0, 65536, (t, p, h, w)).astype(np.uint16)


def _store(path: Path, *, variable: bool) -> Path:
    params = {"duration": 1000} if variable else {"frames": 4, "split_by": "number"}
    w = create_store(path, splits={"train": N}, t_max=4, sensor=SENSOR, params=params, classes=["a", "b", "c"],
                     dataset="toy", samples_per_shard=4)  # fmt: skip
    for i in range(N):
        w.write_sample("train", i, _frames(i, 1 + i % 4 if variable else 4), i % 3, f"s{i}")
    w.finalize()
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("getitems")
    return {"fixed": _store(root / "fixed.zarr", variable=False), "variable": _store(root / "var.zarr", variable=True)}


def reverse(x: torch.Tensor) -> torch.Tensor:  # a per-sample transform (module level: picklable)
    return x[1:, ..., torch.arange(x.shape[-1] - 1, -1, -1)]  # no flip for uint16 on the CPU


def plus_one(y: int) -> int:
    return y + 1


def _reference(ds: FrameDataset, indices: list[int]) -> tuple[torch.Tensor, ...]:
    """Per-sample ``__getitem__`` and default stacking (padding for variable lengths)."""
    samples = [ds[i] for i in indices]
    xs = [s[0] for s in samples]
    if all(x.shape == xs[0].shape for x in xs):
        x = torch.stack(xs)
    else:
        x = pad_collate(samples)[0]
    lengths = torch.tensor([s[2] if len(s) > 2 else s[0].shape[0] for s in samples])
    return x, default_collate([s[1] for s in samples]), lengths


def _assert_same(got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...]) -> None:
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert torch.equal(g, w)


CASES = [
    ("fixed", {}),
    ("fixed", {"dtype": torch.float32}),
    ("fixed", {"dtype": torch.bfloat16}),
    ("fixed", {"dtype": torch.int8}),  # a wrapping cast, as NumPy's
    ("fixed", {"return_length": True, "target_transform": plus_one}),
    ("fixed", {"transform": reverse}),
    ("variable", {}),
    ("variable", {"transform": reverse, "dtype": torch.float32}),
]


@pytest.mark.parametrize(("store", "kwargs"), CASES)
def test_getitems_equals_getitem(stores, store, kwargs):
    ds = FrameDataset(stores[store], **kwargs)
    for indices in ([3], [0, 1, 2, 3], ORDER, [-1, 4]):
        samples = ds.__getitems__(indices)
        singles = [ds[i] for i in indices]
        assert len(samples) == len(singles)
        for s, r in zip(samples, singles):
            assert len(s) == len(r) and s[1:] == r[1:]
            assert s[0].dtype == r[0].dtype and torch.equal(s[0], r[0])
        _assert_same(pad_collate(samples), _reference(ds, indices))


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize(("store", "kwargs"), CASES)
def test_dataloader_with_pad_collate_equals_per_sample(stores, store, kwargs, workers):
    ds = FrameDataset(stores[store], **kwargs)
    loader = DataLoader(ds, batch_size=4, sampler=ORDER, collate_fn=pad_collate, num_workers=workers,
                        persistent_workers=workers > 0)  # fmt: skip
    for _epoch in range(2):
        batches = list(loader)  # all kept alive: later batches must not overwrite earlier ones
        assert len(batches) == 3
        for k, got in enumerate(batches):
            _assert_same(got, _reference(ds, ORDER[4 * k : 4 * k + 4]))


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_default_collate_unchanged(stores, workers):
    ds = FrameDataset(stores["fixed"])
    batches = list(DataLoader(ds, batch_size=4, sampler=ORDER, num_workers=workers))
    for k, (x, y) in enumerate(batches):
        want = _reference(ds, ORDER[4 * k : 4 * k + 4])
        _assert_same((x, y), want[:2])
    sub = Subset(ds, [5, 6, 7])  # Subset forwards __getitems__
    _assert_same(tuple(next(iter(DataLoader(sub, batch_size=3)))), _reference(ds, [5, 6, 7])[:2])


def test_batches_handed_out_or_kept_are_never_overwritten(stores):
    ds = FrameDataset(stores["fixed"])
    first = pad_collate(ds.__getitems__([0, 1]))[0]
    assert first.shape == (2, 4, 2, 5, 6)
    kept = ds.__getitems__([2, 3])  # samples kept, not collated
    again = pad_collate(ds.__getitems__([4, 5]))[0]
    copied = ds.__getitems__([6, 7])
    ptr = copied[0][0].data_ptr()
    default_collate(copied)  # a copy: once the samples are gone, their buffer is reused ...
    del copied
    last = pad_collate(ds.__getitems__([8, 9]))[0]  # ... here
    assert last.data_ptr() == ptr
    _assert_same((first,), _reference(ds, [0, 1])[:1])
    _assert_same((torch.stack([s[0] for s in kept]),), _reference(ds, [2, 3])[:1])
    _assert_same((again,), _reference(ds, [4, 5])[:1])
    _assert_same((last,), _reference(ds, [8, 9])[:1])


@pytest.mark.parametrize("dtype", [torch.float32, None])
def test_handed_out_batches_are_reused_only_once_let_go(stores, dtype):
    """A DataLoader loop that drops its batches decodes into at most a few buffers (no fresh pages
    per batch); batches a user keeps (the tensor, a view, a NumPy array, an autograd graph) never change."""
    ds = FrameDataset(stores["fixed"], dtype=dtype)
    loader = DataLoader(ds, batch_size=2, sampler=ORDER * 3, collate_fn=pad_collate)
    ptrs = {x.data_ptr() for x, *_ in loader}
    assert len(ptrs) <= 4  # a loop over 18 batches: buffers recycled
    kept, views, arrays, graphs = [], [], [], []
    w = torch.ones(1, dtype=torch.float32, requires_grad=True)
    for k, (x, *_) in enumerate(DataLoader(ds, batch_size=2, sampler=ORDER, collate_fn=pad_collate)):
        if k % 4 == 0:
            kept.append((k, x))
        elif k % 4 == 1:
            views.append((k, x[0]))
        elif k % 4 == 2:
            arrays.append((k, x.numpy()))
        else:
            graphs.append((k, (x.float() * w).sum() if dtype is None else x * w))  # mul keeps x for w's gradient
    for k, x in kept:
        _assert_same((x,), _reference(ds, ORDER[2 * k : 2 * k + 2])[:1])
    for k, v in views:
        _assert_same((v[None],), _reference(ds, ORDER[2 * k : 2 * k + 1])[:1])
    for k, a in arrays:
        _assert_same((torch.from_numpy(a),), _reference(ds, ORDER[2 * k : 2 * k + 2])[:1])
    for k, g in graphs:
        g.sum().backward()  # the saved input must still be the batch's own frames
    want = sum(float(_reference(ds, ORDER[2 * k : 2 * k + 2])[0].double().sum()) for k, _ in graphs)
    assert w.grad is not None and abs(float(w.grad) - want) <= 1e-6 * want


def test_pad_collate_copies_other_tensors():
    base = torch.arange(24).reshape(2, 3, 4)
    out, labels, lengths = pad_collate([(base[0], 0), (base[1], 1)])
    assert torch.equal(out, base) and out.data_ptr() != base.data_ptr()
    assert lengths.tolist() == [3, 3] and labels.tolist() == [0, 1]


def test_pad_collate_no_copy_only_for_the_whole_batch_in_order(stores):
    ds = FrameDataset(stores["fixed"])
    samples = ds.__getitems__([0, 1, 2])
    whole = pad_collate(samples)[0]
    assert whole.data_ptr() == samples[0][0].data_ptr()  # the batch itself
    samples = ds.__getitems__([0, 1, 2])
    for part in (samples[::-1], samples[:2], samples[1:]):
        x, _, lengths = pad_collate(part)
        assert x.data_ptr() != part[0][0].data_ptr()
        _assert_same((x,), (torch.stack([s[0] for s in part]),))
    x, _, lengths = pad_collate(samples, total_length=6)
    assert x.shape[1] == 6 and x[:, 4:].eq(0).all() and lengths.tolist() == [4, 4, 4]
    x, _, _ = pad_collate(samples, time_first=True)
    _assert_same((x,), (torch.stack([s[0] for s in samples], 1),))


def test_zarr_fallback_and_reader_out_argument(stores):
    ds = FrameDataset(stores["fixed"])
    view = ds._split()
    fast = view._fast
    assert fast is not None
    out = np.full((4, 2, 5, 6), 7, np.uint16)
    assert fast.read(3, out=out) is out
    np.testing.assert_array_equal(out, _frames(3, 4))
    with pytest.raises(ValueError, match="out must be"):
        fast.read(3, out=np.empty((4, 2, 5, 6), np.int32))
    view._fast = None  # a store Zarr reads (not on a local disk)
    _assert_same(pad_collate(ds.__getitems__(ORDER[:5])), _reference(ds, ORDER[:5]))


def test_concurrent_calls_from_threads(stores):
    from concurrent.futures import ThreadPoolExecutor

    ds = FrameDataset(stores["fixed"], dtype=torch.float32)
    batches = [ORDER[k : k + 3] for k in range(len(ORDER) - 3)] * 4

    def load(indices):
        samples = ds.__getitems__(indices)
        x = torch.stack([s[0] for s in samples])  # a copy: the buffer goes back to be reused
        return pad_collate(ds.__getitems__(indices))[0], x

    with ThreadPoolExecutor(4) as pool:
        for indices, (got, copied) in zip(batches, pool.map(load, batches)):
            want = _reference(ds, indices)[0]
            _assert_same((got,), (want,))
            _assert_same((copied,), (want,))
