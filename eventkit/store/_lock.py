"""An exclusive writer lock: a file created with O_EXCL holding the owner's pid and host.

A lock whose owner is a dead process on this host is stale and is taken over; a lock held from
another host cannot be checked, so it is refused with the path to delete.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .errors import StoreLockedError

__all__ = ["WriterLock"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class WriterLock:
    """Hold ``path`` exclusively until :meth:`release`.

    Parameters
    ----------
    path
        The lock file.
    store
        The store it protects (for messages).
    """

    def __init__(self, path: Path, store: Path) -> None:
        self.path = path
        self.store = store
        self._held = False

    def acquire(self) -> None:
        """Create the lock file, taking over a stale one.

        Raises
        ------
        StoreLockedError
            If a live process (or one on another host) holds the lock.
        """
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._remove_if_stale()  # raises if the owner is alive
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self._held = True
            return
        raise StoreLockedError(self._held_message())

    def _remove_if_stale(self) -> None:
        owner = self._owner()
        if owner is None:  # unreadable or half-written: only stale if old (its writer died at once)
            try:
                if time.time() - self.path.stat().st_mtime < 5:
                    raise StoreLockedError(self._held_message())
            except FileNotFoundError:
                return
        elif owner.get("host") != socket.gethostname() or _pid_alive(int(owner.get("pid", -1))):
            raise StoreLockedError(self._held_message(owner))
        self.path.unlink(missing_ok=True)

    def _owner(self) -> dict | None:
        try:
            owner = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return owner if isinstance(owner, dict) else None

    def _held_message(self, owner: dict | None = None) -> str:
        owner = owner if owner is not None else self._owner() or {}
        who = f"process {owner.get('pid', '?')} on host {owner.get('host', '?')}"
        return (
            f"{self.store}: another writer ({who}) holds the lock {self.path}; wait for it to finish, "
            f"or delete the lock file if that process is gone"
        )

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False
