"""The embedded segmentation dataset: synthetic-shapes (seeded, VOC layout, exact masks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventkit.datasets.synthetic_shapes import (
    CLASSES,
    SyntheticShapesConfig,
    ensure_synthetic_shapes,
    generate_synthetic_shapes,
    render_sample,
)
from eventkit.errors import OptionError

PIL = pytest.importorskip("PIL.Image")
SMALL = SyntheticShapesConfig(train=6, test=3, size=32)


def test_same_seed_same_bytes_other_seed_differs() -> None:
    a_img, a_mask = render_sample(SMALL, "train", 2)
    b_img, b_mask = render_sample(SMALL, "train", 2)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_mask, b_mask)
    c_img, _ = render_sample(SyntheticShapesConfig(train=6, test=3, size=32, seed=1), "train", 2)
    assert not np.array_equal(a_img, c_img)
    assert not np.array_equal(render_sample(SMALL, "test", 2)[0], a_img)  # splits draw their own images


def test_masks_are_class_indices_and_every_class_occurs() -> None:
    cfg = SyntheticShapesConfig(train=40, test=1, size=48)
    seen = np.zeros(len(CLASSES), int)
    for i in range(cfg.train):
        img, mask = render_sample(cfg, "train", i)
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8 and mask.shape == (48, 48)
        assert mask.max() < len(CLASSES) and (mask > 0).any()
        seen += np.bincount(mask.ravel(), minlength=len(CLASSES))
    assert (seen > 0).all()
    assert seen[0] > seen[1:].max()  # background is the largest class, the shapes are balanced-ish
    assert seen[1:].min() > 0.3 * seen[1:].max()


def test_class_pattern_follows_the_mask() -> None:
    """Inside a disc the image changes along y (horizontal stripes), inside a square along x."""
    cfg = SyntheticShapesConfig(train=30, test=1, size=64)
    dy = {1: [], 2: []}
    dx = {1: [], 2: []}
    for i in range(cfg.train):
        img, mask = render_sample(cfg, "train", i)
        g = img.astype(float).mean(2)
        for k in (1, 2):
            inner = (mask == k)
            both_y = inner[1:, :] & inner[:-1, :]
            both_x = inner[:, 1:] & inner[:, :-1]
            dy[k] += list(np.abs(np.diff(g, axis=0))[both_y])
            dx[k] += list(np.abs(np.diff(g, axis=1))[both_x])
    assert np.mean(dy[1]) > 3 * np.mean(dx[1])  # disc: horizontal stripes
    assert np.mean(dx[2]) > 3 * np.mean(dy[2])  # square: vertical stripes


def test_voc_layout_written(tmp_path: Path) -> None:
    generate_synthetic_shapes(tmp_path, SMALL)
    base = tmp_path / "SyntheticShapes"
    ids = (base / "ImageSets/Segmentation/train.txt").read_text().split()
    assert len(ids) == 6 and len((base / "ImageSets/Segmentation/test.txt").read_text().split()) == 3
    img = np.asarray(PIL.open(base / "JPEGImages" / f"{ids[1]}.png"))
    mask = np.asarray(PIL.open(base / "SegmentationClass" / f"{ids[1]}.png"))
    want_img, want_mask = render_sample(SMALL, "train", 1)
    assert np.array_equal(img, want_img) and np.array_equal(mask, want_mask)  # PNG: lossless
    assert (base / "classes.txt").read_text().split() == list(CLASSES)


def test_ensure_generates_once(tmp_path: Path) -> None:
    p = ensure_synthetic_shapes(tmp_path, SMALL)
    stamp = (p / "classes.txt").stat().st_mtime_ns
    assert ensure_synthetic_shapes(tmp_path, SMALL) == p and (p / "classes.txt").stat().st_mtime_ns == stamp
    assert not [x for x in p.parent.parent.iterdir() if x.name.startswith(".extract-")]  # no temp left


def test_bad_config() -> None:
    with pytest.raises(OptionError):
        SyntheticShapesConfig(train=0)
    with pytest.raises(OptionError):
        SyntheticShapesConfig(min_shapes=3, max_shapes=2)
