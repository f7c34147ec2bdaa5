"""pad_collate and padded_mask: shapes, dtypes, and SpikingJelly 2.0's semantics (golden file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eventkit.torch import pad_collate, padded_mask

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "collate_sj.npz"


def _case(g, name):
    xs = [torch.from_numpy(g[k]) for k in sorted(k for k in g.files if k.startswith(f"{name}_x"))]
    return xs, g[f"{name}_y"].tolist()


@pytest.mark.parametrize("name", ["f32", "i16"])
def test_matches_spikingjelly_pad_sequence_collate(name):
    g = np.load(GOLDEN)
    xs, ys = _case(g, name)
    padded, labels, lengths = pad_collate(list(zip(xs, ys)))
    assert padded.dtype == torch.from_numpy(g[f"{name}_padded"]).dtype  # dtype preserved, as SpikingJelly
    np.testing.assert_array_equal(padded.numpy(), g[f"{name}_padded"])
    np.testing.assert_array_equal(labels.numpy(), g[f"{name}_labels"])
    assert labels.dtype == torch.int64 and lengths.dtype == torch.int64
    np.testing.assert_array_equal(lengths.numpy(), g[f"{name}_lengths"])


@pytest.mark.parametrize("name", ["f32", "i16"])
def test_mask_matches_spikingjelly_padded_sequence_mask(name):
    g = np.load(GOLDEN)
    lengths = torch.from_numpy(g[f"{name}_lengths"])
    for key in (k for k in g.files if k.startswith(f"{name}_mask_T")):
        t = key.rsplit("_T", 1)[1]
        T = None if t == "none" else int(t)
        expect = g[key]  # SpikingJelly: [T, N]
        np.testing.assert_array_equal(padded_mask(lengths, T, time_first=True).numpy(), expect)
        np.testing.assert_array_equal(padded_mask(lengths, T).numpy(), expect.T)  # ours: [N, T] by default


def test_time_first_is_the_transpose_and_contiguous():
    xs = [torch.arange(t * 6, dtype=torch.float32).reshape(t, 2, 3) + 1 for t in (2, 4, 1)]
    batch = [(x, i) for i, x in enumerate(xs)]
    bf, y1, l1 = pad_collate(batch)
    tf, y2, l2 = pad_collate(batch, time_first=True)
    assert bf.shape == (3, 4, 2, 3) and tf.shape == (4, 3, 2, 3)
    assert tf.is_contiguous()
    assert torch.equal(tf, bf.transpose(0, 1))
    assert torch.equal(y1, y2) and torch.equal(l1, l2)
    # padding is zero exactly where the mask is False
    mask = padded_mask(l1, 4)
    assert torch.equal(bf.flatten(2).ne(0).all(-1), mask)


def test_uint16_and_explicit_lengths_and_total_length():
    xs = [torch.full((t, 1, 2, 2), 7, dtype=torch.uint16) for t in (3, 1)]
    padded, labels, lengths = pad_collate([(xs[0], 0, 2), (xs[1], 1, 1)], total_length=5)
    assert padded.dtype == torch.uint16 and padded.shape == (2, 5, 1, 2, 2)
    assert lengths.tolist() == [2, 1]  # the third element wins over the tensor's T
    assert padded[:, 3:].to(torch.int32).eq(0).all()
    with pytest.raises(ValueError, match="total_length"):
        pad_collate([(xs[0], 0)], total_length=2)


def test_numpy_samples_and_label_types():
    batch = [(np.ones((2, 3), np.float32), 1), (np.ones((1, 3), np.float32), 4)]
    padded, labels, lengths = pad_collate(batch)
    assert padded.shape == (2, 2, 3) and labels.tolist() == [1, 4] and lengths.tolist() == [2, 1]
    assert padded[1, 1].eq(0).all()


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        pad_collate([])
    with pytest.raises(ValueError, match="trailing shape"):
        pad_collate([(torch.zeros(2, 3), 0), (torch.zeros(2, 4), 0)])
    with pytest.raises(ValueError, match="1-D"):
        padded_mask(torch.zeros(2, 2, dtype=torch.long))


def test_mask_device_and_empty():
    assert padded_mask([], None).shape == (0, 0)
    m = padded_mask(torch.tensor([0, 2]), 3)
    assert m.tolist() == [[False, False, False], [True, True, False]]


def test_collate_errors_are_eventkit_errors():
    from eventkit.errors import EventkitError

    for bad in (lambda: pad_collate([]), lambda: padded_mask(torch.zeros(2, 2, dtype=torch.long)),
                lambda: pad_collate([(torch.zeros(3, 2), 0)], total_length=2)):  # fmt: skip
        with pytest.raises(EventkitError):
            bad()
