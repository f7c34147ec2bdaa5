"""Safe, resumable, verified extraction of zip, tar(.gz/.bz2/.xz) and, when available, 7z / rar.

Every member is checked **before anything is written**: absolute paths, ``..`` components, links
and device files are refused with :class:`UnsafeArchiveError` naming the member, so a hostile
archive writes nothing. Members are written to ``<name>.part`` and renamed when complete; a
member already on disk with the right size is not written again, so an interrupted extraction
resumes. zip members are CRC-checked by :mod:`zipfile` while reading, gzip/bz2/xz streams by
their own checksums; a corrupt archive raises :class:`ArchiveError`. When every member is in
place a small record ``.eventkit-extracted-<archive>.json`` is written in the target folder and
later calls return at once.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ArchiveError, UnsafeArchiveError

__all__ = ["archive_kind", "extract", "list_members"]

_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b", "tar"),  # gzip: we only extract gzipped tars (a bare .gz is not an archive)
    (b"BZh", "tar"),
    (b"\xfd7zXZ\x00", "tar"),
)


@dataclass(frozen=True)
class Member:
    """A regular file or directory inside an archive (links and devices are refused earlier)."""

    name: str
    size: int
    is_dir: bool


def archive_kind(path: str | os.PathLike[str]) -> str:
    """Return ``"zip"``, ``"tar"``, ``"7z"`` or ``"rar"`` from the magic bytes (suffix as fallback)."""
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
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract anything")
    parts = [p for p in PurePosixPath(norm).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} climbs out with '..'; refusing to extract anything")
    return "/".join(parts)


def list_members(archive: str | os.PathLike[str]) -> list[Member]:
    """List and vet every member of ``archive``.

    Raises
    ------
    UnsafeArchiveError
        A member has an absolute path, a ``..`` component, or is a link or device file.
    ArchiveError
        The archive is corrupt or its kind cannot be read here.
    """
    p = Path(archive)
    kind = archive_kind(p)
    out: list[Member] = []
    try:
        if kind == "zip":
            with zipfile.ZipFile(p) as z:
                for info in z.infolist():
                    # Unix file-type bits (0 for archives made without them): only files and dirs pass
                    ftype = stat.S_IFMT(info.external_attr >> 16)
                    if ftype not in (0, stat.S_IFREG, stat.S_IFDIR):
                        raise UnsafeArchiveError(f"{p}: member {info.filename!r} is a link or special file; refusing")
                    name = _safe_name(p, info.filename)
                    if name:
                        out.append(Member(name, info.file_size, info.is_dir()))
        elif kind == "tar":
            with tarfile.open(p, "r:*") as t:
                for info in t:
                    if not (info.isreg() or info.isdir()):
                        raise UnsafeArchiveError(
                            f"{p}: member {info.name!r} is a link, device or fifo; refusing to extract anything"
                        )
                    name = _safe_name(p, info.name)
                    if name:
                        out.append(Member(name, info.size, info.isdir()))
        else:
            out = _list_other(p, kind)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise ArchiveError(f"{p}: corrupt or truncated {kind} archive ({err}); download it again") from None
    return out


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
    raise ArchiveError(_manual_message(p, kind, "(install the 'archives' extra: pip install 'eventkit[archives]')"))


def _manual_message(p: Path, kind: str, why: str) -> str:
    tool = "7z x" if kind == "7z" else "unrar x (or 7z x)"
    return (
        f"{p}: cannot extract {kind} archives here {why}; extract it by hand with `{tool} {p.name}` "
        f"and point eventkit at the extracted folder with --from DIR"
    )


def _list_other(p: Path, kind: str) -> list[Member]:
    arc = _other_backend(p, kind)
    try:
        if kind == "7z":
            infos = arc.list()
            return [
                Member(_safe_name(p, i.filename), int(i.uncompressed or 0), bool(i.is_directory)) for i in infos
            ]
        out = []
        for i in arc.infolist():
            if i.is_symlink():
                raise UnsafeArchiveError(f"{p}: member {i.filename!r} is a link; refusing")
            out.append(Member(_safe_name(p, i.filename), int(i.file_size), i.is_dir()))
        return out
    finally:
        arc.close()


def _record_path(archive: Path, dest: Path) -> Path:
    return dest / f".eventkit-extracted-{archive.name}.json"


def _complete(members: list[Member], dest: Path) -> bool:
    for m in members:
        target = dest / m.name
        if m.is_dir:
            if not target.is_dir():
                return False
        elif not target.is_file() or target.stat().st_size != m.size:
            return False
    return True


def extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> list[Path]:
    """Extract ``archive`` into ``dest`` safely and resumably; return the paths of its files.

    Parameters
    ----------
    archive
        A zip, tar (plain, .gz, .bz2, .xz), 7z or rar file (the last two need the ``archives``
        extra and, for rar, an unrar tool).
    dest
        Target folder (created if missing).

    Returns
    -------
    list of Path
        The regular files of the archive, in archive order.

    Raises
    ------
    UnsafeArchiveError
        Some member is unsafe; nothing has been written.
    ArchiveError
        The archive is corrupt (members already extracted and complete are kept), or of a kind
        that cannot be extracted here (the message says how to do it by hand).
    """
    src = Path(archive)
    out = Path(dest)
    members = list_members(src)  # vets every member before a single byte is written
    files = [out / m.name for m in members if not m.is_dir]
    record = _record_path(src, out)
    size = src.stat().st_size
    if record.is_file():
        try:
            saved = json.loads(record.read_text())
        except ValueError:
            saved = {}
        if saved.get("archive_size") == size and _complete(members, out):
            return files
    out.mkdir(parents=True, exist_ok=True)
    for m in members:
        if m.is_dir:
            (out / m.name).mkdir(parents=True, exist_ok=True)
    kind = archive_kind(src)
    try:
        if kind == "zip":
            with zipfile.ZipFile(src) as z:
                for info in z.infolist():
                    name = _safe_name(src, info.filename)
                    if name and not info.is_dir():
                        _write_member(out / name, info.file_size, lambda info=info: z.open(info))
        elif kind == "tar":
            with tarfile.open(src, "r:*") as t:
                for info in t:
                    name = _safe_name(src, info.name)
                    if name and info.isreg():
                        _write_member(out / name, info.size, lambda info=info: t.extractfile(info))
        else:
            _extract_other(src, kind, out, members)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise ArchiveError(
            f"{src}: corrupt or truncated {kind} archive ({err}); complete members were kept, "
            f"download the archive again (eventkit verify) and re-run to finish"
        ) from None
    if not _complete(members, out):
        raise ArchiveError(f"{src}: extracted sizes differ from the archive's listing; the archive may be corrupt")
    record.write_text(json.dumps({"archive": src.name, "archive_size": size, "members": len(members)}))
    return files


def _write_member(target: Path, size: int, opener) -> None:
    """Write one member to ``target.part`` and rename it, unless it is already complete."""
    if target.is_file() and target.stat().st_size == size:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with opener() as src, open(part, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(part, target)


def _extract_other(src: Path, kind: str, out: Path, members: list[Member]) -> None:
    todo = [m.name for m in members if not m.is_dir and not (
        (out / m.name).is_file() and (out / m.name).stat().st_size == m.size)]
    if not todo:
        return
    arc = _other_backend(src, kind)
    try:
        if kind == "7z":
            arc.extract(path=out, targets=todo)
        else:
            for name in todo:
                arc.extract(name, path=out)
    finally:
        arc.close()
