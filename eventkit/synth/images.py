"""Image inputs for ``eventkit synth``: a folder of class sub-folders or a NumPy array file.

Folder layout
-------------
``IMAGES/<class>/<file>`` (one split, named by the caller, default ``train``), or
``IMAGES/<split>/<class>/<file>`` when every top-level folder is a split name (``train``,
``test``, ``val``, ``valid``, ``validation``). Image files are found recursively under each class
folder (extensions :data:`IMAGE_SUFFIXES`, case-insensitive) and taken in sorted path order; the
sample id is the path relative to the split folder without its suffix (``cat/0001``).

Labels follow the **declared class order** (``classes=[...]``): label ``k`` is ``classes[k]``.
A class folder that is not declared is an error naming it; a declared class without a folder is
allowed (it has no samples). Only when no order is declared are the folder names string-sorted,
and :attr:`ImageSet.class_order` says so, because a string sort is rarely the order a dataset
publishes (``'10' < '2'``).

Array file
----------
A ``.npy`` array ``[N, H, W]`` (grayscale) or ``[N, H, W, 3|4]`` (colour), ``uint8`` (0..255) or
float (0..1), read memory-mapped. Labels come from ``labels=`` (a ``.npy`` or a text file, one
integer per line, or a sequence) or from a companion file beside it (``<stem>.labels.npy``,
``<stem>_labels.npy``, ``<stem>.labels.txt``, ``<stem>_labels.txt``). Classes are the declared
names, else ``"0" ... "K-1"`` with ``K = max(label) + 1`` (numeric order). Sample ids are the
zero-padded index.

Preparation
-----------
:func:`prepare_image` turns any input into the ``[size, size]`` float32 intensity in ``[0, 1]``
the methods take: colour to intensity (``gray="luma"``: ``0.299 R + 0.587 G + 0.114 B``, ITU-R
BT.601 as Pillow's ``"L"``; ``"max"``: ``max(R, G, B)``, the HSV value ODG uses), then fit to the
square (``fit="crop"``: resize the shorter side to ``size`` and take the centre, ``"pad"``: resize
the longer side and centre on black, ``"stretch"``: resize both sides) with Pillow's ``nearest`` or
``bilinear`` resampling. Pillow (``pillow>=10``) decodes image files and resizes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetNotFoundError, EventkitError, OptionError

__all__ = [
    "FITS",
    "IMAGE_SUFFIXES",
    "SPLIT_NAMES",
    "ImageSample",
    "ImageSet",
    "ImageSetError",
    "discover_images",
    "fit_geometry",
    "load_image",
    "prepare_image",
    "prepare_mask",
    "read_classes_file",
    "sample_seed",
    "to_gray",
    "to_rgb",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")
SPLIT_NAMES = ("train", "test", "val", "valid", "validation")
FITS = ("crop", "pad", "stretch")


class ImageSetError(EventkitError, ValueError):
    """The images, labels or class list given to ``eventkit synth`` are inconsistent."""


def _pil():
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow is a dependency
        raise ImageSetError("reading and resizing images needs Pillow: pip install 'pillow>=10'") from err
    return Image


@dataclass(frozen=True)
class ImageSample:
    """One image: where it is (a file, or index ``index`` of the array file ``source``), its label and id.

    ``mask``: where its target mask is, for segmentation (:mod:`eventkit.synth.seg_inputs`): a PNG
    path, or ``coco:<image id>:<annotations.json>``; None for classification.
    """

    split: str
    source: str
    index: int | None
    label: int
    sample_id: str
    mask: str | None = None


@dataclass(frozen=True)
class ImageSet:
    """Every sample of an image dataset, its class names and how their order was decided."""

    name: str
    samples: tuple[ImageSample, ...]
    classes: tuple[str, ...]
    class_order: str  # "declared" or "sorted folder names (none declared)" or "numeric labels"
    splits: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        """``{split: number of samples}`` in split order."""
        return {s: sum(1 for x in self.samples if x.split == s) for s in self.splits}

    def fingerprint(self) -> str:
        """sha256 over every sample's (split, id, label, file size): changes when the inputs do."""
        h = hashlib.sha256()
        sizes: dict[str, int] = {}

        def size(path: str) -> int:
            if path not in sizes:
                sizes[path] = os.stat(path).st_size
            return sizes[path]

        for s in self.samples:
            h.update(f"{s.split}\0{s.sample_id}\0{s.label}\0{size(s.source)}\0{s.index}\n".encode())
            if s.mask is not None:  # a segmentation set: the masks (or the COCO annotation file) too
                coco = s.mask.startswith("coco:")
                where = s.mask.split(":", 2) if coco else ["", "", s.mask]
                h.update(f"mask\0{where[1]}\0{size(where[2])}\n".encode())  # sizes and ids, not folder names
        return h.hexdigest()


def read_classes_file(path: str | os.PathLike[str]) -> list[str]:
    """Class names, one per line, in label order; blank lines and ``#`` comments are skipped."""
    p = Path(path)
    names = [ln.split("#", 1)[0].strip() for ln in p.read_text(encoding="utf-8").splitlines()]
    names = [n for n in names if n]
    if not names:
        raise ImageSetError(f"{p}: no class names in the file (one name per line, in label order)")
    return names


def _check_unique(classes: Sequence[str]) -> None:
    seen, dup = set(), []
    for c in classes:
        if c in seen:
            dup.append(c)
        seen.add(c)
    if dup:
        raise ImageSetError(f"class names are repeated in the declared order: {sorted(set(dup))}")


def discover_images(
    images: str | os.PathLike[str],
    *,
    classes: Sequence[str] | None = None,
    labels: str | os.PathLike[str] | Sequence[int] | None = None,
    split: str = "train",
) -> ImageSet:
    """Find the samples of a folder or ``.npy`` file (see the module docstring).

    Parameters
    ----------
    images
        A folder of class sub-folders (optionally under split folders), or a ``.npy`` file.
    classes
        Declared class order; label ``k`` is ``classes[k]``.
    labels
        For an array file: labels (file or sequence); default a companion file.
    split
        Split name for inputs without split folders.

    Raises
    ------
    DatasetNotFoundError
        ``images`` does not exist or holds no images.
    ImageSetError
        Undeclared class folders, missing or mismatched labels, a bad array.
    """
    root = Path(images)
    if not root.exists():
        raise DatasetNotFoundError(f"{root}: no such folder or .npy file")
    if classes is not None:
        classes = [str(c) for c in classes]
        _check_unique(classes)
        if not classes:
            raise ImageSetError("the declared class list is empty")
    if root.is_file():
        if root.suffix.lower() != ".npy":
            raise ImageSetError(f"{root}: expected a folder of images or a .npy array file")
        return _discover_array(root, classes, labels, split)
    if labels is not None:
        raise ImageSetError("labels= is for a .npy array; a folder takes its labels from class sub-folder names")
    return _discover_folder(root, classes, split)


def _class_dirs(folder: Path) -> list[Path]:
    return [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")]


def _discover_folder(root: Path, classes: list[str] | None, split: str) -> ImageSet:
    top = _class_dirs(root)
    if top and all(d.name in SPLIT_NAMES for d in top):
        split_dirs = sorted(top, key=lambda d: SPLIT_NAMES.index(d.name))
    else:
        split_dirs = [root]
    split_names = [d.name if d is not root else split for d in split_dirs]
    found: dict[str, set[str]] = {}
    per_split: dict[str, dict[str, Path]] = {}
    for name, d in zip(split_names, split_dirs):
        dirs = {c.name: c for c in _class_dirs(d)}
        loose = [f.name for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        if loose:
            raise ImageSetError(f"{d}: images {loose[:3]} lie outside a class sub-folder; put each image "
                                "in a folder named after its class")  # fmt: skip
        per_split[name] = dirs
        for c in dirs:
            found.setdefault(c, set()).add(name)
    if not found:
        raise DatasetNotFoundError(f"{root}: no class sub-folders found (expected IMAGES/<class>/<image files>)")
    if classes is None:
        order = sorted(found)
        how = "sorted folder names (none declared)"
    else:
        extra = sorted(set(found) - set(classes))
        if extra:
            raise ImageSetError(f"{root}: class folder(s) {extra} are not in the declared classes {classes}; "
                                "add them to --classes/--classes-file or move them out")  # fmt: skip
        order = list(classes)
        how = "declared"
    index = {c: k for k, c in enumerate(order)}
    samples: list[ImageSample] = []
    for name, d in zip(split_names, split_dirs):
        for cname in sorted(per_split[name], key=lambda c: index[c]):
            cdir = per_split[name][cname]
            files = sorted(
                p for p in cdir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(cdir).parts)
            )  # fmt: skip
            for f in files:
                sid = f.relative_to(d).with_suffix("").as_posix()
                samples.append(ImageSample(name, str(f), None, index[cname], sid))
    if not samples:
        raise DatasetNotFoundError(f"{root}: the class folders hold no image files ({', '.join(IMAGE_SUFFIXES)})")
    used = [s for s in split_names if any(x.split == s for x in samples)]
    return ImageSet(root.name, tuple(samples), tuple(order), how, tuple(used))


def _companion_labels(path: Path) -> Path | None:
    stem = path.with_suffix("")
    for cand in (f"{stem}.labels.npy", f"{stem}_labels.npy", f"{stem}.labels.txt", f"{stem}_labels.txt"):
        if Path(cand).is_file():
            return Path(cand)
    return None


def _read_labels(src: str | os.PathLike[str] | Sequence[int]) -> np.ndarray:
    if isinstance(src, (str, os.PathLike)):
        p = Path(src)
        if not p.is_file():
            raise DatasetNotFoundError(f"{p}: labels file not found")
        if p.suffix.lower() == ".npy":
            try:
                arr = np.load(p, allow_pickle=False)
            except (ValueError, EOFError, OSError) as err:  # not .npy, object data, truncated
                raise ImageSetError(f"{p}: not a plain .npy array of labels ({err}); pass --labels FILE "
                                    "(.npy of integers or one integer per line)") from None
        else:
            try:
                arr = np.array([int(s) for s in p.read_text().split()], dtype=np.int64)
            except ValueError:
                raise ImageSetError(f"{p}: expected one integer label per line") from None
    else:
        arr = np.asarray(src)
    arr = np.asarray(arr)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ImageSetError(f"labels must be a 1-D array of integers, got shape {arr.shape} dtype {arr.dtype}")
    return arr.astype(np.int64)


def _discover_array(path: Path, classes: list[str] | None, labels, split: str) -> ImageSet:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        raise ImageSetError(f"{path}: not a plain .npy array ({err})") from None
    if not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] in (3, 4))) or arr.dtype.kind not in "uif":
        raise ImageSetError(f"{path}: expected images [N, H, W] or [N, H, W, 3|4] of integers or floats, "
                            f"got shape {arr.shape} dtype {arr.dtype}")  # fmt: skip
    src = labels if labels is not None else _companion_labels(path)
    if src is None:
        raise ImageSetError(f"{path}: no labels; pass --labels FILE (.npy or one integer per line) or put "
                            f"{path.with_suffix('').name}.labels.npy beside it")  # fmt: skip
    lab = _read_labels(src)
    n = arr.shape[0]
    if lab.shape[0] != n:
        raise ImageSetError(f"{path}: {n} images but {lab.shape[0]} labels")
    if n == 0:
        raise DatasetNotFoundError(f"{path}: the array holds no images")
    if lab.min() < 0:
        raise ImageSetError(f"labels must be >= 0, found {int(lab.min())}")
    if classes is None:
        order = [str(k) for k in range(int(lab.max()) + 1)]
        how = "numeric labels"
    else:
        if lab.max() >= len(classes):
            raise ImageSetError(f"label {int(lab.max())} has no class: only {len(classes)} classes were declared")
        order, how = list(classes), "declared"
    width = len(str(n - 1))
    samples = tuple(ImageSample(split, str(path), i, int(lab[i]), str(i).zfill(width)) for i in range(n))
    return ImageSet(path.stem, samples, tuple(order), how, (split,))


# -- loading and preparation ------------------------------------------------------------------
def load_image(sample: ImageSample) -> np.ndarray:
    """The raw image of a sample: ``[H, W]`` or ``[H, W, C]``, uint8 or float (as stored)."""
    if sample.index is not None:
        arr = np.load(sample.source, mmap_mode="r", allow_pickle=False)
        return np.asarray(arr[sample.index])
    image = _pil()
    try:
        with image.open(sample.source) as im:
            im.load()
            if im.mode not in ("L", "RGB", "RGBA", "I;16", "I", "F"):
                im = im.convert("RGB")
            return np.asarray(im)
    except OSError as err:
        raise ImageSetError(f"{sample.source}: cannot read the image ({err})") from None


def _to_unit(img: np.ndarray) -> np.ndarray:
    """Intensities to float32 in [0, 1] (uint8 / 255, uint16 / 65535, floats checked)."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535
    if img.dtype.kind in "iu":
        top = max(float(img.max(initial=0)), 1.0)
        return img.astype(np.float32) / (255.0 if top <= 255 else top)
    f = img.astype(np.float32)
    if f.size and (not np.isfinite(f).all() or f.min() < 0 or f.max() > 1):
        raise ImageSetError("float images must hold intensities in [0, 1]")
    return f


def to_gray(img: np.ndarray, gray: str = "luma") -> np.ndarray:
    """``[H, W]`` float32 intensity in [0, 1] from a gray or RGB(A) image (alpha ignored)."""
    a = np.asarray(img)
    if gray not in ("luma", "max"):
        raise OptionError(f"gray must be 'luma' or 'max', got {gray!r}")
    if a.ndim == 2:
        return _to_unit(a)
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ImageSetError(f"expected an image [H, W] or [H, W, 1|3|4], got shape {a.shape}")
    if a.shape[-1] == 1:
        return _to_unit(a[..., 0])
    if gray == "max":  # exact on the stored integers, then scaled (faster than a float reduction)
        return _to_unit(np.maximum(np.maximum(a[..., 0], a[..., 1]), a[..., 2]))
    f = _to_unit(a[..., :3])
    return f @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _resize(f: np.ndarray, w: int, h: int, resample: str) -> np.ndarray:
    if f.shape == (h, w):
        return f
    image = _pil()
    mode = {"nearest": image.Resampling.NEAREST, "bilinear": image.Resampling.BILINEAR}.get(resample)
    if mode is None:
        raise OptionError(f"resample must be 'nearest' or 'bilinear', got {resample!r}")
    out = np.asarray(image.fromarray(np.ascontiguousarray(f, dtype=np.float32), mode="F").resize((w, h), mode))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def to_rgb(img: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` float32 in [0, 1] from a gray or RGB(A) image (gray repeated, alpha ignored)."""
    a = np.asarray(img)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 1):
        g = _to_unit(a.reshape(a.shape[0], a.shape[1]))
        return np.repeat(g[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ImageSetError(f"expected an image [H, W] or [H, W, 1|3|4], got shape {a.shape}")
    return _to_unit(a[..., :3])


def fit_geometry(h: int, w: int, size: int | tuple[int, int], fit: str) -> tuple[int, int, int, int, int, int]:
    """Where ``fit`` puts an ``h x w`` image in the output: ``(ow, oh, rw, rh, ox, oy)``.

    The image is resized to ``rw x rh``; ``(ox, oy)`` is the crop offset into the resized image
    (positive) or, negated, the paste offset into the output (``pad``). Frames and masks share it,
    so a mask lands on exactly the pixels of its image.
    """
    ow, oh = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if ow < 1 or oh < 1:
        raise OptionError(f"size must be positive, got {size!r}")
    if fit == "stretch":
        return ow, oh, ow, oh, 0, 0
    if fit == "crop":
        s = max(ow / w, oh / h)
    elif fit == "pad":
        s = min(ow / w, oh / h)
    else:
        raise OptionError(f"fit must be one of {FITS}, got {fit!r}")
    rw, rh = max(1, round(w * s)), max(1, round(h * s))
    return ow, oh, rw, rh, (rw - ow) // 2, (rh - oh) // 2


def _place(r: np.ndarray, ow: int, oh: int, ox: int, oy: int, fill: float | int) -> np.ndarray:
    """Crop or pad the resized ``r`` into the ``oh x ow`` output (``fit_geometry``'s offsets)."""
    rh, rw = r.shape[:2]
    out = np.full((oh, ow, *r.shape[2:]), fill, dtype=r.dtype)
    src = r[max(oy, 0) : max(oy, 0) + min(oh, rh), max(ox, 0) : max(ox, 0) + min(ow, rw)]
    out[max(-oy, 0) : max(-oy, 0) + src.shape[0], max(-ox, 0) : max(-ox, 0) + src.shape[1]] = src
    return out


def prepare_image(
    img: np.ndarray, size: int | tuple[int, int], *, fit: str = "crop", gray: str = "luma", resample: str = "bilinear"
) -> np.ndarray:
    """Any image -> ``[H, W]`` float32 intensity in [0, 1] (see the module docstring).

    Parameters
    ----------
    img
        ``[H, W]`` or ``[H, W, C]``, uint8/uint16/int or float in [0, 1].
    size
        Output side (square) or ``(width, height)``.
    fit
        ``"crop"``, ``"pad"`` or ``"stretch"``.
    gray
        ``"luma"`` or ``"max"``; ``"rgb"`` keeps colour and returns ``[H, W, 3]``.
    resample
        ``"bilinear"`` or ``"nearest"``.
    """
    f = to_rgb(img) if gray == "rgb" else to_gray(img, gray)
    h, w = f.shape[:2]
    ow, oh, rw, rh, ox, oy = fit_geometry(h, w, size, fit)
    if f.ndim == 3:
        r = np.stack([_resize(f[..., c], rw, rh, resample) for c in range(f.shape[2])], axis=2)
    else:
        r = _resize(f, rw, rh, resample)
    return _place(r, ow, oh, ox, oy, 0.0)


def prepare_mask(mask: np.ndarray, size: int | tuple[int, int], *, fit: str = "crop", pad_value: int = 255) -> np.ndarray:
    """A class-index mask ``[H, W]`` -> ``[oh, ow]`` uint8, placed exactly like :func:`prepare_image`.

    Same geometry as the image (:func:`fit_geometry`) with nearest-neighbour resampling (class
    indices are never blended); ``fit="pad"`` borders, where the image is black, get ``pad_value``
    (255: ignored by the loss and the metrics).
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ImageSetError(f"a mask must be 2-D [H, W] of class indices, got shape {m.shape}")
    if m.dtype.kind not in "iub" or (m.size and (m.min() < 0 or m.max() > 255)):
        raise ImageSetError("mask values must be integer class indices in 0..255 (255 = ignore)")
    m = m.astype(np.uint8)
    h, w = m.shape
    ow, oh, rw, rh, ox, oy = fit_geometry(h, w, size, fit)
    if (rh, rw) != (h, w):
        image = _pil()
        m = np.asarray(image.fromarray(m, mode="L").resize((rw, rh), image.Resampling.NEAREST))
    return _place(m, ow, oh, ox, oy, pad_value)


def sample_seed(seed: int, sample: ImageSample) -> np.random.SeedSequence:
    """The seed of one sample: from the run seed, its split and its id (not from worker order)."""
    digest = hashlib.sha256(f"{sample.split}\0{sample.sample_id}".encode()).digest()
    return np.random.SeedSequence([int(seed), int.from_bytes(digest[:16], "little")])
