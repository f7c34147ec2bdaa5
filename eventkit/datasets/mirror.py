"""Make a mirror of a dataset: pack its extracted files into an archive and write a manifest for it.

Useful for a lab's own mirror (or a local one for offline machines) and for the demo, which
serves the generated synthetic-gestures archive from 127.0.0.1 to exercise the real download,
verify and extract path.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path

from .fetch import file_hashes
from .manifest import DatasetManifest

__all__ = ["pack_tree", "mirror_manifest_text"]


def pack_tree(src_dir: str | os.PathLike[str], archive: str | os.PathLike[str]) -> Path:
    """Write every regular file under ``src_dir`` (names relative to it, sorted) into a .tar.gz.

    Hidden bookkeeping files (names starting with '.') are left out. The archive is written to a
    temporary name and renamed, so a reader never sees half an archive.
    """
    src, out = Path(src_dir), Path(archive)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
    # a fresh temporary name of our own: an existing file beside the archive is never truncated
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
            for p in files:
                info = tar.gettarinfo(p, arcname=p.relative_to(src).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0  # same files, same archive bytes
                with open(p, "rb") as f:
                    tar.addfile(info, f)
        tmp.chmod(0o644)  # mkstemp's 0600 would hide a mirror archive from the web server
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)  # only our own half-written temporary file
        raise
    return out


def _toml_str(s: str) -> str:
    # JSON's escapes are valid in TOML basic strings; control characters (and DEL) are escaped,
    # so a file name or URL can never end the string or add a line to the manifest
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def mirror_manifest_text(base: DatasetManifest, archive: str | os.PathLike[str], urls: list[str]) -> str:
    """A manifest for ``archive`` served at ``urls``, with everything else copied from ``base``.

    The archive's size, md5 and sha256 are measured and written, so a download from the mirror
    is verified like any other.
    """
    a = Path(archive)
    hashes = file_hashes(a, ("md5", "sha256"))
    top = {
        "schema": 1, "name": base.name, "version": base.version, "title": base.title, "homepage": base.homepage,
        "license": base.license, "citation": base.citation, "decoder": base.decoder,
        "sensor": {"width": base.sensor.width, "height": base.sensor.height, "polarities": base.sensor.polarities},
        "classes": list(base.classes), "splits": list(base.splits),
    }
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    lines += ["", "[samples]"] + [f"{k} = {_toml_value(v)}" for k, v in base.samples.items()]
    lines += [
        "", "[[files]]", f"name = {_toml_str(a.name)}", f"urls = {_toml_value(list(urls))}",
        f"size = {a.stat().st_size}", f"md5 = {_toml_str(hashes['md5'])}", f"sha256 = {_toml_str(hashes['sha256'])}",
        'archive = "tar"', 'role = "recordings"',
    ]
    return "\n".join(lines) + "\n"
