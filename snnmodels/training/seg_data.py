"""Batches of a segmentation store's split: ``(frames [B, T, C, H, W] float32, masks [B, H, W] int64)``.

Small splits (the demo, tests) are read into memory once and batched by indexing, the fastest path on
a few cores; a split over :data:`~snnmodels.training.data.PRELOAD_LIMIT` bytes (as float32) streams
through :class:`eventkit.torch.FrameDataset` and a DataLoader (``num_workers`` processes), so the
memory a run needs does not grow with the dataset. Both paths yield the same batches in the same
order: the order comes from the caller's generator (or the sample order), never from the loader.

Data-parallel runs (``rank``/``world_size``): as :class:`~snnmodels.training.data.FrameBatches`, the
epoch's order and its cut into global batches are those of the one-process run and rank ``r`` takes
the contiguous part ``r`` of every global batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from snnmodels.errors import ConfigError

__all__ = ["SegBatches"]


def _collate(samples: list[tuple[torch.Tensor, torch.Tensor]], T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(frames [t, C, H, W], mask [H, W])`` samples; frames cropped or zero-padded to ``T`` steps."""
    x = torch.zeros((len(samples), T, *samples[0][0].shape[1:]), dtype=torch.float32)
    for i, (f, _) in enumerate(samples):
        t = min(T, f.shape[0])
        x[i, :t] = f[:t]
    return x, torch.stack([m for _, m in samples])


class _Collate:
    """Picklable collate (DataLoader workers) for :func:`_collate`."""

    def __init__(self, T: int) -> None:
        self.T = T

    def __call__(self, samples: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        return _collate(samples, self.T)


class SegBatches:
    """Re-iterable batches of one split of a segmentation store.

    Parameters
    ----------
    path
        A frame store with masks.
    split
        Split name.
    batch_size
        Samples per (global) batch; the last one may be smaller.
    indices
        Use only these samples of the split (None: all).
    T
        Time steps: the store's ``t_max`` when None (a larger value is clipped to it).
    preload
        ``True``: read the part into memory; ``False``: stream; ``"auto"``: preload up to
        :data:`~snnmodels.training.data.PRELOAD_LIMIT` float32 bytes.
    num_workers
        DataLoader processes when streaming.
    rank, world_size
        Data-parallel sharding of every global batch (see the module docstring).
    """

    def __init__(self, path: str | os.PathLike[str], split: str, *, batch_size: int,
                 indices: Sequence[int] | None = None, T: int | None = None, preload: bool | str = "auto",
                 num_workers: int = 0, rank: int = 0, world_size: int = 1) -> None:  # fmt: skip
        from eventkit.store import open_store

        from snnmodels.training.data import PRELOAD_LIMIT

        store = open_store(path)
        if not store.has_masks:
            raise ConfigError(f"{path}: not a segmentation store (no masks); convert images with masks "
                              "(eventkit synth IMAGES --masks MASKS, a VOC folder or --coco)")  # fmt: skip
        if split not in store:
            raise ConfigError(f"{path}: no split {split!r}; it has {', '.join(store)}")
        if batch_size < world_size:
            raise ConfigError(f"--batch-size {batch_size} is the global batch, shared by {world_size} processes; "
                              "it must be at least the number of processes")  # fmt: skip
        view = store[split]
        n_all = len(view)
        self.path, self.split = str(path), split
        self.indices = np.arange(n_all) if indices is None else np.asarray(list(indices), dtype=np.int64)
        if self.indices.size and not (0 <= self.indices.min() and self.indices.max() < n_all):
            raise ConfigError(f"sample indices out of range for split {split!r} of {n_all} samples in {path}")
        self.T = int(store.t_max if T is None else min(int(T), store.t_max))
        self.frame_shape: tuple[int, int, int] = tuple(int(v) for v in view.frames.shape[2:])  # type: ignore[assignment]
        self.sample_ids = [str(view.sample_ids[i]) for i in self.indices]
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.rank, self.world_size = int(rank), int(world_size)
        nbytes = len(self.indices) * self.T * int(np.prod(self.frame_shape)) * 4
        self.preloaded = bool(nbytes <= PRELOAD_LIMIT if preload == "auto" else preload)
        self.frames: torch.Tensor | None = None
        self.masks: torch.Tensor | None = None
        if self.preloaded and len(self.indices):
            idx = self.indices.tolist()
            self.frames = torch.from_numpy(np.ascontiguousarray(view.read_frames(idx)[:, : self.T], dtype=np.float32))
            self.masks = torch.from_numpy(np.stack([view.read_mask(i) for i in idx]).astype(np.int64))

    def __len__(self) -> int:
        return len(self._steps())

    @property
    def num_samples(self) -> int:
        """Samples of the part (all ranks together)."""
        return int(len(self.indices))

    def _steps(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of this process's part of every global batch."""
        from snnmodels.training.data import global_batches

        steps = []
        for lo, hi in global_batches(len(self.indices), self.batch_size, False):
            if self.world_size > 1 and hi - lo < self.world_size:
                continue  # too few samples for every rank to take part
            size = hi - lo
            steps.append((lo + size * self.rank // self.world_size, lo + size * (self.rank + 1) // self.world_size))
        return steps

    def global_sizes(self) -> list[int]:
        """The size of the global batch of each of this process's steps (all ranks together)."""
        from snnmodels.training.data import global_batches

        return [hi - lo for lo, hi in global_batches(len(self.indices), self.batch_size, False)
                if self.world_size == 1 or hi - lo >= self.world_size]  # fmt: skip

    def batches(self, order: torch.Tensor | None = None,
                max_batches: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
        """Batches in ``order`` (positions into :attr:`indices`; None: as stored), at most ``max_batches``."""
        order = torch.arange(len(self.indices)) if order is None else order
        steps = self._steps()[:max_batches] if max_batches is not None else self._steps()
        if self.frames is not None and self.masks is not None:
            for lo, hi in steps:
                idx = order[lo:hi]
                yield self.frames[idx], self.masks[idx]
            return
        if not steps:
            return
        from torch.utils.data import DataLoader

        from eventkit.torch import FrameDataset

        ds = FrameDataset(self.path, self.split, return_length=False)
        samples = self.indices[order.numpy()]
        loader = DataLoader(ds, batch_sampler=[samples[lo:hi].tolist() for lo, hi in steps],
                            collate_fn=_Collate(self.T), num_workers=self.num_workers)  # fmt: skip
        yield from loader

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches()
