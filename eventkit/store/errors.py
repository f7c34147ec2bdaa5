"""Errors raised by the frame and event stores.

Each subclasses :class:`eventkit.errors.EventkitError` and the builtin callers already catch, so
``except ValueError`` / ``except FileNotFoundError`` keeps working. Messages name the store, say
what is wrong and what to do.
"""

from __future__ import annotations

from ..errors import EventkitError

__all__ = [
    "IncompleteStoreError",
    "StoreAccessError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreMismatchError",
    "StoreNotFoundError",
]


class StoreError(EventkitError):
    """Base class for store errors."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """The path holds no eventkit store (or a store of the other kind)."""


class StoreAccessError(StoreError, OSError):
    """An object store (``s3://...``) cannot be reached or used: no such bucket, an unreachable
    endpoint, refused credentials, a backend without exclusive create for the writer lock."""


class StoreMismatchError(StoreError, ValueError):
    """The store on disk was built with other parameters (its cache key or shape differs)."""


class IncompleteStoreError(StoreError, RuntimeError):
    """The store (or the requested sample) has not been completely written."""


class StoreLockedError(StoreError, RuntimeError):
    """Another live writer holds the store's lock."""


class StoreCorruptError(StoreError, ValueError):
    """Part of a store is damaged or missing: a chunk, a shard index or metadata.

    The message names the store, the split and the sample index, and says to re-run the conversion
    (which rewrites the damaged samples) or ``eventkit inspect --verify`` to list them all.
    """
