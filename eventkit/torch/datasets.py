"""SpikingJelly-style dataset classes, one per bundled manifest: ``DVS128Gesture(root, train=True, ...)``.

>>> from eventkit.torch.datasets import DVS128Gesture, NMNIST
>>> train = DVS128Gesture(train=True, data_type="frame", frames_number=16, split_by="number")
>>> frames, label = train[0]              # torch.float32 [16, 2, 128, 128], int

Each class is a thin subclass of :class:`NeuromorphicDataset`, which is a
:class:`~eventkit.torch.FrameDataset`: on first use it downloads (or generates) the dataset with
:func:`eventkit.datasets.prepare.download_dataset` and converts it with :func:`eventkit.convert`
into ``<root>/<dataset>/stores/frames-T16-number.zarr`` (resumable; later uses open the store
directly). Datasets that must be fetched by hand raise a :class:`~eventkit.errors.DownloadError`
saying which files to put where.

Differences from SpikingJelly, on purpose:

* ``root`` is eventkit's data root holding every dataset (``<root>/<dataset>/download``,
  ``extract``, ``stores``; default ``$EVENTKIT_ROOT`` or ``~/.cache/eventkit``), not one folder
  per dataset. A SpikingJelly ``extract/`` folder converts without a download with ``from_dir=``.
* ``data_type`` defaults to ``"frame"`` and ``frames_number`` to 16 (``split_by="number"``) when
  neither it nor ``duration`` is given; SpikingJelly defaults to events and requires one.
* Labels follow the manifest's class order (``classes``), not the string sort of folder names.
* ``data_type="event"`` returns ``(events, label)`` with ``events`` eventkit's structured array
  (fields ``t`` µs, ``x``, ``y``, ``p``) from an event store, not a dict of arrays.
* ``duration`` is in µs for every dataset (SpikingJelly uses ms for SHD/SSC).
* ``custom_integrate_function`` is not supported: use :class:`~eventkit.torch.EventDataset` with
  ``to_frames=`` or a ``transform``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..datasets.manifest import DatasetManifest
from ..datasets.prepare import dataset_dir
from ..datasets.registry import get_manifest
from ..store import IncompleteStoreError, StoreNotFoundError
from .dataset import DEFAULT_DTYPE, DatasetArgumentError, FrameDataset, _StoreDataset, _torch_dtype

__all__ = ["CLASS_NAMES", "NeuromorphicDataset", "dataset_class"]

# Bundled manifest -> class name (SpikingJelly's spelling where it has the dataset).
CLASS_NAMES: dict[str, str] = {
    "asl-dvs": "ASLDVS",
    "cifar10-dvs": "CIFAR10DVS",
    "dvs-lip": "DVSLip",
    "dvs128-gesture": "DVS128Gesture",
    "es-imagenet": "ESImageNet",
    "hardvs": "HARDVS",
    "n-cars": "NCARS",
    "nav-gesture-sit": "NAVGestureSit",
    "nav-gesture-walk": "NAVGestureWalk",
    "ncaltech101": "NCaltech101",
    "nmnist": "NMNIST",
    "shd": "SHD",
    "ssc": "SSC",
    "synthetic-gestures": "SyntheticGestures",
}
ALIASES = {"SpikingHeidelbergDigits": "SHD", "SpikingSpeechCommands": "SSC"}  # SpikingJelly's long names
DEFAULT_FRAMES = 16


def _default_executor() -> str:
    from ..pipeline.executors import EXECUTORS

    return "auto" if "auto" in EXECUTORS else "serial"


def _resolve_split(m: DatasetManifest, train: bool | None, split: str | None) -> str:
    """The store split for SpikingJelly's ``train=`` flag, or ``split=`` for other split names."""
    splits = list(m.splits)
    if split is not None:
        if split not in splits:
            raise DatasetArgumentError(f"{m.name}: unknown split={split!r}; its splits are {splits}")
        return split
    if train is None:
        if len(splits) == 1:
            return splits[0]
        raise DatasetArgumentError(f"{m.name}: train=None needs split=, one of {splits}")
    if not isinstance(train, bool):
        raise DatasetArgumentError(f"{m.name}: train must be True, False or None, got {train!r}")
    want = "train" if train else "test"
    if want not in splits:
        raise DatasetArgumentError(f"{m.name} has no {want!r} split (its splits are {splits}); "
                                   f"pass train=None, split={splits[0]!r}")  # fmt: skip
    return want


def _positive_int(name: str, value: Any, dataset: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetArgumentError(f"{dataset}: {name} must be a positive integer, got {value!r}")
    return value


def _frame_params(
    dataset: str, data_type: str, frames_number: Any, split_by: Any, duration: Any
) -> dict[str, Any] | None:
    """``eventkit.convert``'s frame arguments for SpikingJelly's, or None for ``data_type="event"``."""
    if data_type not in ("frame", "event"):
        raise DatasetArgumentError(f"{dataset}: data_type must be 'frame' or 'event', got {data_type!r}")
    given = [k for k, v in (("frames_number", frames_number), ("split_by", split_by), ("duration", duration))
             if v is not None]  # fmt: skip
    if data_type == "event":
        if given:
            raise DatasetArgumentError(f"{dataset}: {', '.join(given)} only apply to data_type='frame'; "
                                       f"data_type='event' returns the events themselves")  # fmt: skip
        return None
    if frames_number is not None and duration is not None:
        raise DatasetArgumentError(f"{dataset}: give frames_number (fixed T) or duration (µs per frame), not both")
    if duration is not None:
        if split_by is not None:
            raise DatasetArgumentError(f"{dataset}: split_by goes with frames_number, not with duration; drop it")
        return {"duration": _positive_int("duration", duration, dataset)}
    if split_by is None:
        split_by = "number"
    if split_by not in ("number", "time"):
        raise DatasetArgumentError(f"{dataset}: split_by must be 'number' or 'time', got {split_by!r}")
    frames = DEFAULT_FRAMES if frames_number is None else _positive_int("frames_number", frames_number, dataset)
    return {"frames": frames, "split_by": split_by}


def _store_path(m: DatasetManifest, root: str | os.PathLike[str] | None, params: dict[str, Any] | None) -> Path:
    """Where :func:`eventkit.convert` writes this conversion (its default ``out``)."""
    from ..pipeline.spec import FrameSpec
    from ..store.layout import store_name

    if params is None:
        return dataset_dir(m, root) / "stores" / store_name({"events": True}, kind="events")
    return dataset_dir(m, root) / "stores" / store_name(FrameSpec(**params).params())


def _convert(m: DatasetManifest, root: Any, params: dict[str, Any] | None, from_dir: Any, executor: str | None,
             workers: int | None, progress: bool) -> Path:  # fmt: skip
    """Download and convert; the store path, or IncompleteStoreError naming the samples that failed."""
    from ..pipeline import convert

    report = convert(m, **(params or {}), events=params is None, root=root, from_dir=from_dir,
                     executor=executor or _default_executor(), workers=workers, progress=progress)  # fmt: skip
    if not report.complete:
        bad = report.failures
        first = f"; first: {bad[0].source}: {bad[0].reason}" if bad else ""
        raise IncompleteStoreError(f"{report.store}: {len(bad)} sample(s) of {m.name} could not be converted{first}; "
                                   f"fix or replace those files and use the dataset again (it resumes)")  # fmt: skip
    return Path(report.store)


class NeuromorphicDataset(FrameDataset):
    """Any bundled (or user-manifest) dataset with SpikingJelly's arguments; a :class:`FrameDataset`.

    Parameters
    ----------
    name
        Bundled dataset name (``eventkit list``) or a manifest path; the named subclasses
        (:class:`DVS128Gesture`, ...) fill it in.
    root
        eventkit data root (default ``$EVENTKIT_ROOT`` or ``~/.cache/eventkit``); the dataset
        lives in ``<root>/<name>/``.
    train
        True: the ``"train"`` split; False: ``"test"``; None: the only split, or ``split=``.
    data_type
        ``"frame"`` (default): frames ``[T, P, H, W]``; ``"event"``: eventkit's structured events.
    frames_number, split_by
        Fixed ``T`` frames per sample, split by event ``"number"`` (default) or ``"time"``;
        ``frames_number=16`` when neither it nor ``duration`` is given.
    duration
        µs per frame instead (variable ``T``: samples come back as ``(frames, label, length)``).
    custom_integrate_function, custom_integrated_frames_dir_name
        SpikingJelly's; not supported (a clear error): see the module docstring.
    transform, target_transform
        As for :class:`FrameDataset` (``transform`` gets the events with ``data_type="event"``).
    split
        The split by name, for datasets whose splits are not train/test (``"valid"`` of SSC).
    dtype, return_length
        As for :class:`FrameDataset` (``torch.float32`` by default; None keeps the stored dtype).
    download
        Download and convert when the store is missing (default); False raises
        :class:`~eventkit.store.StoreNotFoundError` with the ``eventkit convert`` command instead.
    from_dir
        Convert an already-extracted copy (e.g. SpikingJelly's ``extract/``) instead of downloading.
    executor, workers, progress
        For the conversion: :func:`eventkit.convert`'s ``executor`` (default ``"auto"``),
        local worker processes, progress bars.

    Raises
    ------
    DatasetArgumentError
        A bad or conflicting argument (``frames_number`` with ``duration``, an unknown split...),
        before anything is downloaded.
    DatasetNotFoundError, DownloadError, ChecksumMismatchError
        The data cannot be fetched; for manual datasets the message says what to fetch and where.
    IncompleteStoreError
        Some samples failed to convert (the message names the first file and why).
    """

    dataset_name: ClassVar[str | None] = None

    def __init__(
        self,
        name: str | os.PathLike[str],
        root: str | os.PathLike[str] | None = None,
        train: bool | None = True,
        data_type: str = "frame",
        frames_number: int | None = None,
        split_by: str | None = None,
        duration: int | None = None,
        custom_integrate_function: Callable[..., Any] | None = None,
        custom_integrated_frames_dir_name: str | None = None,
        transform: Callable[..., Any] | None = None,
        target_transform: Callable[..., Any] | None = None,
        *,
        split: str | None = None,
        dtype: torch.dtype | Any = DEFAULT_DTYPE,
        return_length: bool | None = None,
        download: bool = True,
        from_dir: str | os.PathLike[str] | None = None,
        executor: str | None = None,
        workers: int | None = None,
        progress: bool = True,
    ) -> None:
        m = get_manifest(name)
        if custom_integrate_function is not None or custom_integrated_frames_dir_name is not None:
            raise DatasetArgumentError(
                f"{m.name}: custom_integrate_function is not supported; integrate events yourself with "
                f"data_type='event' and a transform, or EventDataset(store, to_frames={{...}})"
            )
        params = _frame_params(m.name, data_type, frames_number, split_by, duration)
        _torch_dtype(np.dtype(np.uint16), dtype)  # a bad dtype fails now, not after the conversion
        self.split = _resolve_split(m, train, split)
        self.dataset_name = m.name
        self.data_type = data_type
        self.train = train
        path = _store_path(m, root, params)
        try:
            self._init_store(path, params, transform, target_transform, dtype, return_length)
        except (StoreNotFoundError, IncompleteStoreError):
            if not download and from_dir is None:
                raise
            path = _convert(m, root, params, from_dir, executor, workers, progress)
            self._init_store(path, params, transform, target_transform, dtype, return_length)

    def _init_store(self, path: Path, params: dict[str, Any] | None, transform: Any, target_transform: Any,
                    dtype: Any, return_length: bool | None) -> None:  # fmt: skip
        if params is not None:
            FrameDataset.__init__(self, path, self.split, transform=transform, target_transform=target_transform,
                                  dtype=dtype, return_length=return_length)  # fmt: skip
            return
        self._kind = "events"  # _StoreDataset opens (and re-opens in workers) the event store
        _StoreDataset.__init__(self, path, self.split, transform, target_transform, return_length)
        self.counts = np.asarray(self._view.counts, dtype=np.int64)
        self.variable_length = False

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        """``(frames, label)`` (``(frames, label, length)`` for variable T), or ``(events, label)``."""
        if self.data_type == "frame":
            return super().__getitem__(index)
        events, label, _ = self._split()[index]
        return self._finish(events, label, len(events), False)

    def __getitems__(self, indices: list[int]) -> list[tuple[Any, ...]]:
        if self.data_type == "frame":
            return super().__getitems__(indices)
        return [self[i] for i in indices]

    def extra_repr(self) -> str:
        head = f"Dataset: {self.dataset_name}, data_type={self.data_type!r}"
        return head if self.data_type == "event" else f"{head}\n{super().extra_repr()}"


class _Named(NeuromorphicDataset):
    """A named dataset class: :class:`NeuromorphicDataset` with ``name`` filled in."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool | None = True,
        data_type: str = "frame",
        frames_number: int | None = None,
        split_by: str | None = None,
        duration: int | None = None,
        custom_integrate_function: Callable[..., Any] | None = None,
        custom_integrated_frames_dir_name: str | None = None,
        transform: Callable[..., Any] | None = None,
        target_transform: Callable[..., Any] | None = None,
        **options: Any,
    ) -> None:
        if self.dataset_name is None:
            raise TypeError("use NeuromorphicDataset(name, ...) or a named class such as DVS128Gesture")
        super().__init__(self.dataset_name, root, train, data_type, frames_number, split_by, duration,
                         custom_integrate_function, custom_integrated_frames_dir_name, transform, target_transform,
                         **options)  # fmt: skip


def dataset_class(name: str, class_name: str | None = None) -> type[NeuromorphicDataset]:
    """A :class:`NeuromorphicDataset` subclass for the dataset ``name`` (a bundled one or a manifest path)."""
    class_name = class_name or CLASS_NAMES.get(name) or "".join(p.capitalize() for p in str(name).split("-"))
    doc = (f"The ``{name}`` dataset (``data_manifests/{name}.toml``), SpikingJelly-style: "
           f"``{class_name}(root, train=True, data_type='frame', frames_number=16, split_by='number')``.\n\n"
           f"See :class:`NeuromorphicDataset` for the arguments; ``eventkit info {name}`` for the data.")  # fmt: skip
    return type(class_name, (_Named,), {"dataset_name": name, "__doc__": doc, "__module__": __name__})


for _name, _cls in CLASS_NAMES.items():  # one thin class per bundled manifest
    globals()[_cls] = dataset_class(_name, _cls)
    __all__.append(_cls)
for _alias, _cls in ALIASES.items():
    globals()[_alias] = globals()[_cls]
    __all__.append(_alias)
del _name, _cls, _alias
