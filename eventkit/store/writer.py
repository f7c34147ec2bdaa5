"""Write a frame store: create or resume, write samples by index, finalize.

>>> w = create_store("frames-T16-number.zarr", splits={"train": 1176, "test": 288}, t_max=16,
...                  sensor=(128, 128, 2), params={"frames": 16, "split_by": "number"},
...                  classes=names, dataset="dvs128-gesture", manifest_version="1")
>>> for shard in w.missing_shards("train"):
...     w.write_shard("train", shard, [(frames, label, sample_id), ...])
>>> w.finalize()

See :mod:`eventkit.store.layout` for the on-disk format and the one-writer-per-shard rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import zarr
from zarr.abc.codec import BytesBytesCodec
from zarr.codecs import Crc32cCodec, ZstdCodec

from ..events import SensorSize
from ._common import LockedWriter, prepare_root, require_array
from ._lock import WriterLock
from ._remote import RemotePath, location, zarr_store
from .cache_key import key_inputs
from .errors import StoreMismatchError, StoreNotFoundError
from .layout import FORMAT_VERSION, choose_samples_per_shard, default_compressor, lock_path, read_root_attrs
from ..errors import OptionError

__all__ = ["SampleRecord", "StoreWriter", "create_store", "open_store_writer"]

#: Zarr leaves chunks equal to the fill value out; eventkit stores them, so a reader can tell a
#: deleted chunk from a zero one (root attr ``chunks_stored: "all"``).
STORE_EVERY_CHUNK = {"write_empty_chunks": True}
#: The per-sample arrays' codec: Zarr's default zstd, with zstd's content checksum so a flipped byte
#: is an error rather than another label. Frame chunks end in a crc32c (``Crc32cCodec``) likewise.
SMALL_CODEC = ZstdCodec(level=0, checksum=True)


class SampleRecord(NamedTuple):
    """One sample to write: frames ``[T, P, H, W]`` with ``T <= t_max``, its label and id.

    ``mask``: the ``[H, W]`` uint8 target mask of a segmentation store (``create_store(masks=True)``).
    """

    frames: np.ndarray
    label: int
    sample_id: str
    mask: np.ndarray | None = None


def create_store(
    path: str | os.PathLike[str],
    *,
    splits: Mapping[str, int],
    t_max: int,
    sensor: SensorSize | tuple[int, ...],
    params: Mapping[str, Any],
    classes: Sequence[str],
    dataset: str,
    manifest_version: str | int | None = None,
    decoder_versions: Mapping[str, str] | None = None,
    dtype: str | np.dtype = "uint16",
    samples_per_shard: int | None = None,
    compressor: BytesBytesCodec | None = None,
    lock: bool = True,
    overwrite: bool = False,
    masks: bool = False,
) -> StoreWriter:
    """Create a frame store, or resume the one at ``path`` if it has the same cache key.

    Parameters
    ----------
    path
        The store directory (name it with :func:`~eventkit.store.layout.store_name`).
    splits
        Number of samples per split, e.g. ``{"train": 1176, "test": 288}``.
    t_max
        Padded number of frames per sample.
    sensor
        ``(width, height, polarities)``; frames are ``[T, polarities, height, width]``.
    params
        Frame parameters (JSON types); part of the cache key.
    classes
        Class names; label ``k`` is ``classes[k]``.
    dataset, manifest_version, decoder_versions
        Provenance; part of the cache key.
    dtype
        Frame dtype; part of the cache key.
    samples_per_shard
        S; chosen from the sample size when None (see ``choose_samples_per_shard``).
    compressor
        Inner-chunk codec; Blosc(zstd 3, bitshuffle) when None.
    lock
        Take the exclusive writer lock (``<path>.lock``). Pipeline workers that a lock-holding
        coordinator started use :func:`open_store_writer` with ``lock=False``.
    overwrite
        Delete whatever is at ``path`` first.
    masks
        A segmentation store: every sample also holds a target mask ``[H, W]`` uint8 (class index
        per pixel, 255 = ignore) in ``<split>/mask``; part of the cache key.

    Returns
    -------
    StoreWriter
        Holding the lock until :meth:`StoreWriter.close` (or ``finalize``).

    Raises
    ------
    StoreMismatchError
        If ``path`` holds a store with another cache key or layout, or something that is no store.
    StoreLockedError
        If another live writer holds the store.
    """
    path = location(path)  # a local folder or an object-store URL (s3://...)
    sensor = SensorSize.of(sensor)
    dtype = np.dtype(dtype)
    if t_max <= 0 or not splits or any(int(n) < 0 for n in splits.values()):
        raise OptionError(f"need t_max > 0 and split sizes >= 0, got t_max={t_max}, splits={dict(splits)}")
    inner = (sensor.polarities, sensor.height, sensor.width)
    if samples_per_shard is None:
        nbytes = t_max * int(np.prod(inner)) * dtype.itemsize
        samples_per_shard = choose_samples_per_shard(nbytes, max(splits.values()))
    compressor = compressor if compressor is not None else default_compressor()
    inputs = key_inputs(
        kind="frames",
        dataset=dataset,
        manifest_version=manifest_version,
        decoder_versions=decoder_versions,
        params=params,
        dtype=dtype.str,
        sensor=tuple(sensor),
        format_version=FORMAT_VERSION,
        targets="mask" if masks else None,
    )
    layout = {
        "dataset": dataset,
        "manifest_version": manifest_version,
        "decoder_versions": dict(decoder_versions or {}),
        "params": dict(params),
        "dtype": dtype.name,
        "sensor": list(sensor),
        "classes": list(classes),
        "t_max": int(t_max),
        "splits": {k: int(v) for k, v in splits.items()},
        "samples_per_shard": int(samples_per_shard),
        "compressor": compressor.to_dict(),
        "chunks_stored": "all",  # zero chunks too: a missing chunk file is then damage (layout.py)
        **({"masks": True} if masks else {}),
    }
    held = _lock(path, lock)
    try:
        root, _ = prepare_root(
            path, "frames", inputs, layout, overwrite=overwrite, check=("t_max", "splits", "classes", "samples_per_shard")
        )
        for split, n in layout["splits"].items():
            g = root.require_group(split)
            s = samples_per_shard
            require_array(
                g, "frames", shape=(n, t_max, *inner), dtype=dtype, chunks=(1, t_max, *inner),
                shards=(s, t_max, *inner), compressors=(compressor, Crc32cCodec()), fill_value=0,
                dimension_names=("sample", "time", "polarity", "y", "x"),
            )  # fmt: skip
            require_array(g, "labels", shape=(n,), dtype="int64", chunks=(s,), fill_value=-1, compressors=SMALL_CODEC)
            require_array(g, "lengths", shape=(n,), dtype="int64", chunks=(s,), fill_value=0, compressors=SMALL_CODEC)
            require_array(g, "sample_ids", shape=(n,), dtype=str, chunks=(s,), fill_value="", compressors=SMALL_CODEC)
            require_array(g, "done", shape=(n,), dtype="uint8", chunks=(s,), fill_value=0, compressors=SMALL_CODEC)
            if masks:  # laid out like frames (one sample per chunk, S per shard): the fast reader takes it
                hw = (sensor.height, sensor.width)
                require_array(
                    g, "mask", shape=(n, *hw), dtype="uint8", chunks=(1, *hw), shards=(s, *hw),
                    compressors=(compressor, Crc32cCodec()), fill_value=0, dimension_names=("sample", "y", "x"),
                )  # fmt: skip
        return StoreWriter(path, root, held)
    except BaseException:
        if held is not None:
            held.release()
        raise


def open_store_writer(
    path: str | os.PathLike[str], *, expect_key: str | None = None, lock: bool = True
) -> StoreWriter:
    """Open an existing frame store for writing (resume it, or write shards from a worker).

    Parameters
    ----------
    path
        The store.
    expect_key
        When given, the store's cache key must equal it.
    lock
        Take the writer lock. Workers of a coordinator that holds it pass False and must keep to
        the one-writer-per-shard rule.
    """
    path = location(path)
    attrs = read_root_attrs(path)
    if attrs is None or attrs.get("eventkit_store") != "frames":
        raise StoreNotFoundError(f"{path}: holds no eventkit frame store; create it with create_store")
    if expect_key is not None and attrs.get("cache_key") != expect_key:
        raise StoreMismatchError(f"{path}: cache key {attrs.get('cache_key')} does not match {expect_key}")
    held = _lock(path, lock)
    try:
        return StoreWriter(path, zarr.open_group(zarr_store(path, read_only=False), mode="r+", zarr_format=3), held)
    except BaseException:
        if held is not None:
            held.release()
        raise


def _lock(path: Path, lock: bool) -> WriterLock | None:
    if not lock:
        return None
    if isinstance(path, RemotePath):
        path.check_bucket()  # one clear line naming the store, before the lock object is tried
    path.parent.mkdir(parents=True, exist_ok=True)
    held = WriterLock(lock_path(path), path)
    held.acquire()
    return held


class StoreWriter(LockedWriter):
    """Writes samples into a frame store; see :func:`create_store`.

    Writes are keyed by sample index and idempotent: writing a sample again replaces it. A sample
    counts as written only once its ``done`` flag is set, which happens after its data.
    """

    def __init__(self, path: Path, root: zarr.Group, lock: WriterLock | None) -> None:
        self.path = path
        self.root = root
        self._lock = lock
        attrs = dict(root.attrs)
        self.attrs = attrs
        self.t_max: int = attrs["t_max"]
        self.samples_per_shard: int = attrs["samples_per_shard"]
        self.dtype = np.dtype(attrs["dtype"])
        w, h, p = attrs["sensor"]
        self.frame_shape = (p, h, w)
        self.cache_key: str = attrs["cache_key"]
        self.masks: bool = bool(attrs.get("masks"))
        names = ("frames", "labels", "lengths", "sample_ids", "done") + (("mask",) if self.masks else ())
        self._arrays = {s: {k: root[f"{s}/{k}"].with_config(STORE_EVERY_CHUNK) for k in names}
                        for s in attrs["splits"]}  # fmt: skip
        self._done = {s: a["done"][:].astype(bool) for s, a in self._arrays.items()}

    # -- queries -----------------------------------------------------------------------------
    @property
    def splits(self) -> dict[str, int]:
        """``{split: N}``."""
        return dict(self.attrs["splits"])

    def n_shards(self, split: str) -> int:
        """Number of shards in ``split``."""
        return -(-self.splits[self._split(split)] // self.samples_per_shard)

    def shard_range(self, split: str, shard: int) -> range:
        """Sample indices held by ``shard`` of ``split``."""
        if not 0 <= shard < self.n_shards(split):
            raise IndexError(f"shard {shard} out of range for split {split!r} ({self.n_shards(split)} shards)")
        lo = shard * self.samples_per_shard
        return range(lo, min(lo + self.samples_per_shard, self.splits[split]))

    def missing(self, split: str) -> np.ndarray:
        """Indices of the samples of ``split`` not yet written (as this writer knows it)."""
        return np.flatnonzero(~self._done[self._split(split)])

    def missing_shards(self, split: str) -> np.ndarray:
        """Shards of ``split`` with at least one sample not yet written."""
        return np.unique(self.missing(split) // self.samples_per_shard)

    # -- writes ------------------------------------------------------------------------------
    def write_sample(
        self, split: str, index: int, frames: np.ndarray, label: int, sample_id: str, mask: np.ndarray | None = None
    ) -> None:
        """Write one sample (idempotent; replaces it if already written); ``mask`` in a segmentation store.

        Rewrites the shard file holding it, so give each worker whole shards (one writer per
        shard) and prefer :meth:`write_shard` for bulk conversion.
        """
        a = self._arrays[self._split(split)]
        n = self.splits[split]
        if not 0 <= index < n:
            raise IndexError(f"sample index {index} out of range for split {split!r} of {n} samples")
        padded, length = self._pad(frames)
        m = self._mask(mask)
        if self._done[split][index]:  # a crash mid-replace must not leave an old-and-new mix marked done
            a["done"][index] = 0
            self._done[split][index] = False
        a["frames"][index] = padded
        if m is not None:
            a["mask"][index] = m
        a["labels"][index] = int(label)
        a["lengths"][index] = length
        a["sample_ids"][index] = str(sample_id)
        a["done"][index] = 1  # last: the sample now counts
        self._done[split][index] = True

    def write_shard(self, split: str, shard: int, samples: Sequence[SampleRecord | tuple[np.ndarray, int, str]]) -> None:
        """Write every sample of one shard in one go (one file write per array).

        Parameters
        ----------
        split, shard
            Which shard; it holds the samples ``shard_range(split, shard)``.
        samples
            ``(frames, label, sample_id)`` for each of those samples, in index order
            (``(frames, label, sample_id, mask)`` in a segmentation store).
        """
        a = self._arrays[self._split(split)]
        rng = self.shard_range(split, shard)
        if len(samples) != len(rng):
            raise ValueError(f"shard {shard} of split {split!r} holds {len(rng)} samples, got {len(samples)}")
        block = np.zeros((len(rng), self.t_max, *self.frame_shape), dtype=self.dtype)
        lengths = np.empty(len(rng), dtype=np.int64)
        for j, rec in enumerate(samples):
            block[j], lengths[j] = self._pad(rec[0])
        mblock = (np.stack([self._mask(rec[3] if len(rec) > 3 else None) for rec in samples])
                  if self.masks else None)  # fmt: skip
        sl = slice(rng.start, rng.stop)
        if self._done[split][sl].any():
            a["done"][sl] = 0
            self._done[split][sl] = False
        a["frames"][sl] = block
        if mblock is not None:
            a["mask"][sl] = mblock
        a["labels"][sl] = np.array([int(s[1]) for s in samples], dtype=np.int64)
        a["lengths"][sl] = lengths
        a["sample_ids"][sl] = np.array([str(s[2]) for s in samples], dtype=object).astype(str)
        a["done"][sl] = 1  # last
        self._done[split][sl] = True

    # -- helpers -----------------------------------------------------------------------------
    def _split(self, split: str) -> str:
        if split not in self._arrays:
            raise KeyError(f"unknown split {split!r}; this store has {sorted(self._arrays)}")
        return split

    def _mask(self, mask: np.ndarray | None) -> np.ndarray | None:
        """Check a sample's target mask: required ``[H, W]`` uint8 in a segmentation store, refused elsewhere."""
        if not self.masks:
            if mask is not None:
                raise OptionError("this store holds no masks; create it with create_store(..., masks=True)")
            return None
        hw = self.frame_shape[1:]
        m = None if mask is None else np.asarray(mask)
        if m is None or m.shape != hw or m.dtype.kind not in "iub" or (m.size and (m.min() < 0 or m.max() > 255)):
            got = "none" if m is None else f"{m.shape} {m.dtype}"
            raise OptionError(f"a segmentation store needs a mask [{hw[0]}, {hw[1]}] of class indices 0..255 per sample, got {got}")
        return m.astype(np.uint8, copy=False)

    def _pad(self, frames: np.ndarray) -> tuple[np.ndarray, int]:
        f = np.asarray(frames)
        if f.ndim != 4 or f.shape[1:] != self.frame_shape or not 0 <= f.shape[0] <= self.t_max:
            raise OptionError(
                f"frames must be [T <= {self.t_max}, {', '.join(map(str, self.frame_shape))}], got {f.shape}"
            )
        f = _cast(f, self.dtype)
        if f.shape[0] == self.t_max:
            return f, self.t_max
        out = np.zeros((self.t_max, *self.frame_shape), dtype=self.dtype)
        out[: f.shape[0]] = f
        return out, f.shape[0]


def _cast(f: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast to the store dtype, refusing values that would wrap (counts must saturate upstream)."""
    if f.dtype == dtype or np.can_cast(f.dtype, dtype, "safe"):
        return f.astype(dtype, copy=False)
    if f.dtype.kind in "biu" and dtype.kind in "biu":
        info = np.iinfo(dtype)
        if f.size and (f.min() < info.min or f.max() > info.max):
            raise OptionError(f"frame values in [{f.min()}, {f.max()}] do not fit the store dtype {dtype}")
        return f.astype(dtype)
    if np.can_cast(f.dtype, dtype, "same_kind"):
        return f.astype(dtype)
    raise OptionError(f"cannot store {f.dtype} frames in a {dtype} store without losing values")
