"""The Zarr frame store (and the optional event store): layout in :mod:`eventkit.store.layout`.

>>> store = open_store("frames-T16-number.zarr")
>>> frames, label, length, sample_id = store["train"][0]
"""

from __future__ import annotations

from .cache_key import cache_key, canonical_json, key_inputs
from .errors import (
    IncompleteStoreError,
    StoreAccessError,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreMismatchError,
    StoreNotFoundError,
)
from .event_store import EventSample, EventSplit, EventStore, EventStoreWriter, create_event_store, open_event_store
from .layout import FORMAT_VERSION, choose_samples_per_shard, default_compressor, store_name
from .reader import FrameSample, FrameSplit, FrameStore, open_store
from .writer import SampleRecord, StoreWriter, create_store, open_store_writer

__all__ = [
    "FORMAT_VERSION",
    "EventSample",
    "EventSplit",
    "EventStore",
    "EventStoreWriter",
    "FrameSample",
    "FrameSplit",
    "FrameStore",
    "IncompleteStoreError",
    "StoreAccessError",
    "StoreCorruptError",
    "SampleRecord",
    "StoreError",
    "StoreLockedError",
    "StoreMismatchError",
    "StoreNotFoundError",
    "StoreWriter",
    "cache_key",
    "canonical_json",
    "choose_samples_per_shard",
    "create_event_store",
    "create_store",
    "default_compressor",
    "key_inputs",
    "open_event_store",
    "open_store",
    "open_store_writer",
    "store_name",
]
