"""Frame-store writers kept open in a pipeline worker process, for stores on object stores.

Opening a :class:`~eventkit.store.writer.StoreWriter` reads the root and every array's metadata
and every split's ``done`` flags: about 30 requests on an object store (tens of ms each), against
about 7 to write a shard. A worker converts many shards of one store, so it keeps the opened
writer and, per shard, only

* reads the root ``zarr.json`` once: its bytes are the store's *generation*. They hold the cache
  key, the layout and the creation time, so a store deleted and rebuilt (``--overwrite``), re-keyed
  or replaced by another is a cache miss and is opened afresh (with every check of
  :func:`~eventkit.store.writer.open_store_writer`). Equal bytes mean equal array metadata, so the
  kept array handles stay valid;
* re-reads the shard's own ``done`` flags, the only writer state another process changes (an
  earlier attempt of the same task, an earlier run), so the "clear done before rewriting" rule of
  ``write_shard`` still sees the store as it is.

Local stores are opened as before: their metadata reads are cheap file reads. Only unlocked
writers are cached (workers of a coordinator that holds the lock): nothing here takes or keeps a
lock.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import Any

from ._remote import RemotePath, location

__all__ = ["clear", "worker_store_writer"]

#: Open writers kept per process (a worker rarely serves more than one store at a time).
_MAX = 4
_cache: OrderedDict[tuple[str, str, str], tuple[bytes, Any]] = OrderedDict()
_guard = threading.Lock()  # Dask runs several tasks of one worker in threads


def worker_store_writer(path: str | os.PathLike[str] | RemotePath, expect_key: str, split: str, shard: int) -> Any:
    """An unlocked :class:`~eventkit.store.writer.StoreWriter` for ``path``, ready to write ``shard`` of ``split``.

    For a store on an object store, a writer opened earlier by this process for the same URL,
    cache key and generation is reused, with the shard's ``done`` flags re-read; otherwise (and
    for every local store) :func:`~eventkit.store.writer.open_store_writer` opens it.
    """
    from .writer import open_store_writer

    loc = location(path)
    if not isinstance(loc, RemotePath):
        return open_store_writer(loc, lock=False, expect_key=expect_key)
    generation = _generation(loc)
    key = (loc.url, json.dumps(loc.storage_options, sort_keys=True, default=str), expect_key)
    with _guard:
        hit = _cache.get(key)
        if hit is not None and generation is not None and hit[0] == generation:
            _cache.move_to_end(key)
            writer = hit[1]
        else:
            writer = None
    if writer is None:
        writer = open_store_writer(loc, lock=False, expect_key=expect_key)  # every check, fresh done flags
        if generation is not None:
            with _guard:
                _cache[key] = (generation, writer)
                while len(_cache) > _MAX:
                    _cache.popitem(last=False)
        return writer
    writer.refresh_done(split, shard)
    return writer


def _generation(loc: RemotePath) -> bytes | None:
    """The root ``zarr.json``'s bytes (one request); None when there is none (the opener reports it)."""
    try:
        return (loc / "zarr.json").read_bytes()
    except FileNotFoundError:
        return None


def clear() -> None:
    """Forget every kept writer (tests; a process that wants a fresh view)."""
    with _guard:
        _cache.clear()
