"""Download one file: mirrors in order, HTTP Range resume, retries with backoff, size + hash check.

The pattern is pooch's (stream to a temporary name beside the target, verify, then ``os.replace``)
with the things our users miss most added: an interrupted transfer resumes from the bytes already
on disk (``<name>.part`` + an HTTP ``Range`` request), a dead host falls through to the next
mirror, and a file whose hash is wrong is **moved aside, never deleted**, with both hashes in the
error. Only ``requests`` and ``tqdm`` are used (imported lazily).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ChecksumMismatchError, DownloadError

__all__ = ["RemoteFile", "download", "file_hashes", "verify_file", "keep_aside"]

log = logging.getLogger("eventkit")
CHUNK = 1 << 20
# Small network reads: bytes of a read cut by a dropped connection are lost, so keep reads short.
NET_CHUNK = 1 << 16
# Statuses that mean "this URL will not work however often we ask": go to the next mirror.
_FATAL_STATUS = {400, 401, 403, 404, 405, 410, 451}


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


def keep_aside(path: Path) -> Path:
    """Rename ``path`` to a free ``<name>.mismatch[-N]`` beside it and return the new path."""
    target = path.with_name(path.name + ".mismatch")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.mismatch-{n}")
        n += 1
    os.replace(path, target)
    return target


def _progress(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
        disable=not enabled, leave=False,
    )


def _transfer(session, url: str, part: Path, remote: RemoteFile, timeout: float, progress: bool) -> None:
    """Fetch ``url`` into ``part``, resuming from its current size. Raises on any failure."""
    import requests

    have = part.stat().st_size if part.exists() else 0
    if remote.size is not None and have > remote.size:
        part.unlink()  # our own partial file, larger than the real one: it cannot be a prefix
        have = 0
    # identity encoding: byte ranges must refer to the file itself, not to a compressed transfer
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, stream=True, timeout=timeout, headers=headers, allow_redirects=True) as r:
        if have and r.status_code == 416:
            return  # the server says we already have every byte; verification decides
        if r.status_code in _FATAL_STATUS:
            raise _Fatal(f"HTTP {r.status_code}")
        r.raise_for_status()
        if have and r.status_code == 206:
            mode = "ab"
        else:
            mode, have = "wb", 0  # server ignored the Range header: start over
        length = r.headers.get("Content-Length")
        total = remote.size or ((int(length) + have) if length and length.isdigit() else None)
        with open(part, mode) as f, _progress(total, have, remote.filename, progress) as bar:
            for chunk in r.iter_content(NET_CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
        if length and length.isdigit() and part.stat().st_size != have + int(length):
            raise requests.ConnectionError(
                f"connection closed after {part.stat().st_size - have:,} of {int(length):,} bytes"
            )


class _Fatal(Exception):
    """This URL cannot succeed (404 and friends): move on to the next mirror without retrying."""


def _try_url(session, url, part, remote, retries, backoff, timeout, progress) -> str | None:
    """Fetch one URL with retries; return None on success or a one-line failure description."""
    import requests

    wait = backoff
    for attempt in range(1, retries + 1):
        try:
            _transfer(session, url, part, remote, timeout, progress)
            return None
        except _Fatal as err:
            return f"{url}: {err}"
        except (requests.RequestException, OSError) as err:
            if attempt == retries:
                return f"{url}: {type(err).__name__}: {err} (after {retries} attempts)"
            time.sleep(wait)
            wait *= 2
    return f"{url}: no attempt made (retries={retries})"


def download(
    remote: RemoteFile,
    dest_dir: str | os.PathLike[str],
    *,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    session=None,
) -> Path:
    """Download ``remote`` into ``dest_dir`` and verify it; return the final path.

    A file already present and verified is not fetched again. A present file that fails
    verification is moved aside (``<name>.mismatch``) and fetched anew. Bytes of an interrupted
    transfer (``<name>.part``) are reused through an HTTP Range request.

    Parameters
    ----------
    remote
        What to fetch (URLs tried in order, size and hashes to check).
    dest_dir
        Download folder; created if missing.
    retries
        Attempts per URL for transient failures (connection cut, timeout, HTTP 5xx), each resuming.
    backoff
        First wait between attempts in seconds; doubles every attempt.
    timeout
        Seconds without data before an attempt counts as failed.
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
    """
    import requests

    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / remote.filename
    if final.exists():
        problems = verify_file(final, remote)
        if not problems:
            return final
        aside = keep_aside(final)
        log.warning("%s does not verify (%s); kept it as %s and fetching it again", final, "; ".join(problems), aside)
    if remote.manual or not remote.urls:
        raise DownloadError(f"{final}: this file must be downloaded by hand. {remote.instructions}".strip())

    part = dest / (remote.filename + ".part")
    sess = session or requests.Session()
    failures: list[str] = []
    mismatches: list[str] = []
    for url in remote.urls:
        failure = _try_url(sess, url, part, remote, retries, backoff, timeout, progress)
        if failure is not None:
            failures.append(failure)
            continue
        problems = verify_file(part, remote)
        if not problems:
            os.replace(part, final)
            return final
        aside = keep_aside(part)
        mismatches.append(f"{url}: {'; '.join(problems)} (kept as {aside})")
    if mismatches:
        raise ChecksumMismatchError(
            f"{final}: downloaded file does not match the manifest: " + " | ".join(mismatches)
            + ". Likely a changed upstream file or a stale manifest; nothing was deleted."
        )
    hint = f" {remote.instructions}" if remote.instructions else ""
    raise DownloadError(
        f"{final}: could not download from any URL: " + " | ".join(failures)
        + f". Partial data is kept in {part} and resumes on the next run.{hint}"
    )
