"""Segmentation inputs for ``eventkit synth``: images with per-pixel class masks.

Three layouts, each giving an :class:`~eventkit.synth.images.ImageSet` whose samples carry a
``mask`` (where the target mask is):

* **Parallel folders** (``--masks MASKS``): ``IMAGES/<rel>.<ext>`` and ``MASKS/<rel>.png``
  (same relative path, PNG). ``train/``, ``test/``, ``val/`` folders at the top become splits.
  Mask pixels are class indices (``L`` or palette ``P`` PNGs), 255 = ignore.
* **Pascal VOC 2012** (detected when IMAGES holds ``JPEGImages/``, ``SegmentationClass/`` and
  ``ImageSets/Segmentation/``): the ids of ``train.txt``, ``val.txt`` (and ``test.txt``) become
  splits; images ``JPEGImages/<id>.jpg`` (any image suffix), masks ``SegmentationClass/<id>.png``
  (palette PNGs whose indices are the classes, 255 on boundaries). Classes: the declared ones,
  else ``classes.txt`` in the folder, else the 21 VOC classes (:data:`VOC21_CLASSES`).
* **COCO** (``--coco instances_<split>.json``, needs ``pycocotools``: ``pip install
  'eventkit[coco]'``): IMAGES holds the images; instance polygons/RLE are painted into a class
  mask through a **class table** (:class:`ClassTable`: class ``k`` = a list of COCO category ids;
  categories in no class are background 0), the built-in one being the VOC-21 mapping
  (:data:`VOC21_COCO`). Instances are painted in annotation order and the first one wins where
  they overlap. ``min_foreground`` drops images with that many foreground pixels or fewer.

The sample label stored beside each mask is its most frequent non-background class (0 when it has
none), so class-balanced samplers still work.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetNotFoundError
from .images import IMAGE_SUFFIXES, SPLIT_NAMES, ImageSample, ImageSet, ImageSetError, _pil, read_classes_file

__all__ = [
    "VOC21_CLASSES",
    "VOC21_COCO",
    "ClassTable",
    "discover_coco",
    "discover_masked_folder",
    "discover_voc",
    "is_voc_layout",
    "load_mask",
    "mask_label",
    "read_class_table",
]

VOC21_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
#: COCO category id of each VOC class (index = VOC class; 0 = background has none), as in the reference.
_VOC21_IDS = (0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72)


@dataclass(frozen=True)
class ClassTable:
    """Classes of a COCO conversion: ``names[k]`` is class ``k``; ``ids[k]`` its COCO category ids.

    Class 0 is the background: every category in no class's ids, and unannotated pixels.
    """

    name: str
    names: tuple[str, ...]
    ids: tuple[tuple[int, ...], ...]

    def lookup(self) -> dict[int, int]:
        """``{coco category id: class}``."""
        out: dict[int, int] = {}
        for k, ids in enumerate(self.ids):
            for i in ids:
                if i in out:
                    raise ImageSetError(f"class table {self.name}: COCO category {i} is in two classes")
                out[i] = k
        return out


VOC21_COCO = ClassTable("voc21", VOC21_CLASSES, tuple(() if i == 0 else (i,) for i in _VOC21_IDS))


def read_class_table(path: str | os.PathLike[str]) -> ClassTable:
    """A class table file: one class per line, ``name: id, id, ...`` (``#`` comments); the first line is background.

    >>> # background:
    >>> # person: 1
    >>> # vehicle: 2, 3, 4, 6, 8
    """
    p = Path(path)
    names, ids = [], []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, rest = line.partition(":")
        try:
            cats = tuple(int(x) for x in rest.replace(",", " ").split()) if sep else ()
        except ValueError:
            raise ImageSetError(f"{p}:{n}: expected 'name: id, id, ...' with integer COCO category ids") from None
        if not name.strip():
            raise ImageSetError(f"{p}:{n}: a class needs a name ('name: id, id, ...')")
        names.append(name.strip())
        ids.append(cats)
    if len(names) < 2:
        raise ImageSetError(f"{p}: a class table needs a background line and at least one class")
    table = ClassTable(p.name, tuple(names), tuple(ids))
    table.lookup()  # a category in two classes is refused now, not mid-conversion
    return table


# -- discovery ------------------------------------------------------------------------------------
def _images_under(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(d).parts))  # fmt: skip


def _declared(classes: Sequence[str] | None, what: str) -> tuple[str, ...]:
    if classes is None:
        raise ImageSetError(f"{what}: declare the classes in label order (--classes or --classes-file; "
                            "label k = k-th name, background first)")  # fmt: skip
    names = tuple(str(c) for c in classes)
    if len(set(names)) != len(names) or not names:
        raise ImageSetError(f"the declared classes must be unique and non-empty, got {list(names)}")
    return names


def discover_masked_folder(
    images: str | os.PathLike[str], masks: str | os.PathLike[str], *, classes: Sequence[str] | None, split: str = "train"
) -> ImageSet:
    """Images and a parallel folder of PNG masks (see the module docstring)."""
    root, mroot = Path(images), Path(masks)
    for p, what in ((root, "IMAGES"), (mroot, "--masks")):
        if not p.is_dir():
            raise DatasetNotFoundError(f"{p}: {what} must be a folder")
    names = _declared(classes, str(mroot))
    top = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if top and all(d.name in SPLIT_NAMES for d in top):
        parts = [(d.name, d, mroot / d.name) for d in sorted(top, key=lambda d: SPLIT_NAMES.index(d.name))]
    else:
        parts = [(split, root, mroot)]
    samples: list[ImageSample] = []
    missing: list[str] = []
    for name, d, md in parts:
        for f in _images_under(d):
            rel = f.relative_to(d).with_suffix("")
            m = md / rel.with_suffix(".png")
            if not m.is_file():
                missing.append(str(m))
                continue
            samples.append(ImageSample(name, str(f), None, 0, rel.as_posix(), str(m)))
    if missing:
        raise ImageSetError(f"{len(missing)} image(s) have no mask, e.g. {missing[0]}; every IMAGES/<path>.<ext> "
                            "needs MASKS/<path>.png")  # fmt: skip
    if not samples:
        raise DatasetNotFoundError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    used = tuple(dict.fromkeys(s.split for s in samples))
    return ImageSet(root.name, tuple(samples), names, "declared", used)


def is_voc_layout(root: str | os.PathLike[str]) -> bool:
    """True when ``root`` looks like Pascal VOC 2012 (``JPEGImages/``, ``SegmentationClass/``, ``ImageSets/Segmentation/``)."""
    r = Path(root)
    return (r / "JPEGImages").is_dir() and (r / "SegmentationClass").is_dir() and (r / "ImageSets" / "Segmentation").is_dir()


def discover_voc(root: str | os.PathLike[str], *, classes: Sequence[str] | None = None) -> tuple[ImageSet, str]:
    """A Pascal VOC 2012 segmentation folder; returns the set and where its classes came from."""
    r = Path(root)
    if not is_voc_layout(r):
        raise DatasetNotFoundError(f"{r}: not a Pascal VOC layout (needs JPEGImages/, SegmentationClass/, "
                                   "ImageSets/Segmentation/)")  # fmt: skip
    if classes is not None:
        names, how = _declared(classes, str(r)), "declared"
    elif (r / "classes.txt").is_file():
        names, how = tuple(read_classes_file(r / "classes.txt")), f"{r.name}/classes.txt"
    else:
        names, how = VOC21_CLASSES, "Pascal VOC 21 classes (built in)"
    lists = r / "ImageSets" / "Segmentation"
    splits = [s for s in ("train", "val", "test") if (lists / f"{s}.txt").is_file()]
    if not splits:
        raise DatasetNotFoundError(f"{lists}: no train.txt, val.txt or test.txt")
    jpeg = r / "JPEGImages"
    by_stem: dict[str, Path] = {}
    for f in jpeg.iterdir():
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
            by_stem.setdefault(f.stem, f)
    samples: list[ImageSample] = []
    for sp in splits:
        for sid in (x.strip() for x in (lists / f"{sp}.txt").read_text().splitlines()):
            if not sid:
                continue
            img, m = by_stem.get(sid), r / "SegmentationClass" / f"{sid}.png"
            if img is None or not m.is_file():
                raise ImageSetError(f"{lists / (sp + '.txt')}: id {sid!r} has no image in JPEGImages/ or no "
                                    "SegmentationClass/<id>.png")  # fmt: skip
            samples.append(ImageSample(sp, str(img), None, 0, sid, str(m)))
    if not samples:
        raise DatasetNotFoundError(f"{lists}: the split lists name no images")
    return ImageSet(r.name, tuple(samples), names, "declared", tuple(splits)), how


def _coco_api(annotations: str):
    try:
        from pycocotools.coco import COCO
    except ImportError:
        raise ImageSetError("COCO annotations need pycocotools: pip install 'eventkit[coco]' "
                            "(or pip install pycocotools)") from None  # fmt: skip
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        try:
            return COCO(annotations)
        except (ValueError, KeyError, TypeError) as err:
            raise ImageSetError(f"{annotations}: not a COCO instances file ({err})") from None


@functools.lru_cache(maxsize=4)
def _coco_cached(annotations: str, mtime_ns: int):
    return _coco_api(annotations)


def _coco(annotations: str):
    return _coco_cached(annotations, os.stat(annotations).st_mtime_ns)


def discover_coco(
    images: str | os.PathLike[str],
    annotations: str | os.PathLike[str],
    *,
    table: ClassTable = VOC21_COCO,
    split: str = "train",
    min_foreground: int = 0,
) -> ImageSet:
    """COCO images (a folder) with instance annotations mapped through ``table`` (see the module docstring)."""
    root, ann = Path(images), Path(annotations)
    if not root.is_dir():
        raise DatasetNotFoundError(f"{root}: IMAGES must be the folder of the COCO images")
    if not ann.is_file():
        raise DatasetNotFoundError(f"{ann}: no such COCO annotations file")
    coco = _coco(str(ann.resolve()))
    table.lookup()
    samples: list[ImageSample] = []
    missing = []
    for img_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(img_id)[0]
        f = root / str(info.get("file_name", ""))
        if not f.is_file():
            missing.append(str(f))
            continue
        ref = f"coco:{img_id}:{ann.resolve()}"
        if min_foreground > 0 and int((_coco_mask(ref, table) != 0).sum()) <= min_foreground:
            continue
        samples.append(ImageSample(split, str(f), None, 0, Path(info["file_name"]).with_suffix("").as_posix(), ref))
    if missing:
        raise ImageSetError(f"{len(missing)} image(s) of {ann.name} are not in {root}, e.g. {missing[0]}")
    if not samples:
        raise DatasetNotFoundError(f"{ann}: no images left (annotated images in {root} with more than "
                                   f"{min_foreground} foreground pixels)")  # fmt: skip
    return ImageSet(root.name, tuple(samples), table.names, f"declared (class table {table.name})", (split,))


# -- masks ----------------------------------------------------------------------------------------
def _coco_mask(ref: str, table: ClassTable) -> np.ndarray:
    _, img_id, ann = ref.split(":", 2)
    coco = _coco(ann)
    info = coco.loadImgs(int(img_id))[0]
    out = np.zeros((int(info["height"]), int(info["width"])), np.uint8)
    lookup = table.lookup()
    for a in coco.loadAnns(coco.getAnnIds(imgIds=int(img_id), iscrowd=None)):
        k = lookup.get(int(a["category_id"]), 0)
        if k == 0:
            continue
        with warnings.catch_warnings():  # pycocotools' NumPy 2 copy-keyword deprecation, not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            inst = coco.annToMask(a).astype(bool)  # the instance's polygons (or RLE) OR'ed
        out[inst & (out == 0)] = k  # the first instance wins where they overlap
    return out


def load_mask(sample: ImageSample, n_classes: int, table: ClassTable | None = None) -> np.ndarray:
    """The raw ``[H, W]`` uint8 mask of a sample (class indices, 255 = ignore), checked against ``n_classes``."""
    if sample.mask is None:
        raise ImageSetError(f"{sample.source}: this sample has no mask")
    if sample.mask.startswith("coco:"):
        return _coco_mask(sample.mask, table or VOC21_COCO)
    image = _pil()
    try:
        with image.open(sample.mask) as im:
            if im.mode not in ("L", "P", "I", "I;16", "1"):
                raise ImageSetError(f"{sample.mask}: a mask must be a one-channel PNG of class indices "
                                    f"(mode L or P), not {im.mode}")  # fmt: skip
            m = np.asarray(im)
    except OSError as err:
        raise ImageSetError(f"{sample.mask}: cannot read the mask ({err})") from None
    bad = (m >= n_classes) & (m != 255)
    if bad.any():
        raise ImageSetError(f"{sample.mask}: value {int(m[bad].max())} is no class (0..{n_classes - 1}) and not "
                            "255 (ignore); check the class list")  # fmt: skip
    return m.astype(np.uint8)


def mask_label(mask: np.ndarray, n_classes: int) -> int:
    """The most frequent non-background class of a mask (0 when there is none)."""
    counts = np.bincount(mask[mask < n_classes].ravel(), minlength=n_classes)
    counts[0] = 0
    return int(counts.argmax()) if counts.any() else 0
