"""PyTorch Datasets over eventkit stores: :class:`FrameDataset` and :class:`EventDataset`.

Samples come back as ``(frames, label)`` with ``frames`` a tensor ``[T, P, H, W]``, or as
``(frames, label, length)`` for variable-length stores (``duration=`` conversions) or when
``return_length=True``. Frames are trimmed to their valid length (``T = length``), so transforms
never see padding; batch variable-length samples with :func:`~eventkit.torch.pad_collate`, which
is also the fast collate for fixed-length ones (see :class:`FrameDataset`).

Dtype: frames come back as ``torch.float32`` by default, so every torch op works on them
(``x.max()``, ``Conv2d``, arithmetic on the CPU); counts up to 2**24 are exact. ``dtype=None``
is the opt-in integer fast path: it keeps the stored dtype (``torch.uint16`` for the default
store), which is half the bytes of float32 per batch and skips the cast in the worker (a
DVS128-size batch of 16 is 16.8 MB in uint16 and 33.5 MB in float32; the wider batch costs loader
throughput: ``python -m bench.loader`` measures both). torch supports ``uint16`` for moving,
stacking, indexing and casting, and every eventkit transform and ``pad_collate`` handle it, but
not arithmetic or comparisons on the CPU, so with ``dtype=None`` convert on the device:
``x.to(device, non_blocking=True).float()``. Any other torch or NumPy dtype casts in the worker.

Worker safety: the dataset keeps only the store path and small metadata; the store is opened
lazily in each process that reads (DataLoader workers, persistent or not, fork or spawn), and
pickles without open handles.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .._renamed import renamed_attribute
from ..store import EventStore, FrameStore, StoreNotFoundError, open_event_store, open_store
from ._errors import DatasetArgumentError

__all__ = ["DatasetArgumentError", "EventDataset", "FrameDataset", "DEFAULT_DTYPE"]

_TO_NUMPY = {
    torch.uint8: np.uint8, torch.int8: np.int8, torch.int16: np.int16, torch.int32: np.int32,
    torch.int64: np.int64, torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64,
    torch.bool: np.bool_, torch.uint16: np.uint16, torch.uint32: np.uint32,
}  # fmt: skip
DEFAULT_DTYPE = torch.float32  # what samples come back as unless dtype= says otherwise (None: stored)
DEFAULT_TO_FRAMES: Mapping[str, Any] = {"frames": 16, "split_by": "number"}
_use_count = getattr(torch._C, "_storage_Use_Count", None)  # references to a storage (views included)
_RING = 3  # batches kept for reuse in the main process: the one the loop holds, the previous, one spare


def _unheld(t: torch.Tensor) -> bool:
    """True when only the caller's one local variable refers to ``t`` and no tensor shares its storage.

    ``sys.getrefcount`` counts Python references (a user's list of batches, a NumPy array made
    by ``.numpy()``, the loop variable); the storage use count counts C++ ones (views, tensors
    autograd saved for backward). Both must show nobody else before a batch is decoded into again.
    """
    return (
        _use_count is not None
        and sys.getrefcount(t) <= 3  # the caller's variable, this parameter, getrefcount's argument
        and _use_count(t.untyped_storage()._cdata) == 2  # t's own + this temporary storage object
    )


def _torch_dtype(stored: np.dtype, dtype: torch.dtype | np.dtype | type | str | None) -> torch.dtype:
    """The tensor dtype a sample is returned as: ``dtype``, or the stored one when None."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return torch.from_numpy(np.zeros(0, stored if dtype is None else np.dtype(dtype))).dtype
    except TypeError as exc:
        raise DatasetArgumentError(
            f"dtype must be a torch or NumPy dtype (e.g. torch.float32), or None for the stored one; got {dtype!r}"
        ) from None


def _to_tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    np_dtype = _TO_NUMPY.get(dtype)
    if np_dtype is not None:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np_dtype))
    return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)  # bfloat16 and friends


def convert_hint(path: Path, kind: str = "frames") -> str:
    """The ``eventkit convert`` command that would create the store at ``path``."""
    name = path.name
    args = []
    if kind == "events" or name.startswith("events-"):
        args.append("--events")
    else:
        if m := re.search(r"-T(\d+)", name):
            args.append(f"-T {m.group(1)}")
        if m := re.search(r"-T\d+-(number|time)", name):
            args.append(f"--split-by {m.group(1)}")
        if m := re.search(r"-D(\d+)", name):
            args.append(f"--duration {m.group(1)}")
        if not args:
            args.append("-T 16")
    if path.parent.name == "stores" and path.parent.parent.name:
        dataset, root = path.parent.parent.name, path.parent.parent.parent
        return f"eventkit convert {dataset} {' '.join(args)} --root {root}"
    return f"eventkit convert DATASET {' '.join(args)} --out {path}"


def _where(path: str | os.PathLike[str]) -> Any:
    """A local store path (``~`` expanded) or an object-store location (``s3://bucket/x.zarr``)."""
    from ..store._remote import location

    where = location(path)
    return where.expanduser() if isinstance(where, Path) else where


def _open(path: Path, kind: str, options: Mapping[str, Any]) -> FrameStore | EventStore:
    try:
        return open_store(path, **options) if kind == "frames" else open_event_store(path, **options)
    except StoreNotFoundError as exc:
        raise StoreNotFoundError(f"{exc}; create it with: {convert_hint(path, kind)}") from None


class _StoreDataset(Dataset[tuple[Any, ...]]):
    """Shared part: split resolution, lazy per-process opening, pickling, repr."""

    _kind = "frames"
    sensor_size = renamed_attribute("sensor_size", "sensor")  # the Tonic-style name before one vocabulary

    def __init__(
        self,
        store_or_path: FrameStore | EventStore | str | os.PathLike[str],
        split: str,
        transform: Callable[..., Any] | None,
        target_transform: Callable[..., Any] | None,
        return_length: bool | None,
    ) -> None:
        if isinstance(store_or_path, (FrameStore, EventStore)):
            store = store_or_path
            self.root = store.path  # a Path, or a RemotePath for a store on an object store
            self._options: dict[str, Any] = dict(getattr(store, "_options", {}))
        else:
            self.root = _where(store_or_path)
            self._options = {}
            store = _open(self.root, self._kind, self._options)
        if split not in store:
            valid = ", ".join(repr(s) for s in store)
            raise DatasetArgumentError(f"unknown split {split!r} for {self.root}; valid splits are {valid}")
        self.split = split
        self.transform = transform
        self.target_transform = target_transform
        self.classes: list[str] = store.classes
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.sensor = store.sensor
        self.params: dict[str, Any] = dict(store.params)
        view = store[split]
        self.targets: np.ndarray = np.asarray(view.labels, dtype=np.int64)
        self.sample_ids: np.ndarray = np.asarray(view.sample_ids)
        self._return_length = return_length
        self._view: Any = view
        self._pid = os.getpid()

    def _split(self) -> Any:
        """This process' split view (re-opened after a fork or unpickling)."""
        if self._view is None or self._pid != os.getpid():
            self._view = _open(self.root, self._kind, self._options)[self.split]
            self._pid = os.getpid()
        return self._view

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_view"] = None  # no open handles cross process boundaries
        for k in ("_spare", "_scratch", "_ring"):  # per-process buffers
            if k in state:
                state[k] = None
        return state

    def __len__(self) -> int:
        return int(self.targets.size)

    def _finish(self, x: Any, label: int, length: int, variable: bool) -> tuple[Any, ...]:
        if self.transform is not None:
            x = self.transform(x)
            if isinstance(x, torch.Tensor) and x.ndim >= 1:
                length = int(x.shape[0])  # a transform may change the number of frames
        y: Any = label if self.target_transform is None else self.target_transform(label)
        want = variable if self._return_length is None else self._return_length
        return (x, y, length) if want else (x, y)

    def __repr__(self) -> str:
        head = f"Dataset {type(self).__name__}"
        body = [f"Number of datapoints: {len(self)}", f"Split: {self.split}", f"Store location: {self.root}"]
        body += self.extra_repr().splitlines()
        if self.transform is not None:
            body.append(f"Transform: {self.transform!r}".replace("\n", "\n    "))
        if self.target_transform is not None:
            body.append(f"Target transform: {self.target_transform!r}")
        return "\n".join([head] + ["    " + line for line in body])

    def extra_repr(self) -> str:
        return ""


class FrameDataset(_StoreDataset):
    """A frame store split as a torchvision-style Dataset.

    Parameters
    ----------
    store_or_path
        A :class:`~eventkit.store.FrameStore` or the path of one (``.../frames-T16-number.zarr``).
    split
        ``"train"``, ``"test"``, ... (the store's splits).
    transform
        Called on the frames tensor ``[T, P, H, W]`` (e.g. :mod:`eventkit.torch.transforms`). In a
        segmentation store (``has_masks``) samples are ``(frames, mask [H, W] int64)`` and flips,
        crops and translations move the mask alike (:mod:`eventkit.torch.seg_transforms`).
    target_transform
        Called on the integer label.
    dtype
        Tensor dtype, ``torch.float32`` by default (works with every torch op). None keeps the
        stored one (``torch.uint16`` for the default store): the integer fast path, half the
        bytes, but CPU arithmetic needs a cast first (see the module docstring).
    return_length
        Return ``(frames, label, length)``; None: only for variable-length stores.

    Attributes
    ----------
    classes : list of str
        Class names; label ``k`` is ``classes[k]``.
    targets : numpy.ndarray
        ``[N]`` int64 labels, without reading any frames (for class-balanced samplers).
    lengths : numpy.ndarray
        ``[N]`` int64 valid frames per sample.
    variable_length : bool
        The store has no fixed T (``duration=`` and similar conversions) or samples shorter than ``t_max``.

    Raises
    ------
    StoreNotFoundError
        No frame store at the path; the message holds the ``eventkit convert`` command to run.
    DatasetArgumentError
        Unknown split (the message lists the valid ones) or dtype (a ``ValueError`` too).
    StoreCorruptError
        Damaged store metadata or per-sample arrays (when created), or a damaged sample (when that
        sample is read: never zeros or another sample's frames). From a DataLoader worker it comes
        back with the worker's traceback in its message;
        :func:`eventkit.store.integrity.unwrap_worker_error` returns the one-line error.

    Examples
    --------
    >>> ds = FrameDataset("~/.cache/eventkit/dvs128-gesture/stores/frames-T16-number.zarr", "train")
    >>> frames, label = ds[0]                    # frames: torch.float32 [16, 2, 128, 128]
    >>> raw = FrameDataset(ds.root, "train", dtype=None)   # torch.uint16: the integer fast path
    >>> loader = DataLoader(ds, batch_size=16, shuffle=True, num_workers=2, persistent_workers=True,
    ...                     collate_fn=pad_collate)
    >>> x, y, lengths = next(iter(loader))    # x: [16, 16, 2, 128, 128], lengths: all 16

    ``collate_fn=pad_collate`` is the fast collate for every store: for a fixed-length store
    without ``transform``, :meth:`__getitems__` decodes a batch straight into one (shared-memory)
    tensor and ``pad_collate`` returns that tensor without copying (1.1x-1.3x the samples/s of
    the default collate in ``python -m bench.loader``). The default collate gives the same frames
    and labels (without ``lengths``), with one more copy of the batch.
    """

    _kind = "frames"

    def __init__(
        self,
        store_or_path: FrameStore | str | os.PathLike[str],
        split: str = "train",
        *,
        transform: Callable[..., Any] | None = None,
        target_transform: Callable[..., Any] | None = None,
        dtype: torch.dtype | np.dtype | type | str | None = DEFAULT_DTYPE,
        return_length: bool | None = None,
    ) -> None:
        if isinstance(store_or_path, (str, os.PathLike)):
            store_or_path = _where(store_or_path)
        super().__init__(store_or_path, split, transform, target_transform, return_length)
        view = self._view
        self.t_max = int(view.t_max)
        self.stored_dtype = np.dtype(view.frames.dtype)
        self.dtype = _torch_dtype(self.stored_dtype, dtype)
        self.lengths: np.ndarray = np.asarray(view.lengths, dtype=np.int64)
        self.variable_length = self.params.get("frames") is None or bool((self.lengths != self.t_max).any())
        # A segmentation store: samples are (frames, mask [H, W] int64), augmented jointly (seg_transforms).
        self.has_masks = view.masks is not None
        self._spare: torch.Tensor | None = None  # __getitems__' batch buffer, per process
        self._spare_pid = 0
        self._ring: list[torch.Tensor] = []  # handed-out batches, reused once the user let them go
        self._scratch: np.ndarray | None = None

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        """Return ``(frames [length, P, H, W], label)`` or ``(frames, label, length)``.

        A segmentation store gives ``(frames, mask)`` instead, ``mask [H, W]`` int64 (255 = ignore),
        with ``transform`` applied to both consistently (:func:`~eventkit.torch.seg_transforms.joint_apply`).
        """
        view = self._split()
        frames, label, length, _ = view[index]
        x = _to_tensor(frames[:length], self.dtype)
        if self.has_masks:
            from .seg_transforms import joint_apply

            m = torch.from_numpy(view.read_mask(index).astype(np.int64))
            if self.transform is not None:
                x, m = joint_apply(self.transform, x, m)
            want = self.variable_length if self._return_length is None else self._return_length
            return (x, m, int(x.shape[0])) if want else (x, m)
        return self._finish(x, label, length, self.variable_length)

    def __getitems__(self, indices: list[int]) -> list[tuple[Any, ...]]:
        """The samples ``[self[i] for i in indices]`` (what DataLoader calls with a batch's indices).

        For a fixed-length store without ``transform``, the frames are decoded straight into one
        batch tensor ``[len(indices), T, P, H, W]`` (in shared memory inside a DataLoader worker)
        and the samples are its consecutive views, which :func:`~eventkit.torch.pad_collate`
        returns as the batch without copying. Otherwise, one ``__getitem__`` per index.
        """
        if self.transform is not None or self.variable_length or self.has_masks or len(indices) == 0:
            return [self[i] for i in indices]
        view = self._split()
        n = len(indices)
        batch = self._batch_buffer(n, view)
        direct = self.dtype == _torch_dtype(self.stored_dtype, None)
        np_dtype = _TO_NUMPY.get(self.dtype)
        scratch = None if direct else self._scratch_buffer(view)
        out: list[tuple[Any, ...]] = []
        for k, i in enumerate(indices):
            x = batch[k]
            if direct:
                label, length = view.read_into(i, x.numpy())
            else:
                label, length = view.read_into(i, scratch)
                if np_dtype is not None:
                    np.copyto(x.numpy(), scratch, casting="unsafe")  # = np.ascontiguousarray(a, dtype)
                else:
                    x.copy_(torch.from_numpy(scratch))  # bfloat16 and friends, as .to(dtype)
            out.append(self._finish(x, label, length, False))
        self._spare, self._spare_pid = batch, os.getpid()  # reused only once nothing else holds it
        if torch.utils.data.get_worker_info() is None:  # a worker's batches leave for the main process
            ring = self.__dict__.pop("_ring", None) or []
            self._ring = ([t for t in ring if t is not batch] + [batch])[-_RING:]
        if scratch is not None:
            self._scratch = scratch
        return out

    def _batch_buffer(self, n: int, view: Any) -> torch.Tensor:
        """A batch tensor to decode into: the previous one when nothing else holds it, else a new one."""
        shape = (n, self.t_max, *view.frames.shape[2:])
        prev = self.__dict__.pop("_spare", None)  # taken (atomically): a concurrent call allocates its own
        prev = prev if self._spare_pid == os.getpid() else None
        if self._spare_pid == os.getpid() and torch.utils.data.get_worker_info() is None:
            # A fresh batch costs a page fault per 4 kB on first touch (2 MB a float32 sample), as
            # much as decoding it: reuse a handed-out batch the user has let go of.
            reused = self._reuse_handed(shape, prev)
            if reused is not None:
                return reused
        if (
            prev is not None and _use_count is not None and tuple(prev.shape) == shape
            and not getattr(prev, "_eventkit_handed", False)  # pad_collate returned it: never reused
            and _use_count(prev.untyped_storage()._cdata) == 2  # no view of it left: prev + this storage object
        ):  # fmt: skip
            return prev
        if torch.utils.data.get_worker_info() is not None:  # the batch goes to the main process
            numel = int(np.prod(shape))
            storage = torch.empty(0, dtype=self.dtype)._typed_storage()._new_shared(numel, device="cpu")
            batch = torch.empty(0, dtype=self.dtype).new(storage).resize_(shape)  # as default_collate
        else:
            batch = torch.empty(shape, dtype=self.dtype)
        batch._eventkit_batch = True
        return batch

    def _reuse_handed(self, shape: tuple[int, ...], prev: torch.Tensor | None) -> torch.Tensor | None:
        """A batch of ``shape`` from the ring that nobody holds any more (taken out of the ring), or None."""
        ring = self.__dict__.pop("_ring", None) or []  # taken (atomically), as the spare
        found = None
        for _ in range(len(ring)):
            old = ring.pop(0)
            if found is None and old is not prev and tuple(old.shape) == shape and old.dtype == self.dtype \
                    and _unheld(old):  # fmt: skip
                found = old
            else:
                ring.append(old)
            del old
        self._ring = ring
        if found is not None:
            found._eventkit_handed = False
        return found

    def _scratch_buffer(self, view: Any) -> np.ndarray:
        shape = (self.t_max, *view.frames.shape[2:])
        scratch = self.__dict__.pop("_scratch", None)  # taken, as the batch buffer
        if scratch is None or scratch.shape != shape:
            scratch = np.empty(shape, self.stored_dtype.newbyteorder("<"))
        return scratch

    def extra_repr(self) -> str:
        return (
            f"Frames: T_max={self.t_max}, sensor={tuple(self.sensor)}, "
            f"stored {self.stored_dtype} -> {self.dtype}\n"
            f"Variable length: {self.variable_length}"
        )


class EventDataset(_StoreDataset):
    """An event store split, integrated into frames on the fly (or returned as events).

    Parameters
    ----------
    store_or_path
        An :class:`~eventkit.store.EventStore` or the path of one (``eventkit convert --events``).
    split
        The split name.
    to_frames
        Keyword arguments of :func:`eventkit.to_frames` (the sensor comes from the store);
        None returns the event arrays themselves.
    event_transform
        Called on the events before integration (e.g. :mod:`eventkit.torch.event_transforms`).
    transform, target_transform
        Called on the frames tensor (or on the events when ``to_frames`` is None) / the label.
    dtype
        As for :class:`FrameDataset`: ``torch.float32`` by default; None keeps the integrated
        dtype (uint16 counts unless ``to_frames`` says otherwise).
    return_length
        Return ``(frames, label, length)``; None: when ``to_frames`` has no fixed ``frames=T``.

    Examples
    --------
    >>> ds = EventDataset(path, "train", to_frames={"duration": 50_000},
    ...                   event_transform=ET.EventDropEvents(sensor=(128, 128, 2)))
    >>> frames, label, length = ds[0]
    """

    _kind = "events"

    def __init__(
        self,
        store_or_path: EventStore | str | os.PathLike[str],
        split: str = "train",
        *,
        to_frames: Mapping[str, Any] | None = DEFAULT_TO_FRAMES,
        event_transform: Callable[..., Any] | None = None,
        transform: Callable[..., Any] | None = None,
        target_transform: Callable[..., Any] | None = None,
        dtype: torch.dtype | np.dtype | type | str | None = DEFAULT_DTYPE,
        return_length: bool | None = None,
    ) -> None:
        if isinstance(store_or_path, (str, os.PathLike)):
            store_or_path = _where(store_or_path)
        super().__init__(store_or_path, split, transform, target_transform, return_length)
        self.to_frames = None if to_frames is None else dict(to_frames)
        self.event_transform = event_transform
        self.counts: np.ndarray = np.asarray(self._view.counts, dtype=np.int64)
        self.variable_length = self.to_frames is not None and self.to_frames.get("frames") is None
        self._dtype_arg = dtype
        if self.to_frames is not None:
            from ..frames import to_frames as _to_frames  # Numba kernels: load only when integrating

            stored = np.dtype(self.to_frames.get("dtype", np.uint16))
            self.dtype = _torch_dtype(stored, dtype)
            self._integrate = _to_frames

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        """Return ``(frames, label[, length])``, or ``(events, label)`` when ``to_frames`` is None."""
        events, label, _ = self._split()[index]
        if self.event_transform is not None:
            events = self.event_transform(events)
        if self.to_frames is None:
            return self._finish(events, label, len(events), False)
        frames = self._integrate(events, self.sensor, **self.to_frames)
        return self._finish(_to_tensor(frames, self.dtype), label, int(frames.shape[0]), self.variable_length)

    def extra_repr(self) -> str:
        return f"to_frames: {self.to_frames}\nEvent transform: {self.event_transform!r}"
