"""Images -> frame store (eventkit.synth.synth_convert) and the ``eventkit synth`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

import eventkit
from eventkit_cli.synth import synth
from eventkit.store import StoreMismatchError
from eventkit.synth import ImageSetError, Saccade, discover_images, prepare_image, synth_convert

PIL = pytest.importorskip("PIL.Image")

CLASSES = ["zero", "one", "ten", "two"]  # declared order differs from the string sort


def _image(rng: np.random.Generator, k: int) -> np.ndarray:
    img = np.zeros((18, 22, 3), np.uint8)
    img[4 + k : 12 + k, 3 + 2 * k : 10 + 2 * k] = 200 + 10 * k  # a bright box whose place encodes the class
    img += (rng.random(img.shape) * 30).astype(np.uint8)
    return img


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imgs") / "toyset"
    rng = np.random.default_rng(0)
    for split, per in (("train", 2), ("test", 1)):
        for k, c in enumerate(CLASSES):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(per):
                PIL.fromarray(_image(rng, k)).save(d / f"{i:02d}.png")
    return root


def test_discover_uses_the_declared_order(image_folder: Path) -> None:
    s = discover_images(image_folder, classes=CLASSES)
    assert s.splits == ("train", "test") and s.counts() == {"train": 8, "test": 4}
    assert s.class_order == "declared"
    by_id = {(x.split, x.sample_id): x.label for x in s.samples}
    assert by_id[("train", "ten/00")] == 2 and by_id[("test", "two/00")] == 3
    undeclared = discover_images(image_folder)
    assert undeclared.classes == ("one", "ten", "two", "zero") and "none declared" in undeclared.class_order
    with pytest.raises(ImageSetError, match="not in the declared classes"):
        discover_images(image_folder, classes=["zero", "one", "two"])


@pytest.mark.parametrize("method", ["saccade", "odg", "diff"])
def test_store_written_and_readable(image_folder: Path, tmp_path: Path, method: str) -> None:
    out = tmp_path / f"{method}.zarr"
    rep = synth_convert(image_folder, method=method, out=out, classes=CLASSES, size=16, frames=4,
                        executor="serial", samples_per_shard=4, progress=False)  # fmt: skip
    assert rep.complete and rep.converted == 12 and not rep.failures
    store = eventkit.open_store(out)
    train, test = store["train"], store["test"]
    assert len(train) == 8 and len(test) == 4
    frames, label, length, sid = train[5]
    assert frames.shape == (4, 2, 16, 16) and length == 4 and frames.dtype == np.uint16
    assert sid == "ten/01" and label == 2 and frames.sum() > 0
    attrs = dict(zarr.open_group(out, mode="r").attrs)
    assert attrs["classes"] == CLASSES and attrs["params"]["method"] == method
    assert attrs["params"]["frames"] == 4 and attrs["params"]["size"] == 16 and attrs["complete"] is True
    # the stored frames are the method applied to the prepared image
    from eventkit.synth import make_method
    from eventkit.synth.images import load_image, sample_seed

    m = make_method(method)
    s = next(x for x in discover_images(image_folder, classes=CLASSES).samples if x.sample_id == "ten/01")
    img = prepare_image(load_image(s), 16, gray=m.gray, resample=m.resample)
    np.testing.assert_array_equal(frames, m.frames(img, 4, np.random.default_rng(sample_seed(0, s))))


def test_rerun_resumes_and_other_parameters_are_refused(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    kw = dict(method="odg", out=out, classes=CLASSES, size=16, executor="serial", progress=False)
    assert synth_convert(image_folder, **kw).converted == 12
    again = synth_convert(image_folder, **kw)
    assert again.converted == 0 and again.skipped == 12 and again.complete
    with pytest.raises(StoreMismatchError):
        synth_convert(image_folder, **{**kw, "size": 20})
    with pytest.raises(StoreMismatchError):
        synth_convert(image_folder, **{**kw, "method_params": {"threshold": 0.3}})


def test_a_method_version_bump_refuses_its_store_and_the_package_version_does_not(
    image_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    from eventkit.synth.odg import ODG

    out = tmp_path / "s.zarr"
    kw = dict(method="odg", out=out, classes=CLASSES, size=16, executor="serial", progress=False)
    assert synth_convert(image_folder, **kw).converted == 12
    assert zarr.open_group(out, mode="r").attrs["decoder_versions"] == {"eventkit.synth": "1"}
    monkeypatch.setattr(eventkit, "__version__", "9.9.9")  # an installed wheel of the same code
    assert synth_convert(image_folder, **kw).skipped == 12
    monkeypatch.setattr(ODG, "version", 2)  # a fix of the method
    with pytest.raises(StoreMismatchError, match=r"decoder_versions\.eventkit\.synth: '1' -> '2'"):
        synth_convert(image_folder, **kw)


def test_npy_input_with_labels_and_noise_seed(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arr = rng.random((5, 12, 12)).astype(np.float32)
    np.save(tmp_path / "digits.npy", arr)
    np.save(tmp_path / "digits.labels.npy", np.array([1, 0, 2, 1, 0]))
    noisy = Saccade(pixel=Saccade().pixel.__class__(noise_rate_hz=20.0))
    a = synth_convert(tmp_path / "digits.npy", method=noisy, out=tmp_path / "a.zarr", size=12, seed=3,
                      executor="serial", progress=False)  # fmt: skip
    b = synth_convert(tmp_path / "digits.npy", method=noisy, out=tmp_path / "b.zarr", size=12, seed=3,
                      executor="serial", samples_per_shard=2, progress=False)  # fmt: skip
    assert a.classes == ("0", "1", "2") and a.class_order == "numeric labels"
    sa, sb = eventkit.open_store(a.store)["train"], eventkit.open_store(b.store)["train"]
    for i in range(5):  # per-sample seeds: the shard layout does not change the data
        np.testing.assert_array_equal(sa[i].frames, sb[i].frames)
    assert [sa[i].label for i in range(5)] == [1, 0, 2, 1, 0]
    c = synth_convert(tmp_path / "digits.npy", method=noisy, out=tmp_path / "c.zarr", size=12, seed=4,
                      executor="serial", progress=False)  # fmt: skip
    assert not np.array_equal(eventkit.open_store(c.store)["train"][0].frames, sa[0].frames)


def test_dask_executor_gives_the_serial_store(image_folder: Path, tmp_path: Path) -> None:
    kw = dict(method="diff", classes=CLASSES, size=12, frames=3, samples_per_shard=2, progress=False)
    synth_convert(image_folder, out=tmp_path / "serial.zarr", executor="serial", **kw)
    rep = synth_convert(image_folder, out=tmp_path / "dask.zarr", executor="dask", workers=2, **kw)
    assert rep.complete
    s1, s2 = eventkit.open_store(tmp_path / "serial.zarr"), eventkit.open_store(tmp_path / "dask.zarr")
    for split in ("train", "test"):
        for i in range(len(s1[split])):
            np.testing.assert_array_equal(s1[split][i].frames, s2[split][i].frames)
            assert s1[split][i].sample_id == s2[split][i].sample_id


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_synth_declared_classes(image_folder: Path, tmp_path: Path) -> None:
    classes_file = tmp_path / "classes.txt"
    classes_file.write_text("# label order\n" + "\n".join(CLASSES) + "\n")
    out = tmp_path / "cli.zarr"
    res = CliRunner().invoke(synth, [str(image_folder), "--method", "saccade", "--classes-file", str(classes_file),
                                     "--size", "16", "--frames", "6", "--out", str(out), "--executor", "serial",
                                     "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "12 images" in res.output and "declared" in res.output and str(out) in res.output
    attrs = json.loads((out / "zarr.json").read_text())["attributes"]
    assert attrs["classes"] == CLASSES and attrs["params"]["method"] == "saccade"
    assert eventkit.open_store(out)["test"][2].label == 2


def test_cli_synth_says_when_no_order_is_declared(image_folder: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(synth, [str(image_folder), "--method", "odg", "--size", "12", "--executor", "serial",
                                     "--out", str(tmp_path / "o.zarr"), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "no class order declared" in res.output and "sorted folder names" in res.output


def test_cli_synth_errors_are_one_line(image_folder: Path, tmp_path: Path) -> None:
    r = CliRunner()
    res = r.invoke(synth, [str(image_folder), "--classes", "zero,one", "--out", str(tmp_path / "x.zarr"),
                           "--executor", "serial", "--quiet"])  # fmt: skip
    assert res.exit_code == 1 and "not in the declared classes" in res.output and "Traceback" not in res.output
    res = r.invoke(synth, [str(image_folder), "--threshold", "-1", "--out", str(tmp_path / "y.zarr")])
    assert res.exit_code == 1 and "Error: --threshold" in res.output and "Traceback" not in res.output
    res = r.invoke(synth, [str(image_folder), "--method", "odg", "--sigma", "0.1", "--out", str(tmp_path / "z.zarr")])
    assert res.exit_code == 2 and "--sigma" in res.output
    np.save(tmp_path / "nolabels.npy", np.zeros((2, 4, 4), np.uint8))
    res = r.invoke(synth, [str(tmp_path / "nolabels.npy"), "--out", str(tmp_path / "n.zarr"), "--executor", "serial"])
    assert res.exit_code == 1 and "no labels" in res.output
