"""Segmentation inputs of ``eventkit synth``: --masks folders, Pascal VOC, COCO, shift-diff, mask fitting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eventkit.store import open_store
from eventkit.synth import synth_convert
from eventkit.synth.images import ImageSetError, prepare_image, prepare_mask
from eventkit.synth.seg_inputs import VOC21_CLASSES, VOC21_COCO, discover_voc, read_class_table
from eventkit.synth.shift_diff import IMAGENET_MEAN, IMAGENET_STD, SEED_SHIFTS, ShiftDiff
from eventkit_cli.synth import synth

PIL = pytest.importorskip("PIL.Image")


# -- mask fitting ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
@pytest.mark.parametrize("shape", [(20, 30), (31, 17), (8, 8)])
def test_mask_lands_on_its_pixels(fit: str, shape: tuple[int, int]) -> None:
    """An image whose intensity encodes the class, resized 'nearest', must equal the fitted mask."""
    rng = np.random.default_rng(shape[0])
    mask = rng.integers(0, 4, shape).astype(np.uint8)
    img = (mask.astype(np.float32) + 1) / 5  # class k -> (k + 1) / 5; 0 only where the fit pads
    got = prepare_mask(mask, 16, fit=fit)
    ref = prepare_image(img, 16, fit=fit, resample="nearest")
    want = np.where(ref == 0, 255, np.rint(ref * 5) - 1).astype(np.uint8)
    assert np.array_equal(got, want)
    if fit == "pad" and shape[0] != shape[1]:
        assert (got == 255).any()


def test_bad_masks_refused() -> None:
    with pytest.raises(ImageSetError):
        prepare_mask(np.zeros((4, 4, 3), np.uint8), 8)
    with pytest.raises(ImageSetError):
        prepare_mask(np.full((4, 4), -1), 8)


# -- shift-diff -----------------------------------------------------------------------------------
def test_shift_diff_matches_a_per_pixel_reference() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((6, 7, 3)).astype(np.float32)
    got = ShiftDiff().frames(img)
    assert got.shape == (8, 6, 6, 7) and got.dtype == np.float32
    norm = (img - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)

    def copy(k: int, y: int, x: int, c: int) -> float:
        dx, dy = SEED_SHIFTS[k]
        sy, sx = y - dy, x - dx
        return float(norm[sy, sx, c]) if 0 <= sy < 6 and 0 <= sx < 7 else 0.0

    for k in range(8):
        for y in range(6):
            for x in range(7):
                for c in range(3):
                    d = copy(k + 1, y, x, c) - copy(k, y, x, c)
                    assert got[k, c, y, x] == pytest.approx(max(d, 0), abs=1e-5)
                    assert got[k, 3 + c, y, x] == pytest.approx(max(-d, 0), abs=1e-5)


# -- fixtures: tiny datasets written here ----------------------------------------------------------
def _scene(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((h, w), np.uint8)
    y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
    mask[y0 : y0 + h // 2, x0 : x0 + w // 2] = rng.integers(1, 3)
    mask[0, :] = 255  # a void row, as VOC's boundaries
    img = (rng.random((h, w, 3)) * 40 + (mask[..., None] % 255) * 90).astype(np.uint8)
    return img, mask


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("voc") / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True)
    rng = np.random.default_rng(1)
    ids = {"train": ["2007_000032", "2007_000039", "2007_000063"], "val": ["2007_000033", "2007_000042"]}
    for sp, names in ids.items():
        for sid in names:
            img, mask = _scene(rng, 20, 26)
            PIL.fromarray(img).save(root / "JPEGImages" / f"{sid}.png")
            pal = PIL.fromarray(mask, "P")  # VOC's masks are palette PNGs: indices are the classes
            pal.putpalette([v for k in range(256) for v in (k, 255 - k, (7 * k) % 256)])
            pal.save(root / "SegmentationClass" / f"{sid}.png")
        (root / "ImageSets/Segmentation" / f"{sp}.txt").write_text("\n".join(names) + "\n")
    return root


def test_voc_layout_converts(voc: Path, tmp_path: Path) -> None:
    iset, how = discover_voc(voc)
    assert iset.classes == VOC21_CLASSES and "built in" in how and iset.splits == ("train", "val")
    rep = synth_convert(voc, method="diff", out=tmp_path / "v.zarr", size=16, frames=2, executor="serial", progress=False)
    assert rep.complete and rep.samples == {"train": 3, "val": 2}
    s = open_store(tmp_path / "v.zarr")
    assert s.has_masks and s.classes == list(VOC21_CLASSES)
    sp = s["val"]
    assert list(sp.sample_ids) == ["2007_000033", "2007_000042"]
    raw = np.asarray(PIL.open(voc / "SegmentationClass" / "2007_000042.png"))
    want = prepare_mask(raw, 16, fit="crop")
    assert np.array_equal(sp.read_mask(1), want)
    fg = want[(want != 0) & (want != 255)]
    assert sp.labels[1] == np.bincount(fg).argmax()  # the label is the main class


def test_masks_folder_cli_and_errors(voc: Path, tmp_path: Path) -> None:
    imgs, masks = tmp_path / "imgs", tmp_path / "masks"
    for d in (imgs / "train", imgs / "test", masks / "train", masks / "test"):
        d.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for sp, n in (("train", 3), ("test", 2)):
        for i in range(n):
            img, mask = _scene(rng, 18, 18)
            PIL.fromarray(img).save(imgs / sp / f"{i}.jpg", quality=95)
            PIL.fromarray(mask).save(masks / sp / f"{i}.png")
    r = CliRunner()
    out = tmp_path / "m.zarr"
    res = r.invoke(synth, [str(imgs), "--masks", str(masks), "--classes", "bg,a,b", "--method", "shift-diff",
                           "--size", "12", "--executor", "serial", "--out", str(out), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    s = open_store(out)
    assert s["train"].frames.shape == (3, 8, 6, 12, 12) and s.dtype == np.float32 and s.has_masks
    assert np.array_equal(s["test"].read_mask(1), prepare_mask(np.asarray(PIL.open(masks / "test" / "1.png")), 12))
    # no classes declared: one error line
    res = r.invoke(synth, [str(imgs), "--masks", str(masks), "--out", str(tmp_path / "n.zarr")])
    assert res.exit_code != 0 and "declare the classes" in res.output
    # a mask value that names no class fails that sample, naming the file
    PIL.fromarray(np.full((18, 18), 7, np.uint8)).save(masks / "test" / "0.png")
    res = r.invoke(synth, [str(imgs), "--masks", str(masks), "--classes", "bg,a,b", "--size", "12", "--frames", "2",
                           "--method", "diff", "--executor", "serial", "--out", str(tmp_path / "bad.zarr"), "--quiet"])  # fmt: skip
    assert res.exit_code != 0 and "value 7 is no class" in res.output
    # a missing mask is refused before anything is written
    (masks / "train" / "2.png").unlink()
    res = r.invoke(synth, [str(imgs), "--masks", str(masks), "--classes", "bg,a,b", "--out", str(tmp_path / "x.zarr")])
    assert res.exit_code != 0 and "have no mask" in res.output and not (tmp_path / "x.zarr").exists()


# -- COCO -----------------------------------------------------------------------------------------
def _rect(x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("pycocotools")
    root = tmp_path_factory.mktemp("coco")
    (root / "val").mkdir()
    for name in ("a.jpg", "b.jpg"):
        PIL.fromarray(np.full((30, 40, 3), 128, np.uint8)).save(root / "val" / name)
    anns = [
        # image 1: a person (COCO 1 -> VOC 15), then a car (3 -> 7) overlapping it: the person wins
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": _rect(2, 2, 20, 20), "area": 324, "bbox": [2, 2, 18, 18], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 3, "segmentation": _rect(10, 10, 35, 25), "area": 375, "bbox": [10, 10, 25, 15], "iscrowd": 0},
        # a category outside the VOC table (COCO 90 toothbrush) stays background
        {"id": 3, "image_id": 1, "category_id": 90, "segmentation": _rect(30, 0, 39, 8), "area": 72, "bbox": [30, 0, 9, 8], "iscrowd": 0},
        # image 2: one small dog (18 -> 12)
        {"id": 4, "image_id": 2, "category_id": 18, "segmentation": _rect(5, 5, 9, 9), "area": 16, "bbox": [5, 5, 4, 4], "iscrowd": 0},
    ]
    cats = [{"id": i, "name": f"c{i}", "supercategory": "x"} for i in (1, 3, 18, 90)]
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "height": 30, "width": 40},
                      {"id": 2, "file_name": "b.jpg", "height": 30, "width": 40}],
           "annotations": anns, "categories": cats}  # fmt: skip
    ann = root / "instances_val.json"
    ann.write_text(json.dumps(doc))
    return root / "val", ann


def test_coco_mapped_through_the_voc_table(coco: tuple[Path, Path], tmp_path: Path) -> None:
    images, ann = coco
    out = tmp_path / "c.zarr"
    rep = synth_convert(images, coco=ann, method="diff", out=out, size=40, fit="stretch", frames=2, executor="serial",
                        progress=False, split="val")  # fmt: skip
    assert rep.samples == {"val": 2} and rep.classes == VOC21_CLASSES
    m = open_store(out)["val"].read_mask(0)[:, :]  # 40 x 40 from 30 x 40: rows stretched by 4/3
    rows = lambda y: int(y * 40 / 30)  # noqa: E731
    assert m[rows(5), 5] == 15 and m[rows(15), 15] == 15  # person, and person over car where they overlap
    assert m[rows(22), 30] == 7  # car only
    assert m[rows(4), 35] == 0 and m[rows(28), 2] == 0  # toothbrush -> background; empty corner
    assert open_store(out)["val"].labels.tolist() == [15, 12]
    # min_foreground drops the image with the small dog (16 px)
    rep = synth_convert(images, coco=ann, method="diff", out=tmp_path / "d.zarr", size=8, frames=2, executor="serial",
                        progress=False, min_foreground=100)  # fmt: skip
    assert rep.samples == {"train": 1}


def test_class_table_file(coco: tuple[Path, Path], tmp_path: Path) -> None:
    t = tmp_path / "table.txt"
    t.write_text("background\nvehicle: 3, 4  # cars and motorbikes\nanimal: 18\n")
    table = read_class_table(t)
    assert table.names == ("background", "vehicle", "animal") and table.lookup() == {3: 1, 4: 1, 18: 2}
    images, ann = coco
    res = CliRunner().invoke(synth, [str(images), "--coco", str(ann), "--class-table", str(t), "--size", "10", "--frames",
                                     "2", "--method", "diff", "--executor", "serial", "--out", str(tmp_path / "t.zarr"), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert open_store(tmp_path / "t.zarr").classes == ["background", "vehicle", "animal"]
    t.write_text("background\na: 3\nb: 3\n")
    with pytest.raises(ImageSetError, match="in two classes"):
        read_class_table(t)
    assert VOC21_COCO.lookup()[1] == 15 and VOC21_COCO.lookup()[72] == 20


@pytest.mark.slow
def test_synth_embedded_synthetic_shapes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVENTKIT_ROOT", str(tmp_path / "root"))
    res = CliRunner().invoke(synth, ["synthetic-shapes", "--method", "diff", "--size", "8", "--frames", "1",
                                     "--executor", "serial", "--out", str(tmp_path / "s.zarr"), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    s = open_store(tmp_path / "s.zarr")
    assert s.has_masks and s.classes == ["background", "disc", "square", "triangle"]
    assert dict(s.attrs["splits"]) == {"train": 400, "test": 100}
    assert (tmp_path / "root" / "synthetic-shapes" / "extract" / "SyntheticShapes" / "classes.txt").is_file()
