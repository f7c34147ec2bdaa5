"""The eventkit error hierarchy, and the error contract of eventkit and snnmodels.

The contract (``docs/errors.md`` has the full page):

1. Every failure a user can cause (a bad file, a bad option, missing data, a damaged store, an
   unreachable scheduler) raises a subclass of :class:`EventkitError` (in snnmodels:
   :class:`snnmodels.errors.SnnmodelsError`) that also subclasses the builtin that fits it
   (``ValueError`` for bad values and bad data, ``FileNotFoundError`` for missing data,
   ``ConnectionError`` for the network, ``OSError`` for the disk), so ``except ValueError`` in
   user code keeps working. A bare ``ValueError``/``RuntimeError`` means a bug of ours.
2. A message says what is wrong, which file or option, and what to do. An option is named both
   ways where both reach it: ``--overwrite (overwrite=True)``.
3. Nothing is lost or half-written: a failed or interrupted job leaves the user's files intact and
   a re-run of the same command resumes it.
4. The command lines (``eventkit``, ``snnmodels``; one wrapper, ``cli/_errors.py``) print such an
   error as one line ``Error: <message>`` and exit with status 1; a bad option or argument is a
   usage error (status 2); Ctrl-C prints ``Aborted: <how to resume>`` and exits with status 130.
   Anything else keeps its traceback: it is a bug to report.
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
    "OptionError",
    "SampleSelectionError",
    "SchedulerUnreachableError",
    "UnknownFormatError",
    "UnsafeArchiveError",
]


class EventkitError(Exception):
    """Base class for all errors raised by eventkit."""


class OptionError(EventkitError, ValueError):
    """A parameter has a bad value or clashes with another (the message names the option, e.g. ``--dtype (dtype=)``)."""


class SchedulerUnreachableError(EventkitError, ConnectionError):
    """No Dask scheduler answers at the address given (``--scheduler``); the message says how to start one."""


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
