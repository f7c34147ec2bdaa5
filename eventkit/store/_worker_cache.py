"""Store writers kept open in a pipeline worker process, for stores on object stores.

Opening a :class:`~eventkit.store.writer.StoreWriter` reads the root and every array's metadata
and every split's ``done`` flags: about 35 requests on an object store (tens of ms each), against
about 7 to write a shard (likewise for an event store's writer). A worker converts many shards of one store, so it keeps the opened
writer and, per shard, only

* reads the root ``zarr.json`` once: its bytes are the store's *generation*. They hold the cache
  key, the layout and the creation time, so a store deleted and rebuilt (``--overwrite``), re-keyed
  or replaced by another is a cache miss and is opened afresh (with every check of
  :func:`~eventkit.store.writer.open_store_writer` and its event-store twin). Equal bytes mean equal array metadata, so the
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
#: (url, storage options, cache key, kind) -> (generation, writer, {split: its ``done`` array})
_cache: OrderedDict[tuple[str, str, str, str], tuple[bytes, Any, dict[str, Any]]] = OrderedDict()
_guard = threading.Lock()  # Dask runs several tasks of one worker in threads


def worker_store_writer(
    path: str | os.PathLike[str] | RemotePath, expect_key: str, split: str, shard: int, kind: str = "frames"
) -> Any:
    """An unlocked writer of the ``kind`` (``"frames"`` or ``"events"``) store at ``path``, ready to write
    ``shard`` of ``split``.

    For a store on an object store, a writer opened earlier by this process for the same URL,
    cache key and generation is reused, with the shard's ``done`` flags re-read; otherwise (and
    for every local store) :func:`~eventkit.store.writer.open_store_writer` (or
    :func:`~eventkit.store.event_store.open_event_store_writer`) opens it.
    """
    loc = location(path)
    if not isinstance(loc, RemotePath):
        return _open(loc, expect_key, kind)
    generation = _generation(loc)
    key = (loc.url, json.dumps(loc.storage_options, sort_keys=True, default=str), expect_key, kind)
    with _guard:
        hit = _cache.get(key)
        if hit is not None and generation is not None and hit[0] == generation:
            _cache.move_to_end(key)
        else:
            hit = None
    if hit is None:
        writer = _open(loc, expect_key, kind)  # every check, fresh done flags
        if generation is not None:
            done = _done_arrays(writer)
            with _guard:
                _cache[key] = (generation, writer, done)
                while len(_cache) > _MAX:
                    _cache.popitem(last=False)
        return writer
    _, writer, done = hit
    rng = writer.shard_range(split, shard)
    sl = slice(rng.start, rng.stop)
    writer._done[split][sl] = done[split][sl].astype(bool)  # noqa: SLF001 - the writer's own view of its store
    return writer


def _done_arrays(writer: Any) -> dict[str, Any]:
    """Each split's ``done`` array: the frame writer holds them already; the event writer is asked (once)."""
    arrays = getattr(writer, "_arrays", None)
    if arrays is not None:
        return {s: a["done"] for s, a in arrays.items()}
    return {s: writer.root[f"{s}/done"] for s in writer.attrs["splits"]}


def _open(loc: Any, expect_key: str, kind: str) -> Any:
    if kind == "events":
        from .event_store import open_event_store_writer

        return open_event_store_writer(loc, expect_key=expect_key)
    from .writer import open_store_writer

    return open_store_writer(loc, lock=False, expect_key=expect_key)


def _generation(loc: RemotePath) -> bytes | None:
    """The root ``zarr.json``'s bytes; None when there is none (the opener reports it).

    Read as the range ``0-``: one GET, where s3fs asks for a whole object's size first (a HEAD).
    """
    meta = loc / "zarr.json"
    try:
        return bytes(meta._call("read", meta.fs.cat_file, meta.key, start=0))
    except FileNotFoundError:
        return None


def clear() -> None:
    """Forget every kept writer (tests; a process that wants a fresh view)."""
    with _guard:
        _cache.clear()
