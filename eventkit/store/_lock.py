"""An exclusive writer lock: a file created with O_EXCL holding the owner's pid, host and process start time.

A lock whose owner is a dead process on this host is stale and is taken over (with a warning
naming the old owner); so is one whose pid now belongs to a newer process (pid reuse: the
recorded start time differs). A lock held from another host cannot be checked, so it is
refused with the path to delete once the user is sure nothing on that host still writes.

On an object store (``s3://...``) the lock is an object beside the store, created with a
conditional write (S3 ``PutObject`` with ``If-None-Match: *``: exactly one of two writers
succeeds), and judged stale by the same rules. A backend without such a write is refused
(:class:`~eventkit.store.errors.StoreAccessError`) rather than locked unsafely.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from pathlib import Path

from ._remote import RemotePath
from .errors import StoreAccessError, StoreLockedError

__all__ = ["WriterLock", "live_owner", "part_lock_path", "part_lock_paths"]

log = logging.getLogger("eventkit")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # not Linux, or the process is gone
        return None
    try:  # field 22; the command name (field 2) is in parentheses and may hold spaces
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


def _owner_alive(owner: dict) -> bool:
    """Whether the process recorded in a lock of this host still runs (and is the same process)."""
    try:
        pid = int(owner.get("pid", -1))
    except (TypeError, ValueError):  # a damaged lock names no process: treat as dead
        return False
    if pid <= 0 or not _pid_alive(pid):
        return False
    recorded, now = owner.get("start"), _start_ticks(pid)
    # the pid was reused by a newer process when its start time differs from the recorded one
    return not (isinstance(recorded, int) and now is not None and now != recorded)


def _parse_owner(raw: bytes) -> dict | None:
    """The owner recorded in a lock file, or None if it is unreadable (half-written, damaged)."""
    try:
        owner = json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError
        return None
    return owner if isinstance(owner, dict) else None


class WriterLock:
    """Hold ``path`` exclusively until :meth:`release`.

    Parameters
    ----------
    path
        The lock file.
    store
        The store it protects (for messages).
    """

    def __init__(self, path: Path, store: Path, *, brief: bool = False) -> None:
        self.path = path
        self.store = store
        self.brief = brief  # held only to create or open the store (job-array parts): others wait for it
        self._held = False

    def acquire(self, wait_s: float = 0.0) -> None:
        """Create the lock file, taking over a stale one.

        Parameters
        ----------
        wait_s
            Wait up to this long while the holder holds the lock only briefly (a job-array part
            creating or opening the store) or its lock is still being written; a holder that
            writes the store (a plain run) is refused at once.

        Raises
        ------
        StoreLockedError
            If a live process (or one on another host) holds the lock.
        """
        end = time.monotonic() + wait_s
        while True:
            try:
                return self._acquire_once()
            except StoreLockedError:
                owner = self._owner()
                if time.monotonic() >= end or (owner is not None and not owner.get("brief")):
                    raise
                time.sleep(0.05)

    def _acquire_once(self) -> None:
        pid = os.getpid()
        me = {"pid": pid, "host": socket.gethostname(), "since": time.time(), "start": _start_ticks(pid)}
        if self.brief:
            me["brief"] = True
        for _ in range(3):
            try:
                self._create(json.dumps(me).encode())
            except FileExistsError:
                self._remove_if_stale()  # raises if the owner is alive
                continue
            self._held = True
            return
        raise StoreLockedError(self._held_message())

    def _create(self, data: bytes) -> None:
        """Create the lock file holding ``data``, or raise FileExistsError if it exists.

        Locally an ``O_EXCL`` open; on an object store a conditional create (S3 ``If-None-Match: *``),
        which is as exclusive; a backend without one is refused (see :func:`_remote_create`).
        """
        if isinstance(self.path, RemotePath):
            _remote_create(self.path, self.store, data)
            return
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def _remove_if_stale(self) -> None:
        raw = self._read_raw()
        if raw is None:  # gone meanwhile: try again
            return
        owner = _parse_owner(raw)
        if owner is None:  # unreadable or half-written: only stale if old (its writer died at once)
            try:
                if time.time() - _mtime(self.path) < 5:
                    raise StoreLockedError(self._held_message())
            except FileNotFoundError:
                return
        elif owner.get("host") != socket.gethostname() or _owner_alive(owner):
            raise StoreLockedError(self._held_message(owner))
        if self._discard(raw):
            who = "an unreadable owner" if owner is None else f"process {owner.get('pid')} on host {owner.get('host')}"
            log.warning("%s: taking over the lock %s left by %s, which is no longer running", self.store, self.path,
                        who)  # fmt: skip

    def _discard(self, stale: bytes) -> bool:
        """Remove the lock file if it still holds ``stale``; False if another writer's lock was there.

        Two writers may judge one stale lock at once; the first takes over, and the second must
        not then delete the first one's fresh lock. A rename moves exactly one file atomically, so
        the file moved aside is checked, and put back (hard link: never over a newer lock) if it
        is not the stale one.
        """
        if isinstance(self.path, RemotePath):
            # No rename on object stores: re-read, then delete. Two writers of one host taking over
            # the same stale lock within these milliseconds could still both proceed (documented).
            if self._read_raw() != stale:
                return False
            self.path.unlink(missing_ok=True)
            return True
        aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:  # another writer removed it first
            return False
        try:
            if aside.read_bytes() == stale:
                return True
            try:
                os.link(aside, self.path)  # a fresh lock of another writer: put it back
            except FileExistsError:  # a third writer locked meanwhile; the lock is taken either way
                pass
            except OSError:  # no hard links on this filesystem
                os.rename(aside, self.path)
                return False
            return False
        finally:
            aside.unlink(missing_ok=True)

    def _read_raw(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def _owner(self) -> dict | None:
        raw = self._read_raw()
        return None if raw is None else _parse_owner(raw)

    def _held_message(self, owner: dict | None = None) -> str:
        owner = owner if owner is not None else self._owner() or {}
        host = owner.get("host", "?")
        who = f"process {owner.get('pid', '?')} on host {host}"
        if not owner:  # unreadable: just being written, or damaged
            who = "unknown"
            what = f"its owner is unreadable; wait a few seconds and run again, or delete the lock file {self.path} if no job writes"
        elif host == socket.gethostname():
            what = "it is still running on this host; wait for it to finish (or stop it), then run again"
        else:  # its liveness cannot be checked from here
            what = (f"it cannot be checked from this host; wait for that job to finish, or, if you are sure no job "
                    f"on {host} still writes this store, delete the lock file {self.path}")
        return f"{self.store}: another writer ({who}) holds the lock {self.path}; {what}"

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False


def part_lock_path(store: Path, k: int, n: int) -> Path:
    """The lock of job-array part ``k`` of ``n`` of ``store``: beside it, like the store's own lock."""
    return store.with_name(f"{store.name}.lock-part-{k}-of-{n}")


def part_lock_paths(store: Path) -> list[Path]:
    """Every part lock file of ``store`` (whatever its part numbers)."""
    if isinstance(store, RemotePath):
        pattern = re.compile(re.escape(store.name) + r"\.lock-part-\d+-of-\d+")
        return sorted((p for p in store.parent.iterdir() if pattern.fullmatch(p.name)), key=str)
    return sorted(store.parent.glob(f"{glob_escape(store.name)}.lock-part-*-of-*"))


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def live_owner(path: Path) -> dict | None:
    """The owner recorded in lock file ``path`` if the lock is live, else None.

    Live: held by a running process of this host, or by any process of another host (which
    cannot be checked from here), or unreadable and younger than 5 s (being written). A lock of
    a dead process on this host is stale: None (it is left for its part to take over).
    """
    try:
        raw = path.read_bytes()
        age = time.time() - _mtime(path)
    except FileNotFoundError:
        return None
    owner = _parse_owner(raw)
    if owner is None:
        return {"pid": "?", "host": "?"} if age < 5 else None
    if owner.get("host") != socket.gethostname() or _owner_alive(owner):
        return owner
    return None


def _mtime(path: Path | RemotePath) -> float:
    return path.mtime() if isinstance(path, RemotePath) else path.stat().st_mtime


#: ``best-effort``: on a backend without conditional create, lock with a check-then-write instead of refusing.
LOCK_MODE_VAR = "EVENTKIT_OBJECT_STORE_LOCK"


def _remote_create(path: RemotePath, store: object, data: bytes) -> None:
    """Create an object-store lock only if absent, or refuse: a plain write could not keep two writers apart.

    With ``$EVENTKIT_OBJECT_STORE_LOCK=best-effort`` a backend without conditional create gets a
    check-then-write lock: it stops a second conversion started later, not one started at the same moment.
    """
    try:
        # Belt and braces for S3-compatible servers that ignore If-None-Match (an older MinIO or Ceph
        # would overwrite silently): look first, and read back what was written.
        if path.exists():
            raise FileExistsError(str(path))
        path.create_exclusive(data)
        if path.read_bytes() != data:  # another writer's lock replaced ours: it holds the store
            raise FileExistsError(str(path))
    except NotImplementedError:
        if os.environ.get(LOCK_MODE_VAR, "").strip().lower() == "best-effort":
            if path.exists():
                raise FileExistsError(str(path)) from None
            path.write_bytes(data)
            return
        raise StoreAccessError(
            f"{store}: cannot lock the store: the {path.protocol}:// backend has no conditional create "
            f"(write-if-absent), so two conversions of this store could not be kept apart; if you start one "
            f"conversion at a time, set {LOCK_MODE_VAR}=best-effort (a check-then-write lock), or write to S3 "
            f"or a local/shared folder"
        ) from None
