"""Read a frame store: ``open_store(path)["train"][i]``.

Samples come back padded to ``t_max`` with their length, so a DataLoader can stack them without a
custom collate; ``frames[:length]`` trims, ``split.mask(i)`` gives the padding mask. Labels,
lengths, ids and completion flags are small and loaded once; frames are read lazily, one chunk
(one sample) per read. Stores and split views pickle by path, so DataLoader workers re-open them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import zarr

from ..events import SensorSize
from ._common import open_root
from ._fastread import ShardReader
from .errors import IncompleteStoreError

__all__ = ["FrameSample", "FrameSplit", "FrameStore", "open_store"]


class FrameSample(NamedTuple):
    """One stored sample: ``frames [t_max, P, H, W]`` (zero-padded past ``length``)."""

    frames: np.ndarray
    label: int
    length: int
    sample_id: str


def open_store(
    path: str | os.PathLike[str],
    *,
    allow_incomplete: bool = False,
    expect_key: str | None = None,
    expect_params: Mapping[str, Any] | None = None,
) -> FrameStore:
    """Open a frame store for reading.

    Parameters
    ----------
    path
        The store directory.
    allow_incomplete
        Open a store whose conversion has not finished; only samples whose ``done`` flag is set
        can then be read (``split.available``).
    expect_key
        Require this cache key (from :func:`eventkit.store.cache_key`).
    expect_params
        Require these frame parameters (compared as canonical JSON).

    Raises
    ------
    StoreNotFoundError
        If ``path`` holds no frame store.
    IncompleteStoreError
        If the store is not complete and ``allow_incomplete`` is False.
    StoreMismatchError
        If the cache key or the parameters differ from the expected ones.
    """
    return FrameStore(path, allow_incomplete=allow_incomplete, expect_key=expect_key, expect_params=expect_params)


class FrameStore(Mapping[str, "FrameSplit"]):
    """A read-only frame store: a mapping from split name to :class:`FrameSplit`."""

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        self.path = Path(path)
        self._options = options
        self._group, self.attrs = open_root(self.path, "frames", **options)
        self._splits: dict[str, FrameSplit] = {}

    @property
    def params(self) -> dict[str, Any]:
        """The frame parameters the store was built with."""
        return dict(self.attrs["params"])

    @property
    def classes(self) -> list[str]:
        """Class names; label ``k`` is ``classes[k]``."""
        return list(self.attrs["classes"])

    @property
    def sensor(self) -> SensorSize:
        """``(width, height, polarities)``."""
        return SensorSize(*self.attrs["sensor"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.attrs["dtype"])

    @property
    def t_max(self) -> int:
        return int(self.attrs["t_max"])

    @property
    def cache_key(self) -> str:
        return str(self.attrs["cache_key"])

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete"))

    def __getitem__(self, split: str) -> FrameSplit:
        if split not in self.attrs["splits"]:
            raise KeyError(f"unknown split {split!r}; {self.path} has {sorted(self.attrs['splits'])}")
        if split not in self._splits:
            try:
                self._splits[split] = FrameSplit(self._group[split], split, self.t_max)
            except KeyError:  # only in an incomplete store: its writer was killed while creating it
                raise IncompleteStoreError(f"{self.path}: split {split!r} has not been created yet") from None
        return self._splits[split]

    def __iter__(self) -> Iterator[str]:
        return iter(self.attrs["splits"])

    def __len__(self) -> int:
        return len(self.attrs["splits"])

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.attrs["splits"].items())
        return f"<FrameStore {self.path} {self.attrs['dataset']} {self.params} {sizes}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self.path, self._options))


def _reopen(path: Path, options: dict[str, Any]) -> FrameStore:
    return FrameStore(path, **options)


class FrameSplit:
    """One split of a frame store.

    Attributes
    ----------
    frames : zarr.Array
        ``[N, t_max, P, H, W]``, lazy.
    labels, lengths : numpy.ndarray
        ``[N]`` int64.
    sample_ids : numpy.ndarray
        ``[N]`` strings.
    done : numpy.ndarray
        ``[N]`` bool: the sample is completely written.
    """

    def __init__(self, group: zarr.Group, name: str, t_max: int) -> None:
        self.name = name
        self.t_max = t_max
        self.frames: zarr.Array = group["frames"]
        # Local stores get a direct shard reader (~10x faster per sample than Zarr for small ones).
        root = getattr(group.store, "root", None)
        self._fast = ShardReader.for_array(Path(root) / group.path / "frames") if root is not None else None
        self.done = group["done"][:].astype(bool)
        # Flags are read first: a sample written after this point is simply not visible yet.
        self.labels: np.ndarray = group["labels"][:]
        self.lengths: np.ndarray = group["lengths"][:]
        self.sample_ids: np.ndarray = group["sample_ids"][:]

    @property
    def available(self) -> np.ndarray:
        """Indices of completely written samples (all of them in a complete store)."""
        return np.flatnonzero(self.done)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def __getitem__(self, index: int) -> FrameSample:
        i = self._index(index)
        frames = self._fast.read(i) if self._fast is not None else np.asarray(self.frames[i])
        return FrameSample(frames, int(self.labels[i]), int(self.lengths[i]), str(self.sample_ids[i]))

    def read_into(self, index: int, out: np.ndarray) -> tuple[int, int]:
        """Decode sample ``index``'s frames into ``out`` (C-contiguous ``[t_max, P, H, W]`` of the stored
        dtype); return its ``(label, length)``. Local stores decode straight into ``out``."""
        i = self._index(index)
        if self._fast is not None:
            self._fast.read(i, out=out)
        else:
            out[...] = np.asarray(self.frames[i])
        return int(self.labels[i]), int(self.lengths[i])

    def read_frames(self, indices: np.ndarray | list[int] | slice) -> np.ndarray:
        """Frames of several samples, ``[len(indices), t_max, P, H, W]`` (one Zarr call)."""
        idx = np.arange(len(self))[indices] if isinstance(indices, slice) else np.asarray(indices, dtype=np.int64)
        for i in idx:
            self._index(int(i))
        if idx.size and np.all(np.diff(idx) == 1):
            return np.asarray(self.frames[int(idx[0]) : int(idx[-1]) + 1])
        return np.asarray(self.frames.get_orthogonal_selection((idx,)))

    def mask(self, index: int | np.ndarray | list[int]) -> np.ndarray:
        """Padding mask: ``arange(t_max) < lengths[index]`` (``[t_max]``, or ``[k, t_max]``)."""
        lengths = self.lengths[index]
        return np.arange(self.t_max) < np.asarray(lengths)[..., None]

    def __iter__(self) -> Iterator[FrameSample]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"<FrameSplit {self.name!r} n={len(self)} frames={self.frames.shape} {self.frames.dtype}>"

    def _index(self, index: int) -> int:
        n = len(self)
        i = int(index) + n if int(index) < 0 else int(index)
        if not 0 <= i < n:
            raise IndexError(f"sample index {index} out of range for split {self.name!r} of {n} samples")
        if not self.done[i]:
            raise IncompleteStoreError(f"sample {i} of split {self.name!r} has not been written yet")
        return i
