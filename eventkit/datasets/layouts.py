"""Sample rules: how a manifest turns extracted files into labelled samples.

A manifest's ``[samples]`` table names a ``rule`` (a key of :data:`RULES`) and its options. A
rule validates those options and lists :class:`Sample` objects (split, id, label, source file
and, where one recording holds several samples, the time window or item index). Labels always
come from the manifest's ``classes`` order, never from a string sort of folder names.

Rules
-----
``dvs128_gesture``
    ``root``, ``train_list``, ``test_list``: one sample per row of ``<recording>_labels.csv``,
    holding the events with ``start <= t < end``; label = class - 1 (classes 1..N in the CSV).
``class_folders``
    ``root``, ``suffix``, optional ``split_dirs = {train = "Train", ...}`` and ``class_dirs`` (folder
    name of each class, default the class names). Without ``split_dirs`` a ``split`` table
    assigns files: ``{ by = "index_in_class", test_first = 100 }`` (the first files of each class
    in natural name order are test) or ``{ by = "every_nth", n = 5 }`` (every n-th file of a
    class is test).
``h5_samples``
    ``files = { train = "shd_train.h5", ... }``: every item of each file is a sample; labels
    from the file's ``labels`` dataset.
``label_lists``
    ``root``, ``lists = { train = "train_label.txt", ... }``, ``suffix``: one sample per list line
    ``<relative path> [label]``; label from the second column (``label_from = "column"``) or from
    the first folder of the path (``label_from = "parent_dir"``, matched to ``class_dirs``).
``filename_token``
    ``root``, ``suffix``, ``class_tokens`` (one per class), optional ``separator`` (default ``_``)
    and ``token`` (default 1): every file under ``root`` (any depth) whose name ends with
    ``suffix`` is a sample of split ``all``; its label is the position in ``class_tokens`` of
    token ``token`` of the file name split on ``separator`` (NAV Gesture: ``user01_do_...`` ->
    ``do``). A file whose token is not listed is an error naming the file.
``per_split``
    one sub-table per split, each naming another rule and its options for that split alone
    (``[samples.train] rule = "class_folders" ...``, ``[samples.test] rule = "label_lists" ...``),
    for datasets whose splits are laid out differently (ES-ImageNet: train in class folders,
    val listed in ``vallabel.txt``). ``transform`` stays at the top level.

Optional for every rule: ``transform = { flip_x = true, flip_y = true, swap_xy = true,
invert_p = true, rebase_t = true }`` applied after decoding, to reproduce a dataset's published
orientation (each flip uses the manifest's sensor size).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DatasetNotFoundError, ManifestError
from ..events import EventArray
from .manifest_paths import relative_path_problem

if TYPE_CHECKING:
    from .manifest import DatasetManifest

__all__ = ["RULES", "Sample", "iter_samples", "load_sample_events", "recording_times"]


@dataclass(frozen=True)
class Sample:
    """One labelled sample of a dataset."""

    split: str
    sample_id: str
    label: int
    source: Path
    start_us: int | None = None  # with end_us: the sample is the window start <= t < end
    end_us: int | None = None
    item: int | None = None  # index inside a multi-sample file (HDF5)


@dataclass(frozen=True)
class Rule:
    validate: Callable[[dict, tuple[str, ...], tuple[str, ...], Path], None]
    samples: Callable[[DatasetManifest, Path], list[Sample]]


def _need(opts: dict, key: str, typ: type, path: Path) -> Any:
    if not isinstance(opts.get(key), typ):
        raise ManifestError(f"{path}: field 'samples.{key}': expected {typ.__name__}, got {opts.get(key)!r}")
    return opts[key]


def _natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def _missing(root: Path, what: str, manifest: DatasetManifest) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"{root}: {what} not found for dataset {manifest.name!r}; run `eventkit download {manifest.name}` "
        f"or point --from at an extracted copy"
    )


# -- dvs128_gesture -------------------------------------------------------------------------

def _confined(listing: Path, n: int, rel: str) -> str:
    """``rel`` (entry ``n`` of the list file ``listing``) if it names a file inside the dataset folder.

    A list file comes from a download: a line such as ``../../x`` or ``/etc/x`` must not make us
    read (and convert) a file outside the dataset.
    """
    if (why := relative_path_problem(rel)) is not None:
        raise ManifestError(f"{listing}: entry {n} ({rel[:80]!r}) is not a file inside the dataset folder: it holds {why}; "
                            "the list file is damaged or hostile: download the dataset again")
    return rel


def _ours(rel: Path) -> bool:
    """A path left by eventkit itself (an extraction in progress, a user file moved aside), not a sample."""
    return any(part.startswith(".eventkit-") or ".user-" in part for part in rel.parts)


def _validate_gesture(opts: dict, classes: tuple[str, ...], splits: tuple[str, ...], path: Path) -> None:
    for key in ("root", "train_list", "test_list"):
        _need(opts, key, str, path)
    if set(splits) != {"train", "test"}:
        raise ManifestError(f"{path}: field 'splits': the dvs128_gesture rule has exactly train and test")


def _gesture_samples(m: DatasetManifest, root: Path) -> list[Sample]:
    base = root / m.samples["root"]
    out: list[Sample] = []
    for split in m.splits:
        listing = base / m.samples[f"{split}_list"]
        if not listing.is_file():
            raise _missing(listing, "trial list", m)
        for n, line in enumerate(listing.read_text().split(), 1):
            rec = base / _confined(listing, n, line)
            stem = rec.name[: -len(rec.suffix)] if rec.suffix else rec.name
            labels = base / f"{stem}_labels.csv"
            if not labels.is_file():
                raise _missing(labels, "labels CSV", m)
            with open(labels, newline="") as f:
                rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
            for k, row in enumerate(rows[1:]):  # first row is the header
                try:
                    cls, start, end = (int(v) for v in row[:3])
                except ValueError:
                    raise ManifestError(f"{labels}: row {k + 2} is not 'class,start,end' integers: {row}") from None
                if not 1 <= cls <= len(m.classes):
                    raise ManifestError(f"{labels}: row {k + 2}: class {cls} outside 1..{len(m.classes)}")
                out.append(Sample(split, f"{stem}_{k}", cls - 1, rec, start, end))
    return out


# -- class_folders --------------------------------------------------------------------------

def _validate_folders(opts: dict, classes: tuple[str, ...], splits: tuple[str, ...], path: Path) -> None:
    _need(opts, "suffix", str, path)
    dirs = opts.get("class_dirs", list(classes))
    if not isinstance(dirs, list) or len(dirs) != len(classes):
        raise ManifestError(f"{path}: field 'samples.class_dirs': needs one folder name per class ({len(classes)})")
    split_dirs = opts.get("split_dirs")
    if split_dirs is not None:
        if not isinstance(split_dirs, dict) or set(split_dirs) != set(splits):
            raise ManifestError(f"{path}: field 'samples.split_dirs': needs one folder per split {list(splits)}")
    else:
        rule = opts.get("split", {})
        if set(splits) == {"all"}:
            return
        if rule.get("by") not in ("index_in_class", "every_nth") or set(splits) != {"train", "test"}:
            raise ManifestError(
                f"{path}: field 'samples.split': without split_dirs use splits = ['all'] or splits = "
                f"['train', 'test'] with split = {{ by = 'index_in_class' | 'every_nth', ... }}"
            )


def _folder_samples(m: DatasetManifest, root: Path) -> list[Sample]:
    opts = m.samples
    base = root / opts.get("root", "")
    dirs = opts.get("class_dirs", list(m.classes))
    suffix = opts["suffix"]
    split_dirs = opts.get("split_dirs")
    out: list[Sample] = []
    if not base.is_dir():
        raise _missing(base, "data folder", m)

    def files_of(folder: Path) -> list[Path]:
        return sorted((p for p in folder.glob(f"*{suffix}") if p.is_file()), key=lambda p: _natural_key(p.name))

    for split in m.splits:
        for label, d in enumerate(dirs):
            folder = base / split_dirs[split] / d if split_dirs else base / d
            if not folder.is_dir():
                raise _missing(folder, f"class folder {d!r}", m)
            files = files_of(folder)
            if not split_dirs and split != "all":
                rule = opts["split"]
                if rule["by"] == "index_in_class":
                    k = int(rule["test_first"])
                    files = files[:k] if split == "test" else files[k:]
                else:
                    n = int(rule["n"])
                    files = [f for i, f in enumerate(files) if (i % n == 0) == (split == "test")]
            rel = folder.relative_to(base).as_posix()
            out += [Sample(split, f"{rel}/{f.name}", label, f) for f in files]
    return out


# -- h5_samples -----------------------------------------------------------------------------

def _validate_h5(opts: dict, classes: tuple[str, ...], splits: tuple[str, ...], path: Path) -> None:
    files = _need(opts, "files", dict, path)
    if set(files) != set(splits):
        raise ManifestError(f"{path}: field 'samples.files': needs one file per split {list(splits)}")


def _h5_samples(m: DatasetManifest, root: Path) -> list[Sample]:
    from ..io.hdf5 import hdf5_labels

    out: list[Sample] = []
    for split in m.splits:
        f = root / m.samples["files"][split]
        if not f.is_file():
            raise _missing(f, "HDF5 file", m)
        labels = np.asarray(hdf5_labels(f))
        if labels.size and (labels.min() < 0 or labels.max() >= len(m.classes)):
            raise ManifestError(f"{f}: labels outside 0..{len(m.classes) - 1}")
        out += [Sample(split, f"{f.name}:{i}", int(lab), f, item=i) for i, lab in enumerate(labels)]
    return out


# -- label_lists ----------------------------------------------------------------------------

def _validate_lists(opts: dict, classes: tuple[str, ...], splits: tuple[str, ...], path: Path) -> None:
    lists = _need(opts, "lists", dict, path)
    if set(lists) != set(splits):
        raise ManifestError(f"{path}: field 'samples.lists': needs one list file per split {list(splits)}")
    if opts.get("label_from", "column") not in ("column", "parent_dir"):
        raise ManifestError(f"{path}: field 'samples.label_from': 'column' or 'parent_dir'")


def _list_samples(m: DatasetManifest, root: Path) -> list[Sample]:
    opts = m.samples
    base = root / opts.get("root", "")
    suffix = opts.get("suffix", "")
    dirs = opts.get("class_dirs", list(m.classes))
    out: list[Sample] = []
    for split in m.splits:
        listing = root / opts["lists"][split]
        if not listing.is_file():
            raise _missing(listing, "label list", m)
        for n, line in enumerate(listing.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            rel = parts[0] if parts[0].endswith(suffix) else parts[0] + suffix
            if opts.get("label_from", "column") == "column":
                try:
                    label = int(parts[1])
                except (IndexError, ValueError):
                    raise ManifestError(f"{listing}: line {n} has no integer label: {line!r}") from None
            else:
                top = rel.split("/")[0]
                if top not in dirs:
                    raise ManifestError(f"{listing}: line {n}: folder {top!r} is not a class of {m.name}")
                label = dirs.index(top)
            if not 0 <= label < len(m.classes):
                raise ManifestError(f"{listing}: line {n}: label {label} outside 0..{len(m.classes) - 1}")
            out.append(Sample(split, rel, label, base / _confined(listing, n, rel)))
    return out


# -- filename_token -------------------------------------------------------------------------

def _validate_token(opts: dict, classes: tuple[str, ...], splits: tuple[str, ...], path: Path) -> None:
    _need(opts, "suffix", str, path)
    tokens = opts.get("class_tokens")
    if (not isinstance(tokens, list) or len(tokens) != len(classes)
            or not all(isinstance(t, str) and t for t in tokens) or len(set(tokens)) != len(tokens)):
        raise ManifestError(
            f"{path}: field 'samples.class_tokens': needs one unique file-name token per class ({len(classes)})"
        )
    sep = opts.get("separator", "_")
    if not isinstance(sep, str) or not sep:
        raise ManifestError(f"{path}: field 'samples.separator': expected a non-empty string, got {sep!r}")
    tok = opts.get("token", 1)
    if not isinstance(tok, int) or isinstance(tok, bool) or tok < 0:
        raise ManifestError(f"{path}: field 'samples.token': expected a non-negative integer, got {tok!r}")
    if tuple(splits) != ("all",):
        raise ManifestError(f"{path}: field 'splits': the filename_token rule has one split, ['all']")


def _token_samples(m: DatasetManifest, root: Path) -> list[Sample]:
    opts = m.samples
    base = root / opts.get("root", "")
    if not base.is_dir():
        raise _missing(base, "data folder", m)
    suffix, sep, tok = opts["suffix"], opts.get("separator", "_"), opts.get("token", 1)
    index = {t: i for i, t in enumerate(opts["class_tokens"])}
    files = sorted(
        (p for p in base.rglob(f"*{suffix}") if p.is_file() and not _ours(p.relative_to(base))),
        key=lambda p: [_natural_key(part) for part in p.relative_to(base).parts],
    )
    out: list[Sample] = []
    for f in files:
        parts = f.name.split(sep)
        token = parts[tok] if tok < len(parts) else None
        if token not in index:
            raise ManifestError(
                f"{f}: file-name token {tok} (split on {sep!r}) is {token!r}, not one of "
                f"{list(index)} (dataset {m.name!r})"
            )
        out.append(Sample("all", f.relative_to(base).as_posix(), index[token], f))
    return out


# -- per_split ------------------------------------------------------------------------------

def _validate_per_split(opts: dict, classes: tuple[str, ...], splits: tuple[str, ...], path: Path) -> None:
    for split in splits:
        sub = opts.get(split)
        if not isinstance(sub, dict):
            raise ManifestError(f"{path}: field 'samples.{split}': the per_split rule needs a table for each split")
        rule = sub.get("rule")
        if rule not in RULES or rule == "per_split":
            known = sorted(r for r in RULES if r != "per_split")
            raise ManifestError(f"{path}: field 'samples.{split}.rule': unknown rule {rule!r}; known: {known}")
        if "transform" in sub:
            raise ManifestError(f"{path}: field 'samples.{split}.transform': put transform at the top of [samples]")
        try:
            RULES[rule].validate(sub, classes, (split,), path)
        except ManifestError as err:
            raise ManifestError(str(err).replace("field 'samples.", f"field 'samples.{split}.")) from None
    extra = [k for k, v in opts.items() if isinstance(v, dict) and k not in splits and k != "transform"]
    if extra:
        raise ManifestError(f"{path}: field 'samples.{extra[0]}': not one of the splits {list(splits)}")


def _per_split_samples(m: DatasetManifest, root: Path) -> list[Sample]:
    from dataclasses import replace

    out: list[Sample] = []
    for split in m.splits:
        sub = m.samples[split]
        out += RULES[sub["rule"]].samples(replace(m, samples=sub, splits=(split,)), root)
    return out


RULES: dict[str, Rule] = {
    "dvs128_gesture": Rule(_validate_gesture, _gesture_samples),
    "class_folders": Rule(_validate_folders, _folder_samples),
    "h5_samples": Rule(_validate_h5, _h5_samples),
    "label_lists": Rule(_validate_lists, _list_samples),
    "filename_token": Rule(_validate_token, _token_samples),
    "per_split": Rule(_validate_per_split, _per_split_samples),
}


def iter_samples(manifest: DatasetManifest, root: str | Path) -> list[Sample]:
    """List every sample of ``manifest`` found under the extracted data folder ``root``.

    Raises
    ------
    DatasetNotFoundError
        A folder, list or file the rule needs is missing (the message says how to get it).
    ManifestError
        A label file holds something the manifest does not allow.
    """
    return RULES[manifest.rule].samples(manifest, Path(root))


def _apply_transform(ev: EventArray, m: DatasetManifest) -> EventArray:
    tr = m.samples.get("transform", {})
    if not tr:
        return ev
    out = ev.copy()
    w, h = m.sensor.width, m.sensor.height
    if tr.get("swap_xy"):
        out["x"], out["y"] = ev["y"], ev["x"]
    if tr.get("flip_x"):
        out["x"] = (w - 1) - out["x"]
    if tr.get("flip_y"):
        out["y"] = (h - 1) - out["y"]
    if tr.get("invert_p"):
        out["p"] = 1 - out["p"]
    if tr.get("rebase_t") and out.size:
        out["t"] -= out["t"][0]
    return out


def recording_times(events: EventArray) -> np.ndarray | None:
    """The contiguous ``t`` column of a recording if it never goes backwards, else None.

    Pass it to :func:`load_sample_events` with the recording to cut many windows out of one long
    recording by binary search instead of a full scan per window.
    """
    t = np.ascontiguousarray(events["t"])
    return t if t.size < 2 or bool(np.all(t[1:] >= t[:-1])) else None


def load_sample_events(
    manifest: DatasetManifest,
    sample: Sample,
    recording: EventArray | None = None,
    sorted_t: np.ndarray | None = None,
) -> EventArray:
    """Decode one sample's events (cutting its window out of ``recording`` when one is given).

    Passing the decoded ``recording`` lets a caller decode a long file once for all its samples;
    passing also its ``sorted_t`` (from :func:`recording_times`) finds each window by binary
    search. Either way the window is exactly the events with ``start <= t < end``.
    """
    from ..io import read_events

    if sample.item is not None:
        from ..io._common import decode_guard
        from ..io.hdf5 import read_hdf5

        with decode_guard(str(sample.source)):  # one file's bad bytes fail only its own samples
            ev = read_hdf5(sample.source, sample=sample.item)
    else:
        ev = recording if recording is not None else read_events(sample.source, format=manifest.decoder)
        if sample.start_us is not None:
            if sorted_t is not None:
                lo, hi = np.searchsorted(sorted_t, [sample.start_us, sample.end_us], side="left")
                ev = ev[lo:hi]
            else:
                # a mask, not searchsorted: correct even where a recording's timestamps go backwards
                t = ev["t"]
                ev = ev[(t >= sample.start_us) & (t < sample.end_us)]
    return _apply_transform(ev, manifest)
