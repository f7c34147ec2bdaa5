"""``overwrite``: replace only an eventkit store, by building the new one beside it and swapping.

Nothing that is not an eventkit store is ever deleted. The folder at ``out`` must be absent, empty,
or an eventkit store whose own ``zarr.json`` says so and whose tree holds nothing but store
metadata and chunks; anything else (a user's ``thesis.tex``, a file, a symbolic link) is refused
with the names of what it holds. A store is replaced crash-safely: the new store is written to
``<name>.new`` beside it (resumable: a re-run continues it), and only when it is complete is the
old store renamed to ``<name>.old-<random>``, the new one renamed into place and the old one
removed. A crash or a failed sample before that leaves the old store intact and readable.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import OptionError
from ._lock import WriterLock
from ._remote import RemotePath, location
from .errors import StoreMismatchError
from .layout import lock_path, read_root_attrs

__all__ = ["Target", "check_overwritable", "is_eventkit_store", "replace_store", "remove_store"]

log = logging.getLogger(__name__)

STAGING_SUFFIX = ".new"


def _store_attrs(path: Path) -> dict[str, Any] | None:
    try:
        return read_root_attrs(path)
    except (ValueError, OSError, AttributeError):  # unreadable or damaged zarr.json: not provably a store
        return None


def _foreign_entries(path: Path, limit: int = 3) -> list[str]:
    """Up to ``limit`` entries under ``path`` that a store never holds (files other than metadata and chunks).

    A store holds ``zarr.json`` files, chunk files under an array's ``c/`` folder, and
    ``*.partial`` files a killed writer left; links are never part of one.
    """
    found: list[str] = []
    for root, dirs, files in os.walk(path):
        rel = Path(root).relative_to(path).parts
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, name)
            chunk = "c" in rel and not os.path.islink(full)
            if os.path.islink(full) or not (name == "zarr.json" or chunk or name.endswith(".partial")):
                found.append(str(Path(*rel, name)))
                if len(found) >= limit:
                    return found
    return found


def is_eventkit_store(path: Path) -> bool:
    """Whether ``path`` is a real folder whose root ``zarr.json`` marks an eventkit store and holds nothing else."""
    if path.is_symlink() or not path.is_dir():
        return False
    attrs = _store_attrs(path)
    return bool(attrs) and isinstance(attrs.get("eventkit_store"), str) and not _foreign_entries(path, 1)


def check_overwritable(path: Path) -> Literal["absent", "empty", "store"]:
    """Say what ``path`` is for ``overwrite``; refuse anything that is not ours to replace.

    Raises
    ------
    StoreMismatchError
        ``path`` is a symbolic link, a file, or a folder holding anything but an eventkit store.
    """
    if path.is_symlink():
        raise StoreMismatchError(
            f"{path}: is a symbolic link (to {os.readlink(path)}); --overwrite replaces only a real folder, never "
            f"what a link points to; pass the folder itself or choose another --out"
        )
    if not path.exists():
        return "absent"
    if not path.is_dir():
        raise StoreMismatchError(f"{path}: is a file, not an eventkit store; it will not be overwritten; "
                                 f"choose another --out")
    if not any(path.iterdir()):
        return "empty"
    attrs = _store_attrs(path)
    foreign = _foreign_entries(path)
    if attrs and isinstance(attrs.get("eventkit_store"), str) and not foreign:
        return "store"
    what = ("holds other files besides an eventkit store" if attrs and attrs.get("eventkit_store")
            else "is not an eventkit store (no eventkit zarr.json) and holds other files")
    names = ", ".join(foreign) or ", ".join(sorted(p.name for p in path.iterdir())[:3])
    raise StoreMismatchError(f"{path}: {what} ({names}); it will not be overwritten: choose another --out")


def remove_store(path: Path) -> None:
    """Delete ``path`` only if it is (still) an eventkit store; otherwise raise and delete nothing."""
    if not is_eventkit_store(path) and check_overwritable(path) != "empty":  # raises for anything with files
        raise StoreMismatchError(f"{path}: no store there to delete")
    shutil.rmtree(path)


@dataclass
class Target:
    """Where a conversion writes: ``path`` (``final`` itself, or ``<final>.new`` when replacing a store).

    After the ``with`` block, ``final`` holds the new store if ``swapped``.
    """

    final: Path
    path: Path
    replacing: bool
    swapped: bool = False

    def create(self, create: Callable[..., Any], **kwargs: Any) -> Any:
        """Call a store writer factory on :attr:`path`.

        A ``<name>.new`` left by an earlier, interrupted overwrite is resumed when it was made with
        the same parameters, and rebuilt (it is a verified eventkit store) when not.
        """
        overwrite = kwargs.pop("overwrite", False) and not self.replacing
        try:
            return create(self.path, overwrite=overwrite, **kwargs)
        except StoreMismatchError:
            if not (self.replacing and is_eventkit_store(self.path)):
                raise
            return create(self.path, overwrite=True, **kwargs)


@contextmanager
def replace_store(final: str | os.PathLike[str], *, overwrite: bool, lock: bool = True) -> Iterator[Target]:
    """Write a store for ``final``; with ``overwrite``, replace an existing store only once the new one is complete.

    Without ``overwrite`` (or when ``final`` is absent or an empty folder) the writer works on
    ``final`` itself and makes its own checks. With ``overwrite`` and an eventkit store at
    ``final``, the writer lock of ``final`` is held throughout (no one resumes the old store
    meanwhile), the new store is written to ``<final>.new`` and swapped in on a clean exit when it
    is complete. On an exception, or when samples failed, the old store stays in place and the
    partial new one stays at ``<final>.new`` for a re-run to finish.

    Raises
    ------
    StoreMismatchError
        ``final`` (or ``<final>.new``) is a link, a file, or a folder holding other files.
    StoreLockedError
        Another process is writing the store.
    """
    final = location(final)
    if isinstance(final, RemotePath):
        _refuse_remote_overwrite(final, overwrite)
        yield Target(final, final, replacing=False)  # type: ignore[arg-type]
        return
    if not overwrite or check_overwritable(final) != "store":
        yield Target(final, final, replacing=False)
        return
    staging = final.with_name(final.name + STAGING_SUFFIX)
    check_overwritable(staging)  # a user's own <name>.new is never touched
    held = None
    if lock:
        held = WriterLock(lock_path(final), final)
        held.acquire()
    try:
        target = Target(final, staging, replacing=True)
        yield target
        attrs = _store_attrs(staging)
        if attrs and attrs.get("complete") is True:
            _swap(final, staging)
            target.swapped = True
        else:
            log.warning("%s: the new store is incomplete; the old store at %s is kept; re-run with --overwrite "
                        "to finish it", staging, final)
    finally:
        if held is not None:
            held.release()


def _refuse_remote_overwrite(final: RemotePath, overwrite: bool) -> None:
    """``overwrite`` of a store on an object store: refused, as the old store could not stay readable."""
    if overwrite and (_store_attrs(final) or {}).get("eventkit_store"):
        raise OptionError(
            f"{final}: --overwrite (overwrite=True) cannot replace a store on an object store: objects cannot be "
            f"renamed, so the old store could not stay readable until the new one is complete; delete it first "
            f"(e.g. `aws s3 rm --recursive {final}`) or convert to another --out"
        )


def _swap(final: Path, staging: Path) -> None:
    """Rename the old store aside, the new one into place, then delete the old one (verified a store)."""
    aside = final.with_name(f"{final.name}.old-{secrets.token_hex(4)}")
    os.rename(final, aside)
    try:
        os.rename(staging, final)
    except OSError:
        os.rename(aside, final)  # put the old store back: nothing is lost
        raise
    try:
        remove_store(aside)
    except (OSError, StoreMismatchError) as err:  # the new store is in place; the old one is only left over
        log.warning("%s: the replaced store could not be removed (%s); delete it by hand", aside, err)
