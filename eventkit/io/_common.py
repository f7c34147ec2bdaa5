"""Small helpers shared by the decoders: header scanning, output allocation and trimming, Numba
unaligned load/store helpers, a two-store event writer and the hostile-input guards.

The chunked-decoding loop of the streaming decoders is in :mod:`eventkit.io._chunked`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numba
import numpy as np

from ..errors import DecodeError, EventkitError
from ..events import EVENT_DTYPE, EventArray

def check_file(path: str | os.PathLike[str]) -> str:
    """Return ``path`` as a string, raising FileNotFoundError / IsADirectoryError with a clear message."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p}: no such file")
    if os.path.isdir(p):
        raise IsADirectoryError(f"{p}: is a directory, expected an event recording")
    return p


def header_end(path: str, prefix: bytes, *, limit: int = 1 << 24) -> tuple[int, list[bytes]]:
    """Scan the text header made of lines that start with ``prefix``.

    Returns the byte offset of the first byte after the header and the header lines (with
    their line endings stripped). Stops at the first line not starting with ``prefix``.
    """
    lines: list[bytes] = []
    pos = 0
    with open(path, "rb") as f:
        while pos < limit:
            first = f.read(len(prefix))
            if first != prefix:
                break
            rest = f.readline()
            line = first + rest
            if not rest.endswith(b"\n"):
                # header line cut by the end of the file: everything is header
                lines.append(line.rstrip(b"\r\n"))
                pos += len(line)
                break
            lines.append(line.rstrip(b"\r\n"))
            pos += len(line)
        else:
            raise DecodeError(path, f"text header longer than {limit} bytes", offset=pos)
    return pos, lines


def header_fields(lines: list[bytes]) -> dict[str, str]:
    """``{keyword: value}`` of ``"% keyword value"`` header lines (``.raw``, ``.dat``): the
    keyword lower-cased, the first byte (``%``) dropped, the last occurrence winning."""
    fields: dict[str, str] = {}
    for line in lines:
        text = line[1:].decode("latin-1").strip()
        if not text:
            continue
        key, _, value = text.partition(" ")
        fields[key.lower()] = value.strip()
    return fields


def trim(out: EventArray, n: int) -> EventArray:
    """Return the first ``n`` events of a pre-allocated output, copying only when it saves memory."""
    if n == out.shape[0]:
        return out
    if n < out.shape[0] // 2:
        return out[:n].copy()
    return out[:n]


def alloc(n: int) -> EventArray:
    """Allocate an uninitialised output of ``n`` events."""
    return np.empty(int(n), dtype=EVENT_DTYPE)


# ------------------------------------------------------------------ Numba load helpers
# Unaligned 32-bit loads from a uint8 buffer, one machine instruction each (plus a byte swap for
# big-endian). Plain ``b[i] | b[i+1] << 8 | ...`` expressions are not merged into one load by
# LLVM once Numba adds its negative-index wraparound to every subscript.

from llvmlite import ir as _ir  # noqa: E402
from numba import types as _nbtypes  # noqa: E402
from numba.extending import intrinsic as _intrinsic  # noqa: E402


def _u32_load(builder, context, arrty, ary_val, idx, swap):
    ary = context.make_array(arrty)(context, builder, ary_val)
    ptr = builder.gep(ary.data, [idx])
    value = builder.load(builder.bitcast(ptr, _ir.IntType(32).as_pointer()), align=1)
    return builder.bswap(value) if swap else value


def _u32_intrinsic(swap: bool):
    def typer(typingctx, arr, idx):
        if not (isinstance(arr, _nbtypes.Array) and arr.dtype == _nbtypes.uint8 and arr.layout == "C"
                and isinstance(idx, _nbtypes.Integer)):
            return None
        sig = _nbtypes.uint32(arr, idx)

        def codegen(context, builder, signature, args):
            return _u32_load(builder, context, signature.args[0], args[0], args[1], swap)

        return sig, codegen

    return typer


# NOTE for editors: Numba's on-disk cache (cache=True) keys a kernel on its own source file only.
# After changing these helpers, delete eventkit/io/__pycache__/*.nbi and *.nbc, or decoders that
# inline them keep running the old compiled code. (A fresh checkout or install is unaffected.)


def _le_u32(typingctx, arr, idx):
    return _u32_intrinsic(False)(typingctx, arr, idx)


def _be_u32(typingctx, arr, idx):
    return _u32_intrinsic(True)(typingctx, arr, idx)


load_u32le = _intrinsic(_le_u32)
"""``load_u32le(buf, i)`` in Numba code: the little-endian uint32 at byte ``i`` of a C-contiguous
uint8 array (no bounds check: the caller guarantees ``i + 4 <= len(buf)``)."""

load_u32be = _intrinsic(_be_u32)
"""``load_u32be(buf, i)``: the big-endian uint32 at byte ``i`` (no bounds check)."""


def _st_u64(typingctx, arr, idx, value):
    if not (isinstance(arr, _nbtypes.Array) and arr.dtype == _nbtypes.uint8 and arr.layout == "C"
            and isinstance(idx, _nbtypes.Integer) and isinstance(value, _nbtypes.Integer)):
        return None
    sig = _nbtypes.void(arr, idx, value)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i64 = _ir.IntType(64)
        val = context.cast(builder, args[2], signature.args[2], _nbtypes.int64)
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i64.as_pointer())
        builder.store(val, ptr, align=1)
        return context.get_dummy_value()

    return sig, codegen


store_u64le = _intrinsic(_st_u64)
"""``store_u64le(buf, i, v)`` in Numba code: write ``v`` as a little-endian 64-bit integer at byte
``i`` of a C-contiguous uint8 array (no bounds check)."""


EVENT_ITEMSIZE = EVENT_DTYPE.itemsize  # 13: t int64 at 0, x uint16 at 8, y uint16 at 10, p uint8 at 12


def event_bytes(out: EventArray) -> np.ndarray:
    """The bytes of a C-contiguous :data:`EVENT_DTYPE` array, as a flat uint8 array (a view)."""
    return out.view(np.uint8).reshape(-1)


@numba.njit(inline="always", nogil=True, boundscheck=False)
def put_event(ob, n, t, x, y, p):
    """Write event ``n`` (``t`` >= 0, ``x``, ``y`` < 2**16, ``p`` < 2**8) into the bytes ``ob`` of an
    :data:`EVENT_DTYPE` array with two overlapping 8-byte stores: x, y, p into bytes 5..12 first,
    then ``t`` into bytes 0..7 (overwriting bytes 5..7 of the first store; stores of one thread
    land in program order)."""
    e = n * 13
    store_u64le(ob, e + 5, (np.int64(x) << 24) | (np.int64(y) << 40) | (np.int64(p) << 56))
    store_u64le(ob, e, t)


# ------------------------------------------------------------------ hostile-input guards
# Decoders read files other people made. Two guards make sure such a file can only ever end in a
# DecodeError naming it: a cap on the size a file may *declare* (checked before allocating), and
# a backstop that turns what the parsing libraries raise on bad bytes into DecodeError.

import contextlib  # noqa: E402
import contextvars  # noqa: E402
import struct  # noqa: E402
import tokenize  # noqa: E402
import zipfile  # noqa: E402
import zlib  # noqa: E402
from dataclasses import dataclass  # noqa: E402

DEFAULT_MAX_EXPAND_RATIO = 100.0
"""Default cap on decoded bytes per byte of file (``events * 13`` or the declared array bytes,
whichever is larger). Real recordings decode to 0.8-4 bytes per file byte (the shared samples,
compressed ``.npz`` included); deflate / HDF5 fill values / LZ4 / Zstandard can claim 1000+."""

MIN_DECLARED_BYTES = 64 << 20
"""Whatever its size, a file may always declare this much decoded data (5 M events)."""

ENV_MAX_DECODE_RATIO = "EVENTKIT_MAX_DECODE_RATIO"
ENV_MAX_EVENTS = "EVENTKIT_MAX_EVENTS"


@dataclass(frozen=True)
class DecodeLimits:
    """How much decoded data a file may declare.

    Attributes
    ----------
    max_expand_ratio
        Decoded bytes allowed per byte of file (above the :data:`MIN_DECLARED_BYTES` floor).
    max_events
        Absolute cap on the events of one file, or None for no absolute cap.
    """

    max_expand_ratio: float = DEFAULT_MAX_EXPAND_RATIO
    max_events: int | None = None


_LIMITS: contextvars.ContextVar[DecodeLimits | None] = contextvars.ContextVar("eventkit_decode_limits", default=None)


class DecodeLimitError(EventkitError, ValueError):
    """A decode limit (keyword or environment variable) that is not a positive number."""


def _env_number(name: str, cast):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = cast(raw)
    except ValueError:
        raise DecodeLimitError(f"environment variable {name}={raw!r} is not a number; unset it or give one") from None
    if not value > 0:
        raise DecodeLimitError(f"environment variable {name}={raw!r} must be > 0")
    return value


def current_limits() -> DecodeLimits:
    """The limits in force: those of :func:`decode_limits` if active, else the environment's.

    ``EVENTKIT_MAX_DECODE_RATIO`` (float) and ``EVENTKIT_MAX_EVENTS`` (int) raise or lower the
    defaults for a whole process, worker processes of a conversion included.
    """
    limits = _LIMITS.get()
    if limits is not None:
        return limits
    ratio = _env_number(ENV_MAX_DECODE_RATIO, float)
    events = _env_number(ENV_MAX_EVENTS, int)
    return DecodeLimits(DEFAULT_MAX_EXPAND_RATIO if ratio is None else ratio, events)


@contextlib.contextmanager
def decode_limits(max_events: int | None = None, max_expand_ratio: float | None = None) -> Iterator[DecodeLimits]:
    """Decode with other limits inside the ``with`` block (None keeps the value in force)."""
    base = current_limits()
    for name, v in (("max_events", max_events), ("max_expand_ratio", max_expand_ratio)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise DecodeLimitError(f"{name}={v!r}: expected a positive number")
    limits = DecodeLimits(
        base.max_expand_ratio if max_expand_ratio is None else float(max_expand_ratio),
        base.max_events if max_events is None else int(max_events),
    )
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


def allowed_bytes(path: str) -> int:
    """The decoded bytes ``path`` may declare under the limits in force (see :func:`check_declared`)."""
    return int(max(MIN_DECLARED_BYTES, current_limits().max_expand_ratio * os.path.getsize(path)))


def check_declared(path: str, events: int, nbytes: int = 0, what: str = "the file") -> None:
    """Refuse a file whose declared sizes would decode to far more data than it holds.

    Call it with the sizes a header declares, *before* allocating for them.

    Parameters
    ----------
    path
        The file (its size is the reference).
    events
        The number of events (or items) the file declares.
    nbytes
        The bytes of the arrays the file declares, when larger than ``events * 13``.
    what
        Where the sizes are declared, for the message (e.g. ``"member 't.npy'"``).

    Raises
    ------
    DecodeError
        Naming the declared count, the file size and how to raise the limit.
    """
    limits = current_limits()
    events, nbytes = int(events), int(nbytes)
    size = os.path.getsize(path)
    declared = max(events * EVENT_ITEMSIZE, nbytes)
    allowed = max(MIN_DECLARED_BYTES, limits.max_expand_ratio * size)
    how = (
        f"if the file is genuine, raise the limit: read_events(..., max_events=..., max_expand_ratio=...) or "
        f"the environment variables {ENV_MAX_EVENTS} / {ENV_MAX_DECODE_RATIO}"
    )
    if limits.max_events is not None and events > limits.max_events:
        raise DecodeError(path, f"{what}: declared {events} events, more than the limit of {limits.max_events}; {how}")
    if declared > allowed:
        raise DecodeError(
            path,
            f"{what}: declared {events} events ({declared} decoded bytes) in a file of {size} bytes, "
            f"{declared / max(size, 1):.0f} times its size (limit {limits.max_expand_ratio:g}x, or "
            f"{MIN_DECLARED_BYTES >> 20} MiB for small files): a damaged or hostile file (a decompression bomb); "
            + how,
        )


# What parsing libraries raise on bad bytes. TypeError / AttributeError / NameError are left out
# on purpose: from our own code they are bugs and must stay visible.
LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    zlib.error,
    zipfile.BadZipFile,
    struct.error,
    tokenize.TokenError,
    SyntaxError,  # numpy's .npy header parser, xml.etree's ParseError
    KeyError,
    IndexError,
    ValueError,  # UnicodeDecodeError, json.JSONDecodeError
    EOFError,
    OverflowError,
    MemoryError,
    RuntimeError,  # h5py, lz4; RecursionError
    OSError,
)
# OS errors that are about the file system, not the bytes: not a decode failure, keep them.
_FS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def library_error(
    path: str, err: BaseException, what: str = "corrupt or truncated file", offset: int | None = None
) -> DecodeError:
    """A DecodeError for an exception a library raised on the bytes of ``path``."""
    detail = str(err).strip() or "no detail"
    kind = type(err)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return DecodeError(path, f"{what} ({name}: {detail})", offset)


@contextlib.contextmanager
def decode_guard(path: str, what: str = "corrupt or truncated file") -> Iterator[None]:
    """Backstop: turn :data:`LIBRARY_ERRORS` raised inside the block into one DecodeError naming ``path``.

    Our own errors (``EventkitError``) and file-system errors pass through unchanged.
    """
    from ..errors import EventkitError

    try:
        yield
    except (EventkitError, *_FS_ERRORS):
        raise
    except LIBRARY_ERRORS as err:
        raise library_error(path, err, what) from err


def check_sensor(path: str, events: EventArray, width: int, height: int, polarities: int, declared_by: str) -> None:
    """Refuse events outside the sensor a file declares: never return them silently.

    Raises
    ------
    DecodeError
        Naming the first offending event index, its value and the declared sensor.
    """
    for field, limit in (("x", width), ("y", height), ("p", polarities)):
        col = events[field]
        bad = col >= limit
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DecodeError(
                path,
                f"event {i} has {field} = {int(col[i])}, outside the {width} x {height} sensor "
                f"({polarities} polarities) that {declared_by} declares ({field} must be < {limit})",
            )
