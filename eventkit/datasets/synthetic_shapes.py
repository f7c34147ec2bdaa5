"""synthetic-shapes: a seeded semantic-segmentation dataset with exact masks, in the Pascal VOC 2012 layout.

It is the embedded default dataset for segmentation: the segmentation demo and tests run on it
when no real dataset is present, and it converts like a VOC folder
(``eventkit synth synthetic-shapes --method saccade --out shapes.zarr`` generates it on first use).
The layout is that of an extracted ``VOCtrainval_11-May-2012.tar`` (lossless PNG images)::

    <out>/SyntheticShapes/JPEGImages/<id>.png          RGB image (PNG: no compression artefacts)
    <out>/SyntheticShapes/SegmentationClass/<id>.png   class index per pixel (mode "L"), 255 = ignore
    <out>/SyntheticShapes/ImageSets/Segmentation/{train,test}.txt   one id per line
    <out>/SyntheticShapes/classes.txt                  class names in label order (background first)

Every image has a textured background (a few random low-frequency colour gratings plus noise)
and 2-4 shapes from :data:`CLASSES` (disc, square, triangle), each filled with its own colour and
a class-typical pattern (disc: horizontal stripes, square: vertical stripes, triangle: a
checkerboard; period and phase random), so both shape and texture carry the class, as digits on
CIFAR-10 backgrounds do in Kim et al. 2022. Shapes overlap: a later shape occludes an earlier one,
in the image and in the mask alike. The mask is the label map the image is rendered from, so it is
exact (no anti-aliasing, no ignore pixels). Everything random is drawn from
``(seed, split, index)``: the same arguments give the same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OptionError

__all__ = ["CLASSES", "FOLDER", "SyntheticShapesConfig", "generate_synthetic_shapes", "render_sample"]

CLASSES = ("background", "disc", "square", "triangle")
FOLDER = "SyntheticShapes"
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class SyntheticShapesConfig:
    """Size and seed of a synthetic-shapes dataset.

    Attributes
    ----------
    train, test
        Number of images in each split.
    size
        Image side in pixels (square images).
    min_shapes, max_shapes
        Shapes per image (uniform, inclusive).
    seed
        Seed of everything random.
    """

    train: int = 400
    test: int = 100
    size: int = 64
    min_shapes: int = 2
    max_shapes: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.train < 1 or self.test < 1:
            raise OptionError("synthetic-shapes needs train >= 1 and test >= 1 images")
        if not 16 <= self.size <= 4096:
            raise OptionError(f"synthetic-shapes size must be in 16..4096, got {self.size}")
        if not 1 <= self.min_shapes <= self.max_shapes <= 16:
            raise OptionError("need 1 <= min_shapes <= max_shapes <= 16")


def _background(rng: np.random.Generator, n: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """``[n, n, 3]`` float texture: random low-frequency colour gratings plus pixel noise, in ~[0.15, 0.75]."""
    img = np.empty((n, n, 3), np.float32)
    img[:] = rng.uniform(0.3, 0.6, 3)
    for _ in range(3):
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.3, 1.0) * n  # long periods: no confusion with the shapes' fine patterns
        wave = np.sin(2 * np.pi * (np.cos(angle) * xx + np.sin(angle) * yy) / period + rng.uniform(0, 2 * np.pi))
        img += 0.08 * wave[..., None] * rng.uniform(-1, 1, 3)
    img += rng.normal(0, 0.02, img.shape)
    return img


def _shape_mask(kind: int, rng: np.random.Generator, n: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Boolean ``[n, n]`` of one random shape of class ``kind`` (1 disc, 2 square, 3 triangle)."""
    r = rng.uniform(0.12, 0.22) * n
    cx, cy = rng.uniform(0.1, 0.9, 2) * n
    dx, dy = xx - cx, yy - cy
    if kind == 1:
        return dx * dx + dy * dy <= r * r
    a = rng.uniform(0, 2 * np.pi)
    u = np.cos(a) * dx + np.sin(a) * dy  # rotated coordinates
    v = -np.sin(a) * dx + np.cos(a) * dy
    if kind == 2:
        half = 0.85 * r
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # equilateral triangle with circumradius 1.3 r (about the area of the others): three half-planes
    inside = np.ones_like(u, dtype=bool)
    for k in range(3):
        t = 2 * np.pi * k / 3
        inside &= np.cos(t) * u + np.sin(t) * v <= 0.65 * r
    return inside


def _pattern(kind: int, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """The class-typical fill pattern in [-1, 1]: stripes (disc: horizontal, square: vertical) or a checkerboard."""
    period = rng.uniform(4.0, 6.0)
    px, py = rng.uniform(0, period, 2)
    sx = np.where(((xx + px) // (period / 2)) % 2 == 0, 1.0, -1.0)
    sy = np.where(((yy + py) // (period / 2)) % 2 == 0, 1.0, -1.0)
    return {1: sy, 2: sx, 3: sx * sy}[kind].astype(np.float32)


def render_sample(cfg: SyntheticShapesConfig, split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The image ``[H, W, 3]`` uint8 and mask ``[H, W]`` uint8 (class index) of one sample."""
    if split not in _SPLITS:
        raise OptionError(f"split must be one of {_SPLITS}, got {split!r}")
    n = cfg.size
    rng = np.random.default_rng([cfg.seed, _SPLITS.index(split), int(index)])
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    img = _background(rng, n, yy, xx)
    mask = np.zeros((n, n), np.uint8)
    for _ in range(int(rng.integers(cfg.min_shapes, cfg.max_shapes + 1))):
        kind = int(rng.integers(1, len(CLASSES)))
        m = _shape_mask(kind, rng, n, yy, xx)
        colour = rng.uniform(0.25, 0.75, 3).astype(np.float32)
        fill = colour + 0.22 * _pattern(kind, rng, yy, xx)[..., None]
        img[m] = fill[m]  # a later shape occludes an earlier one: image and mask painted alike
        mask[m] = kind
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mask


def generate_synthetic_shapes(out_dir: str | os.PathLike[str], cfg: SyntheticShapesConfig | None = None) -> Path:
    """Write a synthetic-shapes dataset under ``out_dir`` (Pascal VOC 2012 layout, see the module docstring).

    Parameters
    ----------
    out_dir
        Target folder; ``out_dir/SyntheticShapes`` is written.
    cfg
        Size and seed; the defaults give 400 train and 100 test images of 64 x 64 (~5 MB).

    Returns
    -------
    Path
        ``out_dir``.
    """
    from PIL import Image

    cfg = cfg or SyntheticShapesConfig()
    out = Path(out_dir)
    base = out / FOLDER
    dirs = {k: base / k for k in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", cfg.train), ("test", cfg.test)):
        ids = [f"{split}_{i:05d}" for i in range(count)]
        for i, sid in enumerate(ids):
            img, mask = render_sample(cfg, split, i)
            Image.fromarray(img, "RGB").save(dirs["JPEGImages"] / f"{sid}.png")
            Image.fromarray(mask, "L").save(dirs["SegmentationClass"] / f"{sid}.png")
        (dirs["ImageSets/Segmentation"] / f"{split}.txt").write_text("".join(f"{s}\n" for s in ids))
    (base / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    return out


def ensure_synthetic_shapes(root: str | os.PathLike[str] | None = None, cfg: SyntheticShapesConfig | None = None) -> Path:
    """The synthetic-shapes VOC folder under the data root, generated on first use.

    ``<root>/synthetic-shapes/extract/SyntheticShapes`` (``root``: ``--root``, else
    ``$EVENTKIT_ROOT``, else ``~/.cache/eventkit``). A non-default ``cfg`` gets its own folder
    (``extract-<hash>``). Generated into a temporary folder and renamed into place, so a killed
    run never leaves half a dataset that a later run would take for complete.
    """
    import dataclasses
    import hashlib
    import json
    import shutil
    import tempfile

    from .prepare import data_root

    cfg = cfg or SyntheticShapesConfig()
    base = data_root(root) / "synthetic-shapes"
    tag = "" if cfg == SyntheticShapesConfig() else "-" + hashlib.sha256(
        json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode()).hexdigest()[:8]
    target = base / f"extract{tag}"
    if (target / FOLDER / "classes.txt").is_file():
        return target / FOLDER
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=base))
    try:
        generate_synthetic_shapes(tmp, cfg)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first: keep its copy
            if not (target / FOLDER / "classes.txt").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / FOLDER
