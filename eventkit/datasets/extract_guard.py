"""Guards for archive extraction: expansion limits and one clean error per failure.

An archive's headers say how big its members are; a zip bomb says "small" or "huge" as it likes.
:class:`ExpandLimits` is checked twice: from the headers **before** anything is written
(:func:`check_expansion`), and while streaming, where :func:`copy_member` counts the bytes
actually produced and stops as soon as a member exceeds what its header declared (so the
header checks bound what is written). Defaults pass every real dataset (ES-ImageNet, the
largest, expands to ~100 GB at a ratio below 2) and stop bombs; raise them with
``EVENTKIT_MAX_EXPAND_BYTES`` / ``EVENTKIT_MAX_EXPAND_RATIO``, the ``limits`` argument of
:func:`eventkit.datasets.archives.extract`, or ``eventkit download --max-expand-bytes/--max-expand-ratio``.
"""

from __future__ import annotations

import contextlib
import errno
import lzma
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import ArchiveError, ArchiveTooLargeError, DiskWriteError, EventkitError, OptionError

__all__ = ["ExpandLimits", "check_expansion", "copy_member", "reading", "writing", "parse_size"]

ENV_BYTES = "EVENTKIT_MAX_EXPAND_BYTES"
ENV_RATIO = "EVENTKIT_MAX_EXPAND_RATIO"
_CHUNK = 1 << 20
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
# Errors that reading a damaged zip/tar/gz/bz2/xz stream can raise (bz2 raises OSError)
READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError,
               NotImplementedError, RuntimeError)


def parse_size(text: str | int) -> int:
    """``"1T"``, ``"500G"``, ``"2048"`` -> bytes (binary units)."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)i?B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise OptionError(f"{text!r} is not a size (examples: 2048, 500G, 2T)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def _fmt(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


@dataclass(frozen=True)
class ExpandLimits:
    """How far an archive may expand.

    Parameters
    ----------
    max_bytes
        Most bytes all members of one archive may expand to (default 1 TiB).
    max_ratio
        Most uncompressed/compressed ratio, per member where the format records compressed sizes
        (zip) and for the archive as a whole (default 100; event data compresses far less).
    ratio_floor
        Members (and archives) expanding to less than this are never refused for their ratio:
        a few MB of zeros cannot hurt (default 16 MiB).
    """

    max_bytes: int = 1 << 40
    max_ratio: float = 100.0
    ratio_floor: int = 16 << 20

    @classmethod
    def resolve(cls, max_bytes: int | str | None = None, max_ratio: float | str | None = None) -> "ExpandLimits":
        """Explicit values first, then the environment, else defaults."""
        b = max_bytes if max_bytes is not None else os.environ.get(ENV_BYTES) or None
        r = max_ratio if max_ratio is not None else os.environ.get(ENV_RATIO) or None
        try:
            nb = cls.max_bytes if b is None else parse_size(b)
            nr = cls.max_ratio if r is None else float(r)
        except ValueError as err:
            raise ArchiveError(f"expansion limit: {err} (set by argument or ${ENV_BYTES} / ${ENV_RATIO})") from None
        if nb <= 0 or not nr > 0:
            raise ArchiveError(f"expansion limits must be positive (got bytes={b!r}, ratio={r!r})")
        return cls(max_bytes=nb, max_ratio=nr)


def _too_large(archive: Path, member: str, what: str, limit: str, flag: str) -> ArchiveTooLargeError:
    return ArchiveTooLargeError(
        f"{archive}: member {member!r} {what}, over the limit {limit}; refusing to extract it "
        f"(a zip bomb, or a damaged archive). If you trust this archive, raise the limit with {flag}"
    )


_HOW_BYTES = f"--max-expand-bytes / ${ENV_BYTES} (e.g. 4T)"
_HOW_RATIO = f"--max-expand-ratio / ${ENV_RATIO} (e.g. 1000)"


def check_expansion(archive: Path, members, archive_size: int, limits: ExpandLimits) -> None:
    """Refuse, from the headers and before any write, an archive that would expand too far.

    ``members`` are :class:`~eventkit.datasets.archives.Member` (``name``, ``size``, ``is_dir``,
    ``compressed``: the member's compressed size, or None where the format does not record it).
    """
    files = [m for m in members if not m.is_dir]
    total = sum(m.size for m in files)
    if total > limits.max_bytes:
        big = max(files, key=lambda m: m.size)
        raise _too_large(archive, big.name, f"and the others expand to {_fmt(total)} in all",
                         _fmt(limits.max_bytes), _HOW_BYTES)
    for m in files:
        packed = None if m.compressed is None else max(m.compressed, 1)
        if packed is not None and m.size > limits.ratio_floor and m.size > limits.max_ratio * packed:
            raise _too_large(archive, m.name, f"expands from {_fmt(packed)} to {_fmt(m.size)} "
                             f"(ratio {m.size / packed:.0f})", f"ratio {limits.max_ratio:g}", _HOW_RATIO)
    if total > limits.ratio_floor and total > limits.max_ratio * max(archive_size, 1):
        big = max(files, key=lambda m: m.size)
        raise _too_large(archive, big.name, f"and the others expand from {_fmt(archive_size)} to {_fmt(total)} "
                         f"(ratio {total / max(archive_size, 1):.0f})", f"ratio {limits.max_ratio:g}", _HOW_RATIO)


@contextlib.contextmanager
def reading(archive: Path, kind: str, errors: tuple[type[BaseException], ...] = READ_ERRORS) -> Iterator[None]:
    """Turn a failure while reading ``archive`` into one :class:`ArchiveError`."""
    try:
        yield
    except EventkitError:  # already one clean error (unsafe member, too large, disk)
        raise
    except errors as err:
        raise ArchiveError(
            f"{archive}: corrupt or truncated {kind + ' ' if kind else ''}archive ({err}); download it again "
            f"(`eventkit verify` checks it) and re-run; files extracted earlier are untouched"
        ) from None


_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failure to write ``path`` (disk full, read-only, quota, permissions) into :class:`DiskWriteError`."""
    try:
        yield
    except DiskWriteError:
        raise
    except OSError as err:
        why = os.strerror(err.errno) if err.errno else str(err)
        hint = ("free some space" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
                else "check that the folder is writable" if err.errno in _DISK_ERRNOS else "check the disk")
        raise DiskWriteError(
            f"{path}: cannot write ({why}); {hint} and re-run. Nothing extracted earlier was changed"
        ) from None


def copy_member(archive: Path, kind: str, name: str, declared: int, opener: Callable[[], IO[bytes]],
                part: Path, read_errors: tuple[type[BaseException], ...] = READ_ERRORS) -> None:
    """Stream one member into ``part``, counting the bytes actually produced.

    Stops with :class:`ArchiveTooLargeError` as soon as the member yields more than its header
    declared (the header was already checked against the limits), and with :class:`ArchiveError`
    if it yields less (truncated).
    """
    written = 0
    with reading(archive, kind, read_errors):
        src = opener()
    try:
        with writing(part):
            dst = open(part, "wb")
        with dst:
            while True:
                with reading(archive, kind, read_errors):
                    chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > declared:
                    raise ArchiveTooLargeError(
                        f"{archive}: member {name!r} expands beyond the {_fmt(declared)} its header declares "
                        f"(stopped after {_fmt(written)}); the archive is damaged or hostile, refusing it"
                    )
                with writing(part):
                    dst.write(chunk)
    finally:
        with contextlib.suppress(Exception):
            src.close()
    if written < declared:
        raise ArchiveError(
            f"{archive}: member {name!r} is truncated ({written} of {declared} bytes); download the archive "
            f"again (`eventkit verify` checks it) and re-run"
        )
