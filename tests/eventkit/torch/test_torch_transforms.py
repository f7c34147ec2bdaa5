"""Frame and event augmentations: determinism, shapes, dtypes, and exact results on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from eventkit.events import make_events
from eventkit.torch import event_transforms as ET
from eventkit.torch import transforms as T


def _batch(n=6, t=5, p=2, h=4, w=7, dtype=torch.int32):
    g = torch.Generator().manual_seed(0)
    return torch.randint(1, 9, (n, t, p, h, w), generator=g).to(dtype)


FRAME_TRANSFORMS = [
    lambda s: T.RandomHorizontalFlip(seed=s),
    lambda s: T.RandomPolarityInversion(seed=s),
    lambda s: T.RandomTranslate(2, seed=s),
    lambda s: T.RandomResizedCrop(seed=s),
    lambda s: T.RandomTimeWarp(seed=s),
    lambda s: T.RandomTemporalDelete(3, seed=s),
    lambda s: T.EventDrop(seed=s),
    lambda s: T.Compose([T.RandomHorizontalFlip(), T.RandomTranslate(1), T.EventDrop()], seed=s),
]


@pytest.mark.parametrize("make", FRAME_TRANSFORMS)
@pytest.mark.parametrize("dtype", [torch.int32, torch.uint16, torch.float32])
def test_same_seed_same_output_dtype_and_shape(make, dtype):
    x = _batch(n=8, dtype=dtype)
    a, b = make(7)(x), make(7)(x)
    assert torch.equal(a, b) and a.dtype == dtype
    assert a.shape[0] == 8 and a.shape[2:] == x.shape[2:]
    assert make(7)(x[0]).shape == a.shape[1:]  # one sample [T, P, H, W] works too
    outs = {make(s)(x).to(torch.float64).numpy().tobytes() for s in range(6)}
    assert len(outs) > 1  # different seeds draw differently
    t = make(1)
    assert not all(torch.equal(t(x), t(x)) for _ in range(3))  # the stream advances between calls


def test_call_time_generator_overrides_and_drives_compose():
    x = _batch()
    aug = T.Compose([T.RandomHorizontalFlip(), T.RandomTranslate(2)])
    a = aug(x, generator=torch.Generator().manual_seed(5))
    b = aug(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_global_rng_when_unseeded():
    x = _batch()
    torch.manual_seed(3)
    a = T.EventDrop()(x)
    torch.manual_seed(3)
    assert torch.equal(a, T.EventDrop()(x))


def test_flip_and_polarity_exact():
    x = torch.arange(2 * 1 * 2 * 1 * 3).reshape(2, 1, 2, 1, 3)
    assert torch.equal(T.RandomHorizontalFlip(p=1.0)(x), x.flip(-1))
    assert torch.equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    assert torch.equal(T.RandomPolarityInversion(p=1.0)(x), x.flip(2))
    one = x[:, :, :1]
    assert torch.equal(T.RandomPolarityInversion(p=1.0)(one), one)


def test_flip_is_per_sample():
    x = _batch(n=64)
    out = T.RandomHorizontalFlip(seed=0)(x)
    flipped = [torch.equal(o, s.flip(-1)) for o, s in zip(out, x)]
    same = [torch.equal(o, s) for o, s in zip(out, x)]
    assert all(f or s for f, s in zip(flipped, same)) and 10 < sum(flipped) < 54


def test_translate_moves_pixels_and_fills_zeros():
    x = torch.zeros(1, 1, 1, 5, 5, dtype=torch.int32)
    x[0, 0, 0, 2, 2] = 9
    seen = set()
    for s in range(40):
        out = T.RandomTranslate(1, seed=s)(x)
        (pos,) = torch.nonzero(out[0, 0, 0]).tolist()
        seen.add(tuple(pos))
        assert out.sum() == 9
    assert seen == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    edge = torch.ones(1, 1, 1, 3, 3, dtype=torch.int32)
    for s in range(10):
        out = T.RandomTranslate((2, 0), seed=s)(edge)
        assert out.sum() in (9, 6, 3) and out.unique().tolist() in ([1], [0, 1])  # columns shifted out -> zeros


def test_resized_crop_identity_and_values():
    x = _batch()
    assert torch.equal(T.RandomResizedCrop(scale=(1, 1), ratio=(1, 1))(x), x)
    out = T.RandomResizedCrop(size=(8, 14), scale=(1, 1), ratio=(1, 1))(x)  # 2x upsampling, nearest
    assert out.shape == (6, 5, 2, 8, 14)
    assert torch.equal(out, x.repeat_interleave(2, -1).repeat_interleave(2, -2))
    small = T.RandomResizedCrop(size=3, scale=(0.3, 0.5), seed=0)(x)
    assert small.shape[-2:] == (3, 3) and set(small.unique().tolist()) <= set(x.unique().tolist())


def test_time_warp_exact():
    x = torch.arange(1, 9).reshape(1, 8, 1, 1, 1)
    fast = T.RandomTimeWarp(scale=(2, 2))(x)
    assert fast.flatten().tolist() == [1, 3, 5, 7, 0, 0, 0, 0]
    slow = T.RandomTimeWarp(scale=(0.5, 0.5))(x)
    assert slow.flatten().tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert torch.equal(T.RandomTimeWarp(scale=(1, 1))(x), x)


def test_temporal_delete_keeps_order_like_spikingjelly():
    x = torch.arange(10).reshape(1, 10, 1, 1, 1).repeat(5, 1, 1, 1, 1)
    out = T.RandomTemporalDelete(4, seed=0)(x).flatten(1)
    assert out.shape == (5, 4)
    for row in out:
        assert row.tolist() == sorted(set(row.tolist()))  # distinct, in their original order
    assert len({tuple(r.tolist()) for r in out}) > 1  # per-sample draws
    with pytest.raises(ValueError, match="only 10 frames"):
        T.RandomTemporalDelete(11)(x)


@pytest.mark.parametrize("op", ["time", "area", "random"])
def test_event_drop_ops(op):
    x = torch.full((20, 10, 2, 8, 8), 6, dtype=torch.int32)
    out = T.EventDrop(ratio=(0.5, 0.5), ops=[op], seed=0)(x)
    assert out.dtype == x.dtype and ((out >= 0) & (out <= 6)).all()
    if op == "time":  # exactly 5 of 10 frames zeroed, consecutive
        dead = (out.flatten(2) == 0).all(-1)
        assert (dead.sum(1) == 5).all()
    elif op == "area":  # a 4x4 box zeroed in every frame and channel
        dead = (out == 0).all(1).all(1)
        assert (dead.flatten(1).sum(1) == 16).all()
    else:  # each event kept with probability 0.5: mean count ~ 3
        assert abs(out.float().mean().item() - 3.0) < 0.1
    identity = T.EventDrop(ops=["identity"])(x)
    assert torch.equal(identity, x)


class _Aug(Dataset):
    def __init__(self, tr):
        self.tr = tr

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return self.tr(torch.zeros(1, 1, 1, 64, dtype=torch.int32) + 1).flatten()


def _epoch(loader):
    return torch.cat(list(loader)).tolist()


def test_seeded_transform_in_workers_differs_per_worker_and_epoch_but_reproduces():
    tr = T.EventDrop(ratio=(0.5, 0.5), ops=["random"], seed=11)
    torch.manual_seed(0)
    loader = DataLoader(_Aug(tr), batch_size=1, num_workers=2)
    e1, e2 = _epoch(loader), _epoch(loader)
    rows = [tuple(r) for r in e1]
    assert len(set(rows)) == 8  # workers do not repeat each other's draws
    assert e1 != e2  # nor do epochs
    torch.manual_seed(0)
    assert _epoch(DataLoader(_Aug(tr), batch_size=1, num_workers=2)) == e1  # reproducible under manual_seed


def test_errors():
    with pytest.raises(ValueError, match="T, P, H, W"):
        T.RandomHorizontalFlip()(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="ops"):
        T.EventDrop(ops=["nope"])
    with pytest.raises(ValueError, match="low <= high"):
        T.RandomTimeWarp(scale=(2, 1))


# ------------------------------------------------------------------ events


def _ev(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, 10_000, n)), rng.integers(0, 6, n), rng.integers(0, 5, n), rng.integers(0, 2, n))


SENSOR = (6, 5, 2)
EVENT_TRANSFORMS = [
    lambda s: ET.RandomHorizontalFlipEvents(SENSOR, seed=s),
    lambda s: ET.RandomPolarityInversionEvents(seed=s),
    lambda s: ET.RandomTimeWarpEvents(seed=s),
    lambda s: ET.RandomTemporalDeleteEvents(8, 5, seed=s),
    lambda s: ET.EventDropEvents(SENSOR, seed=s),
    lambda s: ET.Compose([ET.RandomHorizontalFlipEvents(SENSOR), ET.EventDropEvents(SENSOR)], seed=s),
]


@pytest.mark.parametrize("make", EVENT_TRANSFORMS)
def test_event_transforms_deterministic_sorted_and_pure(make):
    ev = _ev()
    before = ev.copy()
    a, b = make(3)(ev), make(3)(ev)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ev, before)  # input untouched
    assert a.dtype == ev.dtype and np.all(np.diff(a["t"]) >= 0)
    assert (a["x"] < 6).all() and (a["y"] < 5).all() and np.isin(a["p"], [0, 1]).all()
    assert len({make(s)(ev).tobytes() for s in range(8)}) > 1


def test_event_flip_polarity_warp_exact():
    ev = make_events([10, 20, 30], [0, 2, 5], [1, 1, 1], [0, 1, 1])
    assert ET.RandomHorizontalFlipEvents(SENSOR, p=1)(ev)["x"].tolist() == [5, 3, 0]
    assert ET.RandomPolarityInversionEvents(p=1)(ev)["p"].tolist() == [1, 0, 0]
    assert ET.RandomTimeWarpEvents(scale=(2, 2))(ev)["t"].tolist() == [10, 15, 20]


def test_event_temporal_delete_closes_gaps():
    ev = make_events(np.arange(0, 100), np.zeros(100), np.zeros(100), np.zeros(100))
    out = ET.RandomTemporalDeleteEvents(10, 4, seed=1)(ev)
    assert len(out) == 40 and out["t"].tolist() == list(range(40))  # kept chunks, shifted back-to-back


@pytest.mark.parametrize("op", ["time", "area", "random"])
def test_event_drop_ops(op):
    ev = _ev(4000)
    out = ET.EventDropEvents(SENSOR, ratio=(0.5, 0.5), ops=[op], seed=2)(ev)
    assert 0 < len(out) < len(ev)
    assert set(map(bytes, out)) <= set(map(bytes, ev))  # only removals
    if op == "area":
        kept = set(zip(out["x"].tolist(), out["y"].tolist()))
        assert len(kept) == 30 - 6  # a box of round(0.5 * 6) x round(0.5 * 5) = 3 x 2 pixels is gone


@pytest.mark.gpu
@pytest.mark.parametrize("make", FRAME_TRANSFORMS)
def test_batch_transforms_run_on_cuda(make):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x = _batch(n=16, dtype=torch.uint16).cuda()
    a, b = make(4)(x), make(4)(x)
    assert a.device == x.device and a.dtype == torch.uint16 and torch.equal(a, b)
    # a CPU generator also works for a CUDA batch (parameters are drawn on the CPU and moved)
    c = make(None)(x, generator=torch.Generator().manual_seed(1))
    assert c.device == x.device


@pytest.mark.parametrize("make", [
    lambda: T.RandomTemporalDelete(0), lambda: T.RandomResizedCrop(mode="cubic"), lambda: T.EventDrop(ratio=2.0),
    lambda: T.RandomTemporalDelete(9)(torch.zeros(3, 2, 4, 4)), lambda: T.RandomHorizontalFlip()(torch.zeros(4, 4)),
    lambda: ET.EventDropEvents((4, 4, 2), ratio=-1), lambda: ET.RandomTimeWarpEvents(scale=(0.0, 1.0)),
    lambda: ET.RandomPolarityInversionEvents()(np.zeros(3)),
])  # fmt: skip
def test_bad_arguments_raise_one_eventkit_error(make):
    from eventkit.errors import EventkitError

    with pytest.raises(EventkitError) as err:  # a ValueError too, as before
        make()
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


def test_frame_and_event_transforms_never_share_a_name() -> None:
    shared = set(T.__all__) & set(ET.__all__)
    assert shared == {"Compose"} and ET.Compose is T.Compose  # the one Compose serves both
    for name in ET.__all__:
        if name not in ("Compose", "EventTransform"):
            assert name.endswith("Events") and name[: -len("Events")] in T.__all__
