"""The training loop's data path: integer frames moved to the device and converted to float there."""

from __future__ import annotations

from pathlib import Path

import torch

from snnmodels.training.data import FrameBatches, to_device, widen_unsigned


def test_unsigned_frames_survive_the_signed_transfer_view() -> None:
    """uint16/uint32 travel to CUDA as a signed view and are widened there; every value comes back."""
    values = torch.tensor([0, 1, 255, 32767, 32768, 40000, 65535], dtype=torch.int32)
    u16 = values.to(torch.uint16)
    assert widen_unsigned(u16.view(torch.int16)).tolist() == values.tolist()
    big = torch.tensor([0, 2**31 - 1, 2**31, 2**32 - 1], dtype=torch.int64)
    assert widen_unsigned(big.to(torch.uint32).view(torch.int32)).tolist() == big.tolist()


def test_integer_batches_become_the_float_batches_on_the_device(tiny_store: Path) -> None:
    for preload in (True, False):
        raw = FrameBatches(tiny_store, "train", batch_size=8, preload=preload, dtype=None)
        flt = FrameBatches(tiny_store, "train", batch_size=8, preload=preload)
        for (xi, yi, li), (xf, yf, lf) in zip(raw, flt):
            assert xi.dtype == torch.uint16 and xf.dtype == torch.float32
            moved = to_device(xi, torch.device("cpu"))
            assert moved.dtype == torch.float32 and torch.equal(moved, xf)
            assert torch.equal(yi, yf) and torch.equal(li, lf)
