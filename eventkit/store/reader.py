"""Read a frame store: ``open_store(path)["train"][i]``.

Samples come back padded to ``t_max`` with their length, so a DataLoader can stack them without a
custom collate; ``frames[:length]`` trims, ``split.mask(i)`` gives the padding mask. Labels,
lengths, ids and completion flags are small and loaded once; frames are read lazily, one chunk
(one sample) per read. Stores and split views pickle by path, so DataLoader workers re-open them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import zarr

from ._fastread import ShardReader
from ._reader_base import StoreReader
from .errors import IncompleteStoreError, StoreCorruptError
from .integrity import (
    DAMAGE_ERRORS,
    ChunkDamage,
    check_sample_values,
    chunk_file,
    corrupt,
    missing_chunks,
    read_chunked,
)

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
    StoreCorruptError
        If the store's metadata is damaged (not JSON, wrong shapes or dtypes, missing attrs). Reading
        a damaged sample raises it too, naming the split, the sample and the file.
    """
    return FrameStore(path, allow_incomplete=allow_incomplete, expect_key=expect_key, expect_params=expect_params)


class FrameStore(StoreReader["FrameSplit"]):
    """A read-only frame store: a mapping from split name to :class:`FrameSplit`."""

    kind = "frames"

    def _open_split(self, group: zarr.Group, split: str) -> FrameSplit:
        return FrameSplit(group, split, self.t_max, store=self)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.attrs["dtype"])

    @property
    def has_masks(self) -> bool:
        """A segmentation store: every sample has a target mask (``split.read_mask(i)``)."""
        return bool(self.attrs.get("masks"))

    @property
    def t_max(self) -> int:
        return int(self.attrs["t_max"])

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.attrs["splits"].items())
        return f"<FrameStore {self.path} {self.attrs['dataset']} {self.params} {sizes}>"


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
    masks : zarr.Array or None
        ``[N, H, W]`` uint8 target masks of a segmentation store (255 = ignore), lazy; None otherwise.
        Read one with :meth:`read_mask` (verified); :meth:`mask` is the padding mask of the frames.
    """

    def __init__(
        self, group: zarr.Group, name: str, t_max: int, *, store: FrameStore | None = None,
        on_damage: Callable[[int, int, str, str | None], None] | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self.t_max = t_max
        root = getattr(group.store, "root", None)
        self._path = store.path if store is not None else Path(str(root) if root is not None else str(group.store))
        attrs = store.attrs if store is not None else {}
        self._on_damage = on_damage or self._raise_damage
        try:
            self.frames: zarr.Array = group["frames"]
            arrays = {k: group[k] for k in ("done", "labels", "lengths", "sample_ids")}
        except KeyError:
            if attrs.get("complete"):
                raise corrupt(self._path, name, None, "an array of the split is missing") from None
            raise IncompleteStoreError(f"{self._path}: split {name!r} has not been created yet") from None
        except DAMAGE_ERRORS as exc:  # metadata that zarr.json validation let through
            raise corrupt(self._path, name, None, f"cannot open its arrays ({type(exc).__name__}: {exc})") from None
        all_stored = attrs.get("chunks_stored") == "all"
        # Local stores get a direct shard reader (~10x faster per sample than Zarr for small ones).
        self._fast = (ShardReader.for_array(Path(root) / group.path / "frames", all_stored)
                      if root is not None else None)  # fmt: skip
        if all_stored and root is not None and self._fast is None:  # eventkit writes only the layout it reads
            file = self._path / name / "frames" / "zarr.json"
            raise corrupt(self._path, name, None, "the frames array's codecs are not the ones eventkit writes", file)
        self.masks: zarr.Array | None = None
        self._fast_mask: ShardReader | None = None
        if attrs.get("masks"):
            try:
                self.masks = group["mask"]
            except KeyError:
                raise corrupt(self._path, name, None, "the mask array of a segmentation store is missing") from None
            if root is not None:
                self._fast_mask = ShardReader.for_array(Path(root) / group.path / "mask", all_stored)
        s = int(attrs.get("samples_per_shard") or self.frames.chunks[0])

        def read(k: str) -> np.ndarray:
            return read_chunked(arrays[k], s, lambda lo, hi, problem: self._on_damage(
                lo, hi, f"{k} {problem}", str(chunk_file(self._path, name, k, lo // s))))  # fmt: skip

        self.done = read("done").astype(bool)  # a missing chunk reads 0: damage only in a complete store
        if all_stored:  # a deleted chunk file of a written sample reads as fill
            for k in ("labels", "lengths", "sample_ids"):
                for c in missing_chunks(self._path, name, k, len(self), s):
                    if self.done[c * s : c * s + s].any():
                        self._on_damage(c * s, min(len(self), c * s + s), f"its {k} chunk file is missing",
                                        str(chunk_file(self._path, name, k, c)))  # fmt: skip
        # Flags are read first: a sample written after this point is simply not visible yet.
        self.labels: np.ndarray = read("labels")
        self.lengths: np.ndarray = read("lengths")
        self.sample_ids: np.ndarray = read("sample_ids")
        for i, problem in check_sample_values(self, attrs):
            self._on_damage(i, i + 1, problem, None)

    def _raise_damage(self, lo: int, hi: int, problem: str, file: str | None) -> None:
        where = lo if hi - lo == 1 else f"{lo}..{hi - 1}"
        raise corrupt(self._path, self.name, where, problem, file)

    @property
    def available(self) -> np.ndarray:
        """Indices of completely written samples (all of them in a complete store)."""
        return np.flatnonzero(self.done)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def __getitem__(self, index: int) -> FrameSample:
        i = self._index(index)
        return FrameSample(self._read(i), int(self.labels[i]), int(self.lengths[i]), str(self.sample_ids[i]))

    def verify_sample(self, index: int) -> tuple[str, str] | None:
        """Decode sample ``index``'s frames (and mask); ``(problem, file)`` if damaged, else None."""
        try:
            self._read(int(index))
            if self.masks is not None:
                self._read_mask(int(index))
        except _SampleDamage as exc:
            return exc.problem, exc.file
        return None

    def _read(self, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Sample ``i``'s frames, verified (damage -> :class:`StoreCorruptError`)."""
        try:
            if self._fast is not None:
                return self._fast.read(i, out=out)
            frames = np.asarray(self.frames[i])
        except ChunkDamage as exc:
            raise _SampleDamage.of(self._path, self.name, i, exc.problem, exc.file) from None
        except DAMAGE_ERRORS as exc:  # Zarr's own read (a layout the fast path does not take)
            file = str(self._path / self.name / "frames")
            raise _SampleDamage.of(self._path, self.name, i, f"cannot decode ({type(exc).__name__}: {exc})", file) from None
        if out is None:
            return frames
        out[...] = frames
        return out

    def read_mask(self, index: int) -> np.ndarray:
        """The target mask ``[H, W]`` uint8 of sample ``index`` (255 = ignore), verified.

        Raises
        ------
        KeyError
            The store holds no masks (not a segmentation store).
        """
        if self.masks is None:
            raise KeyError(f"{self._path}: not a segmentation store (no masks); split {self.name!r}")
        return self._read_mask(self._index(index))

    def _read_mask(self, i: int) -> np.ndarray:
        try:
            if self._fast_mask is not None:
                return self._fast_mask.read(i)
            assert self.masks is not None
            return np.asarray(self.masks[i])
        except ChunkDamage as exc:
            raise _SampleDamage.of(self._path, self.name, i, exc.problem, exc.file) from None
        except DAMAGE_ERRORS as exc:
            file = str(self._path / self.name / "mask")
            raise _SampleDamage.of(self._path, self.name, i, f"mask cannot decode ({type(exc).__name__}: {exc})", file) from None

    def read_into(self, index: int, out: np.ndarray) -> tuple[int, int]:
        """Decode sample ``index``'s frames into ``out`` (C-contiguous ``[t_max, P, H, W]`` of the stored
        dtype); return its ``(label, length)``. Local stores decode straight into ``out``."""
        i = self._index(index)
        self._read(i, out=out)
        return int(self.labels[i]), int(self.lengths[i])

    def read_frames(self, indices: np.ndarray | list[int] | slice) -> np.ndarray:
        """Frames of several samples, ``[len(indices), t_max, P, H, W]`` (one Zarr call)."""
        idx = np.arange(len(self))[indices] if isinstance(indices, slice) else np.asarray(indices, dtype=np.int64)
        idx = np.array([self._index(int(i)) for i in idx], dtype=np.int64)
        if self._fast is not None:  # verified, and no slower than Zarr's bulk read
            out = np.empty((idx.size, *self.frames.shape[1:]), self._fast.dtype)
            for k, i in enumerate(idx):
                self._read(int(i), out=out[k])
            return out
        try:
            if idx.size and np.all(np.diff(idx) == 1):
                return np.asarray(self.frames[int(idx[0]) : int(idx[-1]) + 1])
            return np.asarray(self.frames.get_orthogonal_selection((idx,)))
        except DAMAGE_ERRORS as exc:
            where = f"{int(idx.min())}..{int(idx.max())}"
            raise corrupt(self._path, self.name, where, f"cannot decode ({type(exc).__name__}: {exc})",
                          self._path / self.name / "frames") from None  # fmt: skip

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


class _SampleDamage(StoreCorruptError):
    """A damaged sample (the public class, with its parts kept for ``inspect --verify``)."""

    def __init__(self, message: str, problem: str = "", file: str = "") -> None:
        super().__init__(message)  # one positional argument: DataLoader workers re-raise it as cls(msg)
        self.problem, self.file = problem, file

    @classmethod
    def of(cls, store: Path, split: str, index: int, problem: str, file: str) -> _SampleDamage:
        return cls(str(corrupt(store, split, index, problem, file)), problem, file)
