"""Dataset manifests: one TOML file per dataset, parsed into frozen dataclasses and validated.

The schema is documented in ``data_manifests/README.md``. Validation happens here, once, so
the rest of the code can trust a :class:`DatasetManifest`: every error names the manifest file,
the field and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from ..events import SensorSize
from .fetch import RemoteFile
from .generators import GENERATORS, generator_names

__all__ = ["DatasetManifest", "ManifestFile", "load_manifest"]

SCHEMA_VERSION = 1
_HASHES = ("md5", "sha1", "sha256", "sha512")
_ARCHIVES = ("zip", "tar", "7z", "rar", "none")


@dataclass(frozen=True)
class ManifestFile:
    """A file of the dataset: where to get it, how to check it, whether to extract it."""

    remote: RemoteFile
    archive: str  # one of _ARCHIVES
    role: str = ""  # free text: "recordings", "labels", "readme" ...
    nested: dict[str, str] | None = None  # {glob, into}: archives inside this archive to extract too

    @property
    def filename(self) -> str:
        return self.remote.filename


@dataclass(frozen=True)
class DatasetManifest:
    """A parsed, validated manifest (see ``data_manifests/README.md`` for every field)."""

    path: Path
    name: str
    version: int
    title: str
    homepage: str
    license: str
    citation: str
    sensor: SensorSize
    decoder: str
    classes: tuple[str, ...]
    samples: dict[str, Any]
    splits: tuple[str, ...]
    files: tuple[ManifestFile, ...]
    manual: bool = False
    instructions: str = ""
    notes: str = ""
    generator: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return str(self.samples["rule"])


def _err(path: Path, field_name: str, reason: str) -> ManifestError:
    return ManifestError(f"{path}: field {field_name!r}: {reason}")


def _req(doc: dict, key: str, typ: type | tuple[type, ...], path: Path, where: str = "") -> Any:
    name = f"{where}{key}"
    if key not in doc:
        raise _err(path, name, "missing")
    val = doc[key]
    if not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
        want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise _err(path, name, f"expected {want}, got {type(val).__name__} {val!r}")
    return val


def _file(doc: dict, path: Path, i: int, dataset_manual: bool, dataset_instructions: str) -> ManifestFile:
    where = f"files[{i}]."
    filename = _req(doc, "name", str, path, where)
    if "/" in filename or "\\" in filename or filename in ("", ".", ".."):
        raise _err(path, where + "name", f"must be a plain file name, got {filename!r}")
    urls = tuple(doc.get("urls", ()))
    if not all(isinstance(u, str) and u.split(":", 1)[0] in ("http", "https", "file") for u in urls):
        raise _err(path, where + "urls", "must be a list of http(s):// URLs")
    size = doc.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise _err(path, where + "size", f"must be a non-negative integer, got {size!r}")
    hashes = {}
    for algo in _HASHES:
        if algo in doc:
            val = doc[algo]
            width = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}[algo]
            if not isinstance(val, str) or len(val) != width or any(c not in "0123456789abcdefABCDEF" for c in val):
                raise _err(path, where + algo, f"must be {width} hex digits, got {val!r}")
            hashes[algo] = val.lower()
    manual = bool(doc.get("manual", dataset_manual))
    if not manual and not urls:
        raise _err(path, where + "urls", "a file that is not manual needs at least one URL")
    archive = doc.get("archive", "none")
    if archive not in _ARCHIVES:
        raise _err(path, where + "archive", f"must be one of {list(_ARCHIVES)}, got {archive!r}")
    instructions = doc.get("instructions", dataset_instructions)
    nested = doc.get("nested")
    if nested is not None:
        if (not isinstance(nested, dict) or not isinstance(nested.get("glob"), str)
                or nested.get("into", "here") not in ("here", "stem") or archive == "none"):
            raise _err(path, where + "nested", "must be { glob = '<pattern>', into = 'here' | 'stem' } on an archive")
        nested = {"glob": nested["glob"], "into": nested.get("into", "here")}
    remote = RemoteFile(filename, urls, size, hashes, manual, instructions)
    return ManifestFile(remote, archive, str(doc.get("role", "")), nested)


def load_manifest(path: str | os.PathLike[str]) -> DatasetManifest:
    """Parse and validate one manifest file.

    Raises
    ------
    ManifestError
        The file is not valid TOML or a field is missing or invalid (the message names it).
    """
    from ..io import FORMATS
    from .layouts import RULES

    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{p}: cannot read manifest ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise ManifestError(f"{p}: not valid TOML ({err})") from None
    schema = doc.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise _err(p, "schema", f"this eventkit reads schema {SCHEMA_VERSION}, the manifest says {schema!r}")
    name = _req(doc, "name", str, p)
    if not name or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in name):
        raise _err(p, "name", f"use lower-case letters, digits and '-', got {name!r}")
    version = _req(doc, "version", int, p)
    sensor_doc = _req(doc, "sensor", dict, p)
    try:
        sensor = SensorSize.of((
            _req(sensor_doc, "width", int, p, "sensor."), _req(sensor_doc, "height", int, p, "sensor."),
            sensor_doc.get("polarities", 2),
        ))
    except ValueError as err:
        raise _err(p, "sensor", str(err)) from None
    decoder = _req(doc, "decoder", str, p)
    if decoder not in FORMATS:
        raise _err(p, "decoder", f"unknown decoder {decoder!r}; known: {sorted(FORMATS)}")
    classes = tuple(_req(doc, "classes", list, p))
    if not classes or not all(isinstance(c, str) and c for c in classes):
        raise _err(p, "classes", "must be a non-empty list of names in the official label order")
    if len(set(classes)) != len(classes):
        raise _err(p, "classes", "names must be unique")
    samples = _req(doc, "samples", dict, p)
    rule = _req(samples, "rule", str, p, "samples.")
    if rule not in RULES:
        raise _err(p, "samples.rule", f"unknown rule {rule!r}; known: {sorted(RULES)}")
    splits = tuple(_req(doc, "splits", list, p))
    if not splits or not all(isinstance(s, str) and s.isidentifier() for s in splits):
        raise _err(p, "splits", "must list split names such as ['train', 'test']")
    manual = bool(doc.get("manual", False))
    instructions = str(doc.get("instructions", "")).strip()
    if manual and not instructions:
        raise _err(p, "instructions", "a manual dataset must say where to get its files")
    files_doc = doc.get("files", [])
    if not isinstance(files_doc, list):
        raise _err(p, "files", "must be an array of tables ([[files]])")
    files = tuple(_file(f, p, i, manual, instructions) for i, f in enumerate(files_doc))
    if len({f.filename for f in files}) != len(files):
        raise _err(p, "files", "file names must be unique")
    generator = doc.get("generator", "")
    if not isinstance(generator, str):
        raise _err(p, "generator", f"expected str, got {type(generator).__name__} {generator!r}")
    if generator and generator not in GENERATORS:
        raise _err(p, "generator", f"unknown generator {generator!r}; a manifest can only name a generator "
                   f"registered in eventkit ({', '.join(generator_names())}), never a Python function")
    if not files and not generator:
        raise _err(p, "files", "a dataset needs files (or a generator)")
    for key in ("title", "homepage", "license", "citation"):
        _req(doc, key, str, p)
    RULES[rule].validate(samples, classes, splits, p)
    known = {"schema", "name", "version", "title", "homepage", "license", "citation", "sensor", "decoder",
             "classes", "samples", "splits", "files", "manual", "instructions", "notes", "generator"}
    return DatasetManifest(
        path=p, name=name, version=version, title=doc["title"], homepage=doc["homepage"], license=doc["license"],
        citation=doc["citation"], sensor=sensor, decoder=decoder, classes=classes, samples=samples, splits=splits,
        files=files, manual=manual, instructions=instructions, notes=str(doc.get("notes", "")),
        generator=generator, extra={k: v for k, v in doc.items() if k not in known},
    )
