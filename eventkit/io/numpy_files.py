"""NumPy event files: structured ``.npy`` arrays and ``.npz`` archives of ``t, x, y, p`` arrays.

What is accepted
----------------
``.npy`` (:func:`read_npy`)
    A 1-D *structured* array with one field per event column, in any order and any integer
    width: e.g. expelliarmus / eventkit ``[t<i8, x<i2, y<i2, p u1]``, Tonic
    ``[x<i2, y<i2, t<i8, p ?]``, DVS-Lip ``[t<i4, x i1, y i1, p i1]``, TUMVIE ``[p, t, x, y]``.
    Large files are memory-mapped, so the decode needs little more memory than its output.
    A plain 2-D ``(N, 4)`` array is refused: its column order (and Tonic's DVSGesture ms time
    column) is a dataset convention, applied by the dataset layer, not guessed here.
``.npz`` (:func:`read_npz`)
    SpikingJelly's event cache (``np.savez[_compressed](t=..., x=..., y=..., p=...)``, any
    integer dtypes), or an archive holding exactly one structured array as above.

Field names (matched case-insensitively; two names for one field is an error):

=====  =========================================================
field  accepted names
=====  =========================================================
t      ``t``, ``ts``, ``timestamp``, ``timestamps``
x      ``x``
y      ``y``
p      ``p``, ``pol``, ``polarity``, ``on``
=====  =========================================================

Normalisation rules (shared with :mod:`eventkit.io.hdf5` and :mod:`eventkit.io.matlab`, via
:func:`columns_to_events`):

* **t** must be integer microseconds. Integer dtypes are taken as is (uint64 values above the
  int64 range are refused). Float columns are accepted only when every value is finite and
  integral (e.g. MATLAB doubles holding whole microseconds); fractional values are refused,
  because the unit (seconds? milliseconds?) cannot be known: convert to µs first.
* **x, y** must be integers (or integral floats) in ``[0, 65535]``; negative values are refused.
* **p** may be bool, ``{0, 1}`` or ``{-1, +1}`` (-1 -> 0 = OFF, +1 -> 1 = ON). A column that
  mixes -1, 0 and 1 is ambiguous and refused, as is any other value.
* All four columns must be 1-D and of equal length.

Anything else raises :class:`~eventkit.errors.DecodeError` naming the file and the field.
Files are always loaded with ``allow_pickle=False``: eventkit never unpickles a user's file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import DecodeError
from ..events import EVENT_DTYPE, EventArray
from ._common import check_declared, check_file, library_error
from ._format import EventFormat

__all__ = [
    "DECODER_VERSION",
    "FIELD_ALIASES",
    "NPY_FORMAT",
    "NPZ_FORMAT",
    "columns_to_events",
    "match_fields",
    "npz_check_members",
    "npz_member",
    "read_npy",
    "read_npz",
    "structured_to_events",
]

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "t": ("t", "ts", "timestamp", "timestamps"),
    "x": ("x",),
    "y": ("y",),
    "p": ("p", "pol", "polarity", "on"),
}
"""Accepted source names for each event field (compared lower-case)."""

_ALIAS_TO_FIELD = {alias: field for field, names in FIELD_ALIASES.items() for alias in names}

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_npy` or :func:`read_npz` returns for some file (it keys
cached stores)."""
# Columns are converted in chunks of this many events so temporaries stay small on huge files.
CHUNK_EVENTS = 1 << 22

_INT64_MAX = np.iinfo(np.int64).max
_UINT16_MAX = np.iinfo(np.uint16).max


# ----------------------------------------------------------------------------- shared helpers


def match_fields(path: str, names: list[str] | tuple[str, ...], what: str = "fields") -> dict[str, str]:
    """Map each event field ``t, x, y, p`` to the source name that holds it.

    Parameters
    ----------
    path
        The file (for error messages).
    names
        The names available in the source (structured fields, archive members, datasets...).
    what
        How to call those names in messages (``"fields"``, ``"arrays"``, ``"variables"``...).

    Returns
    -------
    dict
        ``{"t": source_name, "x": ..., "y": ..., "p": ...}``.

    Raises
    ------
    DecodeError
        If a field is missing or two source names map to the same field.
    """
    found: dict[str, str] = {}
    for name in names:
        field = _ALIAS_TO_FIELD.get(str(name).lower())
        if field is None:
            continue
        if field in found:
            raise DecodeError(
                path,
                f"{what} {found[field]!r} and {name!r} both look like event field {field!r}; "
                f"keep one of them (accepted names for {field!r}: {list(FIELD_ALIASES[field])})",
            )
        found[field] = name
    missing = [f for f in "txyp" if f not in found]
    if missing:
        hint = "; ".join(f"{f!r}: {list(FIELD_ALIASES[f])}" for f in missing)
        raise DecodeError(
            path,
            f"missing event field(s) {missing}; the file has {what} {list(names)}; "
            f"accepted names are {hint}",
        )
    return found


def _bad_index(mask: np.ndarray, start: int) -> int:
    return start + int(np.flatnonzero(mask)[0])


def _check_numeric(path: str, field: str, src: str, block: np.ndarray, start: int) -> None:
    """Refuse non-numeric columns, and NaN/inf or fractional floats."""
    kind = block.dtype.kind
    if kind in "iu" or (kind == "b" and field == "p"):
        return
    if kind == "b":
        raise DecodeError(path, f"field {field!r} (stored as {src!r}) is boolean; expected integers")
    if kind != "f":
        raise DecodeError(
            path,
            f"field {field!r} (stored as {src!r}) has dtype {block.dtype}; expected an integer column",
        )
    finite = np.isfinite(block)
    if not finite.all():
        i = _bad_index(~finite, start)
        raise DecodeError(path, f"field {field!r} (stored as {src!r}) holds {block[i - start]} at event {i}")
    frac = block != np.trunc(block)
    if frac.any():
        i = _bad_index(frac, start)
        unit = "microseconds" if field == "t" else "values"
        raise DecodeError(
            path,
            f"field {field!r} (stored as {src!r}) holds the non-integer value {block[i - start].item()!r} at event {i}; "
            f"eventkit expects integer {unit}"
            + (" (convert seconds or milliseconds to microseconds first)" if field == "t" else ""),
        )


def _convert_block(path: str, field: str, src: str, block: np.ndarray, start: int, signed_p: bool) -> np.ndarray:
    """Check one slice of one column and return it ready to store in the event field."""
    _check_numeric(path, field, src, block, start)
    if block.size == 0:
        return block
    if field == "p":
        if block.dtype.kind == "b":
            return block
        if signed_p:
            zero = block == 0
            if zero.any():
                i = _bad_index(zero, start)
                raise DecodeError(
                    path,
                    f"field 'p' (stored as {src!r}) mixes -1, 0 and 1 (0 at event {i}); polarity must be "
                    "0/1 or -1/+1, not both",
                )
            return block > 0
        return block
    if field == "t":
        if block.dtype.kind == "u" and block.dtype.itemsize == 8:
            big = block > _INT64_MAX
            if big.any():
                i = _bad_index(big, start)
                raise DecodeError(path, f"field 't' (stored as {src!r}) = {block[i - start]} at event {i} overflows int64")
        elif block.dtype.kind == "f":
            big = np.abs(block) >= 2.0**63
            if big.any():
                i = _bad_index(big, start)
                raise DecodeError(path, f"field 't' (stored as {src!r}) = {block[i - start]} at event {i} overflows int64")
        return block
    # x / y
    neg = block < 0
    if neg.any():
        i = _bad_index(neg, start)
        raise DecodeError(
            path,
            f"field {field!r} (stored as {src!r}) is negative ({block[i - start]}) at event {i}; "
            "coordinates must be >= 0",
        )
    big = block > _UINT16_MAX
    if big.any():
        i = _bad_index(big, start)
        raise DecodeError(
            path, f"field {field!r} (stored as {src!r}) = {block[i - start]} at event {i} does not fit uint16 (max 65535)"
        )
    return block


def _polarity_mode(path: str, src: str, col: Any, n: int) -> bool:
    """Scan the p column: return True for -1/+1 polarity, False for 0/1; refuse anything else."""
    if n == 0:
        return False
    lo = hi = None
    for start in range(0, n, CHUNK_EVENTS):
        block = np.asarray(col[start : start + CHUNK_EVENTS])
        _check_numeric(path, "p", src, block, start)
        if block.dtype.kind == "b":
            return False
        bmin, bmax = block.min(), block.max()
        lo = bmin if lo is None else min(lo, bmin)
        hi = bmax if hi is None else max(hi, bmax)
    if lo >= 0 and hi <= 1:
        return False
    if lo == -1 and hi <= 1:
        return True
    raise DecodeError(
        path,
        f"field 'p' (stored as {src!r}) holds values in [{lo}, {hi}]; polarity must be 0/1, -1/+1 or bool",
    )


def columns_to_events(path: str, columns: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> EventArray:
    """Build an event array from four columns, checking and normalising every value.

    Parameters
    ----------
    path
        The file the columns come from (for error messages).
    columns
        ``{"t": col, "x": col, "y": col, "p": col}``; each column is a 1-D array-like that
        supports slicing (NumPy arrays, memory maps, h5py datasets).
    sources
        The names the columns have in the file, for messages (defaults to the field names).

    Returns
    -------
    EventArray
        A new :data:`~eventkit.events.EVENT_DTYPE` array, in the columns' order.

    Raises
    ------
    DecodeError
        Naming the field, when a column is not 1-D, lengths differ, or a value does not fit
        (see the module docstring for the rules).
    """
    sources = dict(sources or {})
    shapes = {}
    for field in "txyp":
        col = columns[field]
        shape = tuple(getattr(col, "shape", np.shape(col)))
        src = sources.setdefault(field, field)
        if len(shape) != 1:
            raise DecodeError(
                path, f"field {field!r} (stored as {src!r}) has shape {shape}; expected a 1-D column of events"
            )
        shapes[field] = shape[0]
    if len(set(shapes.values())) != 1:
        raise DecodeError(
            path,
            "event columns have unequal lengths "
            + ", ".join(f"{f} ({sources[f]!r}): {n}" for f, n in shapes.items())
            + "; every column must hold one value per event",
        )
    n = shapes["t"]
    signed_p = _polarity_mode(path, sources["p"], columns["p"], n)
    out = np.empty(n, dtype=EVENT_DTYPE)
    for field in "txyp":
        col, src, dest = columns[field], sources[field], out[field]
        for start in range(0, n, CHUNK_EVENTS):
            block = np.asarray(col[start : start + CHUNK_EVENTS])
            dest[start : start + block.shape[0]] = _convert_block(path, field, src, block, start, signed_p)
    return out


def structured_to_events(path: str, arr: np.ndarray, what: str = "array") -> EventArray:
    """Decode a 1-D structured array whose fields are named as in :data:`FIELD_ALIASES`.

    Raises
    ------
    DecodeError
        If ``arr`` is not a 1-D structured array, a field is missing or a value does not fit.
    """
    names = arr.dtype.names
    if not names:
        shape = arr.shape
        raise DecodeError(
            path,
            f"the {what} is a plain {arr.dtype} array of shape {shape}, not a structured array with named "
            "fields t, x, y, p; save it with named fields (e.g. np.save(path, events) with dtype "
            "[('t','<i8'),('x','<u2'),('y','<u2'),('p','u1')]) or as an .npz of t, x, y, p arrays",
        )
    if arr.ndim != 1:
        raise DecodeError(path, f"the structured {what} has shape {arr.shape}; expected a 1-D array of events")
    found = match_fields(path, list(names), "fields")
    for field, name in found.items():
        sub = arr.dtype.fields[name][0]
        if sub.shape:
            raise DecodeError(
                path, f"field {field!r} (stored as {name!r}) is a sub-array {sub}; expected a scalar per event"
            )
    return columns_to_events(path, {f: arr[name] for f, name in found.items()}, dict(found))


# ------------------------------------------------------------------------------------- .npy


def _count(shape: tuple[int, ...]) -> int:
    """Elements of ``shape``, in Python integers (no int64 overflow on hostile shapes)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _npy_header(path: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """Parse the .npy header: ``(dtype, shape, data_offset)``; DecodeError on bad bytes."""
    try:
        with open(path, "rb") as f:
            major, _minor = np.lib.format.read_magic(f)
            if major == 1:
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif major in (2, 3):
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:  # pragma: no cover - read_magic accepts any major byte
                raise ValueError(f"unsupported .npy format version {major}")
            offset = f.tell()
    except DecodeError:
        raise
    except Exception as err:  # numpy raises ValueError/EOFError/SyntaxError/TokenError on bad headers
        raise library_error(path, err, "not a readable NumPy .npy file (bad header)", offset=0) from None
    if any(int(d) < 0 for d in shape):
        raise DecodeError(path, f"the .npy header declares the impossible shape {tuple(shape)}", offset=0)
    if dtype.hasobject:
        raise DecodeError(
            path,
            "the .npy holds Python objects, which would need unpickling; eventkit never unpickles "
            "files: save the events as a structured array of numbers",
            offset=0,
        )
    return dtype, tuple(shape), offset


def _load_npy(path: str) -> np.ndarray:
    dtype, shape, offset = _npy_header(path)
    count = _count(shape)
    # the data must be in the file (checked below), but zero-size items could declare any count
    check_declared(path, shape[0] if len(shape) == 1 else count, count * dtype.itemsize, "the .npy header")
    need = offset + count * dtype.itemsize
    size = os.path.getsize(path)
    if size < need:
        raise DecodeError(
            path,
            f"truncated .npy: the header declares shape {shape} of {dtype} ({need - offset} data bytes) "
            f"but the file ends after {size - offset} data bytes",
            offset=size,
        )
    try:
        if count == 0 or dtype.itemsize == 0:
            return np.load(path, allow_pickle=False)
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:
        raise DecodeError(path, f"cannot read the .npy array ({err})", offset=offset) from None


def read_npy(path: str | os.PathLike[str]) -> EventArray:
    """Decode a structured ``.npy`` array of events (fields t, x, y, p in any order and width).

    The file is memory-mapped; only the output is held in memory. See the module docstring
    for the accepted field names and the value rules. An ``.npz`` archive given here is
    decoded with :func:`read_npz`.

    Parameters
    ----------
    path
        The ``.npy`` file.

    Returns
    -------
    EventArray
        Events in file order, t in microseconds as stored.

    Raises
    ------
    DecodeError
        Truncated or unreadable file, not a structured array, missing field, or a value that
        does not fit (the message names the field and the event index).
    FileNotFoundError
        If the file does not exist.
    """
    p = check_file(path)
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":
        return read_npz(p)
    arr = _load_npy(p)
    ev = structured_to_events(p, arr, ".npy array")
    del arr  # release the memory map
    return ev


# ------------------------------------------------------------------------------------- .npz


def _zip_name(z: Any, key: str) -> str:
    names = z.zip.namelist()
    return key + ".npy" if key + ".npy" in names else key


def _member_offset(z: Any, key: str) -> int | None:
    try:
        return int(z.zip.getinfo(_zip_name(z, key)).header_offset)
    except Exception:  # the central directory does not name it: no offset to report
        return None


def npz_check_members(path: str, z: Any, keys: list[str], events_of=None) -> None:
    """Refuse an archive whose members declare far more data than the file holds (zip bombs).

    Reads only the members' ``.npy`` headers (a few hundred bytes each), before any array is
    allocated. ``events_of(shape) -> int`` says how many events a member's shape stands for
    (default: the length of a 1-D array, else the number of elements).

    Raises
    ------
    DecodeError
        A member header is unreadable, or the declared sizes exceed the limits of
        :func:`eventkit.io._common.check_declared`.
    """
    events = nbytes = 0
    for key in keys:
        name, offset = _zip_name(z, key), _member_offset(z, key)
        try:
            info = z.zip.getinfo(name)
            with z.zip.open(name) as fh:
                if fh.read(6) != b"\x93NUMPY":  # not an array: refused later, bounded by the zip's size
                    nbytes += int(info.file_size)
                    continue
                fh.seek(0)
                major, _ = np.lib.format.read_magic(fh)
                reader = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _fortran, dtype = reader(fh)
        except Exception as err:  # zipfile / zlib / numpy raise many types on bad bytes
            raise library_error(path, err, f"member {key!r} of the .npz is corrupt", offset) from None
        if any(int(d) < 0 for d in shape):
            raise DecodeError(path, f"member {key!r} declares the impossible shape {tuple(shape)}", offset)
        count = _count(shape)
        events = max(events, events_of(shape) if events_of else (int(shape[0]) if len(shape) == 1 else count))
        nbytes += max(int(info.file_size), count * dtype.itemsize)
    check_declared(path, events, nbytes, f"the .npz members {keys}")


def npz_member(path: str, z: Any, key: str) -> np.ndarray:
    """Load one member of an open ``np.load`` archive; every failure is a DecodeError with its offset."""
    offset = _member_offset(z, key)
    try:
        value = z[key]
    except DecodeError:
        raise
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise DecodeError(
                path,
                f"member {key!r} holds Python objects, which would need unpickling; eventkit never "
                "unpickles files: store numeric arrays",
                offset,
            ) from None
        raise library_error(path, err, f"member {key!r} of the .npz is corrupt", offset) from None
    except Exception as err:  # zipfile / zlib / numpy raise many types on bad bytes
        raise library_error(path, err, f"member {key!r} of the .npz is corrupt", offset) from None
    if not isinstance(value, np.ndarray):
        raise DecodeError(path, f"member {key!r} of the archive is not a .npy array", offset)
    return value


_member = npz_member


def read_npz(path: str | os.PathLike[str]) -> EventArray:
    """Decode an ``.npz`` archive of events.

    Two layouts are accepted: SpikingJelly's cache, with one 1-D array per field (``t, x, y,
    p`` or the aliases in :data:`FIELD_ALIASES`; other members are ignored), and an archive
    holding exactly one structured array (decoded as by :func:`read_npy`). SpikingJelly's
    *frame* caches (a ``frames`` array) are not events and are refused.

    Parameters
    ----------
    path
        The ``.npz`` file (compressed or not).

    Returns
    -------
    EventArray
        Events in the arrays' order, t in microseconds as stored.

    Raises
    ------
    DecodeError
        Corrupt or truncated archive, pickled members, missing field, unequal lengths, or a
        value that does not fit (the message names the field).
    FileNotFoundError
        If the file does not exist.
    """
    p = check_file(path)
    with open(p, "rb") as fh:  # our own handle: np.load leaks its handle when the zip is corrupt
        magic = fh.read(6)
        if magic == b"\x93NUMPY":  # a .npy file with an .npz name
            return structured_to_events(p, _load_npy(p), ".npy array")
        if not magic.startswith(b"PK\x03\x04"):
            raise DecodeError(
                p, f"not a .npz archive (starts with {magic!r}, expected the zip signature PK\\x03\\x04)", offset=0
            )
        fh.seek(0)
        try:
            z = np.load(fh, allow_pickle=False)
        except Exception as err:
            raise DecodeError(p, f"not a readable .npz archive ({type(err).__name__}: {err})", offset=0) from None
        try:
            return _npz_events(p, z)
        finally:
            z.close()


def _npz_events(p: str, z: Any) -> EventArray:
    keys = list(z.files)
    fields = {_ALIAS_TO_FIELD.get(k.lower()) for k in keys} - {None}
    if fields:
        found = match_fields(p, keys, "arrays")
        npz_check_members(p, z, list(found.values()))
        cols = {f: _member(p, z, name) for f, name in found.items()}
        return columns_to_events(p, cols, dict(found))
    if len(keys) == 1:
        npz_check_members(p, z, keys)
        arr = _member(p, z, keys[0])
        if arr.dtype.names:
            return structured_to_events(p, arr, f"array {keys[0]!r}")
    if "frames" in keys:
        raise DecodeError(p, "this is a SpikingJelly frames file (array 'frames'), not events; load it with numpy instead")
    raise DecodeError(
        p,
        f"the archive holds arrays {keys}, not event arrays t, x, y, p (or one structured events array); "
        "save events with np.savez(path, t=t, x=x, y=y, p=p)",
    )


def _sniff_npy(head: bytes) -> bool:
    return head.startswith(b"\x93NUMPY")


def _sniff_npz(head: bytes) -> bool:
    """A zip whose first member is a ``.npy`` file (what ``np.savez`` writes).

    Zip magic alone would also match ordinary archives (e.g. a downloaded dataset ``.zip``),
    so the name of the first local file header must end with ``.npy``.
    """
    if len(head) < 30 or not head.startswith(b"PK\x03\x04"):
        return False
    name_len = int.from_bytes(head[26:28], "little")
    return head[30 : 30 + name_len].endswith(b".npy")


NPY_FORMAT = EventFormat(
    name="npy",
    title="NumPy .npy (structured events)",
    read=read_npy,
    version=DECODER_VERSION,
    suffixes=(".npy",),
    sniff=_sniff_npy,
)
NPZ_FORMAT = EventFormat(
    name="npz",
    title="NumPy .npz (t, x, y, p arrays)",
    read=read_npz,
    version=DECODER_VERSION,
    suffixes=(".npz",),
    sniff=_sniff_npz,
)
