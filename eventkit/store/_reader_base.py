"""What the frame store and the event store readers share: opening, the root attrs, the splits."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import zarr

from ..events import SensorSize
from ._common import open_root
from ._remote import location
from .errors import IncompleteStoreError
from .integrity import open_checked

__all__ = ["StoreReader"]

SplitT = TypeVar("SplitT")


class StoreReader(Mapping[str, SplitT], Generic[SplitT]):
    """A read-only store of ``kind``: a mapping from split name to a split reader.

    Opening checks the kind, format version, completeness, cache key and metadata
    (:func:`~eventkit.store.integrity.open_checked`); a subclass says how a split is read
    (:meth:`_open_split`). Pickling re-opens the store by path with the same options, so a
    store can be handed to DataLoader worker processes.
    """

    kind: ClassVar[str]

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        self.path = location(path)  # a local folder (fast read path) or an object-store URL
        self._options = options
        self._group, self.attrs = open_checked(self.path, self.kind, open_root, options)
        self._splits: dict[str, SplitT] = {}

    def _open_split(self, group: zarr.Group, split: str) -> SplitT:
        raise NotImplementedError

    @property
    def params(self) -> dict[str, Any]:
        """The parameters the store was built with (part of its cache key)."""
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
    def cache_key(self) -> str:
        return str(self.attrs["cache_key"])

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete"))

    def __getitem__(self, split: str) -> SplitT:
        if split not in self.attrs["splits"]:
            raise KeyError(f"unknown split {split!r}; {self.path} has {sorted(self.attrs['splits'])}")
        if split not in self._splits:
            try:
                group = self._group[split]
            except KeyError:  # only in an incomplete store: its writer was killed while creating it
                raise IncompleteStoreError(f"{self.path}: split {split!r} has not been created yet") from None
            self._splits[split] = self._open_split(group, split)
        return self._splits[split]

    def __iter__(self) -> Iterator[str]:
        return iter(self.attrs["splits"])

    def __len__(self) -> int:
        return len(self.attrs["splits"])

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (type(self), self.path, self._options))


def _reopen(cls: type[StoreReader], path: Path, options: dict[str, Any]) -> StoreReader:
    return cls(path, **options)
