"""Batches for training from an eventkit frame store, time-first.

:func:`store_batches` yields ``(x [T, N, C, H, W] float32, labels [N] int64, lengths [N] int64)``;
with ``dtype=None`` ``x`` keeps the store's integer type (2 bytes a count instead of 4), which the
training loop moves to the device and converts to float there (:func:`to_device`).
Small splits (the demo, tests) are read once into memory and batched by indexing, which is the
fastest path on a few cores; larger ones stream through :class:`eventkit.torch.FrameDataset` and a
DataLoader. Shuffling uses a generator seeded from ``(seed, epoch)``, so an epoch's order does not
depend on what ran before it: a resumed run sees the same batches as an uninterrupted one.

Data-parallel runs (``rank``/``world_size``): the epoch's order and its cut into GLOBAL batches of
``batch_size`` are those of the one-process run; rank ``r`` takes the contiguous part ``r`` of every
global batch. So N processes together see, at every step, exactly the samples one process would.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import eventkit
from eventkit.store.errors import StoreCorruptError

from ..errors import ConfigError
from eventkit.store.integrity import unwrap_worker_error

__all__ = ["StoreInfo", "store_info", "FrameBatches", "store_batches", "to_device", "PRELOAD_LIMIT"]

#: Splits up to this many float32 bytes are read into memory (``preload="auto"``).
PRELOAD_LIMIT = 512 * 2**20


@dataclass(frozen=True)
class StoreInfo:
    """What a model needs to know about a store.

    Attributes
    ----------
    path : str
        The store directory.
    classes : list of str
        Class names (label ``k`` is ``classes[k]``).
    input_size : tuple of int
        ``(P, H, W)`` of one frame.
    t_max : int
        Padded number of frames.
    splits : dict
        ``{split: N}``.
    """

    path: str
    classes: list[str]
    input_size: tuple[int, int, int]
    t_max: int
    splits: dict[str, int]


def store_info(path: str | os.PathLike[str]) -> StoreInfo:
    """Open the frame store at ``path`` and describe it (raises eventkit's store errors:
    ``StoreCorruptError`` for damaged metadata or per-sample arrays; damaged frames raise it when read)."""
    store = eventkit.open_store(Path(path).expanduser())
    split = next(iter(store))
    _, _, p, h, w = store[split].frames.shape
    return StoreInfo(str(Path(path).expanduser()), list(store.classes), (int(p), int(h), int(w)),
                     int(store.t_max), {s: len(store[s]) for s in store})


def _resolve_T(info: StoreInfo, T: int | None, variable: bool) -> int:
    if T is None:
        return info.t_max
    if T < 1:
        raise ConfigError(f"--T must be >= 1, got {T}")
    if not variable and T != info.t_max:
        raise ConfigError(
            f"{info.path} holds T={info.t_max} frames per sample, not T={T}; convert the dataset again with "
            f"`eventkit convert ... -T {T}` (`snnmodels train`: leave --T out; Python: T=None)"
        )
    return T


def _to_time_first(x: torch.Tensor, T: int, dtype: torch.dtype | None = torch.float32) -> torch.Tensor:
    """``[N, T', ...]`` of any dtype -> ``[T, N, ...]`` of ``dtype`` (None: kept), cropped or zero-padded to ``T``."""
    x = x[:, :T]
    if x.shape[1] < T:
        x = torch.cat([x, x.new_zeros((x.shape[0], T - x.shape[1], *x.shape[2:]))], 1)
    if dtype is not None:
        x = x.to(dtype)
    return x.transpose(0, 1).contiguous()


def to_device(x: torch.Tensor, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Move a batch to ``device`` and make it ``dtype`` there.

    On CUDA the host tensor is pinned (when it is not already) and copied with ``non_blocking=True``,
    so the copy overlaps the host's work on the next batch; integer frames travel at their stored
    width and are converted to float on the device, where it costs nothing next to a training step.
    """
    if device.type == "cuda":
        unsigned = x.dtype in _UNSIGNED
        if unsigned:  # travel as the signed type of the same width (a view: no copy), widened on the device
            x = x.view(_UNSIGNED[x.dtype][0])
        if x.device.type == "cpu" and not x.is_pinned():
            x = x.pin_memory()
        x = x.to(device, non_blocking=True)
        if unsigned:
            x = widen_unsigned(x)
    else:
        x = x.to(device)
    return x if x.dtype == dtype else x.to(dtype)


#: torch's "barebones" unsigned types (few CUDA kernels) -> (signed view of the same width, wider type).
_UNSIGNED = {getattr(torch, f"uint{b}"): (getattr(torch, f"int{b}"), getattr(torch, f"int{2 * b}"))
             for b in (16, 32) if hasattr(torch, f"uint{b}")}


def widen_unsigned(x: torch.Tensor) -> torch.Tensor:
    """Signed integers that hold the bits of uint16/uint32 values -> the values, as int32/int64.

    Two's complement: the signed reading of ``v >= 2**(b-1)`` is ``v - 2**b``; masking the widened value
    with ``2**b - 1`` gives ``v`` back. Uses only kernels every device has for signed types.
    """
    bits = x.element_size() * 8
    wide = {16: torch.int32, 32: torch.int64}[bits]
    return x.to(wide).bitwise_and_((1 << bits) - 1)


def global_batches(n: int, batch_size: int, drop_last: bool) -> list[tuple[int, int]]:
    """``(start, stop)`` of every global batch of an epoch of ``n`` samples."""
    stops = range(batch_size, n + (0 if drop_last else batch_size), batch_size)
    return [(stop - batch_size, min(stop, n)) for stop in stops]


class FrameBatches:
    """Re-iterable batches of one split: ``(x [T, N, C, H, W], labels, lengths)``.

    Parameters
    ----------
    path
        Frame store.
    split
        Split name.
    batch_size
        Samples per batch (the last batch may be smaller; it is dropped when ``drop_last``).
    T
        Time steps fed to the network: the store's ``t_max`` when None; for a variable-length store
        samples are cropped or zero-padded to ``T``; a fixed-T store must match.
    shuffle, seed
        Shuffle with a generator seeded from ``(seed, epoch)``; call :meth:`set_epoch` each epoch.
    preload
        ``True``: read the split into memory once; ``False``: stream through a DataLoader;
        ``"auto"``: preload when the split is at most :data:`PRELOAD_LIMIT` bytes as float32.
    num_workers
        DataLoader workers when streaming.
    indices
        Use only these samples of the split (a carved train/validation part; None: all of them).
    dtype
        Type of ``x``: ``torch.float32`` (default), or None for the store's integer type (the training
        loop converts on the device, :func:`to_device`).
    pin_memory
        Yield ``x`` in page-locked memory (for fast asynchronous copies to a CUDA device).
    rank, world_size
        Data-parallel sharding: ``batch_size`` is the global batch and this process gets the
        contiguous part ``rank`` of each one (sizes differ by at most one). A last global batch with
        fewer samples than ranks is dropped (every rank must take part in every step).
    """

    def __init__(
        self, path: str | os.PathLike[str], split: str, *, batch_size: int, T: int | None = None,
        shuffle: bool = False, seed: int = 0, preload: bool | str = "auto", num_workers: int = 0,
        drop_last: bool = False, indices: list[int] | None = None, dtype: torch.dtype | None = torch.float32,
        pin_memory: bool = False, rank: int = 0, world_size: int = 1,
    ) -> None:
        self.info = store_info(path)
        if split not in self.info.splits:
            raise ConfigError(f"unknown split {split!r} for {path}; valid splits are "
                             f"{', '.join(self.info.splits)}")
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is not within world size {world_size}")
        if batch_size < world_size:
            raise ConfigError(f"--batch-size {batch_size} is the global batch, shared by {world_size} processes; "
                              f"it must be at least the number of processes")
        store = eventkit.open_store(self.info.path)
        view = store[split]
        total = len(view)
        self.indices = np.arange(total) if indices is None else np.asarray(indices, dtype=np.int64)
        if self.indices.ndim != 1 or (self.indices.size and not (0 <= self.indices.min() and self.indices.max() < total)):
            raise ConfigError(f"sample indices out of range for split {split!r} of {total} samples in {path}")
        self.labels = torch.as_tensor(np.asarray(view.labels, dtype=np.int64)[self.indices])
        self.lengths = torch.as_tensor(np.asarray(view.lengths, dtype=np.int64)[self.indices])
        self.variable = store.params.get("frames") is None or bool((self.lengths != self.info.t_max).any())
        self.T = _resolve_T(self.info, T, self.variable)
        self.lengths = self.lengths.clamp(max=self.T)
        self.split, self.batch_size, self.shuffle, self.seed = split, int(batch_size), shuffle, int(seed)
        self.drop_last, self.num_workers, self.epoch = drop_last, int(num_workers), 0
        self.dtype, self.pin_memory, self.rank, self.world_size = dtype, bool(pin_memory), int(rank), int(world_size)
        n = len(self.labels)
        nbytes = n * self.T * int(np.prod(self.info.input_size)) * 4
        if preload == "auto":
            preload = nbytes <= PRELOAD_LIMIT
        self.frames: torch.Tensor | None = None
        if preload:
            frames = view.read_frames(self.indices)[:, : self.T]
            # integer batches keep the stored type in memory too (half of float32 for uint16 counts)
            self.frames = torch.from_numpy(frames if dtype is None else frames.astype(np.float32, copy=False))

    def _steps(self) -> list[tuple[int, int]]:
        """``(start, stop)`` in the epoch's order of this process's part of every step's global batch."""
        steps = []
        for lo, hi in global_batches(len(self.labels), self.batch_size, self.drop_last):
            if self.world_size > 1 and hi - lo < self.world_size:
                continue  # too few samples for every rank to take part: dropped (see the class docstring)
            size = hi - lo
            steps.append((lo + size * self.rank // self.world_size, lo + size * (self.rank + 1) // self.world_size))
        return steps

    def __len__(self) -> int:
        return len(self._steps())

    @property
    def num_samples(self) -> int:
        """Samples this process sees in an epoch (all of the split in a one-process run)."""
        if self.world_size == 1:
            return int(len(self.labels))
        return sum(hi - lo for lo, hi in self._steps())

    @property
    def local_batch_size(self) -> int:
        """This process's share of a full global batch."""
        return -(-self.batch_size // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffling order of ``epoch``."""
        self.epoch = int(epoch)

    def _order(self) -> torch.Tensor:
        n = len(self.labels)
        if not self.shuffle:
            return torch.arange(n)
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(n, generator=g)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = self._order()
        steps = self._steps()
        if self.frames is not None:
            for lo, hi in steps:
                idx = order[lo:hi]
                x = _to_time_first(self.frames[idx], self.T, self.dtype)
                yield (x.pin_memory() if self.pin_memory else x), self.labels[idx], self.lengths[idx]
            return
        yield from self._stream(order, steps)

    def _stream(self, order: torch.Tensor, steps: list[tuple[int, int]],
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        from eventkit.torch import FrameDataset, pad_collate

        ds = FrameDataset(self.info.path, self.split, dtype=self.dtype, return_length=True)
        collate = functools.partial(pad_collate, time_first=True, total_length=max(self.T, ds.t_max))
        samples = self.indices[order.numpy()]
        batches = [samples[lo:hi].tolist() for lo, hi in steps]  # this process's part of each global batch
        loader = DataLoader(ds, batch_sampler=batches, collate_fn=collate, num_workers=self.num_workers,
                            pin_memory=self.pin_memory, persistent_workers=False)
        try:
            for x, y, lengths in loader:
                yield x[: self.T], y, lengths.clamp(max=self.T)
        except StoreCorruptError as exc:  # from a worker: its message carries the worker's traceback
            raise unwrap_worker_error(exc) from None


def store_batches(path: str | os.PathLike[str], split: str, **kwargs) -> FrameBatches:
    """Shorthand for :class:`FrameBatches`."""
    return FrameBatches(path, split, **kwargs)
