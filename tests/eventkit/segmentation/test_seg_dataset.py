"""FrameDataset over a segmentation store: (frames, mask), augmented consistently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eventkit.store import create_store  # noqa: E402
from eventkit.torch import FrameDataset  # noqa: E402
from eventkit.torch.seg_transforms import joint_apply  # noqa: E402
from eventkit.torch.transforms import (  # noqa: E402
    Compose,
    EventDrop,
    RandomHorizontalFlip,
    RandomPolarityInversion,
    RandomResizedCrop,
    RandomTranslate,
)

H, W = 9, 12


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Frame 0, channel 0 of every sample is its mask + 1 (ignore 255 -> 256): moves must keep them equal."""
    path = tmp_path_factory.mktemp("seg") / "s.zarr"
    w = create_store(path, splits={"train": 4}, t_max=2, sensor=(W, H, 2), params={"frames": 2}, classes=["bg", "a", "b"],
                     dataset="toy", masks=True)  # fmt: skip
    rng = np.random.default_rng(0)
    recs = []
    for i in range(4):
        m = rng.integers(0, 3, (H, W)).astype(np.uint8)
        m[i, :] = 255
        f = rng.integers(0, 50, (2, 2, H, W)).astype(np.uint16)
        f[0, 0] = m.astype(np.uint16) + 1
        recs.append((f, 1, f"s{i}", m))
    w.write_shard("train", 0, recs)
    w.finalize()
    return path


def _consistent(x: torch.Tensor, m: torch.Tensor) -> bool:
    enc = x[0, 0].round().long()  # 0 where the frames were filled in from outside
    want = torch.where(m == 255, torch.full_like(m, 256), m + 1)
    return bool(torch.equal(torch.where(enc == 0, torch.full_like(m, 256), enc), want))


def test_returns_frames_and_mask(store: Path) -> None:
    ds = FrameDataset(store, "train")
    x, m = ds[2]
    assert x.shape == (2, 2, H, W) and x.dtype == torch.float32 and m.shape == (H, W) and m.dtype == torch.int64
    assert (m[2] == 255).all() and _consistent(x, m)
    xb, mb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 2, 2, H, W) and mb.shape == (4, H, W)


@pytest.mark.parametrize("make", [
    lambda: RandomHorizontalFlip(p=1.0),
    lambda: RandomTranslate(4, seed=3),
    lambda: RandomResizedCrop(scale=(0.3, 0.6), mode="bilinear", seed=5),
    lambda: Compose([RandomHorizontalFlip(), RandomTranslate(3), RandomPolarityInversion(p=0.0), RandomResizedCrop(size=(6, 8))], seed=1),
])  # fmt: skip
def test_geometric_transforms_move_the_mask_alike(store: Path, make) -> None:
    tr = make()
    ds = FrameDataset(store, "train", transform=tr)
    changed = 0
    for _ in range(3):
        for i in range(4):
            x, m = ds[i]
            if isinstance(tr, RandomResizedCrop) and tr.mode == "bilinear":  # the frames blend; the mask must not
                assert set(torch.unique(m).tolist()) <= {0, 1, 2, 255}
            else:
                assert _consistent(x, m), (i, tr)
            changed += not torch.equal(m, torch.from_numpy(FrameDataset(store, "train").__getitem__(i)[1].numpy()))
    assert changed > 0


def test_bilinear_crop_gives_the_nearest_crop_mask(store: Path) -> None:
    bil = FrameDataset(store, "train", transform=RandomResizedCrop(scale=(0.3, 0.6), mode="bilinear", seed=5))
    near = FrameDataset(store, "train", transform=RandomResizedCrop(scale=(0.3, 0.6), mode="nearest", seed=5))
    for i in range(4):
        (_, mb), (xn, mn) = bil[i], near[i]
        assert torch.equal(mb, mn) and _consistent(xn, mn)


def test_global_rng_and_frame_only_transforms(store: Path) -> None:
    torch.manual_seed(0)
    x0, m0 = FrameDataset(store, "train")[1]
    x, m = joint_apply(RandomTranslate(5), x0, m0)  # unseeded: torch's global RNG, replayed for the mask
    assert _consistent(x, m)
    x, m = joint_apply(EventDrop(ratio=(0.5, 0.5), seed=0), x0, m0)  # changes the frames only
    assert torch.equal(m, m0)
    x, m = joint_apply(lambda f: f * 2, x0, m0)
    assert torch.equal(x, x0 * 2) and torch.equal(m, m0)
