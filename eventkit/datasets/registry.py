"""The bundled dataset registry: every ``data_manifests/*.toml``, loaded and validated once."""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

from ..errors import DatasetNotFoundError, ManifestError
from .manifest import DatasetManifest, load_manifest

__all__ = ["manifest_dir", "list_datasets", "get_manifest"]


def manifest_dir() -> Path:
    """Folder of the bundled manifests.

    ``$EVENTKIT_MANIFESTS`` overrides it. An installed wheel ships them as the package data
    ``eventkit/data_manifests/``; a checkout (and its editable install) keeps them in the top-level
    ``data_manifests/`` beside the ``eventkit`` package.
    """
    env = os.environ.get("EVENTKIT_MANIFESTS")
    if env:
        return Path(env)
    # Wheels install unpacked, so the package data is a real folder on disk.
    installed = Path(str(resources.files("eventkit").joinpath("data_manifests")))
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "data_manifests"


@functools.lru_cache(maxsize=4)
def _load_all(folder: str) -> dict[str, DatasetManifest]:
    out: dict[str, DatasetManifest] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        m = load_manifest(path)
        if path.stem != m.name:  # `eventkit download NAME` must find the file a reader would look for
            raise ManifestError(f"{path}: field 'name': {m.name!r} differs from the file name; rename the file "
                                f"to {m.name}.toml or set name = {path.stem!r}")
        if m.name in out:
            raise DatasetNotFoundError(f"{path}: dataset name {m.name!r} is also used by {out[m.name].path}")
        out[m.name] = m
    return out


def list_datasets() -> list[DatasetManifest]:
    """Every bundled dataset manifest, sorted by name."""
    return [m for _, m in sorted(_load_all(str(manifest_dir())).items())]


def get_manifest(name_or_path: str | os.PathLike[str]) -> DatasetManifest:
    """A bundled manifest by dataset name, or a user's manifest by file path (``--manifest FILE``).

    Raises
    ------
    DatasetNotFoundError
        No bundled dataset has that name (the message lists the names).
    ManifestError
        The manifest file is invalid.
    """
    s = os.fspath(name_or_path)
    # A Path is always a file (`--manifest mymanifest` without .toml), never a dataset name.
    if not isinstance(name_or_path, str) or s.endswith(".toml") or os.sep in s or "/" in s:
        return load_manifest(s)
    found = _load_all(str(manifest_dir()))
    if s not in found:
        raise DatasetNotFoundError(f"no dataset named {s!r}; known datasets: {', '.join(sorted(found))}")
    return found[s]
