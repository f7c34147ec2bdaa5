"""Get a dataset onto disk: download (or generate), verify and extract, per its manifest.

On-disk layout under the data root (``--root``, default ``$EVENTKIT_ROOT`` or
``~/.cache/eventkit``)::

    <root>/<dataset>/download/   the manifest's files, verified (wrong ones kept as *.mismatch)
    <root>/<dataset>/extract/    archives extracted here (or generated data)
    <root>/<dataset>/stores/     frame stores written by ``eventkit convert``
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import DownloadError, ManifestError, UnsafeArchiveError
from .archives import extract
from .extract_guard import ExpandLimits, writing
from .extract_swap import RECORD, load_record, move_aside, save_record, uninstall
from .fetch import download, verify_file
from .generators import generator_names, resolve_generator
from .manifest import DatasetManifest
from .registry import get_manifest

__all__ = ["data_root", "dataset_dir", "download_dataset", "verify_dataset", "FileStatus", "manual_instructions"]

log = logging.getLogger("eventkit")


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$EVENTKIT_ROOT``, else ``~/.cache/eventkit``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("EVENTKIT_ROOT")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "eventkit"


def dataset_dir(manifest: DatasetManifest, root: str | os.PathLike[str] | None = None) -> Path:
    """``<root>/<dataset name>``."""
    return data_root(root) / manifest.name


def _as_manifest(dataset: str | os.PathLike[str] | DatasetManifest) -> DatasetManifest:
    return dataset if isinstance(dataset, DatasetManifest) else get_manifest(dataset)


@dataclass(frozen=True)
class FileStatus:
    """Verification result of one manifest file."""

    filename: str
    path: Path
    ok: bool
    problems: tuple[str, ...]
    manual: bool


def manual_instructions(m: DatasetManifest, download_dir: Path, missing: list[str]) -> str:
    """The message telling a user exactly what to fetch by hand and where to put it."""
    lines = [f"{m.title} must be downloaded by hand ({m.homepage}).", m.instructions or ""]
    lines.append(f"Put these files in {download_dir}:")
    for f in m.files:
        if f.filename in missing:
            want = ", ".join(f"{a} {h}" for a, h in f.remote.hashes.items())
            lines.append(f"  {f.filename}" + (f"  ({want})" if want else ""))
    lines.append(f"then run: eventkit download {m.name}   (or: eventkit verify {m.name})")
    return "\n".join(x for x in lines if x)


def verify_dataset(
    dataset: str | os.PathLike[str] | DatasetManifest, root: str | os.PathLike[str] | None = None
) -> list[FileStatus]:
    """Check every file of a dataset in ``<root>/<name>/download`` against its manifest."""
    m = _as_manifest(dataset)
    ddir = dataset_dir(m, root) / "download"
    out = []
    for f in m.files:
        path = ddir / f.filename
        problems = verify_file(path, f.remote)
        out.append(FileStatus(f.filename, path, not problems, tuple(problems), f.remote.manual))
    return out


def download_dataset(
    dataset: str | os.PathLike[str] | DatasetManifest,
    root: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    session=None,
    max_expand_bytes: int | str | None = None,
    max_expand_ratio: float | None = None,
    stall_timeout: float | None = None,
) -> Path:
    """Download (or generate), verify and extract a dataset; return its ``extract/`` folder.

    Parameters
    ----------
    dataset
        A bundled dataset name, a manifest path, or a loaded manifest.
    root
        Data root (see :func:`data_root`).
    progress
        Show progress bars.
    session
        Optional ``requests.Session`` (tests inject one).
    max_expand_bytes, max_expand_ratio
        Raise (or lower) the archive expansion limits (default: ``$EVENTKIT_MAX_EXPAND_BYTES`` /
        ``$EVENTKIT_MAX_EXPAND_RATIO``, else 1 TiB per archive and ratio 100); see
        :class:`~eventkit.datasets.extract_guard.ExpandLimits`.
    stall_timeout
        Seconds a download may receive (almost) nothing before it is abandoned and resumed
        (default ``$EVENTKIT_STALL_TIMEOUT``, else 60); see :func:`~eventkit.datasets.fetch.download`.

    Raises
    ------
    DownloadError
        A file could not be fetched; for manual datasets the message says exactly what to fetch
        and where to put it.
    ChecksumMismatchError
        A file does not match the manifest (it is kept, moved aside).
    ArchiveError, UnsafeArchiveError, ArchiveTooLargeError, DiskWriteError
        From extraction (see :func:`eventkit.datasets.archives.extract`); what was extracted
        before is left as it was.
    """
    m = _as_manifest(dataset)
    limits = ExpandLimits.resolve(max_expand_bytes, max_expand_ratio)  # a bad value fails before any work
    base = dataset_dir(m, root)
    ddir, xdir = base / "download", base / "extract"
    if m.generator and not m.files:
        return _generate(m, xdir)
    ddir.mkdir(parents=True, exist_ok=True)
    missing_manual = [
        f.filename for f in m.files if f.remote.manual and verify_file(ddir / f.filename, f.remote)
    ]
    if missing_manual:
        raise DownloadError(manual_instructions(m, ddir, missing_manual))
    with writing(xdir):
        xdir.mkdir(parents=True, exist_ok=True)
    for f in m.files:
        path = download(f.remote, ddir, progress=progress, session=session, stall_timeout=stall_timeout)
        if f.archive == "none":
            if f.role != "rar-volume":  # volumes are read through part 1, not used on their own
                _link_into(path, xdir / f.filename)
            continue
        extract(path, xdir, key=_manifest_key(f.remote.hashes), limits=limits)
        if f.nested:
            _extract_nested(xdir, f.nested, limits)
    return xdir


def _manifest_key(hashes) -> str | None:
    """The download was verified against these: the archive's content key without hashing it again."""
    for algo in ("sha256", "sha512", "sha1", "md5"):
        if hashes.get(algo):
            return f"{algo}:{hashes[algo].lower()}"
    return None


def _link_into(src: Path, dst: Path) -> None:
    """Make a plain downloaded file (a label list, say) visible in ``extract/`` without copying it.

    Only a link we made (recorded by device and inode, or a symlink into the download folder) is
    ever replaced; a user's own file at ``dst`` is moved aside to ``NAME.user-<n>`` (logged), never
    deleted.
    """
    xdir = dst.parent
    if dst.name.startswith(".eventkit-"):
        raise ManifestError(f"file {dst.name!r}: names starting with '.eventkit-' are reserved for eventkit's "
                            f"own records; rename the file in the manifest")
    rec = load_record(xdir)
    if os.path.lexists(dst):
        if dst.is_file() and os.path.samefile(src, dst):
            _remember_link(xdir, rec, dst)
            return
        if _made_by_us(rec, src, dst):
            with writing(dst):
                dst.unlink()  # our own earlier link to an older download
        else:
            aside = move_aside(dst)
            log.warning("%s was not made by eventkit; kept it as %s and linked the download %s in its place",
                        dst, aside, src)
    with writing(dst):
        try:
            os.link(src, dst)
        except OSError:  # another filesystem: a symlink is as good for reading
            dst.symlink_to(src.resolve())
    _remember_link(xdir, rec, dst)


def _made_by_us(rec: dict, src: Path, dst: Path) -> bool:
    if dst.is_symlink():
        target = Path(os.readlink(dst))
        return target.is_absolute() and target.parent == src.resolve().parent
    info = rec["links"].get(dst.name)
    st = dst.lstat()
    return isinstance(info, dict) and info.get("dev") == st.st_dev and info.get("ino") == st.st_ino


def _remember_link(xdir: Path, rec: dict, dst: Path) -> None:
    st = dst.lstat()
    if rec["links"].get(dst.name) != {"dev": st.st_dev, "ino": st.st_ino}:
        rec["links"][dst.name] = {"dev": st.st_dev, "ino": st.st_ino}
        save_record(xdir, rec)


def _inside(root: Path, p: Path) -> bool:
    return p == root or root in p.parents


def _extract_nested(xdir: Path, nested: dict[str, str], limits: ExpandLimits | None = None) -> None:
    """Extract the archives inside an extracted archive (zips of zips: ASL-DVS, NAV, HARDVS, N-CARS).

    Every archive found and every target folder must lie inside ``xdir`` once symlinks are
    resolved (the manifest validator refuses ``..`` and absolute globs; this holds even if a
    manifest was built in code or a folder inside ``extract/`` is a symlink to elsewhere).
    """
    pattern = nested["glob"]
    into = nested["into"]
    if (not isinstance(pattern, str) or not pattern or "\0" in pattern or pattern.startswith(("/", "\\"))
            or PurePosixPath(pattern.replace("\\", "/")).is_absolute() or ".." in pattern.replace("\\", "/").split("/")
            or (len(pattern) > 1 and pattern[1] == ":")):
        raise UnsafeArchiveError(f"nested glob {pattern!r} must be a relative pattern inside {xdir} "
                                 f"(no absolute path, no '..'); refusing to extract")
    if into not in ("here", "stem"):
        raise ManifestError(f"nested 'into' must be 'here' or 'stem', not {into!r}")
    root = xdir.resolve()
    for inner in sorted(xdir.glob(pattern)):
        real = inner.resolve()
        if not _inside(root, real) or inner.is_symlink():
            raise UnsafeArchiveError(f"{inner}: leads outside {xdir} (a symlink or '..'); refusing to extract it")
        if not real.is_file():
            continue
        target = inner.parent if into == "here" else inner.parent / inner.name.split(".")[0]
        if not _inside(root, target.resolve()):
            raise UnsafeArchiveError(f"{target}: leads outside {xdir} (a symlink); refusing to extract {inner} there")
        extract(inner, target, limits=limits)
    _prune_orphans(xdir, root)


def _prune_orphans(xdir: Path, root: Path) -> None:
    """Remove what inner archives that no longer exist extracted (a new outer version dropped them):
    their files would otherwise survive as stale data. Only files their records name are touched."""
    for rec_path in xdir.rglob(RECORD):
        dest = rec_path.parent
        if rec_path.is_symlink() or not _inside(root, dest.resolve()):
            continue
        for name, entry in list(load_record(dest)["archives"].items()):
            source = entry.get("source")
            if not isinstance(source, str):
                continue
            src = (dest / source).resolve()
            if _inside(root, src) and not src.exists():
                uninstall(dest, name)


def _generate(m: DatasetManifest, xdir: Path) -> Path:
    try:
        fn = resolve_generator(m.generator)
    except KeyError:  # a manifest built in code, bypassing load_manifest's check
        raise ManifestError(
            f"{m.path}: field 'generator': unknown generator {m.generator!r}; registered: {generator_names()}"
        ) from None
    marker = xdir / ".eventkit-generated"
    if marker.is_file():
        return xdir
    fn(xdir)
    marker.write_text(m.generator + "\n")
    return xdir
