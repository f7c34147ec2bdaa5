"""Download one file: mirrors in order, HTTP Range resume, retries with backoff, size + hash check.

The pattern is pooch's (stream to a temporary name beside the target, verify, then ``os.replace``)
with the things our users miss most added: an interrupted transfer resumes from the bytes already
on disk (``<name>.part`` + an HTTP ``Range`` request), a dead host falls through to the next
mirror, and a file whose hash is wrong is **moved aside, never deleted**, with both hashes in the
error. Only ``requests`` and ``tqdm`` are used (imported lazily).

A server is not trusted: a ``206`` reply must start exactly where we asked, a ``200`` to a Range
request is checked against the bytes we hold before anything is appended, an HTML or text page in
place of a binary file is refused, no more bytes than the manifest's size are written, and a
transfer that stalls (less than ``LOW_SPEED_BYTES`` in ``stall_timeout`` seconds, default 60 s or
``$EVENTKIT_STALL_TIMEOUT``) is abandoned and resumed from the bytes already written. Bytes on disk
are never deleted or truncated: a ``.part`` or target file that cannot be used is moved aside and
named. A local write failure (disk full, read-only, quota) is one :class:`DiskWriteError`, never
retried as a network error.
"""

from __future__ import annotations

import errno as _errno
import hashlib
import itertools
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ChecksumMismatchError, DiskWriteError, DownloadError

__all__ = [
    "RemoteFile", "download", "file_hashes", "verify_file", "keep_aside", "stall_timeout_from_env",
    "DEFAULT_STALL_TIMEOUT", "STALL_TIMEOUT_ENV",
]

log = logging.getLogger("eventkit")
CHUNK = 1 << 20
# Small network reads: bytes of a read cut by a dropped connection are lost, so keep reads short.
NET_CHUNK = 1 << 16
# Statuses that mean "this URL will not work however often we ask": go to the next mirror.
_FATAL_STATUS = {400, 401, 403, 404, 405, 410, 451}
DEFAULT_STALL_TIMEOUT = 60.0
STALL_TIMEOUT_ENV = "EVENTKIT_STALL_TIMEOUT"
# A transfer slower than this many bytes per stall window counts as stalled (curl's --speed-limit).
LOW_SPEED_BYTES = 1024
# Names that may legitimately arrive as text/* (label lists, metadata).
TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".md", ".xml", ".yaml", ".yml", ".toml", ".html", ".htm")
_HTML_START = (b"<!doctype html", b"<html")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as a manifest describes it.

    Attributes
    ----------
    filename
        Name on disk (inside the download folder).
    urls
        The main URL first, then mirrors, tried in this order.
    size
        Size in bytes, or None when unknown.
    hashes
        ``{"sha256": hex, "md5": hex, ...}``; every one given is checked.
    manual
        True when the file cannot be fetched automatically (licence, login); ``instructions`` then
        says where to get it.
    instructions
        What a user must do by hand (shown for manual files and when every URL fails).
    """

    filename: str
    urls: tuple[str, ...] = ()
    size: int | None = None
    hashes: Mapping[str, str] = field(default_factory=dict)
    manual: bool = False
    instructions: str = ""


def file_hashes(path: str | os.PathLike[str], algorithms: Iterable[str]) -> dict[str, str]:
    """Hash a file once, for several algorithms at the same time."""
    hs = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for h in hs.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hs.items()}


def verify_file(path: str | os.PathLike[str], remote: RemoteFile) -> list[str]:
    """Return the list of problems with ``path`` against ``remote`` (empty when it verifies)."""
    p = Path(path)
    problems: list[str] = []
    if not p.is_file():
        return [f"{p} is missing"]
    size = p.stat().st_size
    if remote.size is not None and size != remote.size:
        problems.append(f"size is {size:,} bytes, expected {remote.size:,}")
        return problems  # hashing a file of the wrong size only costs time
    if remote.hashes:
        got = file_hashes(p, remote.hashes)
        for algo, want in remote.hashes.items():
            if got[algo].lower() != want.lower():
                problems.append(f"{algo} is {got[algo]}, expected {want}")
    return problems


def keep_aside(path: Path, tag: str = "mismatch") -> Path:
    """Rename ``path`` to a free ``<name>.<tag>[-N]`` beside it and return the new path.

    Raises
    ------
    DiskWriteError
        The rename failed (read-only folder, permissions).
    """
    target = path.with_name(f"{path.name}.{tag}")
    n = 1
    while target.exists() or target.is_symlink():
        target = path.with_name(f"{path.name}.{tag}-{n}")
        n += 1
    with _local_write(path):
        os.replace(path, target)
    return target


def stall_timeout_from_env(default: float = DEFAULT_STALL_TIMEOUT) -> float:
    """The stall timeout in seconds from ``$EVENTKIT_STALL_TIMEOUT``, else ``default``.

    Raises
    ------
    DownloadError
        The variable is set but is not a positive number.
    """
    raw = os.environ.get(STALL_TIMEOUT_ENV, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise DownloadError(
            f"{STALL_TIMEOUT_ENV}={raw!r} is not a positive number of seconds; set it to e.g. 60 or unset it"
        )
    return value


class _local_write:  # noqa: N801 - used like a function: ``with _local_write(path): ...``
    """Turn an OSError raised by local file operations into one :class:`DiskWriteError`.

    Network reads never run inside this block, so the type of the error says where it came from
    (no matching of message strings).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, OSError) or isinstance(exc, DiskWriteError):
            return False
        raise _disk_error(self.path, exc) from exc


def _disk_error(path: Path, err: OSError) -> DiskWriteError:
    code = _errno.errorcode.get(err.errno or 0, "")
    what = f"{err.strerror or err}" + (f" ({code})" if code else "")
    fix = {
        _errno.ENOSPC: "free some disk space",
        getattr(_errno, "EDQUOT", -1): "free some space within your disk quota",
        _errno.EROFS: "the disk is read-only",
        _errno.EACCES: "you have no permission to write there",
        _errno.EPERM: "you have no permission to write there",
    }.get(err.errno or 0, "check the disk")
    out = DiskWriteError(
        f"{path}: cannot write the download: {what}. Fix: {fix}, or choose another data folder with "
        f"--root (or $EVENTKIT_ROOT); nothing was retried."
    )
    out.errno = err.errno  # (strerror and filename left unset: they would replace the message in str())
    return out


def _progress(total: int | None, initial: int, name: str, enabled: bool):
    from .._progress import progress_bar

    return progress_bar(total, enabled=enabled, desc=name, unit="B", initial=initial, unit_scale=True,
                        unit_divisor=1024)


class _Fatal(Exception):
    """This URL cannot succeed (404 and friends): move on to the next mirror without retrying."""


class _Transient(Exception):
    """This attempt failed in a way another attempt may not (stall, cut, bad reply): retry."""


class _Restart(_Transient):
    """The server's reply cannot extend our ``.part``: retry without a Range request."""


@dataclass
class _Attempt:
    """Settings and state shared by the attempts on one URL."""

    url: str
    part: Path
    remote: RemoteFile
    timeout: float
    stall_timeout: float
    progress: bool
    notes: list[str]
    resume: bool = True  # False after a bad 206: ask for the whole file and compare our prefix


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _note(notes: list[str], message: str) -> None:
    log.warning("%s", message)
    notes.append(message)


def _is_text_name(name: str) -> bool:
    return name.lower().endswith(TEXT_SUFFIXES)


def _refuse_page(a: _Attempt, content_type: str, first: bytes) -> None:
    """Refuse an HTML page (by header or by its first bytes) or a text reply for a binary file."""
    if _is_text_name(a.remote.filename):
        return
    ctype = content_type.split(";")[0].strip().lower()
    head = first.lstrip()[:64].lower()
    html = ctype in ("text/html", "application/xhtml+xml") or head.startswith(_HTML_START)
    # Old servers label unknown binaries text/plain; a hash then still decides, so refuse other text
    # only when the manifest gives none.
    if html or (ctype.startswith("text/") and not a.remote.hashes):
        kind = "an HTML page" if html else f"a text reply ({ctype})"
        raise _Fatal(
            f"the server sent {kind} instead of {a.remote.filename} (probably an error or login page); "
            "nothing was written"
        )


def _check_content_range(a: _Attempt, r, have: int) -> None:
    """A 206 must cover exactly ``have``..end of a file of the expected size, or nothing is appended."""
    cr = r.headers.get("Content-Range", "")
    if r.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        raise _Restart("206 reply with a Content-Encoding: its bytes are not the file's; not appended")
    m = _CONTENT_RANGE.fullmatch(cr.strip())
    if m is None:
        raise _Restart(f"206 reply with a missing or malformed Content-Range {cr!r}; not appended")
    start, end, total = int(m.group(1)), int(m.group(2)), m.group(3)
    if start != have or end < start:
        raise _Restart(f"asked for bytes from {have:,}, the server sent Content-Range {cr!r}; not appended")
    if a.remote.size is not None and total != "*" and int(total) != a.remote.size:
        raise _Fatal(
            f"Content-Range {cr!r} says the file has {int(total):,} bytes, the manifest says "
            f"{a.remote.size:,}; not appended"
        )
    if total != "*" and int(total) != end + 1:
        raise _Restart(f"Content-Range {cr!r} does not reach the end of the file; not appended")
    length = r.headers.get("Content-Length")
    if length and length.isdigit() and int(length) != end - start + 1:
        raise _Restart(f"Content-Length {length} disagrees with Content-Range {cr!r}; not appended")


def _reader(r):
    """Chunks of the body as soon as they arrive (not a full 64 KiB), so the stall check runs."""
    raw = getattr(r, "raw", None)
    if raw is not None and hasattr(raw, "read1"):
        while chunk := raw.read1(NET_CHUNK, decode_content=True):
            yield chunk
    else:  # a test double or an old urllib3
        yield from r.iter_content(NET_CHUNK)


def _transfer(session, a: _Attempt) -> None:
    """Fetch ``a.url`` into ``a.part``, resuming from its current size. Raises on any failure."""
    import requests

    part, remote = a.part, a.remote
    if part.is_symlink() or (part.exists() and not part.is_file()):
        # never write through a link (it may point at a user's file outside the folder)
        aside = keep_aside(part, "not-a-file")
        _note(a.notes, f"{part} was a link or not a regular file; kept it as {aside}")
    have = _size(part)
    if remote.size is not None and have > remote.size:
        aside = keep_aside(part, "oversize")
        _note(a.notes, f"{part} held {have:,} bytes, more than the {remote.size:,} expected; kept it as {aside}")
        have = 0
    # identity encoding: byte ranges must refer to the file itself, not to a compressed transfer
    headers = {"Accept-Encoding": "identity"}
    ranged = bool(have) and a.resume
    if ranged:
        headers["Range"] = f"bytes={have}-"
    try:
        r = session.get(
            a.url, stream=True, timeout=(a.timeout, min(a.timeout, a.stall_timeout)), headers=headers,
            allow_redirects=True,
        )
    except requests.TooManyRedirects as err:
        raise _Fatal(f"too many redirects (a redirect loop?): {err}") from None
    except (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidURL) as err:
        raise _Fatal(f"redirected to a URL that is not http(s) or not valid: {err}") from None
    with r:
        if ranged and r.status_code == 416:
            return  # the server says we already have every byte; verification decides
        if r.status_code in _FATAL_STATUS:
            raise _Fatal(f"HTTP {r.status_code}")
        r.raise_for_status()
        if r.status_code not in (200, 206):
            raise _Fatal(f"HTTP {r.status_code} is not a file")
        if r.status_code == 206:
            if not ranged:
                raise _Fatal("206 Partial Content to a request without Range (protocol error)")
            _check_content_range(a, r, have)
            offset = have
        else:
            offset = 0  # a full body: compared with the bytes we hold before anything is appended
        length = r.headers.get("Content-Length")
        length_n = int(length) if length and length.isdigit() else None
        if remote.size is not None and length_n is not None and offset + length_n > remote.size:
            raise _Fatal(
                f"the server announces {offset + length_n:,} bytes, the manifest says {remote.size:,}; "
                "nothing was written"
            )
        encoded = r.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        total = remote.size or ((length_n + offset) if length_n is not None and not encoded else None)
        pos = _stream(a, r, have, offset, total)
        if length_n is not None and not encoded and pos != offset + length_n:
            raise _Transient(f"connection closed after {pos - offset:,} of {length_n:,} bytes")
        if pos < have:  # the whole file is shorter than our part: the part is not of this file
            aside = keep_aside(part, "mismatch")
            _note(a.notes, f"{part} is longer than the file at {a.url} ({have:,} > {pos:,} bytes); kept it as {aside}")
            raise _Restart("the partial file did not match the server's file; starting over")


def _stream(a: _Attempt, r, have: int, offset: int, total: int | None) -> int:
    """Write the body of ``r`` (file bytes from ``offset``) into the part; return the end position.

    With ``offset == 0`` and ``have`` bytes already on disk, the body's first ``have`` bytes are
    compared with them instead of written: a part that is no prefix of this file is moved aside.
    """
    part, remote = a.part, a.remote
    pos = offset
    win_t, win_pos = time.monotonic(), offset
    chunks = _reader(r)
    first = next(chunks, b"")
    # checked before the part is opened: a refused page leaves no file behind
    _refuse_page(a, r.headers.get("Content-Type", ""), first if offset == 0 else b"")
    with _local_write(part):
        f = open(part, "r+b" if have else "wb")  # never truncates bytes we hold
        f.seek(offset)
    try:
        with _progress(total, offset, remote.filename, a.progress) as bar:
            for chunk in itertools.chain([first] if first else [], chunks):
                if pos < have:  # still inside the bytes we hold: compare, do not rewrite
                    n = min(len(chunk), have - pos)
                    with _local_write(part):
                        f.seek(pos)
                        held = f.read(n)
                    if held != chunk[:n]:
                        raise _PrefixMismatch(pos)
                    pos, chunk = pos + n, chunk[n:]
                    bar.update(n)
                    if chunk:
                        with _local_write(part):
                            f.seek(pos)
                if chunk:
                    if remote.size is not None and pos + len(chunk) > remote.size:
                        _write(f, part, chunk[: remote.size - pos])
                        raise _TooLong(remote.size)
                    _write(f, part, chunk)
                    pos += len(chunk)
                    bar.update(len(chunk))
                # after the chunk is on disk, so a stalled attempt keeps every byte it received
                now = time.monotonic()
                if now - win_t >= a.stall_timeout:
                    if pos - win_pos < LOW_SPEED_BYTES:
                        raise _Transient(
                            f"stalled: {pos - win_pos:,} bytes in {now - win_t:.0f} s (stall timeout "
                            f"{a.stall_timeout:g} s, ${STALL_TIMEOUT_ENV})"
                        )
                    win_t, win_pos = now, pos
    except _PrefixMismatch as err:
        _close(f, part)
        aside = keep_aside(part, "mismatch")
        _note(a.notes, f"{part} is not a prefix of the file at {a.url} (differs at byte {err.args[0]:,}); "
                       f"kept it as {aside}")
        raise _Restart("the partial file did not match the server's file; starting over") from None
    except _TooLong as err:
        _close(f, part)
        aside = keep_aside(part, "oversize")
        raise _Fatal(
            f"the server sent more than the {err.args[0]:,} bytes the manifest gives; stopped and kept "
            f"the first {err.args[0]:,} bytes as {aside}"
        ) from None
    except BaseException:
        _close(f, part, quiet=True)  # bytes received so far stay in the part for the next attempt
        raise
    _close(f, part)
    return pos


class _PrefixMismatch(Exception):
    pass


class _TooLong(Exception):
    pass


def _write(f, part: Path, data: bytes) -> None:
    # flushed at once: a stalled or cut transfer leaves every received byte in the part
    with _local_write(part):
        f.write(data)
        f.flush()


def _close(f, part: Path, quiet: bool = False) -> None:
    try:
        with _local_write(part):
            f.close()
    except DiskWriteError:
        if not quiet:
            raise


def _try_url(session, a: _Attempt, retries: int, backoff: float) -> str | None:
    """Fetch one URL with retries; return None on success or a one-line failure description."""
    import requests
    import urllib3

    wait = backoff
    for attempt in range(1, retries + 1):
        try:
            _transfer(session, a)
            return None
        except DiskWriteError:
            raise  # a local disk problem: another attempt cannot help
        except _Fatal as err:
            return f"{a.url}: {err}"
        except _Restart as err:
            a.resume = False
            failure = f"{err}"
        except _Transient as err:
            failure = f"{err}"
        except requests.exceptions.ConnectTimeout as err:
            failure = f"ConnectTimeout: {_first_line(err)}"
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            failure = f"{type(err).__name__}: {_first_line(err)}"
        if attempt == retries:
            return f"{a.url}: {failure} (after {retries} attempts)"
        time.sleep(wait)
        wait *= 2
    return f"{a.url}: no attempt made (retries={retries})"


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def download(
    remote: RemoteFile,
    dest_dir: str | os.PathLike[str],
    *,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    stall_timeout: float | None = None,
    progress: bool = True,
    session=None,
) -> Path:
    """Download ``remote`` into ``dest_dir`` and verify it; return the final path.

    A file already present and verified is not fetched again. A present file that fails
    verification is moved aside (``<name>.mismatch``) and fetched anew. Bytes of an interrupted
    transfer (``<name>.part``) are reused through an HTTP Range request; a ``.part`` larger than
    the manifest's size is moved aside (``<name>.part.oversize``). No file is ever deleted or
    truncated; every file moved aside is named in a warning and in the error, if any.

    Parameters
    ----------
    remote
        What to fetch (URLs tried in order, size and hashes to check).
    dest_dir
        Download folder; created if missing.
    retries
        Attempts per URL for transient failures (connection cut, stall, timeout, HTTP 5xx, a bad
        ``206`` reply), each resuming from the bytes already written.
    backoff
        First wait between attempts in seconds; doubles every attempt.
    timeout
        Seconds to wait for a connection or for the reply to start.
    stall_timeout
        An attempt that receives fewer than ``LOW_SPEED_BYTES`` (1 KiB) in this many seconds is
        abandoned and resumed. None: ``$EVENTKIT_STALL_TIMEOUT``, else 60 s.
    progress
        Show a progress bar (on stderr).
    session
        A ``requests.Session`` to use (tests inject one); a new one by default.

    Returns
    -------
    Path
        ``dest_dir / remote.filename``, verified.

    Raises
    ------
    ChecksumMismatchError
        Every URL delivered a file with the wrong size or hash (kept aside; both hashes named).
    DownloadError
        No URL delivered the file; the message lists each URL and its failure, and what to do.
    DiskWriteError
        The download folder cannot be written (full, read-only, quota); raised at once, no retry.
    """
    import requests

    stall = stall_timeout_from_env() if stall_timeout is None else float(stall_timeout)
    if not stall > 0:
        raise DownloadError(f"stall_timeout must be a positive number of seconds, got {stall_timeout!r}")
    dest = Path(dest_dir)
    with _local_write(dest):
        dest.mkdir(parents=True, exist_ok=True)
    final = dest / remote.filename
    notes: list[str] = []
    if final.exists() or final.is_symlink():
        problems = verify_file(final, remote)
        if not problems:
            return final
        aside = keep_aside(final)
        _note(notes, f"{final} does not verify ({'; '.join(problems)}); kept it as {aside} and fetching it again")
    if remote.manual or not remote.urls:
        raise DownloadError(f"{final}: this file must be downloaded by hand. {remote.instructions}".strip())

    part = dest / (remote.filename + ".part")
    sess = session or requests.Session()
    failures: list[str] = []
    mismatches: list[str] = []
    for url in remote.urls:
        attempt = _Attempt(url, part, remote, timeout, stall, progress, notes)
        failure = _try_url(sess, attempt, retries, backoff)
        if failure is not None:
            failures.append(failure)
            continue
        problems = verify_file(part, remote)
        if not problems:
            with _local_write(final):
                os.replace(part, final)
            return final
        aside = keep_aside(part)
        mismatches.append(f"{url}: {'; '.join(problems)} (kept as {aside})")
    kept = "".join(f" Note: {n}." for n in notes)
    if mismatches:
        raise ChecksumMismatchError(
            f"{final}: downloaded file does not match the manifest: " + " | ".join(mismatches)
            + f". Likely a changed upstream file or a stale manifest; nothing was deleted.{kept}"
        )
    hint = f" {remote.instructions}" if remote.instructions else ""
    have = _size(part)
    partial = (
        f" Partial data ({have:,} bytes) is kept in {part} and resumes on the next run." if have else
        " No partial data was kept."
    )
    raise DownloadError(
        f"{final}: could not download from any URL: " + " | ".join(failures) + f".{partial}{kept}{hint}"
    )
