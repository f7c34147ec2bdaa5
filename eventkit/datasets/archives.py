"""Safe, resumable, verified extraction of zip, tar(.gz/.bz2/.xz) and, when available, 7z / rar.

Every member of every archive kind is checked **before anything is written**: absolute paths,
``..`` components, NUL bytes, links (symbolic or hard, zip symlink bits, rar redirections),
devices and fifos are refused with :class:`UnsafeArchiveError` naming the member, so a hostile
archive writes nothing. Two members with one name: for tar the **last** wins (tar's own rule);
for zip and rar they are refused with :class:`ArchiveError` (tools disagree on which one wins,
so such an archive can show one file and extract another). A plain ``.tar`` must end with its
end-of-archive marker (a cut at a member boundary is otherwise invisible); compressed streams
are checked by their own checksums. Expansion is bounded by
:class:`~eventkit.datasets.extract_guard.ExpandLimits` (header check first, then byte counting).

Extraction is keyed to the archive's content (its hash): members are written into a fresh folder
``<dest>/.eventkit-tmp-<archive>-<key>/`` beside the targets (resumable: the folder belongs to
that one version) and then swapped in as a unit by
:func:`~eventkit.datasets.extract_swap.install`, which removes the previous version's files
(only those its record names) so no stale member survives an update. A user's file in the way is
moved aside, never deleted. Disk full or read-only -> :class:`DiskWriteError`, previous state
intact. Later calls with the same archive return at once.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .._extras import install_hint
from ..errors import ArchiveError, EventkitError, UnsafeArchiveError
from .extract_guard import ExpandLimits, check_expansion, copy_member, reading, writing
from .extract_swap import install, load_record, save_record

__all__ = ["archive_kind", "extract", "list_members", "Member", "ExpandLimits"]

_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b", "tar"),  # gzip: we only extract gzipped tars (a bare .gz is not an archive)
    (b"BZh", "tar"),
    (b"\xfd7zXZ\x00", "tar"),
)
_COMPRESSED_TAR = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_NAME_MAX = 255  # bytes per path component on every common filesystem


@dataclass(frozen=True)
class Member:
    """A regular file or directory inside an archive (links and devices are refused earlier).

    ``compressed`` is the member's compressed size where the format records one per member (zip),
    else None.
    """

    name: str
    size: int
    is_dir: bool
    compressed: int | None = None


@dataclass
class _Listing:
    kind: str
    members: list[Member]
    # which physical entry provides each file: ZipInfo (zip), header offset (tar), RarInfo / name
    tokens: dict[str, Any] = field(default_factory=dict)
    packed: int | None = None  # bytes of all volumes of a multi-volume archive (rar), for the ratio check


def archive_kind(path: str | os.PathLike[str]) -> str:
    """Return ``"zip"``, ``"tar"``, ``"7z"`` or ``"rar"`` from the magic bytes."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(512)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    raise ArchiveError(f"{p}: not a zip, tar(.gz/.bz2/.xz), 7z or rar archive (unknown leading bytes)")


def _safe_name(archive: Path, name: str) -> str:
    """Normalise a member name, refusing anything that could land outside the target folder."""
    if not isinstance(name, str) or "\0" in name:
        raise UnsafeArchiveError(f"{archive}: member {name!r} has a NUL byte in its name; refusing to extract anything")
    norm = name.replace("\\", "/")  # Windows-made archives separate folders with backslashes
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract anything")
    parts = [p for p in PurePosixPath(norm).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} climbs out with '..'; refusing to extract anything")
    if any(p.startswith(".eventkit-") for p in parts):  # our records, temporary and trash folders
        raise UnsafeArchiveError(f"{archive}: member {name!r} uses a name eventkit reserves for its own "
                                 f"bookkeeping (.eventkit-*); refusing to extract anything")
    if any(len(p.encode("utf-8", "surrogateescape")) > _NAME_MAX for p in parts):
        raise ArchiveError(f"{archive}: member {name!r} has a name part over {_NAME_MAX} bytes; "
                           f"no common filesystem can hold it")
    return "/".join(parts)


def _unsafe_type(archive: Path, name: str, what: str = "a link, device or fifo") -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{archive}: member {name!r} is {what}; refusing to extract anything")


def _flag(obj: Any, attr: str) -> bool:
    """A backend's boolean that may be a property or a method (and may be missing)."""
    v = getattr(obj, attr, False)
    return bool(v() if callable(v) else v)


def _mode_ok(mode: Any) -> bool:
    """Unix file-type bits: only files and folders (0 = not recorded) pass."""
    return not isinstance(mode, int) or stat.S_IFMT(mode) in (0, stat.S_IFREG, stat.S_IFDIR)


class _Collector:
    """Gathers vetted members; settles duplicates and file/folder clashes."""

    def __init__(self, archive: Path, last_wins: bool) -> None:
        self.archive, self.last_wins = archive, last_wins
        self.members: dict[str, Member] = {}
        self.tokens: dict[str, Any] = {}

    def add(self, raw: str, size: int, is_dir: bool, token: Any, compressed: int | None = None) -> None:
        name = _safe_name(self.archive, raw)
        if not name:
            return
        prev = self.members.get(name)
        if prev is not None:
            if prev.is_dir and is_dir:
                return
            if not self.last_wins or prev.is_dir != is_dir:
                raise ArchiveError(
                    f"{self.archive}: two members are named {name!r}; tools disagree on which one to "
                    f"extract, so eventkit refuses the archive (repack it with one copy of each file)"
                )
            del self.members[name]  # tar: the later copy replaces the earlier one
        self.members[name] = Member(name, int(size), bool(is_dir), compressed)
        if not is_dir:
            self.tokens[name] = token

    def listing(self, kind: str) -> _Listing:
        files = {n for n, m in self.members.items() if not m.is_dir}
        for n in files:
            parts = n.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in files:
                    raise ArchiveError(f"{self.archive}: {'/'.join(parts[:i])!r} is both a file and a folder "
                                       f"in this archive; refusing it")
        return _Listing(kind, list(self.members.values()), self.tokens)


def _scan(p: Path) -> _Listing:
    """List and vet every member of ``p`` (nothing is written)."""
    kind = archive_kind(p)
    with reading(p, kind):
        if kind == "zip":
            return _scan_zip(p)
        if kind == "tar":
            return _scan_tar(p)
    return _scan_other(p, kind)


def _scan_zip(p: Path) -> _Listing:
    col = _Collector(p, last_wins=False)
    with zipfile.ZipFile(p) as z:
        for info in z.infolist():
            if not _mode_ok(info.external_attr >> 16):
                raise _unsafe_type(p, info.filename, "a link or special file")
            if info.flag_bits & 0x1:
                raise ArchiveError(f"{p}: member {info.filename!r} is encrypted; extract it by hand with its password")
            col.add(info.filename, info.file_size, info.is_dir(), info, info.compress_size)
    return col.listing("zip")


def _scan_tar(p: Path) -> _Listing:
    col = _Collector(p, last_wins=True)
    last = None
    with tarfile.open(p, "r:*") as t:
        for info in t:
            if not (info.isreg() or info.isdir()):
                raise _unsafe_type(p, info.name)
            col.add(info.name, info.size, info.isdir(), info.offset)
            last = info.name
        end = t.offset
        # tarfile stops at the first zero block: read a compressed stream to its end so that its own
        # checksum and end marker are verified (only padding is left; a cut there is caught too)
        if isinstance(t.fileobj, (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile)):
            while t.fileobj.read(1 << 16):
                pass
    with open(p, "rb") as f:
        compressed = f.read(6).startswith(_COMPRESSED_TAR)
        if not compressed:
            # tarfile stops silently at EOF or a bad header: only the end-of-archive marker proves the rest is there
            f.seek(end)
            block = f.read(512)
            if len(block) < 512 or block.count(0) != 512:
                after = f"after member {last!r}" if last else "before its first member"
                raise ArchiveError(
                    f"{p}: truncated tar archive: it ends {after} without the end-of-archive marker "
                    f"(two zero blocks), so members are missing. Move it aside and download it again "
                    f"(`eventkit verify` checks it against the manifest)"
                )
    return col.listing("tar")


def _other_backend(p: Path, kind: str):
    try:
        if kind == "7z":
            import py7zr

            return py7zr.SevenZipFile(p)
        import rarfile

        return rarfile.RarFile(p)
    except ImportError:
        pass
    except Exception as err:  # backend present but unusable (e.g. no unrar tool)
        raise ArchiveError(_manual_message(p, kind, f"({err})")) from None
    raise ArchiveError(_manual_message(p, kind, f"(reading it needs the 'archives' extra: {install_hint('archives')})"))


def _manual_message(p: Path, kind: str, why: str) -> str:
    tool = "7z x" if kind == "7z" else "unrar x (or 7z x)"
    return (
        f"{p}: cannot extract {kind} archives here {why}; extract it by hand with `{tool} {p.name}` "
        f"and point eventkit at the extracted folder with --from DIR"
    )


def _scan_other(p: Path, kind: str) -> _Listing:
    arc = _other_backend(p, kind)
    col = _Collector(p, last_wins=False)
    try:
        with reading(p, kind, (Exception,)):
            if kind == "7z":
                entries = getattr(arc, "files", None)
                for e in (entries if entries is not None else arc.list()):
                    name = e.filename
                    if any(_flag(e, a) for a in ("is_symlink", "is_junction", "is_socket")) or not (
                            _mode_ok(getattr(e, "posix_mode", None)) and _mode_ok(getattr(e, "st_fmt", None))):
                        raise _unsafe_type(p, name)
                    col.add(name, int(getattr(e, "uncompressed", 0) or 0), _flag(e, "is_directory"), name)
            else:
                for i in arc.infolist():
                    if (_flag(i, "is_symlink") or getattr(i, "file_redir", None)
                            or not _mode_ok(getattr(i, "mode", None))
                            or not (_flag(i, "is_dir") or _flag(i, "is_file"))):
                        raise _unsafe_type(p, i.filename, "a link (symbolic, hard or a file copy), device or fifo")
                    col.add(i.filename, int(i.file_size), _flag(i, "is_dir"), i)
        listing = col.listing(kind)
        volumes = getattr(arc, "volumelist", None)
        if callable(volumes):
            with contextlib.suppress(Exception):
                listing.packed = sum(os.path.getsize(v) for v in volumes())
    finally:
        arc.close()
    return listing


def list_members(archive: str | os.PathLike[str]) -> list[Member]:
    """List and vet every member of ``archive`` (for tar, the last of two same-named members).

    Raises
    ------
    UnsafeArchiveError
        A member has an absolute path, a ``..`` component, a NUL byte, or is a link or device file.
    ArchiveError
        The archive is corrupt or truncated, has ambiguous duplicate members, or its kind cannot be
        read here.
    """
    return _scan(Path(archive)).members


# --- extraction -------------------------------------------------------------------------------


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with reading(p, ""), open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _complete(path: Path, size: int) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _legacy_adopt(src: Path, out: Path, files: dict[str, int]) -> bool:
    """An extraction made before the record existed (``.eventkit-extracted-<archive>.json``): adopt it
    only if it recorded this archive's size and every member is in place."""
    old = out / f".eventkit-extracted-{src.name}.json"
    try:
        saved = json.loads(old.read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(saved, dict) and saved.get("archive_size") == src.stat().st_size
            and all(_complete(out / n, s) for n, s in files.items()))


def extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    key: str | None = None,
    limits: ExpandLimits | None = None,
) -> list[Path]:
    """Extract ``archive`` into ``dest`` safely and resumably; return the paths of its files.

    Parameters
    ----------
    archive
        A zip, tar (plain, .gz, .bz2, .xz), 7z or rar file (the last two need the ``archives``
        extra and, for rar, an unrar tool).
    dest
        Target folder (created if missing). Several archives may share it.
    key
        The archive's content hash if already known (e.g. ``"sha256:..."`` from the manifest,
        verified by the download); computed once per archive version otherwise.
    limits
        Expansion limits (default: :meth:`ExpandLimits.resolve`, i.e. environment, then defaults).

    Returns
    -------
    list of Path
        The regular files of the archive, in archive order.

    Raises
    ------
    UnsafeArchiveError
        Some member is unsafe; nothing has been written.
    ArchiveTooLargeError
        The archive would expand beyond ``limits``; the message says how to raise them.
    ArchiveError
        The archive is corrupt or truncated (the previous extraction is untouched), or of a kind
        that cannot be extracted here (the message says how to do it by hand).
    DiskWriteError
        The disk is full or read-only; the previous extraction is untouched.
    """
    src, out = Path(archive), Path(dest)
    with reading(src, ""):
        st = src.stat()
    stat_sig = [st.st_size, st.st_mtime_ns, st.st_ino]
    rec = load_record(out)
    entry = rec["archives"].get(src.name)
    if key is None and entry is not None and entry.get("stat") == stat_sig and isinstance(entry.get("key"), str):
        key = entry["key"]  # same file as last time (size, mtime, inode): its hash is known
    if key is None:
        key = _sha256(src)
    same = entry is not None and entry.get("key") == key and entry.get("state") == "complete"
    if same and all(_complete(out / n, s) for n, s in entry["files"].items()):
        if entry.get("stat") != stat_sig:
            entry["stat"] = stat_sig
            save_record(out, rec)
        return [out / n for n in entry["files"]]
    listing = _scan(src)  # vets every member before a single byte is written
    files = {m.name: m.size for m in listing.members if not m.is_dir}
    # folders, including those only implied by file paths: an update removes the ones left empty
    dirs = sorted({m.name for m in listing.members if m.is_dir}
                  | {"/".join(n.split("/")[:i]) for n in files for i in range(1, n.count("/") + 1)})
    paths = [out / n for n in files]
    if same and set(entry["files"]) == set(files):
        todo = [n for n, s in files.items() if not _complete(out / n, s)]  # repair: same version, some files lost
    elif entry is None and _legacy_adopt(src, out, files):
        rec["archives"][src.name] = {"key": key, "stat": stat_sig, "state": "complete", "files": files, "dirs": dirs}
        save_record(out, rec)
        (out / f".eventkit-extracted-{src.name}.json").unlink(missing_ok=True)  # our own old bookkeeping
        return paths
    else:
        todo = list(files)
    wanted = set(todo)
    check_expansion(src, [m for m in listing.members if m.is_dir or m.name in wanted], listing.packed or st.st_size,
                    limits or ExpandLimits.resolve())
    created = not out.exists()
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_tmp(out, src.name, key)
    try:
        _extract_into(src, listing, tmp, wanted)
        for n in todo:
            if not _complete(tmp / n, files[n]):
                raise ArchiveError(f"{src}: member {n!r} did not extract to the size its header declares; "
                                   f"the archive may be corrupt (download it again) or need extracting by hand")
    except EventkitError:
        # a damaged or hostile archive, or a full disk: drop the partial copy (our own folder; the
        # previous extraction was never touched). An interruption (kill, Ctrl-C) keeps it to resume.
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    install(out, tmp, src.name, key, stat_sig, files, dirs, todo, source=os.path.relpath(src, out))
    (out / f".eventkit-extracted-{src.name}.json").unlink(missing_ok=True)
    return paths


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]


def _fresh_tmp(out: Path, name: str, key: str) -> Path:
    """The temporary folder of this archive version (kept across an interruption, so extraction resumes);
    those of other versions of the same archive are ours and stale: removed."""
    stem = f".eventkit-tmp-{_slug(name)}-"
    tmp = out / (stem + hashlib.sha256(key.encode()).hexdigest()[:16])
    for old in out.glob(stem + "*"):
        if old != tmp and old.is_dir() and not old.is_symlink() and re.fullmatch(r"[0-9a-f]{16}", old.name[len(stem):]):
            shutil.rmtree(old, ignore_errors=True)
    for trash in out.glob(".eventkit-trash-*"):  # left by a swap cut short: only our own moved-out files
        if trash.is_dir() and not trash.is_symlink() and re.fullmatch(r"\.eventkit-trash-[0-9a-f]{8}", trash.name):
            shutil.rmtree(trash, ignore_errors=True)
    if tmp.is_symlink() or (tmp.exists() and not tmp.is_dir()):
        with writing(tmp):
            tmp.unlink()  # our own reserved name, but not something we made: nothing to keep there
    with writing(tmp):
        tmp.mkdir(exist_ok=True)
    return tmp


def _write(src: Path, kind: str, tmp: Path, name: str, size: int, opener, errors=None) -> None:
    """One member into ``tmp/name`` via ``.part`` + rename (skipped if already complete there)."""
    target = tmp / name
    if _complete(target, size):
        return
    with writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    if errors is None:
        copy_member(src, kind, name, size, opener, part)
    else:
        copy_member(src, kind, name, size, opener, part, errors)
    with writing(target):
        os.replace(part, target)


def _extract_into(src: Path, listing: _Listing, tmp: Path, todo: set[str]) -> None:
    kind, tokens = listing.kind, listing.tokens
    sizes = {m.name: m.size for m in listing.members}
    if not todo:
        return
    if kind == "zip":
        with reading(src, kind), zipfile.ZipFile(src) as z:
            for n in todo:
                _write(src, kind, tmp, n, sizes[n], lambda info=tokens[n]: z.open(info))
    elif kind == "tar":
        wanted = {tokens[n]: n for n in todo}  # header offset of the winning copy -> name
        with reading(src, kind), tarfile.open(src, "r:*") as t:
            for info in t:
                n = wanted.get(info.offset)
                if n is not None and info.isreg():
                    _write(src, kind, tmp, n, sizes[n], lambda info=info: t.extractfile(info))
    elif kind == "rar":
        arc = _other_backend(src, kind)
        try:
            for n in todo:
                _write(src, kind, tmp, n, sizes[n], lambda i=tokens[n]: arc.open(i), (Exception,))
        finally:
            arc.close()
    else:
        _extract_7z(src, tmp, todo, tokens)


def _extract_7z(src: Path, tmp: Path, todo: set[str], tokens: dict[str, Any]) -> None:
    """py7zr writes the files itself (no streaming API): it writes into our fresh ``tmp`` only,
    after vetting, and the result is checked (sizes, no links) before anything is swapped in."""
    arc = _other_backend(src, "7z")
    try:
        with reading(src, "7z", (Exception,)):
            arc.extract(path=tmp, targets=[tokens[n] for n in sorted(todo)])
    finally:
        arc.close()
    for root, dnames, fnames in os.walk(tmp):
        for n in dnames + fnames:
            if os.path.islink(os.path.join(root, n)):
                raise _unsafe_type(src, os.path.relpath(os.path.join(root, n), tmp), "a link after extraction")
