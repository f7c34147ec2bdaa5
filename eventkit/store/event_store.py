"""The optional event store: ragged events per sample, for users who transform events themselves.

Same root attrs, cache key, lock and ``done``/``complete`` rules as the frame store; events are
written one shard of S samples at a time (see :mod:`eventkit.store.layout`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import zarr
from zarr.abc.codec import BytesBytesCodec
from zarr.codecs import Crc32cCodec

from .._renamed import renamed_attribute, renamed_keyword
from ..events import EVENT_DTYPE, SensorSize, validate_events
from ._common import LockedWriter, prepare_root, require_array
from ._reader_base import StoreReader
from ._remote import location, zarr_store
from .cache_key import key_inputs
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
from .layout import FORMAT_VERSION, default_compressor
from .writer import SMALL_CODEC, STORE_EVERY_CHUNK, _lock

__all__ = ["EventSample", "EventSplit", "EventStore", "EventStoreWriter", "create_event_store", "open_event_store",
           "open_event_store_writer"]

EVENT_CHUNK = 1 << 20  # events per chunk of a shard's columns


class EventSample(NamedTuple):
    """One stored sample: events of :data:`eventkit.events.EVENT_DTYPE`, label and id."""

    events: np.ndarray
    label: int
    sample_id: str


@renamed_keyword("samples_per_block", "samples_per_shard")
def create_event_store(
    path: str | os.PathLike[str],
    *,
    splits: Mapping[str, int],
    sensor: SensorSize | tuple[int, ...],
    classes: Sequence[str],
    dataset: str,
    manifest_version: str | int | None = None,
    decoder_versions: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    samples_per_shard: int = 64,
    compressor: BytesBytesCodec | None = None,
    lock: bool = True,
    overwrite: bool = False,
) -> EventStoreWriter:
    """Create (or resume, if the cache key matches) an event store; arguments as ``create_store``.

    ``params`` describe any transform applied to the events before storing (part of the key).
    ``samples_per_shard`` (S) samples are written together; ``samples_per_block=`` is its deprecated name.
    """
    path = location(path)  # a local folder or an object-store URL (s3://...)
    sensor = SensorSize.of(sensor)
    params = dict(params or {})
    compressor = compressor if compressor is not None else default_compressor()
    inputs = key_inputs(
        kind="events", dataset=dataset, manifest_version=manifest_version, decoder_versions=decoder_versions,
        params=params, dtype=str(EVENT_DTYPE.descr), sensor=tuple(sensor), format_version=FORMAT_VERSION,
    )  # fmt: skip
    layout = {
        "dataset": dataset,
        "manifest_version": manifest_version,
        "decoder_versions": dict(decoder_versions or {}),
        "params": params,
        "sensor": list(sensor),
        "classes": list(classes),
        "splits": {k: int(v) for k, v in splits.items()},
        "samples_per_shard": int(samples_per_shard),
        "compressor": compressor.to_dict(),
        "chunks_stored": "all",
    }
    held = _lock(path, lock)
    try:
        root, _ = prepare_root(path, "events", inputs, layout, overwrite=overwrite, check=("splits", "classes", "samples_per_shard"))
        for split, n in layout["splits"].items():
            g = root.require_group(split)
            s = samples_per_shard
            require_array(g, "counts", shape=(n,), dtype="int64", chunks=(s,), fill_value=0, compressors=SMALL_CODEC)
            require_array(g, "labels", shape=(n,), dtype="int64", chunks=(s,), fill_value=-1, compressors=SMALL_CODEC)
            require_array(g, "sample_ids", shape=(n,), dtype=str, chunks=(s,), fill_value="", compressors=SMALL_CODEC)
            require_array(g, "done", shape=(n,), dtype="uint8", chunks=(s,), fill_value=0, compressors=SMALL_CODEC)
            g.require_group("events")
        return EventStoreWriter(path, root, held, compressor)
    except BaseException:
        if held is not None:
            held.release()
        raise


class EventStoreWriter(LockedWriter):
    """Writes shards of samples into an event store (one writer per shard)."""

    def __init__(self, path: Path, root: zarr.Group, lock: Any, compressor: BytesBytesCodec) -> None:
        self.path = path
        self.root = root
        self._lock = lock
        self._compressor = compressor
        self.attrs = dict(root.attrs)
        self.samples_per_shard: int = self.attrs["samples_per_shard"]
        self.cache_key: str = self.attrs["cache_key"]
        self._done = {s: root[f"{s}/done"][:].astype(bool) for s in self.attrs["splits"]}

    # the names before one vocabulary (a shard of S samples, as in the frame store's writer)
    samples_per_block = renamed_attribute("samples_per_block", "samples_per_shard")

    def n_shards(self, split: str) -> int:
        return -(-self.attrs["splits"][split] // self.samples_per_shard)

    def shard_range(self, split: str, shard: int) -> range:
        """Sample indices held by ``shard`` of ``split``."""
        if not 0 <= shard < self.n_shards(split):
            raise IndexError(f"shard {shard} out of range for split {split!r} ({self.n_shards(split)} shards)")
        lo = shard * self.samples_per_shard
        return range(lo, min(lo + self.samples_per_shard, self.attrs["splits"][split]))

    def missing(self, split: str) -> np.ndarray:
        return np.flatnonzero(~self._done[split])

    def write_shard(self, split: str, shard: int, samples: Sequence[tuple[np.ndarray, int, str]]) -> None:
        """Write every sample of one shard: ``(events, label, sample_id)`` in index order (idempotent)."""
        rng = self.shard_range(split, shard)
        if len(samples) != len(rng):
            raise ValueError(f"shard {shard} of split {split!r} holds {len(rng)} samples, got {len(samples)}")
        evs = [validate_events(np.asarray(s[0]), tuple(self.attrs["sensor"])) for s in samples]
        g = self.root[split]
        arr = {k: g[k].with_config(STORE_EVERY_CHUNK) for k in ("counts", "labels", "sample_ids", "done")}
        sl = slice(rng.start, rng.stop)
        if self._done[split][sl].any():
            arr["done"][sl] = 0
            self._done[split][sl] = False
        cat = np.concatenate(evs) if evs else np.zeros(0, EVENT_DTYPE)
        bg = g["events"].require_group(str(shard))
        for name in "txyp":
            if name in bg:
                del bg[name]  # the event count may differ from a killed earlier attempt
            chunk = max(1, min(EVENT_CHUNK, cat.size))
            bg.create_array(name, data=np.ascontiguousarray(cat[name]), chunks=(chunk,),
                            compressors=(self._compressor, Crc32cCodec()),
                            config=STORE_EVERY_CHUNK)
        arr["counts"][sl] = np.array([e.size for e in evs], dtype=np.int64)
        arr["labels"][sl] = np.array([int(s[1]) for s in samples], dtype=np.int64)
        arr["sample_ids"][sl] = np.array([str(s[2]) for s in samples], dtype=object).astype(str)
        arr["done"][sl] = 1  # last
        self._done[split][sl] = True

    def n_blocks(self, split: str) -> int:
        """Deprecated name of :meth:`n_shards`."""
        _warn_renamed("n_blocks", "n_shards")
        return self.n_shards(split)

    def block_range(self, split: str, block: int) -> range:
        """Deprecated name of :meth:`shard_range`."""
        _warn_renamed("block_range", "shard_range")
        return self.shard_range(split, block)

    def write_block(self, split: str, block: int, samples: Sequence[tuple[np.ndarray, int, str]]) -> None:
        """Deprecated name of :meth:`write_shard`."""
        _warn_renamed("write_block", "write_shard")
        self.write_shard(split, block, samples)


def _warn_renamed(old: str, new: str) -> None:
    warnings.warn(f"EventStoreWriter.{old} is deprecated, use .{new}", DeprecationWarning, stacklevel=3)


def open_event_store_writer(path: str | os.PathLike[str], *, expect_key: str | None = None) -> EventStoreWriter:
    """Open an existing event store for a pipeline worker that writes whole shards (no lock taken:
    the coordinator holds it, and each shard is written by exactly one worker)."""
    from zarr.registry import get_codec_class

    from .errors import StoreMismatchError, StoreNotFoundError
    from .layout import read_root_attrs

    path = location(path)
    attrs = read_root_attrs(path)
    if attrs is None or attrs.get("eventkit_store") != "events":
        raise StoreNotFoundError(f"{path}: holds no eventkit event store; create it with create_event_store")
    if expect_key is not None and attrs.get("cache_key") != expect_key:
        raise StoreMismatchError(f"{path}: cache key {attrs.get('cache_key')} does not match {expect_key}")
    spec = attrs.get("compressor")
    compressor = get_codec_class(spec["name"]).from_dict(spec) if spec else default_compressor()
    return EventStoreWriter(path, zarr.open_group(zarr_store(path, read_only=False), mode="r+", zarr_format=3), None,
                            compressor)


def open_event_store(
    path: str | os.PathLike[str], *, allow_incomplete: bool = False, expect_key: str | None = None,
    expect_params: Mapping[str, Any] | None = None,
) -> EventStore:  # fmt: skip
    """Open an event store for reading; errors as :func:`eventkit.store.open_store`."""
    return EventStore(path, allow_incomplete=allow_incomplete, expect_key=expect_key, expect_params=expect_params)


class EventStore(StoreReader["EventSplit"]):
    """A read-only event store: split name -> :class:`EventSplit`."""

    kind = "events"

    def _open_split(self, group: zarr.Group, split: str) -> EventSplit:
        return EventSplit(group, split, int(self.attrs["samples_per_shard"]), store=self)


class EventSplit:
    """One split of an event store: ``split[i]`` -> :class:`EventSample`; ``offsets`` are global."""

    def __init__(
        self, group: zarr.Group, name: str, samples_per_shard: int, *, store: EventStore | None = None,
        on_damage: Callable[[int, int, str, str | None], None] | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self._group = group
        self._s = s = samples_per_shard
        self._path = store.path if store is not None else Path(str(getattr(group.store, "root", group.store)))
        self._attrs = attrs = store.attrs if store is not None else {}
        self._on_damage = on_damage or self._raise_damage
        try:
            arrays = {k: group[k] for k in ("done", "counts", "labels", "sample_ids")}
        except KeyError:
            if attrs.get("complete"):
                raise corrupt(self._path, name, None, "an array of the split is missing") from None
            raise IncompleteStoreError(f"{self._path}: split {name!r} has not been created yet") from None
        except DAMAGE_ERRORS as exc:
            raise corrupt(self._path, name, None, f"cannot open its arrays ({type(exc).__name__}: {exc})") from None

        def read(k: str) -> np.ndarray:
            return read_chunked(arrays[k], s, lambda lo, hi, problem: self._on_damage(
                lo, hi, f"{k} {problem}", str(chunk_file(self._path, name, k, lo // s))))  # fmt: skip

        self.done = read("done").astype(bool)
        n = int(arrays["done"].shape[0])
        if attrs.get("chunks_stored") == "all":
            for k in ("counts", "labels", "sample_ids"):
                for c in missing_chunks(self._path, name, k, n, s):
                    if self.done[c * s : c * s + s].any():
                        self._on_damage(c * s, min(n, c * s + s), f"its {k} chunk file is missing",
                                        str(chunk_file(self._path, name, k, c)))  # fmt: skip
        self.counts: np.ndarray = read("counts")
        self.labels: np.ndarray = read("labels")
        self.sample_ids: np.ndarray = read("sample_ids")
        for i, problem in check_sample_values(self, attrs):
            self._on_damage(i, i + 1, problem, None)
        # Global offsets as if all samples were concatenated: offsets[i]:offsets[i+1] is sample i.
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.counts.size)

    def __getitem__(self, index: int) -> EventSample:
        n = len(self)
        i = int(index) + n if int(index) < 0 else int(index)
        if not 0 <= i < n:
            raise IndexError(f"sample index {index} out of range for split {self.name!r} of {n} samples")
        if not self.done[i]:
            raise IncompleteStoreError(f"sample {i} of split {self.name!r} has not been written yet")
        b = i // self._s
        lo = int(self.offsets[i] - self.offsets[b * self._s])
        hi = lo + int(self.counts[i])
        shard_dir = self._path / self.name / "events" / str(b)
        total = int(self.offsets[min(len(self), b * self._s + self._s)] - self.offsets[b * self._s])
        out = np.empty(hi - lo, dtype=EVENT_DTYPE)
        try:
            cols = self._group[f"events/{b}"]
            for name in "txyp":
                col = cols[name]
                if col.shape != (total,):  # the counts and the shard disagree
                    raise ChunkDamage(shard_dir / name, f"{col.shape[0]} events stored, the counts say {total}")
                if self._attrs.get("chunks_stored") == "all":
                    for k in range(-(-total // int(col.chunks[0]))):
                        if not (shard_dir / name / "c" / str(k)).is_file():
                            raise ChunkDamage(shard_dir / name / "c" / str(k), "the chunk file is missing")
                out[name] = col[lo:hi]
        except ChunkDamage as exc:
            raise corrupt(self._path, self.name, i, exc.problem, exc.file) from None
        except KeyError:
            raise corrupt(self._path, self.name, i, f"its event shard {b} is missing", shard_dir) from None
        except DAMAGE_ERRORS as exc:
            raise corrupt(self._path, self.name, i, f"cannot decode ({type(exc).__name__}: {exc})", shard_dir) from None
        return EventSample(out, int(self.labels[i]), str(self.sample_ids[i]))

    def verify_sample(self, index: int) -> tuple[str, str] | None:
        """Decode sample ``index``'s events; ``(problem, file)`` if damaged, else None."""
        try:
            self[int(index)]
        except StoreCorruptError as exc:
            text = str(exc)
            problem = text.split(" is damaged: ", 1)[-1].split("; run `eventkit inspect", 1)[0]
            return problem, str(self._path / self.name / "events" / str(int(index) // self._s))
        return None

    def _raise_damage(self, lo: int, hi: int, problem: str, file: str | None) -> None:
        where = lo if hi - lo == 1 else f"{lo}..{hi - 1}"
        raise corrupt(self._path, self.name, where, problem, file)
