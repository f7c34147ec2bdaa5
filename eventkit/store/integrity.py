"""Integrity checks for stores on disk: damaged metadata, chunks and shard indexes.

A store is hostile input: it may sit on a shared disk that a crashed job half-wrote, or have been
copied with errors. Readers check what Zarr checks (shard index crc32c, offsets inside the file,
decoded sizes) plus what only eventkit knows (array shapes from the root attrs, ``done`` flags of
a complete store, chunks that must exist). Every problem becomes one :class:`StoreCorruptError`
naming the store, the split, the sample and the file, and saying what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StoreCorruptError

__all__ = [
    "ChunkDamage",
    "corrupt",
    "metadata_corrupt",
    "ONE_D_DTYPES",
    "read_chunked",
    "unwrap_worker_error",
    "validate_root_attrs",
    "validate_split_metadata",
]

#: Exceptions a codec or Zarr raises on damaged bytes or metadata (not our own bugs: those are
#: AttributeError, NameError, ... and keep their traceback).
DAMAGE_ERRORS = (ValueError, RuntimeError, TypeError, KeyError, OSError, MemoryError, OverflowError, EOFError)

#: dtype of each per-sample array, by store kind.
ONE_D_DTYPES = {
    "frames": {"labels": "int64", "lengths": "int64", "sample_ids": "string", "done": "uint8"},
    "events": {"labels": "int64", "counts": "int64", "sample_ids": "string", "done": "uint8"},
}


class ChunkDamage(Exception):
    """Internal: a chunk or shard file is damaged (``file``, ``problem``). Never leaves the store
    package: readers turn it into :class:`StoreCorruptError` with the store, split and sample."""

    def __init__(self, file: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = str(file)
        self.problem = problem


def fix_hint(store: str | os.PathLike[str]) -> str:
    """What a user does about a damaged store (a resumed conversion skips samples marked done)."""
    return (
        f"run `eventkit inspect --verify --repair {store}` to list every damaged sample and mark it for rewriting, "
        f"then re-run the same `eventkit convert` command (a plain re-run skips samples marked done)"
    )


def corrupt(
    store: str | os.PathLike[str], split: str | None, index: int | str | None, problem: str,
    file: str | os.PathLike[str] | None = None,
) -> StoreCorruptError:  # fmt: skip
    """The error for damaged sample ``index`` of ``split`` (None: the split or store as a whole).

    Returns (does not raise) the exception, so callers write ``raise corrupt(...) from None``.
    """
    where = f"split {split!r}" if split is not None else "the store"
    if index is not None:
        where = f"sample {index} of {where}"
    in_file = f" ({file})" if file is not None else ""
    return StoreCorruptError(f"{store}: {where} is damaged: {problem}{in_file}; {fix_hint(store)}")


def metadata_corrupt(store: str | os.PathLike[str], file: str | os.PathLike[str], problem: str) -> StoreCorruptError:
    """The error for damaged metadata (a ``zarr.json``): the store cannot be read at all."""
    return StoreCorruptError(
        f"{store}: damaged store metadata in {file}: {problem}; delete the store folder and run the same "
        f"`eventkit convert` command again"
    )


def load_json(store: Path, file: Path) -> dict[str, Any]:
    """Parse a ``zarr.json`` as a JSON object, or raise :class:`StoreCorruptError` naming it."""
    try:
        doc = json.loads(file.read_bytes())
    except FileNotFoundError:
        raise metadata_corrupt(store, file, "the file is missing") from None
    except (OSError, ValueError, RecursionError) as exc:  # not JSON, not UTF-8, a folder, ...
        raise metadata_corrupt(store, file, f"not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict):
        raise metadata_corrupt(store, file, f"expected a JSON object, found {type(doc).__name__}")
    return doc


# -- root attrs --------------------------------------------------------------------------------
def _is_int(v: Any, lo: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def validate_root_attrs(store: Path, attrs: Mapping[str, Any]) -> None:
    """Check the types of the root attrs a reader relies on (``kind`` given by ``eventkit_store``).

    Raises
    ------
    StoreCorruptError
        Naming the attribute and what was expected.
    """
    file = store / "zarr.json"
    kind = attrs.get("eventkit_store")

    def bad(name: str, want: str) -> StoreCorruptError:
        return metadata_corrupt(store, file, f"attribute {name!r} is {attrs.get(name, '(missing)')!r}, expected {want}")

    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        "format_version": (lambda v: _is_int(v), "an integer"),
        "splits": (lambda v: isinstance(v, dict) and all(_safe_name(k) and _is_int(n) for k, n in v.items()),
                   "a mapping of split name (a plain folder name) to sample count"),
        "classes": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of class names"),
        "sensor": (lambda v: isinstance(v, list) and len(v) == 3 and all(_is_int(x, 1) for x in v),
                   "[width, height, polarities]"),
        "params": (lambda v: isinstance(v, dict), "a mapping"),
        "samples_per_shard": (lambda v: _is_int(v, 1), "a positive integer"),
        "complete": (lambda v: isinstance(v, bool), "true or false"),
    }  # fmt: skip
    if kind == "frames":
        checks["t_max"] = (lambda v: _is_int(v, 1), "a positive integer")
        checks["dtype"] = (_is_numeric_dtype, "a NumPy numeric dtype name")
    for name, (ok, want) in checks.items():
        if name not in attrs and name == "complete":
            continue  # a store a writer has just created; open_root reads it as incomplete
        if not ok(attrs.get(name)):
            raise bad(name, want)


def _safe_name(name: Any) -> bool:
    """A split name is one folder inside the store: never empty, ``.``, ``..``, a path or a NUL."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and not any(c in name for c in "/\\\0:"))  # fmt: skip


def _is_numeric_dtype(v: Any) -> bool:
    try:
        return isinstance(v, str) and np.dtype(v).kind in "biuf"
    except TypeError:
        return False


# -- split metadata ----------------------------------------------------------------------------
def validate_split_metadata(store: Path, split: str, attrs: Mapping[str, Any]) -> None:
    """Check every array of ``split`` is there with the shape and dtype the root attrs imply.

    Reads only ``zarr.json`` files, so it is cheap enough for every open. A split folder that is
    missing is damage in a complete store and "not written yet" otherwise (left to the caller).
    """
    kind = attrs["eventkit_store"]
    n = int(attrs["splits"][split])
    s = int(attrs["samples_per_shard"])
    load_json(store, store / split / "zarr.json")
    for name, dtype in ONE_D_DTYPES[kind].items():
        _check_array(store, split, name, [n], dtype, [s])
    if kind == "frames":
        w, h, p = attrs["sensor"]
        shape = [n, int(attrs["t_max"]), p, h, w]
        _check_array(store, split, "frames", shape, np.dtype(attrs["dtype"]).name, [s, *shape[1:]])


def _check_array(store: Path, split: str, name: str, shape: list[int], dtype: str, chunks: list[int]) -> None:
    file = store / split / name / "zarr.json"
    meta = load_json(store, file)
    problems = []
    if meta.get("node_type") != "array" or meta.get("zarr_format") != 3:
        problems.append("not a Zarr v3 array")
    if meta.get("shape") != shape:
        problems.append(f"shape {meta.get('shape')!r}, expected {shape}")
    if meta.get("data_type") != dtype:
        problems.append(f"data type {meta.get('data_type')!r}, expected {dtype!r}")
    grid = meta.get("chunk_grid")
    got = grid.get("configuration", {}).get("chunk_shape") if isinstance(grid, dict) else None
    if got != chunks:
        problems.append(f"chunk shape {got!r}, expected {chunks}")
    if problems:
        raise metadata_corrupt(store, file, f"array {split}/{name}: " + "; ".join(problems))


# -- per-sample arrays ---------------------------------------------------------------------------
def read_chunked(array: Any, chunk: int, on_damage: Callable[[int, int, str], None]) -> np.ndarray:
    """Read a 1-D Zarr array chunk by chunk; ``on_damage(lo, hi, problem)`` for each damaged one.

    Damaged chunks read as the array's fill value. ``on_damage`` may raise to stop at the first.
    """
    n = int(array.shape[0])
    try:
        return np.asarray(array[:])
    except DAMAGE_ERRORS:
        pass  # find which chunk(s)
    parts = []
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        try:
            parts.append(np.asarray(array[lo:hi]))
        except DAMAGE_ERRORS as exc:
            on_damage(lo, hi, f"chunk {lo // chunk} cannot be decoded ({type(exc).__name__}: {exc})")
            parts.append(np.full(hi - lo, array.fill_value, dtype=array.dtype))
    return np.concatenate(parts) if parts else np.zeros(0, array.dtype)


def chunk_file(store: Path, split: str, name: str, chunk: int) -> Path:
    """The file of chunk ``chunk`` of a 1-D array (built from integers only)."""
    return store / split / name / "c" / str(int(chunk))


def missing_chunks(store: Path, split: str, name: str, n: int, s: int) -> list[int]:
    """Chunk numbers of a 1-D array (or shards of ``frames``) whose file does not exist."""
    nd = {"frames": 5}.get(name, 1)
    from ._remote import RemotePath

    if isinstance(store, RemotePath):  # one listing, not a request per chunk
        there = {p.name for p in (store / split / name / "c").iterdir()}
        return [k for k in range(-(-n // s)) if str(k) not in there]
    out = []
    for k in range(-(-n // s)):
        f = store / split / name / "c" / str(k)
        for _ in range(nd - 1):
            f = f / "0"
        if not f.is_file():
            out.append(k)
    return out


def unwrap_worker_error(exc: BaseException) -> BaseException:
    """A :class:`StoreCorruptError` raised in a DataLoader worker comes back with the worker's
    traceback in its message; return one with the original one-line message."""
    text = str(exc)
    marker = f"{type(exc).__name__}: "
    if isinstance(exc, StoreCorruptError) and text.startswith("Caught ") and marker in text:
        return StoreCorruptError(text.rsplit(marker, 1)[1].strip())
    return exc


# -- opening -------------------------------------------------------------------------------------
def open_checked(path: Path, kind: str, open_root: Callable[..., Any], options: Mapping[str, Any]) -> Any:
    """``open_root(path, kind, **options)`` after checking the root attrs and, in a complete store,
    every split's array metadata (an incomplete store's splits are checked once created).

    Raises
    ------
    StoreCorruptError
        For damaged metadata; the other store errors as ``open_root``.
    """
    from .layout import FORMAT_VERSION, read_root_attrs

    attrs = read_root_attrs(path)
    if attrs is not None and attrs.get("eventkit_store") == kind:
        version = attrs.get("format_version")
        if not (_is_int(version) and version > FORMAT_VERSION):  # a newer format: open_root says so
            validate_root_attrs(path, attrs)
    group, attrs = open_root(path, kind, **options)
    for split in attrs["splits"]:
        names = [*ONE_D_DTYPES[kind], *(["frames"] if kind == "frames" else [])]
        if attrs.get("complete") or all((path / split / n / "zarr.json").exists() for n in names):
            validate_split_metadata(path, split, attrs)
    return group, attrs


def check_sample_values(split: Any, attrs: Mapping[str, Any]) -> list[tuple[int, str]]:
    """``(index, problem)`` for samples whose small arrays hold impossible values.

    In a complete store every ``done`` flag must be 1; a written sample's label must name a class,
    its length lie in ``0..t_max`` (frame stores) or its event count be >= 0 (event stores).
    """
    out: list[tuple[int, str]] = []
    done = np.asarray(split.done, bool)
    if attrs.get("complete"):
        out += [(int(i), "the store is marked complete but the sample's done flag is 0")
                for i in np.flatnonzero(~done)]  # fmt: skip
    n_classes = len(attrs.get("classes", []))
    labels = np.asarray(split.labels)
    bad = done & ((labels < 0) | (labels >= n_classes)) if n_classes else np.zeros_like(done)
    out += [(int(i), f"label {int(labels[i])} names no class (0..{n_classes - 1})") for i in np.flatnonzero(bad)]
    if hasattr(split, "lengths"):
        lengths = np.asarray(split.lengths)
        t_max = int(attrs.get("t_max", split.t_max))
        bad = done & ((lengths < 0) | (lengths > t_max))
        out += [(int(i), f"length {int(lengths[i])} outside 0..{t_max}") for i in np.flatnonzero(bad)]
    if hasattr(split, "counts"):
        counts = np.asarray(split.counts)
        out += [(int(i), f"event count {int(counts[i])} is negative") for i in np.flatnonzero(done & (counts < 0))]
    return sorted(out)
