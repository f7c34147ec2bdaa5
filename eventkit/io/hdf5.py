"""HDF5 event files: SHD/SSC spike files (many samples per file) and generic event groups.

Layouts (checked in this order)
-------------------------------
SHD / SSC (Heidelberg spiking datasets)
    ``spikes/times`` (variable-length float, **seconds**) and ``spikes/units`` (variable-length
    uint16 neuron index, 0..699), one entry per sample, plus ``labels`` (one class per sample).
    A sample decodes to ``t = (times * 1e6).astype(int64)``: microseconds **truncated** toward
    zero, the product computed in the stored float precision (float16 is widened to float32),
    which is exactly what Tonic's SHD/SSC readers return. The precision matters: a float32
    time such as ``float32(1e-6)`` is 0.99999999747 µs exactly, so a float64 product would
    truncate it to 0 while the float32 product rounds to 1.0 first and gives the intended 1 µs
    (this differs for about half of all whole-µs values). ``x`` = the unit (neuron) index,
    ``y = 0``, ``p = 0`` (one polarity). Sensor
    ``(700, 1, 1)``. A file holds many samples: :func:`read_hdf5` needs ``sample=i`` unless the
    file holds exactly one; :func:`iter_hdf5_samples` walks them all with their labels.
Generic events group
    A group ``events`` with one 1-D dataset per field, or a 1-D compound dataset ``events``
    with named fields, or top-level 1-D datasets, named as in
    :data:`eventkit.io.numpy_files.FIELD_ALIASES` (``t/ts, x, y, p/pol/polarity``). This is
    e.g. DSEC's ``events/{t,x,y,p}`` (t is returned as stored; DSEC's separate ``t_offset`` is
    not added). Values follow :func:`~eventkit.io.numpy_files.columns_to_events` (integer
    microseconds, x/y in ``[0, 65535]``, p in 0/1, -1/+1 or bool). Columns are read in slices,
    so memory stays close to the output size. An optional integer attribute ``label`` on the
    ``events`` object (or the file) is reported as the sample's label.

Hostile files
-------------
SHD/SSC files declare a sensor of 700 units: a unit index >= 700 is refused (DecodeError naming
the sample, the spike and the value), never returned. Declared extents (the number of samples,
the length of event datasets) are checked against the file size before anything is read: a
dataset of fill values or of highly compressed chunks can declare hundreds of millions of
events in a few kB (see :func:`eventkit.io.read_events` for the limits and how to raise them).
Data kept in other files (external links, external or virtual dataset storage) is refused:
h5py would otherwise read any file of the user's disk as events.

Datasets compressed with filters h5py does not ship (e.g. Prophesee's ECF codec) cannot be
read; that, and any corrupt or truncated file, raises :class:`~eventkit.errors.DecodeError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import DecodeError, EventkitError, SampleSelectionError
from ..events import EventArray, SensorSize
from ._common import check_declared, check_file
from ._format import EventFormat
from .numpy_files import _ALIAS_TO_FIELD, columns_to_events, match_fields, structured_to_events

__all__ = [
    "DECODER_VERSION",
    "FORMAT",
    "SHD_SENSOR",
    "SampleSelectionError",
    "check_self_contained",
    "hdf5_labels",
    "hdf5_num_samples",
    "iter_hdf5_samples",
    "read_hdf5",
]

SHD_SENSOR = SensorSize(700, 1, 1)
_MAGIC = b"\x89HDF\r\n\x1a\n"
CHUNK_SAMPLES = 256  # SHD samples read per h5py call when iterating
DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_hdf5` returns for some file (it keys cached stores)."""


def check_self_contained(path: str, f: Any) -> None:
    """Refuse an HDF5 file whose data lives in other files (external links, external or virtual storage).

    h5py follows such references silently: a hostile file could make eventkit decode any file
    of the user's disk as events.

    Raises
    ------
    DecodeError
        Naming the object and the other file.
    """
    import h5py

    def visit(name: str, link: Any) -> str | None:
        # return the problem rather than raise it: h5py turns exceptions in callbacks into SystemError
        if isinstance(link, h5py.ExternalLink):
            return f"HDF5 object {name!r} is a link into another file ({link.filename!r})"
        if isinstance(link, h5py.HardLink):
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
                other = [e[0] for e in obj.external] if obj.external else "the sources of a virtual dataset"
                return f"HDF5 dataset {name!r} keeps its data in other files ({other})"
        return None

    problem = f.visititems_links(visit)
    if problem:
        raise DecodeError(path, f"{problem}; eventkit reads only the file it is given: copy the data into this file")


@contextmanager
def _h5(path: str) -> Iterator[Any]:
    """Open ``path`` read-only; turn every h5py/numpy failure inside the block into DecodeError."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            check_self_contained(path, f)
            yield f
    except EventkitError:
        raise
    except Exception as err:  # h5py raises OSError, KeyError, RuntimeError, ValueError... on bad bytes
        raise DecodeError(path, f"unreadable HDF5 file or dataset ({type(err).__name__}: {err})") from None


def _is_shd(f: Any) -> bool:
    import h5py

    spikes = f.get("spikes")
    return isinstance(spikes, h5py.Group) and "times" in spikes and "units" in spikes


def _shd_datasets(path: str, f: Any) -> tuple[Any, Any, int]:
    import h5py

    times, units = f["spikes/times"], f["spikes/units"]
    for name, ds in (("spikes/times", times), ("spikes/units", units)):
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or h5py.check_vlen_dtype(ds.dtype) is None:
            raise DecodeError(path, f"{name!r} must be a 1-D variable-length dataset (SHD/SSC layout)")
    if times.shape != units.shape:
        raise DecodeError(path, f"'spikes/times' has {times.shape[0]} samples but 'spikes/units' has {units.shape[0]}")
    # a dataset of fill values declares any number of samples in a few bytes: bound it first
    check_declared(path, times.shape[0], 0, "'spikes/times' (one sample per entry)")
    return times, units, times.shape[0]


def _shd_sample(path: str, index: int, times: Any, units: Any) -> EventArray:
    times = np.asarray(times)
    units = np.asarray(units)
    if times.dtype.kind != "f":
        raise DecodeError(path, f"sample {index}: 'spikes/times' has dtype {times.dtype}; expected float seconds")
    if times.shape != units.shape:
        raise DecodeError(
            path, f"sample {index}: {times.shape[0]} spike times but {units.shape[0]} unit indices; they must pair up"
        )
    if times.dtype.itemsize < 4:  # float16 * 1e6 would overflow: widen (exactly) to float32 first
        times = times.astype(np.float32)
    us = times * times.dtype.type(1e6)  # in the stored precision, as Tonic does
    bad = ~np.isfinite(us) | (np.abs(us) >= 2.0**63)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DecodeError(path, f"sample {index}: spike time {times[i].item()!r} s at spike {i} is not a usable time")
    if units.dtype.kind in "iuf":
        outside = units >= SHD_SENSOR.width
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise DecodeError(
                path,
                f"sample {index}: unit {units[i].item()!r} at spike {i} is outside the sensor the file's "
                f"SHD/SSC layout declares ({SHD_SENSOR.width} units, 0..{SHD_SENSOR.width - 1})",
            )
    n = us.shape[0]
    zeros = np.zeros(n, dtype=np.uint8)
    cols = {"t": us.astype(np.int64), "x": units, "y": zeros, "p": zeros}
    return columns_to_events(path, cols, {"t": "spikes/times", "x": "spikes/units", "y": "(none)", "p": "(none)"})


def _shd_labels(path: str, f: Any, n: int) -> np.ndarray | None:
    if "labels" not in f:
        return None
    ds = f["labels"]
    shape = getattr(ds, "shape", None)
    if shape != (n,):  # checked before reading: the shape, not the data, may be huge
        raise DecodeError(path, f"'labels' has shape {shape}; expected {n} integer class indices")
    labels = np.asarray(ds[()])
    if labels.ndim != 1 or labels.shape[0] != n or labels.dtype.kind not in "iu":
        raise DecodeError(
            path, f"'labels' has shape {labels.shape} and dtype {labels.dtype}; expected {n} integer class indices"
        )
    return labels.astype(np.int64)


def _check_datasets(path: str, datasets: list[Any], what: str) -> None:
    """Refuse datasets whose declared extent far exceeds the file (fill values, compressed chunks)."""
    events = nbytes = 0
    for ds in datasets:
        shape = tuple(int(d) for d in (ds.shape or ()))
        count = 1
        for d in shape:
            count *= d
        events = max(events, shape[0] if len(shape) == 1 else count)
        nbytes += count * ds.dtype.itemsize
    check_declared(path, events, nbytes, what)


def _generic(path: str, f: Any) -> tuple[EventArray, int | None]:
    import h5py

    obj = f.get("events")
    if isinstance(obj, h5py.Dataset):
        if not obj.dtype.names:
            raise DecodeError(
                path, f"dataset 'events' has dtype {obj.dtype}; expected named fields t, x, y, p (or a group 'events')"
            )
        _check_datasets(path, [obj], "dataset 'events'")
        ev = structured_to_events(path, np.asarray(obj[()]), "dataset 'events'")
        holder = obj
    else:
        group = obj if isinstance(obj, h5py.Group) else f
        where = "group 'events'" if group is obj else "the file's top level"
        names = [k for k, v in group.items() if isinstance(v, h5py.Dataset)]
        if not any(k.lower() in _ALIAS_TO_FIELD for k in names):
            raise DecodeError(
                path,
                f"no event layout found: {where} holds {list(group.keys())}; expected SHD/SSC 'spikes/times' + "
                "'spikes/units', or datasets t, x, y, p (in a group 'events' or at the top level)",
            )
        found = match_fields(path, names, f"datasets in {where}:")
        prefix = "events/" if group is obj else ""
        _check_datasets(path, [group[v] for v in found.values()], f"datasets {[prefix + v for v in found.values()]}")
        ev = columns_to_events(path, {k: group[v] for k, v in found.items()}, {k: prefix + v for k, v in found.items()})
        holder = group
    label = holder.attrs.get("label", f.attrs.get("label"))
    if label is not None:
        label = np.asarray(label)
        if label.size != 1 or label.dtype.kind not in "iu":
            raise DecodeError(path, f"attribute 'label' = {label!r}; expected one integer class index")
        label = int(label.reshape(-1)[0])
    return ev, label


def read_hdf5(path: str | os.PathLike[str], sample: int | None = None) -> EventArray:
    """Decode one sample of an HDF5 event file.

    Parameters
    ----------
    path
        The ``.h5`` / ``.hdf5`` file.
    sample
        For SHD/SSC files, the index of the sample to decode (``0 <= sample < n``). May be
        omitted only when the file holds exactly one sample. Generic files hold one sample
        (``sample`` must be None or 0).

    Returns
    -------
    EventArray
        The sample's events. SHD/SSC: t = truncated µs, x = neuron, y = p = 0.

    Raises
    ------
    SampleSelectionError
        ``sample`` is None on a file with several samples (the message says how many), or
        out of range.
    DecodeError
        Corrupt or truncated file, unknown layout, or values that do not fit.
    FileNotFoundError
        If the file does not exist.
    """
    p = check_file(path)
    with _h5(p) as f:
        if _is_shd(f):
            times, units, n = _shd_datasets(p, f)
            if sample is None:
                if n != 1:
                    raise SampleSelectionError(
                        p,
                        f"this SHD/SSC file holds {n} samples; decode one with "
                        f"eventkit.io.hdf5.read_hdf5(path, sample=i) for i in 0..{n - 1}, or iterate all with "
                        "eventkit.io.hdf5.iter_hdf5_samples(path)"
                        if n
                        else "this SHD/SSC file holds no samples",
                    )
                sample = 0
            i = _index(p, sample, n)
            return _shd_sample(p, i, times[i], units[i])
        if sample not in (None, 0):
            raise SampleSelectionError(p, f"sample={sample!r}: this file holds one events sample; omit sample or pass 0")
        return _generic(p, f)[0]


def _index(path: str, sample: Any, n: int) -> int:
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)):
        raise SampleSelectionError(path, f"sample={sample!r}; pass an integer sample index")
    if not 0 <= int(sample) < n:
        raise SampleSelectionError(path, f"sample={sample} is out of range; this file holds {n} samples (0..{n - 1})")
    return int(sample)


def iter_hdf5_samples(path: str | os.PathLike[str]) -> Iterator[tuple[EventArray, int | None]]:
    """Yield ``(events, label)`` for every sample of an HDF5 event file, in file order.

    SHD/SSC samples are read a block at a time; the label is the sample's entry in
    ``labels`` (None when the file has no ``labels``). A generic file yields one pair,
    labelled by its ``label`` attribute if present.

    Raises
    ------
    DecodeError
        Corrupt data, unknown layout, or ``labels`` not matching the number of samples.
    """
    p = check_file(path)
    with _h5(p) as f:
        if not _is_shd(f):
            yield _generic(p, f)
            return
        times, units, n = _shd_datasets(p, f)
        labels = _shd_labels(p, f, n)
        for start in range(0, n, CHUNK_SAMPLES):
            stop = min(n, start + CHUNK_SAMPLES)
            tb, ub = times[start:stop], units[start:stop]
            for k in range(stop - start):
                i = start + k
                yield _shd_sample(p, i, tb[k], ub[k]), (None if labels is None else int(labels[i]))


def hdf5_labels(path: str | os.PathLike[str]) -> np.ndarray | None:
    """Return the class label of every sample (int64), or None when the file has no labels.

    SHD/SSC: the ``labels`` dataset (checked to hold one integer per sample). Generic files:
    a one-element array holding the ``label`` attribute, if there is one.
    """
    p = check_file(path)
    with _h5(p) as f:
        if _is_shd(f):
            _, _, n = _shd_datasets(p, f)
            return _shd_labels(p, f, n)
        import h5py

        obj = f.get("events")
        label = (obj.attrs.get("label") if isinstance(obj, (h5py.Group, h5py.Dataset)) else None)
        if label is None:
            label = f.attrs.get("label")
        if label is None:
            return None
        label = np.asarray(label).reshape(-1)
        if label.size != 1 or label.dtype.kind not in "iu":
            raise DecodeError(p, f"attribute 'label' = {label!r}; expected one integer class index")
        return label.astype(np.int64)


def hdf5_num_samples(path: str | os.PathLike[str]) -> int:
    """Number of samples in the file: the length of ``spikes/times`` for SHD/SSC, else 1."""
    p = check_file(path)
    with _h5(p) as f:
        if _is_shd(f):
            return _shd_datasets(p, f)[2]
        return 1


def _sensor(path: str | os.PathLike[str]) -> SensorSize | None:
    """SHD/SSC files -> (700, 1, 1); generic files declare no geometry (None)."""
    try:
        import h5py

        with h5py.File(os.fspath(path), "r") as f:
            return SHD_SENSOR if _is_shd(f) else None
    except Exception:  # unreadable file: no geometry to report (read() raises the real error)
        return None


def _sniff(head: bytes) -> bool:
    """HDF5 signature at offset 0, or after a user block (512, 1024, ... bytes) of a non-MATLAB file."""
    if head.startswith(_MAGIC):
        return True
    if head.startswith(b"MATLAB"):  # MAT 7.3 is HDF5 with a user block: the matlab format reads it
        return False
    off = 512
    while off + len(_MAGIC) <= len(head):
        if head[off : off + len(_MAGIC)] == _MAGIC:
            return True
        off *= 2
    return False


FORMAT = EventFormat(
    name="hdf5",
    title="HDF5 events (SHD/SSC spikes, generic events group)",
    read=read_hdf5,
    version=DECODER_VERSION,
    suffixes=(".h5", ".hdf5"),
    sniff=_sniff,
    sensor=_sensor,
)
