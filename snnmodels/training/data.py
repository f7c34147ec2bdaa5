"""Batches for training from an eventkit frame store, time-first and float.

:func:`store_batches` yields ``(x [T, N, C, H, W] float32, labels [N] int64, lengths [N] int64)``.
Small splits (the demo, tests) are read once into memory and batched by indexing, which is the
fastest path on a few cores; larger ones stream through :class:`eventkit.torch.FrameDataset` and a
DataLoader. Shuffling uses a generator seeded from ``(seed, epoch)``, so an epoch's order does not
depend on what ran before it: a resumed run sees the same batches as an uninterrupted one.
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

__all__ = ["StoreInfo", "store_info", "FrameBatches", "store_batches", "PRELOAD_LIMIT"]

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


def _to_time_first(x: torch.Tensor, T: int) -> torch.Tensor:
    """``[N, T', ...]`` of any dtype -> ``[T, N, ...]`` float32 (cropped or zero-padded to ``T``)."""
    x = x[:, :T]
    if x.shape[1] < T:
        x = torch.cat([x, x.new_zeros((x.shape[0], T - x.shape[1], *x.shape[2:]))], 1)
    return x.to(torch.float32).transpose(0, 1).contiguous()


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
    """

    def __init__(
        self, path: str | os.PathLike[str], split: str, *, batch_size: int, T: int | None = None,
        shuffle: bool = False, seed: int = 0, preload: bool | str = "auto", num_workers: int = 0,
        drop_last: bool = False, indices: list[int] | None = None,
    ) -> None:
        self.info = store_info(path)
        if split not in self.info.splits:
            raise ConfigError(f"unknown split {split!r} for {path}; valid splits are "
                             f"{', '.join(self.info.splits)}")
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
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
        n = len(self.labels)
        nbytes = n * self.T * int(np.prod(self.info.input_size)) * 4
        if preload == "auto":
            preload = nbytes <= PRELOAD_LIMIT
        self.frames: torch.Tensor | None = None
        if preload:
            frames = view.read_frames(self.indices)[:, : self.T]
            self.frames = torch.from_numpy(frames.astype(np.float32, copy=False))

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        """Samples in the split."""
        return int(len(self.labels))

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
        if self.frames is not None:
            for b in range(len(self)):
                idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                yield _to_time_first(self.frames[idx], self.T), self.labels[idx], self.lengths[idx]
            return
        yield from self._stream(order)

    def _stream(self, order: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        from eventkit.torch import FrameDataset, pad_collate

        ds = FrameDataset(self.info.path, self.split, dtype=torch.float32, return_length=True)
        collate = functools.partial(pad_collate, time_first=True, total_length=max(self.T, ds.t_max))
        loader = DataLoader(ds, batch_size=self.batch_size, sampler=self.indices[order.numpy()].tolist(), collate_fn=collate,
                            num_workers=self.num_workers, drop_last=self.drop_last,
                            persistent_workers=False)
        try:
            for x, y, lengths in loader:
                yield x[: self.T], y, lengths.clamp(max=self.T)
        except StoreCorruptError as exc:  # from a worker: its message carries the worker's traceback
            raise unwrap_worker_error(exc) from None


def store_batches(path: str | os.PathLike[str], split: str, **kwargs) -> FrameBatches:
    """Shorthand for :class:`FrameBatches`."""
    return FrameBatches(path, split, **kwargs)
