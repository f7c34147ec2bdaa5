"""What eventkit extracted into a folder, and the swap that installs a new archive version.

Several archives of one dataset share ``extract/`` (CIFAR10-DVS's ten zips, nested zips of
zips), and users may keep their own files there. The record ``<dest>/.eventkit-extracted.json``
says which files each archive put there and from which archive version (its hash)::

    {"format": 1,
     "archives": {"<archive name>": {"key": "sha256:...", "stat": [size, mtime_ns, inode],
                                      "state": "complete" | "installing",
                                      "files": {"rel/path": size, ...}, "dirs": ["rel/dir", ...]}},
     "links": {"<name>": {"dev": ..., "ino": ...}}}

:func:`install` moves a version extracted into a fresh temporary folder into place as a unit:
the old version's files (only those the record names) go to a trash folder, the new ones are
renamed in, the record is marked complete and the trash removed. An interrupted swap leaves the
record in state ``installing``, which is never taken as complete: the next run redoes it. Only
files the record names are ever replaced or removed; anything else in the way (a user's file,
a symlink, a folder) is moved aside to ``NAME.user-<n>`` and named in a warning.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from .extract_guard import writing

__all__ = ["RECORD", "load_record", "save_record", "move_aside", "install", "uninstall", "safe_relative"]

log = logging.getLogger("eventkit")
RECORD = ".eventkit-extracted.json"


def _empty() -> dict:
    return {"format": 1, "archives": {}, "links": {}}


def safe_relative(rel: object) -> bool:
    """A record entry we may act on: a plain relative path with no ``..`` (the record is a file users can edit)."""
    if not isinstance(rel, str) or not rel or "\0" in rel or rel.startswith("/") or "\\" in rel:
        return False
    return all(p not in ("", ".", "..") for p in rel.split("/"))


def load_record(dest: Path) -> dict:
    """The record of ``dest`` (an empty one if missing or unreadable: then nothing there counts as ours)."""
    p = dest / RECORD
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _empty()
    except (OSError, ValueError) as err:
        log.warning("%s is unreadable (%s); treating files in %s as not extracted by eventkit", p, err, dest)
        return _empty()
    if not isinstance(rec, dict) or not isinstance(rec.get("archives"), dict):
        return _empty()
    rec.setdefault("links", {})
    for name, entry in list(rec["archives"].items()):
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
            del rec["archives"][name]
            continue
        entry["files"] = {k: v for k, v in entry["files"].items() if safe_relative(k) and isinstance(v, int)}
        entry["dirs"] = [d for d in entry.get("dirs", []) if safe_relative(d)]
    return rec


def save_record(dest: Path, rec: dict) -> None:
    """Write the record atomically (a crash leaves the old one or the new one, never half)."""
    p = dest / RECORD
    tmp = p.with_name(p.name + f".{secrets.token_hex(4)}.tmp")
    with writing(p):
        tmp.write_text(json.dumps(rec, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, p)


def move_aside(path: Path) -> Path:
    """Rename ``path`` (a user's file, folder or link) to the first free ``NAME.user-<n>``; return the new path."""
    n = 1
    while os.path.lexists(path.with_name(f"{path.name}.user-{n}")):
        n += 1
    aside = path.with_name(f"{path.name}.user-{n}")
    with writing(path):
        os.rename(path, aside)
    return aside


class _Tree:
    """Makes folders under ``dest``, moving aside anything in the way (a file, a symlink to elsewhere)."""

    def __init__(self, dest: Path, aside: list[Path]) -> None:
        self.dest, self.aside, self.ok = dest, aside, {""}

    def real_dir(self, rel: str) -> bool:
        """True if every component of ``rel`` under dest is a real folder (no symlink): safe to act inside."""
        parts = rel.split("/") if rel else []
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in self.ok:
                continue
            p = self.dest / sub
            if p.is_symlink() or not p.is_dir():
                return False
            self.ok.add(sub)
        return True

    def make(self, rel: str) -> None:
        parts = rel.split("/") if rel else []
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in self.ok:
                continue
            p = self.dest / sub
            if p.is_symlink() or (p.exists() and not p.is_dir()):
                self.aside.append(move_aside(p))
            with writing(p):
                p.mkdir(exist_ok=True)
            self.ok.add(sub)


def install(dest: Path, tmp: Path, name: str, key: str, stat_sig: list[int], files: dict[str, int],
            dirs: Iterable[str], todo: Iterable[str], source: str | None = None) -> list[Path]:
    """Move the members ``todo`` of archive ``name`` from ``tmp`` into ``dest`` as one unit.

    Parameters
    ----------
    dest
        The target folder (holds the record).
    tmp
        Fresh folder beside the targets (same filesystem) holding the extracted members ``todo``.
    name, key, stat_sig
        The archive's file name, content key and ``[size, mtime_ns, inode]``.
    files, dirs
        Every regular file (with its size) and folder of the new version.
    todo
        The files present in ``tmp`` to move in (all of ``files`` unless repairing).
    source
        Where the archive lies, relative to ``dest`` (lets :func:`uninstall` find orphans).

    Returns
    -------
    list of Path
        Things of the user's that were in the way, as renamed (also logged as a warning).
    """
    rec = load_record(dest)
    archives = rec["archives"]
    old = archives.get(name, {"files": {}, "dirs": []})
    old_files: dict[str, int] = old["files"]
    others = {f for n, e in archives.items() if n != name for f in e["files"]}
    ours = set(old_files) | others
    dirs = sorted(set(dirs))
    # Claim the union first: a swap cut short is redone next time, and never taken as complete
    archives[name] = {"key": key, "stat": stat_sig, "state": "installing", "files": {**old_files, **files},
                      "dirs": sorted(set(old["dirs"]) | set(dirs))}
    save_record(dest, rec)
    aside: list[Path] = []
    tree = _Tree(dest, aside)
    trash = dest / f".eventkit-trash-{secrets.token_hex(4)}"
    # the old version's files that the new one lacks: stale, ours -> trash
    _to_trash(dest, tree, trash, [r for r in old_files if r not in files and r not in others])
    for rel in todo:
        tree.make(rel.rpartition("/")[0])
        target = dest / rel
        if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
            target.rmdir()  # an empty folder (the old version's, now a file): nothing to keep
        if os.path.lexists(target) and (rel not in ours or target.is_symlink() or not target.is_file()):
            aside.append(move_aside(target))
        with writing(target):
            os.replace(tmp / rel, target)
    for d in dirs:
        tree.make(d)
    _remove_empty(dest, tree, set(old["dirs"]) - set(dirs))
    archives[name] = {"key": key, "stat": stat_sig, "state": "complete", "files": files, "dirs": dirs}
    if source is not None:
        archives[name]["source"] = source
    save_record(dest, rec)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if aside:
        shown = ", ".join(str(p) for p in aside[:5]) + (f" and {len(aside) - 5} more" if len(aside) > 5 else "")
        log.warning("%s: files not extracted by eventkit were in the way of %s; kept them as %s",
                    dest, name, shown)
    return aside



def _to_trash(dest: Path, tree: _Tree, trash: Path, rels: Iterable[str]) -> None:
    """Move recorded files of ours into ``trash`` (never through a symlinked folder, never a non-file)."""
    for rel in rels:
        p = dest / rel
        if tree.real_dir(rel.rpartition("/")[0]) and p.is_file() and not p.is_symlink():
            with writing(p):
                (trash / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, trash / rel)


def _remove_empty(dest: Path, tree: _Tree, dirs: Iterable[str]) -> None:
    for d in sorted(dirs, key=lambda s: -s.count("/")):
        if tree.real_dir(d):
            try:
                (dest / d).rmdir()  # only if empty: a user's file inside keeps the folder
            except OSError:
                pass


def uninstall(dest: Path, name: str) -> None:
    """Remove what archive ``name`` put in ``dest`` (only the files its record names; a user's files stay).

    Used when the archive itself is gone (an inner zip that a new version of its outer archive
    no longer holds), so that its extracted files do not survive as stale data.
    """
    rec = load_record(dest)
    entry = rec["archives"].get(name)
    if entry is None:
        return
    others = {f for n, e in rec["archives"].items() if n != name for f in e["files"]}
    entry["state"] = "installing"
    save_record(dest, rec)
    tree = _Tree(dest, [])
    trash = dest / f".eventkit-trash-{secrets.token_hex(4)}"
    _to_trash(dest, tree, trash, [r for r in entry["files"] if r not in others])
    _remove_empty(dest, tree, entry["dirs"])
    del rec["archives"][name]
    save_record(dest, rec)
    shutil.rmtree(trash, ignore_errors=True)
