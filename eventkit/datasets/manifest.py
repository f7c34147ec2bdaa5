"""Dataset manifests: one TOML file per dataset, parsed into frozen dataclasses and validated.

The schema is documented in ``data_manifests/README.md``. Validation happens here, once, so
the rest of the code can trust a :class:`DatasetManifest`: every error names the manifest file,
the field and what is allowed.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from ..events import SensorSize
from .fetch import RemoteFile
from .generators import GENERATORS, generator_names
from .manifest_paths import bad_text, file_name_problem, glob_problem, relative_path_problem, suffix_problem, url_problem

__all__ = ["DatasetManifest", "ManifestFile", "load_manifest"]

SCHEMA_VERSION = 1
_HASHES = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}  # hex digits of each digest
_ARCHIVES = ("zip", "tar", "7z", "rar", "none")
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few KiB; anything near this is the wrong file
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
_TOP_KEYS = frozenset({"schema", "name", "version", "title", "homepage", "license", "citation", "sensor", "decoder",
                       "classes", "samples", "splits", "files", "manual", "instructions", "notes", "generator"})
_FILE_KEYS = frozenset({"name", "urls", "size", *_HASHES, "archive", "manual", "instructions", "role", "nested"})


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
    extra: dict[str, Any] = field(default_factory=dict)  # always empty: unknown keys are refused

    @property
    def rule(self) -> str:
        return str(self.samples["rule"])


def _show(value: Any, limit: int = 80) -> str:
    """``repr`` of a user's value, cut short: a 300-character name should not flood the message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _err(path: Path, field_name: str, reason: str) -> ManifestError:
    return ManifestError(f"{path}: field {field_name!r}: {reason}")


def _type_name(typ: type | tuple[type, ...]) -> str:
    return typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)


def _check_type(val: Any, typ: type | tuple[type, ...], path: Path, name: str) -> Any:
    # bool is an int subclass: `size = true` must not pass as 1, nor `manual = "false"` as a bool
    is_bool = isinstance(val, bool)
    wants_bool = typ is bool or (isinstance(typ, tuple) and bool in typ)
    if not isinstance(val, typ) or (is_bool and not wants_bool):
        hint = " (write true or false, without quotes)" if typ is bool else ""
        raise _err(path, name, f"expected {_type_name(typ)}, got {type(val).__name__} {_show(val)}{hint}")
    return val


def _req(doc: dict, key: str, typ: type | tuple[type, ...], path: Path, where: str = "") -> Any:
    if key not in doc:
        raise _err(path, f"{where}{key}", "missing")
    return _check_type(doc[key], typ, path, f"{where}{key}")


def _opt(doc: dict, key: str, typ: type | tuple[type, ...], default: Any, path: Path, where: str = "") -> Any:
    return _check_type(doc[key], typ, path, f"{where}{key}") if key in doc else default


def _text(doc: dict, key: str, path: Path, where: str = "", *, required: bool = False, default: str = "",
          multiline: bool = True) -> str:
    """A free-text field: a str without control characters (they could repaint a terminal)."""
    val = _req(doc, key, str, path, where) if required else _opt(doc, key, str, default, path, where)
    if (reason := bad_text(val, allow_newlines=multiline, strict=False)) is not None:
        raise _err(path, f"{where}{key}", f"{reason}; remove it")
    return val


def _no_unknown_keys(doc: dict, known: set[str] | frozenset[str], path: Path, where: str) -> None:
    """Refuse keys the schema does not define: a typo (``sha265``, ``manaul``) must not be ignored."""
    for key in doc:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _err(path, f"{where}{key}", f"unknown key; {hint}known keys here: {', '.join(sorted(known))}")


def _path_field(val: Any, path: Path, name: str, check: Callable[[str], str | None], what: str) -> str:
    _check_type(val, str, path, name)
    if (reason := check(val)) is not None:
        raise _err(path, name, f"must be {what}; {_show(val)} holds {reason}")
    return val


def _urls(doc: dict, path: Path, where: str, dataset: str, filename: str) -> tuple[str, ...]:
    if "urls" not in doc:
        return ()
    urls = doc["urls"]
    if isinstance(urls, str):  # iterating it would give one "URL" per character
        raise _err(path, where + "urls", f'expected a list of URLs, got a single string; write urls = [{_show(urls)}]')
    _check_type(urls, list, path, where + "urls")
    local = f"<root>/{dataset}/download/{filename}"
    for k, url in enumerate(urls):
        _check_type(url, str, path, f"{where}urls[{k}]")
        if (reason := url_problem(url)) is not None:
            raise _err(path, f"{where}urls[{k}]", f"{_show(url)}: {reason}; use an http(s) URL with a host "
                       f"(https://host/path); for a local copy place the file in {local} yourself "
                       "or mark the file manual = true with instructions")
    return tuple(urls)


def _nested(doc: dict, archive: str, path: Path, where: str) -> dict[str, str] | None:
    if "nested" not in doc:
        return None
    name = where + "nested"
    nested = _check_type(doc["nested"], dict, path, name)
    _no_unknown_keys(nested, {"glob", "into"}, path, name + ".")
    if archive == "none":
        raise _err(path, name, "nested archives need an archive: set archive = 'zip' | 'tar' | '7z' | 'rar'")
    glob = _path_field(_req(nested, "glob", str, path, name + "."), path, name + ".glob", glob_problem,
                       "a relative pattern inside the dataset folder ('*.zip', 'sub/**/*.zip')")
    into = _opt(nested, "into", str, "here", path, name + ".")
    if into not in ("here", "stem"):
        raise _err(path, name + ".into", f"must be 'here' or 'stem', got {_show(into)}")
    return {"glob": glob, "into": into}


def _file(doc: Any, path: Path, i: int, dataset: str, dataset_manual: bool, dataset_instructions: str
          ) -> ManifestFile:
    where = f"files[{i}]."
    _check_type(doc, dict, path, f"files[{i}]")
    _no_unknown_keys(doc, _FILE_KEYS, path, where)
    filename = _req(doc, "name", str, path, where)
    if (reason := file_name_problem(filename)) is not None:
        raise _err(path, where + "name", f"must be a plain, portable file name for the download folder; "
                   f"{_show(filename)} holds {reason}")
    urls = _urls(doc, path, where, dataset, filename)
    size = _opt(doc, "size", int, None, path, where)
    if size is not None and not 0 <= size < 2**63:
        raise _err(path, where + "size", f"must be a byte count >= 0, got {size!r}")
    hashes = {}
    for algo, width in _HASHES.items():
        if algo in doc:
            val = doc[algo]
            if not isinstance(val, str) or len(val) != width or any(c not in "0123456789abcdefABCDEF" for c in val):
                raise _err(path, where + algo, f"must be {width} hex digits, got {_show(val)}")
            hashes[algo] = val.lower()
    manual = _opt(doc, "manual", bool, dataset_manual, path, where)
    if not manual and not urls:
        raise _err(path, where + "urls", "a file that is not manual needs at least one URL")
    archive = _opt(doc, "archive", str, "none", path, where)
    if archive not in _ARCHIVES:
        raise _err(path, where + "archive", f"must be one of {list(_ARCHIVES)}, got {_show(archive)}")
    instructions = _text(doc, "instructions", path, where, default=dataset_instructions)
    nested = _nested(doc, archive, path, where)
    role = _text(doc, "role", path, where, multiline=False)
    remote = RemoteFile(filename, urls, size, hashes, manual, instructions)
    return ManifestFile(remote, archive, role, nested)


# -- [samples] --------------------------------------------------------------------------------
# Every string of [samples] is a path inside the extracted dataset folder (a root, a list file,
# a class or split folder, an HDF5 file), unless its key is one of these options. Default-deny:
# a path key a rule adds later is confined without anyone remembering to list it here.
_SAMPLE_OPTIONS = {"rule", "label_from", "separator", "class_tokens", "token"}
_TRANSFORMS = frozenset({"swap_xy", "flip_x", "flip_y", "invert_p", "rebase_t"})


def _sample_paths(val: Any, path: Path, name: str) -> None:
    """A path (str), or a list or table of paths, each confined to the dataset folder."""
    what = "a relative path inside the dataset folder ('Train', 'DVS-Lip/train')"
    if isinstance(val, str):
        _path_field(val, path, name, relative_path_problem, what)
    elif isinstance(val, list):
        for k, v in enumerate(val):
            _check_type(v, str, path, f"{name}[{k}]")
            _sample_paths(v, path, f"{name}[{k}]")
    elif isinstance(val, dict):
        for k, v in val.items():
            _check_type(v, str, path, f"{name}.{k}")
            _sample_paths(v, path, f"{name}.{k}")
    else:
        raise _err(path, name, f"expected {what}, a list or a table of them, got {type(val).__name__} "
                   f"{_show(val)}; is the key misspelt or in the wrong table?")


def _sample_transform(val: Any, path: Path, name: str) -> None:
    _check_type(val, dict, path, name)
    _no_unknown_keys(val, _TRANSFORMS, path, name + ".")
    for key, flag in val.items():
        _check_type(flag, bool, path, f"{name}.{key}")


def _sample_split(val: Any, path: Path, name: str) -> None:
    _check_type(val, dict, path, name)
    _no_unknown_keys(val, {"by", "test_first", "n"}, path, name + ".")
    by = _req(val, "by", str, path, name + ".")
    if by == "index_in_class":
        if _req(val, "test_first", int, path, name + ".") < 0:
            raise _err(path, name + ".test_first", f"must be >= 0, got {val['test_first']}")
    elif by == "every_nth":
        if _req(val, "n", int, path, name + ".") < 1:
            raise _err(path, name + ".n", f"must be >= 1, got {val['n']}")
    else:
        raise _err(path, name + ".by", f"must be 'index_in_class' or 'every_nth', got {_show(by)}")


def _check_samples(opts: dict, classes: tuple[str, ...], path: Path, where: str = "samples.") -> None:
    """Types of every [samples] option and confinement of every path in it (rules check the rest)."""
    rule = _req(opts, "rule", str, path, where)
    for key, val in opts.items():
        name = f"{where}{key}"
        if key == "transform":
            _sample_transform(val, path, name)
        elif rule == "per_split":  # its tables are one rule per split
            if isinstance(val, dict):
                _check_samples(val, classes, path, name + ".")
            elif key != "rule":
                _sample_paths(val, path, name)
        elif key == "split":
            _sample_split(val, path, name)
        elif key == "suffix":
            _check_type(val, str, path, name)
            if (reason := suffix_problem(val)) is not None:
                raise _err(path, name, f"must be the end of a file name ('.npz'); {_show(val)} holds {reason}")
        elif key in ("rule", "label_from", "separator"):
            _check_type(val, str, path, name)
        elif key not in _SAMPLE_OPTIONS:
            _sample_paths(val, path, name)
    if rule == "class_folders" and "class_dirs" not in opts:
        for k, cls in enumerate(classes):  # the class names are then the folder names
            if (reason := relative_path_problem(cls)) is not None:
                raise _err(path, f"classes[{k}]", f"the class_folders rule uses each class name as its folder, "
                           f"and {_show(cls)} holds {reason}; give {where}class_dirs with the folder names")


# -- the manifest file ------------------------------------------------------------------------

def _read_toml(p: Path) -> dict:
    """The manifest's TOML table; any unreadable, oversized, non-UTF-8 or invalid file -> ManifestError."""
    try:
        if not p.is_file():
            why = "is not a regular file" if p.exists() else "does not exist"
            raise ManifestError(f"{p}: cannot read manifest: the path {why}; give the path of a .toml manifest")
        with open(p, "rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as err:
        raise ManifestError(f"{p}: cannot read manifest ({err.strerror or err})") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{p}: not a manifest: larger than {MAX_MANIFEST_BYTES // 1024} KiB (a manifest is a "
                            "short TOML text file; check the path)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestError(f"{p}: not UTF-8 text (byte {err.start}): save the manifest as UTF-8 TOML") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ManifestError(f"{p}: not valid TOML ({err})") from None
    except RecursionError:
        raise ManifestError(f"{p}: not valid TOML (nested too deeply)") from None


def _sensor(doc: dict, p: Path) -> SensorSize:
    sensor_doc = _req(doc, "sensor", dict, p)
    _no_unknown_keys(sensor_doc, {"width", "height", "polarities"}, p, "sensor.")
    width = _req(sensor_doc, "width", int, p, "sensor.")
    height = _req(sensor_doc, "height", int, p, "sensor.")
    polarities = _opt(sensor_doc, "polarities", int, 2, p, "sensor.")
    for key, val, top in (("width", width, 65536), ("height", height, 65536), ("polarities", polarities, 2)):
        if not 1 <= val <= top:  # x and y are stored as uint16, p as 0 or 1
            raise _err(p, f"sensor.{key}", f"must be 1..{top}, got {val}")
    return SensorSize(width, height, polarities)


def _str_list(doc: dict, key: str, p: Path) -> tuple[str, ...]:
    items = _req(doc, key, list, p)
    for k, item in enumerate(items):
        _check_type(item, str, p, f"{key}[{k}]")
        if (reason := bad_text(item, strict=False)) is not None:
            raise _err(p, f"{key}[{k}]", f"{_show(item)} holds {reason}")
    return tuple(items)


def load_manifest(path: str | os.PathLike[str]) -> DatasetManifest:
    """Parse and validate one manifest file.

    Every field is type-checked strictly (``manual = "false"`` is an error, not true), every
    path-like field must stay inside the dataset folder, every URL must be http(s), and unknown
    keys are refused (a typo such as ``sha265`` would otherwise drop a check silently).

    Raises
    ------
    ManifestError
        The file is unreadable, too large, not UTF-8, not valid TOML, or a field is missing or
        invalid; the message names the file, the field and the fix.
    """
    from ..io import FORMATS
    from .layouts import RULES

    p = Path(path)
    doc = _read_toml(p)
    _no_unknown_keys(doc, _TOP_KEYS, p, "")
    schema = _opt(doc, "schema", int, SCHEMA_VERSION, p)
    if schema != SCHEMA_VERSION:
        raise _err(p, "schema", f"this eventkit reads schema {SCHEMA_VERSION}, the manifest says {schema!r}")
    name = _req(doc, "name", str, p)
    if not _NAME.fullmatch(name):
        raise _err(p, "name", "use 1 to 100 lower-case letters, digits and '-', not starting with '-' "
                   f"(it names the dataset's folder), got {_show(name)}")
    version = _req(doc, "version", int, p)
    if version < 0:
        raise _err(p, "version", f"must be >= 0, got {version}")
    sensor = _sensor(doc, p)
    decoder = _req(doc, "decoder", str, p)
    if decoder not in FORMATS:
        raise _err(p, "decoder", f"unknown decoder {_show(decoder)}; known: {sorted(FORMATS)}")
    classes = _str_list(doc, "classes", p)
    if not classes or not all(classes):
        raise _err(p, "classes", "must be a non-empty list of names in the official label order")
    if len(set(classes)) != len(classes):
        raise _err(p, "classes", "names must be unique")
    samples = _req(doc, "samples", dict, p)
    rule = _req(samples, "rule", str, p, "samples.")
    if rule not in RULES:
        raise _err(p, "samples.rule", f"unknown rule {_show(rule)}; known: {sorted(RULES)}")
    splits = _str_list(doc, "splits", p)
    if not splits or not all(s.isidentifier() and len(s) <= 100 for s in splits):
        raise _err(p, "splits", "must list split names such as ['train', 'test']")
    if len(set(splits)) != len(splits):
        raise _err(p, "splits", "names must be unique")
    manual = _opt(doc, "manual", bool, False, p)
    instructions = _text(doc, "instructions", p).strip()
    if manual and not instructions:
        raise _err(p, "instructions", "a manual dataset must say where to get its files")
    files_doc = _opt(doc, "files", list, [], p)
    files = tuple(_file(f, p, i, name, manual, instructions) for i, f in enumerate(files_doc))
    seen: dict[str, int] = {}
    for i, f in enumerate(files):  # case-folded: A.zip and a.zip are one file on Windows and macOS
        key = f.filename.casefold()
        if key in seen:
            raise _err(p, f"files[{i}].name", f"{_show(f.filename)} is also the name of files[{seen[key]}] "
                       "(names must be unique, ignoring case)")
        seen[key] = i
    generator = _opt(doc, "generator", str, "", p)
    if generator and generator not in GENERATORS:
        raise _err(p, "generator", f"unknown generator {_show(generator)}; a manifest can only name a generator "
                   f"registered in eventkit ({', '.join(generator_names())}), never a Python function")
    if not files and not generator:
        raise _err(p, "files", "a dataset needs files (or a generator)")
    title, homepage, license_, citation = (_text(doc, key, p, required=True)
                                           for key in ("title", "homepage", "license", "citation"))
    _check_samples(samples, classes, p)
    RULES[rule].validate(samples, classes, splits, p)
    return DatasetManifest(
        path=p, name=name, version=version, title=title, homepage=homepage, license=license_,
        citation=citation, sensor=sensor, decoder=decoder, classes=classes, samples=samples, splits=splits,
        files=files, manual=manual, instructions=instructions, notes=_text(doc, "notes", p),
        generator=generator,
    )
