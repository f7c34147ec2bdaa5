"""MATLAB ``.mat`` event files: ASL-DVS (``ts, x, y, pol``) and ST-MNIST (``spiketrain``).

Layouts
-------
ST-MNIST
    One variable ``spiketrain`` of shape ``101 x N`` (float64): rows 0..99 are the 10 x 10
    NeuTouch taxels (+1 = ON spike, -1 = OFF spike, 0 = nothing), row 100 the time of each
    column in **seconds**. Every non-zero taxel entry is one event, in column order (then taxel
    order within a column), with ``x = taxel % 10``, ``y = taxel // 10`` and
    ``t = int(seconds * 1e6)`` **truncated** toward zero (the convention of Tonic's ST-MNIST
    reader; rounding would change about 44 % of the timestamps of the published files).
    Sensor ``(10, 10, 2)``.
ASL-DVS and other column files
    Four vectors named as in :data:`eventkit.io.numpy_files.FIELD_ALIASES` (ASL-DVS uses
    ``ts, x, y, pol``), row or column vectors of any numeric class. Values are returned
    **raw**: ``ts`` is already in microseconds in ASL-DVS and is not rescaled, and no axis is
    flipped (SpikingJelly rotates ASL-DVS by 180 degrees, Tonic flips only y: such flips are
    dataset rules applied later, not decoding). The value rules of
    :func:`~eventkit.io.numpy_files.columns_to_events` apply (integral doubles are accepted).
    Files whose variables are exactly ``ts, x, y, pol`` report the ASL-DVS sensor
    ``(240, 180, 2)``.

Hostile files: ASL-DVS files (variables exactly ``ts, x, y, pol``) declare the 240 x 180
sensor; an event outside it is refused (DecodeError naming the event index and value), never
returned. Declared variable shapes are checked against the file size before anything is
loaded (see :func:`eventkit.io.read_events` for the limits and how to raise them).

MAT versions 4 and 5/7 are read with :func:`scipy.io.loadmat`. MAT 7.3 files are HDF5
containers (``MATLAB 7.3 MAT-file`` text in a 512-byte user block); they are read with h5py,
transposing MATLAB's column-major arrays, with the same layouts.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import DecodeError
from ..events import EVENT_DTYPE, EventArray, SensorSize
from ._common import check_declared, check_file, check_sensor
from ._format import EventFormat
from .numpy_files import _ALIAS_TO_FIELD, columns_to_events, match_fields

__all__ = ["FORMAT", "DECODER_VERSION", "read_matlab"]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_matlab` returns for some file (it keys cached stores)."""

STMNIST_TAXELS = 100
STMNIST_SENSOR = SensorSize(10, 10, 2)
ASLDVS_SENSOR = SensorSize(240, 180, 2)
_ASLDVS_NAMES = {"ts", "x", "y", "pol"}

_V5_MAGIC = b"MATLAB 5.0 MAT-file"
_V73_MAGIC = b"MATLAB 7.3 MAT-file"


def _is_v73(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(520)
    return head.startswith(_V73_MAGIC) or head[512:520] == b"\x89HDF\r\n\x1a\n"


def _variable_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """Names and declared shapes of the variables stored in the file (without loading their data)."""
    if _is_v73(path):
        import h5py

        from .hdf5 import check_self_contained

        with h5py.File(path, "r") as f:
            check_self_contained(path, f)  # never read another file's bytes through a link
            return {k: tuple(getattr(f[k], "shape", None) or ()) for k in f.keys() if not k.startswith("#")}
    import scipy.io

    return {name: tuple(shape) for name, shape, _cls in scipy.io.whosmat(path)}


def _variable_names(path: str) -> list[str]:
    """Names of the variables stored in the file (without loading their data)."""
    return list(_variable_shapes(path))


def _check_shapes(path: str, shapes: dict[str, tuple[int, ...]], wanted: list[str]) -> None:
    """Bound what the wanted variables declare (8 bytes per element, the widest MATLAB class)."""
    events = nbytes = 0
    for name in wanted:
        count = 1
        for d in shapes.get(name, ()):
            count *= int(d)
        events, nbytes = max(events, count), nbytes + 8 * count
    check_declared(path, events, nbytes, f"variables {wanted}")


def _load(path: str, names: list[str]) -> dict[str, np.ndarray]:
    """Load the named variables as MATLAB-shaped arrays (2-D at least)."""
    if _is_v73(path):
        import h5py

        from .hdf5 import check_self_contained

        with h5py.File(path, "r") as f:
            check_self_contained(path, f)
            # HDF5 stores MATLAB's column-major arrays with their dimensions reversed.
            return {n: np.asarray(f[n][()]).T for n in names}
    import scipy.io

    return scipy.io.loadmat(path, variable_names=names, squeeze_me=False, struct_as_record=True)


def _read_vars(path: str) -> tuple[list[str], dict[str, np.ndarray]]:
    try:
        shapes = _variable_shapes(path)
        names = list(shapes)
        if "spiketrain" in names:
            wanted = ["spiketrain"]
        else:
            wanted = [n for n in names if n.lower() in _ALIAS_TO_FIELD]
        _check_shapes(path, shapes, wanted)  # before loadmat allocates what the headers declare
        data = _load(path, wanted) if wanted else {}
    except DecodeError:
        raise
    except Exception as err:  # scipy/h5py/zlib raise many types on corrupt or truncated files
        raise DecodeError(path, f"not a readable MATLAB .mat file ({type(err).__name__}: {err})") from None
    missing = [n for n in wanted if n not in data]
    if missing:
        raise DecodeError(path, f"variable(s) {missing} are listed in the file but could not be read (file truncated?)")
    return names, data


def _vector(path: str, name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise DecodeError(path, f"variable {name!r} has MATLAB class {arr.dtype}; expected a numeric vector")
    if arr.ndim > 1 and sum(d > 1 for d in arr.shape) > 1:
        raise DecodeError(path, f"variable {name!r} has shape {arr.shape}; expected a row or column vector")
    return arr.reshape(-1)


def _stmnist(path: str, spiketrain: Any) -> EventArray:
    st = np.asarray(spiketrain)
    if st.ndim != 2 or st.shape[0] != STMNIST_TAXELS + 1 or st.dtype.kind not in "iuf":
        raise DecodeError(
            path,
            f"'spiketrain' has shape {st.shape} and class {st.dtype}; ST-MNIST expects a numeric "
            f"{STMNIST_TAXELS + 1} x N matrix (100 taxel rows + 1 time row in seconds)",
        )
    spikes = st[:STMNIST_TAXELS].T  # (N, 100): nonzero() walks columns (time) first, as Tonic did
    seconds = st[STMNIST_TAXELS].astype(np.float64)
    col, taxel = np.nonzero(spikes)
    values = spikes[col, taxel]
    bad = (values != 1) & (values != -1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DecodeError(
            path,
            f"'spiketrain' holds {values[i].item()!r} at taxel {taxel[i]}, column {col[i]}; "
            "taxel entries must be +1 (ON), -1 (OFF) or 0",
        )
    ts = seconds[col] * 1e6
    bad = ~np.isfinite(ts) | (np.abs(ts) >= 2.0**63)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DecodeError(
            path, f"'spiketrain' time row holds {seconds[col[i]].item()!r} s at column {col[i]}; expected finite seconds"
        )
    out = np.empty(col.shape[0], dtype=EVENT_DTYPE)
    out["t"] = ts.astype(np.int64)  # truncation toward zero, as int(ts * 1e6)
    out["x"] = taxel % 10
    out["y"] = taxel // 10
    out["p"] = values > 0
    return out


def read_matlab(path: str | os.PathLike[str]) -> EventArray:
    """Decode a MATLAB ``.mat`` event file (ST-MNIST ``spiketrain`` or ASL-DVS-style columns).

    See the module docstring for the layouts, units and conventions.

    Parameters
    ----------
    path
        The ``.mat`` file (MAT v4, v5/v7 or v7.3).

    Returns
    -------
    EventArray
        Events; t in microseconds, coordinates as stored (no flips).

    Raises
    ------
    DecodeError
        Corrupt or truncated file, no known layout, or a value that does not fit (the
        message names the variable).
    FileNotFoundError
        If the file does not exist.
    """
    p = check_file(path)
    names, data = _read_vars(p)
    if "spiketrain" in data:
        return _stmnist(p, data["spiketrain"])
    if not data:
        raise DecodeError(
            p,
            f"no event variables found (the file holds {names or 'no variables'}); expected ST-MNIST "
            "'spiketrain' or vectors t/ts, x, y, p/pol",
        )
    found = match_fields(p, list(data), "variables")
    cols = {f: _vector(p, name, data[name]) for f, name in found.items()}
    ev = columns_to_events(p, cols, dict(found))
    if set(names) == _ASLDVS_NAMES:  # the layout declares the DAVIS240 sensor: hold it to that
        w, h, pols = ASLDVS_SENSOR
        check_sensor(p, ev, w, h, pols, "the ASL-DVS layout (variables ts, x, y, pol)")
    return ev


def _sensor(path: str | os.PathLike[str]) -> SensorSize | None:
    """ST-MNIST -> (10, 10, 2); variables exactly ts, x, y, pol (ASL-DVS) -> (240, 180, 2)."""
    try:
        names = set(_variable_names(os.fspath(path)))
    except Exception:  # unreadable file: no geometry to report (read() raises the real error)
        return None
    if "spiketrain" in names:
        return STMNIST_SENSOR
    if names == _ASLDVS_NAMES:
        return ASLDVS_SENSOR
    return None


def _sniff(head: bytes) -> bool:
    return head.startswith(_V5_MAGIC) or head.startswith(_V73_MAGIC)


FORMAT = EventFormat(
    name="mat",
    title="MATLAB .mat (ASL-DVS, ST-MNIST)",
    read=read_matlab,
    version=DECODER_VERSION,
    suffixes=(".mat",),
    sniff=_sniff,
    sensor=_sensor,
)
