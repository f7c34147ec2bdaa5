"""Get a dataset onto disk: download (or generate), verify and extract, per its manifest.

On-disk layout under the data root (``--root``, default ``$EVENTKIT_ROOT`` or
``~/.cache/eventkit``)::

    <root>/<dataset>/download/   the manifest's files, verified (wrong ones kept as *.mismatch)
    <root>/<dataset>/extract/    archives extracted here (or generated data)
    <root>/<dataset>/stores/     frame stores written by ``eventkit convert``
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetNotFoundError, DownloadError, ManifestError
from .archives import extract
from .fetch import download, verify_file
from .generators import generator_names, resolve_generator
from .manifest import DatasetManifest
from .registry import get_manifest

__all__ = ["data_root", "dataset_dir", "download_dataset", "verify_dataset", "FileStatus", "manual_instructions"]


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

    Raises
    ------
    DownloadError
        A file could not be fetched; for manual datasets the message says exactly what to fetch
        and where to put it.
    ChecksumMismatchError
        A file does not match the manifest (it is kept, moved aside).
    """
    m = _as_manifest(dataset)
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
    xdir.mkdir(parents=True, exist_ok=True)
    for f in m.files:
        path = download(f.remote, ddir, progress=progress, session=session)
        if f.archive == "none":
            if f.role != "rar-volume":  # volumes are read through part 1, not used on their own
                _link_into(path, xdir / f.filename)
            continue
        extract(path, xdir)
        if f.nested:
            _extract_nested(xdir, f.nested)
    return xdir


def _link_into(src: Path, dst: Path) -> None:
    """Make a plain downloaded file (a label list, say) visible in ``extract/`` without copying it."""
    if dst.exists() or dst.is_symlink():
        if dst.is_file() and os.path.samefile(src, dst):
            return
        dst.unlink()  # our own earlier link to an older download
    try:
        os.link(src, dst)
    except OSError:  # another filesystem: a symlink is as good for reading
        dst.symlink_to(src.resolve())


def _extract_nested(xdir: Path, nested: dict[str, str]) -> None:
    """Extract the archives inside an extracted archive (zips of zips: ASL-DVS, NAV, HARDVS, N-CARS)."""
    for inner in sorted(xdir.glob(nested["glob"])):
        if not inner.is_file():
            continue
        target = inner.parent if nested["into"] == "here" else inner.parent / inner.name.split(".")[0]
        extract(inner, target)


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
