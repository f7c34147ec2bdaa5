"""Padded batches of variable-length frame samples, with lengths and masks.

Convention (the same as SpikingJelly 2.0's ``pad_sequence_collate`` / ``padded_sequence_mask``
and as the store's ``arange(t_max) < lengths``):

* ``pad_collate`` zero-pads every sample along its first (time) axis to the longest one and
  returns ``(padded, labels, lengths)``; ``padded`` keeps the samples' dtype;
* ``padded_mask(lengths)[n, t]`` is **True for a valid frame** (``t < lengths[n]``) and False
  for padding; batch-first ``[N, T]`` by default, ``[T, N]`` with ``time_first=True`` (exactly
  SpikingJelly's ``padded_sequence_mask``).

>>> loader = DataLoader(ds, batch_size=16, collate_fn=pad_collate)
>>> x, y, lengths = next(iter(loader))          # x [N, T, P, H, W]
>>> mask = padded_mask(lengths, x.shape[1])     # [N, T] bool
>>> DataLoader(ds, batch_size=16, collate_fn=functools.partial(pad_collate, time_first=True))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

from ._errors import DatasetArgumentError

__all__ = ["pad_collate", "padded_mask"]


def pad_collate(
    batch: Sequence[tuple[Any, ...]], *, time_first: bool = False, total_length: int | None = None
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Collate ``(frames, label)`` or ``(frames, label, length)`` samples into a padded batch.

    Parameters
    ----------
    batch
        Samples whose first element is a tensor or array ``[T_i, ...]`` (trailing shapes equal).
        A third element, when present, is the valid length (else ``T_i``).
    time_first
        Return ``[T, N, ...]`` (contiguous) instead of ``[N, T, ...]``.
    total_length
        Pad to this many frames instead of the longest sample (fixed shapes for compiled models).

    Returns
    -------
    padded : torch.Tensor
        ``[N, T, ...]`` or ``[T, N, ...]``, the samples' dtype, zeros after each sample's end.
    labels
        ``default_collate`` of the labels (an int64 tensor for int labels).
    lengths : torch.Tensor
        ``[N]`` int64 valid lengths.
    """
    if len(batch) == 0:
        raise DatasetArgumentError("pad_collate got an empty batch")
    xs = [x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x)) for x, *_ in batch]
    rest = xs[0].shape[1:]
    for x in xs:
        if x.ndim == 0 or x.shape[1:] != rest or x.dtype != xs[0].dtype:
            raise DatasetArgumentError(
                f"pad_collate needs samples [T, ...] with equal trailing shape and dtype; got "
                f"{tuple(xs[0].shape)} {xs[0].dtype} and {tuple(x.shape)} {x.dtype}"
            )
    t_max = max(x.shape[0] for x in xs)
    if total_length is not None:
        if total_length < t_max:
            raise DatasetArgumentError(f"total_length={total_length} is shorter than the longest sample ({t_max} frames)")
        t_max = int(total_length)
    lengths = torch.tensor([int(s[2]) if len(s) > 2 else x.shape[0] for s, x in zip(batch, xs)], dtype=torch.int64)
    if not time_first and (whole := _whole_batch(xs, t_max)) is not None:
        return whole, default_collate([s[1] for s in batch]), lengths
    shape = (t_max, len(xs), *rest) if time_first else (len(xs), t_max, *rest)
    out = xs[0].new_zeros(shape)
    for i, x in enumerate(xs):
        if time_first:
            out[: x.shape[0], i] = x
        else:
            out[i, : x.shape[0]] = x
    labels = default_collate([s[1] for s in batch])
    return out, labels, lengths


def _whole_batch(xs: list[torch.Tensor], t_max: int) -> torch.Tensor | None:
    """The batch tensor itself when ``xs`` are its rows ``0..N-1`` in order, each ``t_max`` frames long.

    Only batches made by :meth:`FrameDataset.__getitems__ <eventkit.torch.FrameDataset.__getitems__>`
    (marked ``_eventkit_batch``) qualify, so no other tensor is ever returned without a copy; the
    batch is then marked as handed out and never decoded into again.
    """
    base = xs[0]._base
    if base is None or not getattr(base, "_eventkit_batch", False) or base.shape[0] != len(xs):
        return None
    if base.shape[1:] != xs[0].shape or xs[0].shape[0] != t_max or not base.is_contiguous():
        return None
    step = xs[0].numel() * xs[0].element_size()
    ptr = base.data_ptr()
    for k, x in enumerate(xs):
        if x._base is not base or x.data_ptr() != ptr + k * step or x.shape != xs[0].shape or not x.is_contiguous():
            return None
    base._eventkit_handed = True
    return base


def padded_mask(
    lengths: torch.Tensor | Sequence[int] | np.ndarray, T: int | None = None, *, time_first: bool = False
) -> torch.Tensor:
    """Boolean validity mask: True where ``t < lengths[n]``.

    Parameters
    ----------
    lengths
        ``[N]`` valid lengths; the mask is created on its device.
    T
        Number of time steps; ``max(lengths)`` when None.
    time_first
        ``[T, N]`` (SpikingJelly's ``padded_sequence_mask`` layout) instead of ``[N, T]``.

    Returns
    -------
    torch.Tensor
        bool ``[N, T]`` or ``[T, N]``.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1:
        raise DatasetArgumentError(f"lengths must be 1-D [N], got shape {tuple(lengths.shape)}")
    if T is None:
        T = int(lengths.max().item()) if lengths.numel() else 0
    steps = torch.arange(int(T), device=lengths.device)
    return steps[:, None] < lengths[None, :] if time_first else steps[None, :] < lengths[:, None]
