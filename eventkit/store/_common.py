"""Pieces the frame store and the event store share: root attrs, key checks, opening for read."""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ._remote import RemotePath, location, zarr_store
from ._replace import check_overwritable, remove_store
from .cache_key import cache_key, legacy_upgrade
from .errors import IncompleteStoreError, StoreMismatchError, StoreNotFoundError
from .layout import FORMAT_VERSION, read_root_attrs, remove_partial_files

log = logging.getLogger("eventkit")

TIMESTAMP_ATTRS = ("created", "finalized")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def eventkit_version() -> str:
    from .. import __version__

    return __version__


def diff_inputs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """Say which key inputs differ, e.g. ``params.frames: 16 -> 20``."""
    if not old:
        return "the stored key inputs are missing"
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += [f"{k}.{s}: {a.get(s)!r} -> {b.get(s)!r}" for s in sorted(set(a) | set(b)) if a.get(s) != b.get(s)]
        elif a != b:
            out.append(f"{k}: {a!r} -> {b!r}")
    return "; ".join(out) or "no input differs (format or hashing changed)"


def prepare_root(
    path: Path, kind: str, inputs: dict[str, Any], attrs: dict[str, Any], *, overwrite: bool, check: tuple[str, ...]
) -> tuple[zarr.Group, bool]:
    """Create the root group, or check that an existing one has the same key and resume it.

    Returns the group (opened read-write) and whether an existing store was resumed. An empty
    folder is used as it is; with ``overwrite`` an existing eventkit store is deleted first, and
    anything else at ``path`` is refused (:func:`~eventkit.store._replace.check_overwritable`).
    """
    key = cache_key(inputs)
    if isinstance(path, RemotePath):
        path.check_bucket()  # one clear line for a missing bucket or an unreachable endpoint
        if overwrite and (read_root_attrs(path) or {}).get("eventkit_store"):
            path.rmtree()  # an eventkit store only; anything else is refused below, as locally
    elif overwrite:
        # Only an eventkit store is ever deleted; a link, a file or a folder with other files is
        # refused, an empty folder reused. (convert/synth replace a store by writing beside it
        # and swapping, see _replace; this path is the low-level writer's.)
        if check_overwritable(path) == "store":
            remove_store(path)
    old = read_root_attrs(path) if path.exists() else None
    if path.exists() and old is None and any(path.iterdir()):
        raise StoreMismatchError(f"{path}: exists and is not an eventkit store; choose another path (--out)")
    if old is not None:
        if old.get("eventkit_store") != kind:
            raise StoreMismatchError(f"{path}: holds a {old.get('eventkit_store')!r} store, not a {kind!r} store")
        upgrade = legacy_upgrade(old, key) if old.get("cache_key") != key else None
        if old.get("cache_key") != key and upgrade is None:
            raise StoreMismatchError(
                f"{path}: was built with other parameters ({diff_inputs(old.get('key_inputs'), inputs)}); "
                f"convert to another path (--out) or rebuild it with --overwrite (overwrite=True)"
            )
        for name in check:
            if old.get(name) != attrs.get(name):
                raise StoreMismatchError(
                    f"{path}: {name} is {old.get(name)!r} on disk but {attrs.get(name)!r} was requested; "
                    f"rebuild it with --overwrite (overwrite=True) or convert to another path (--out)"
                )
        remove_partial_files(path)  # leftovers of a killed writer; never read, but keep the tree clean
        group = zarr.open_group(zarr_store(path, read_only=False), mode="r+", zarr_format=3)
        if upgrade is not None:  # written before per-decoder versions: same content, re-keyed in place
            group.attrs.update(upgrade)
            log.info("%s: re-keyed to the per-decoder cache key (decoder versions %s)", path, upgrade["decoder_versions"])
        return group, True
    root = {
        "eventkit_store": kind,
        "format_version": FORMAT_VERSION,
        "eventkit_version": eventkit_version(),
        **attrs,
        "key_inputs": inputs,
        "cache_key": key,
        "created": now(),
        "complete": False,
    }
    return zarr.open_group(zarr_store(path, read_only=False), mode="w-", zarr_format=3, attributes=root), False


def require_array(group: zarr.Group, name: str, **kwargs: Any) -> zarr.Array:
    """Return ``group[name]``, creating it if a killed writer never got that far."""
    if name in group:
        arr = group[name]
        if not isinstance(arr, zarr.Array) or arr.shape != tuple(kwargs["shape"]):
            raise StoreMismatchError(f"{group.store}: array {group.path}/{name} has an unexpected shape or type")
        return arr
    return group.create_array(name, **kwargs)


def open_root(
    path: str | os.PathLike[str],
    kind: str,
    *,
    allow_incomplete: bool,
    expect_key: str | None,
    expect_params: Mapping[str, Any] | None,
) -> tuple[zarr.Group, dict[str, Any]]:
    """Open a store for reading after checking kind, format version, completeness and key."""
    from .cache_key import canonical_json

    p = location(path)
    attrs = read_root_attrs(p)
    if attrs is None and isinstance(p, RemotePath):
        p.check_bucket()  # "no such bucket" says more than "does not exist"
    if attrs is None or attrs.get("eventkit_store") != kind:
        what = ("does not exist" if not p.exists() else "holds no eventkit store" if attrs is None
                else f"holds a {attrs.get('eventkit_store')!r} store")
        raise StoreNotFoundError(f"{p}: {what}; expected a {kind} store made by `eventkit convert`")
    if int(attrs.get("format_version", -1)) > FORMAT_VERSION:
        raise StoreMismatchError(
            f"{p}: store format {attrs.get('format_version')} is newer than this eventkit reads "
            f"({FORMAT_VERSION}); upgrade eventkit"
        )
    if expect_key is not None and attrs.get("cache_key") != expect_key:
        raise StoreMismatchError(
            f"{p}: cache key {attrs.get('cache_key')} does not match the expected {expect_key}; "
            f"the store was built with other parameters, convert again"
        )
    if expect_params is not None and canonical_json(attrs.get("params", {})) != canonical_json(expect_params):
        old = attrs.get("params", {})
        new = dict(expect_params)
        diff = diff_inputs({"params": old}, {"params": new})
        raise StoreMismatchError(f"{p}: was built with other parameters ({diff}); convert again with these")
    if not attrs.get("complete") and not allow_incomplete:
        raise IncompleteStoreError(
            f"{p}: the store is incomplete (its conversion was interrupted or is still running); "
            f"re-run the same `eventkit convert` (or `eventkit synth`) command to finish it (from Python, "
            f"allow_incomplete=True reads the samples already written)"
        )
    return zarr.open_group(zarr_store(p, read_only=True), mode="r", zarr_format=3), attrs


def finalize_root(group: zarr.Group, done: Mapping[str, np.ndarray]) -> None:
    """Set ``complete: true`` (last) once every split's ``done`` array is all ones."""
    missing = {s: int((~d.astype(bool)).sum()) for s, d in done.items()}
    if any(missing.values()):
        left = ", ".join(f"{s}: {n}" for s, n in missing.items() if n)
        raise IncompleteStoreError(f"{group.store}: cannot finalize, samples not written ({left}); write them first")
    if group.attrs.get("complete") is True:
        return  # already complete: a re-run that found nothing to do writes nothing (no new timestamp)
    group.attrs.update({"finalized": now(), "complete": True})


class LockedWriter:
    """What both store writers share: ``finalize`` (check every sample is done, set ``complete``,
    unlock), ``close`` (unlock, leaving the store incomplete) and use as a context manager.

    Subclasses set ``self.root`` (the zarr group), ``self._lock`` (a held lock or None),
    ``self.attrs`` (root attrs with ``splits``) and ``self._done`` (split -> bool array).
    """

    root: zarr.Group
    attrs: dict[str, Any]
    _lock: Any
    _done: dict[str, np.ndarray]

    def finalize(self) -> None:
        """Check every sample is written (re-reading ``done`` from disk), set ``complete``, unlock.

        Raises
        ------
        IncompleteStoreError
            Naming how many samples per split are missing.
        """
        self._done = {s: self.root[f"{s}/done"][:].astype(bool) for s in self.attrs["splits"]}
        finalize_root(self.root, self._done)
        self.close()

    def adopt_lock(self, lock: Any) -> None:
        """Hold ``lock`` (a job-array part's own lock) from now on instead of the current one, released.

        A part run creates or opens the store under the store's lock, held briefly, then writes
        its shards under its part lock only, so N parts write one store at once.
        """
        if self._lock is not None:
            self._lock.release()
        self._lock = lock

    def close(self) -> None:
        """Release the lock (the store stays incomplete unless finalized)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
