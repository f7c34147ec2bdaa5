"""The eventkit error hierarchy.

Every error eventkit raises on purpose derives from :class:`EventkitError` and from the builtin
that fits it, so ``except ValueError`` / ``except FileNotFoundError`` in user code keeps working.
Messages name the file, say what is wrong and say what to do.
"""

from __future__ import annotations

import os

__all__ = [
    "ArchiveError",
    "ArchiveTooLargeError",
    "ChecksumMismatchError",
    "DatasetNotFoundError",
    "DecodeError",
    "DiskWriteError",
    "DownloadError",
    "EventFormatError",
    "EventkitError",
    "ManifestError",
    "SampleSelectionError",
    "UnknownFormatError",
    "UnsafeArchiveError",
]


class EventkitError(Exception):
    """Base class for all errors raised by eventkit."""


class EventFormatError(EventkitError, ValueError):
    """An events array does not have the eventkit event dtype or violates its invariants."""


class UnknownFormatError(EventkitError, ValueError):
    """The format of a file could not be recognised (or an unknown format name was given)."""

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{reason}")


class DecodeError(EventkitError, ValueError):
    """A recording is truncated or corrupt.

    Parameters
    ----------
    path
        The file being decoded.
    reason
        What is wrong, in words a user can act on.
    offset
        Byte offset in the file where the problem was found (None if not applicable).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, offset: int | None = None) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.offset = None if offset is None else int(offset)
        at = f" at byte {self.offset}" if self.offset is not None else ""
        super().__init__(f"{self.path}: {reason}{at}")

    def __reduce__(self):  # keep the error picklable across process pools
        return (type(self), (self.path, self.reason, self.offset))


class ManifestError(EventkitError, ValueError):
    """A dataset manifest is missing a field or holds an invalid value."""


class DatasetNotFoundError(EventkitError, FileNotFoundError):
    """A dataset, its files or its store are not where they should be."""


class DownloadError(EventkitError, ConnectionError):
    """Every URL of a file failed; the message lists each URL with its failure and what to do."""


class ChecksumMismatchError(EventkitError, ValueError):
    """A file's size or hash differs from the manifest. The file is kept (moved aside), never deleted."""


class UnsafeArchiveError(EventkitError, ValueError):
    """An archive member would escape the target folder or is a link/device; nothing was extracted."""


class ArchiveError(EventkitError, ValueError):
    """An archive is corrupt or of a kind that cannot be extracted here (the message says how to do it by hand)."""


class ArchiveTooLargeError(ArchiveError):
    """An archive would expand beyond the size or ratio limits (a zip bomb, or a limit to raise on purpose)."""


class DiskWriteError(EventkitError, OSError):
    """Writing to the local disk failed (full, read-only, quota): never retried as a network error."""


class SampleSelectionError(EventkitError, ValueError):
    """A multi-sample file was read without choosing a sample, or with one that does not exist.

    Parameters
    ----------
    path
        The file.
    reason
        What is wrong and how to pick a sample.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))
