"""Segmentation training, evaluation and the CLI hooks, on a tiny synthetic-shapes store."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from eventkit.datasets.synthetic_shapes import SyntheticShapesConfig, generate_synthetic_shapes
from eventkit.synth import synth_convert
from eventkit_cli.snnmodels_cli import main
from snnmodels.errors import CheckpointError, ConfigError
from snnmodels.training.seg_eval import evaluate_seg_checkpoint, palette
from snnmodels.training.seg_metrics import confusion_matrix, seg_metrics
from snnmodels.training.seg_train import (
    SegTrainConfig,
    fit_segmentation,
    is_segmentation_store,
    load_seg_checkpoint,
    load_seg_split,
    seg_model_from_checkpoint,
)

PIL = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    voc = generate_synthetic_shapes(root, SyntheticShapesConfig(train=12, test=4, size=16)) / "SyntheticShapes"
    out = root / "s.zarr"
    synth_convert(voc, method="diff", out=out, size=16, frames=2, executor="serial", progress=False)
    return out


@pytest.fixture(scope="module")
def run(store: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    cfg = SegTrainConfig(store=str(store), model="small-fpn", out=str(out), epochs=2, batch_size=4, backend="torch",
                         val_fraction=0.25, model_kwargs={"stages": ((4,), (8,)), "fpn_channels": 4})  # fmt: skip
    res = fit_segmentation(cfg, log=None)
    assert res.test is not None and len(res.history) == 2 and 1 <= res.best_epoch <= 2
    return out


def test_run_files_and_best_epoch(run: Path) -> None:
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "train_miou", "val_loss", "val_miou", "val_pixel_acc"} <= set(rows[0])
    best = load_seg_checkpoint(run / "best.pt")
    vals = [float(r["val_miou"]) for r in rows]
    assert best["epoch"] == 1 + int(np.argmax(vals))  # the best validation mIoU, first on ties
    assert PIL.open(run / "curves.png").size == (900, 360)


def test_eval_matches_an_independent_count_and_writes_overlays(run: Path, store: Path, tmp_path: Path) -> None:
    r = evaluate_seg_checkpoint(run / "best.pt", store, split="test", samples=[0, -1], out=tmp_path)
    ckpt = load_seg_checkpoint(run / "best.pt")
    model = seg_model_from_checkpoint(ckpt).eval()
    data = load_seg_split(store, "test")
    with torch.no_grad():
        pred = model(data.frames.transpose(0, 1)).argmax(1)
    p, t = pred.numpy(), data.masks.numpy()
    keep = t != 255
    assert r.metrics.pixel_acc == pytest.approx(float((p[keep] == t[keep]).mean()))
    assert r.metrics.miou == pytest.approx(seg_metrics(confusion_matrix(pred, data.masks, 4)).miou)
    assert [x.name for x in r.overlays] == ["overlay_test_0.png", "overlay_test_3.png"]
    pic = np.asarray(PIL.open(r.overlays[1]))
    assert pic.shape == (16 * 4, (16 * 4 + 6) * 4, 3)
    true_panel = pic[::4, (16 + 2) * 4 : (32 + 2) * 4 : 4]  # the true-mask panel, one pixel per mask pixel
    assert np.array_equal(true_panel, palette()[t[3]])
    assert r.grid is not None and r.grid.exists() and "mIoU" in r.report()


def test_cli_train_and_eval(store: Path, tmp_path: Path) -> None:
    assert is_segmentation_store(store) and not is_segmentation_store(tmp_path)
    r = CliRunner()
    res = r.invoke(main, ["train", "--store", str(store), "--epochs", "1", "--batch-size", "4", "--max-batches", "1",
                          "--backend", "torch", "--device", "cpu", "--out", str(tmp_path / "r"), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "--model small-fpn" in res.output and "final test mIoU" in res.output and "pixel accuracy" in res.output
    res = r.invoke(main, ["eval", "--checkpoint", str(tmp_path / "r" / "best.pt"), "--store", str(store), "--samples",
                          "0,1", "--out", str(tmp_path / "ev")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "mIoU" in res.output and (tmp_path / "ev" / "overlays_test.png").exists()
    res = r.invoke(main, ["train", "--store", str(store), "--model", "plif-gesture", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "segmentation store" in res.output and "Traceback" not in res.output
    res = r.invoke(main, ["eval", "--checkpoint", str(tmp_path / "r" / "best.pt"), "--store", str(store),
                          "--samples", "9"])  # fmt: skip
    assert res.exit_code != 0 and "out of range" in res.output


@pytest.mark.slow
def test_demo_quick(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["demo", "--task", "segmentation", "--quick", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "test mIoU" in res.output and (tmp_path / "d" / "run" / "overlays_test.png").exists()


def test_streamed_batches_equal_the_preloaded_ones(store: Path) -> None:
    from snnmodels.training.seg_data import SegBatches

    kw = {"batch_size": 5, "indices": [7, 0, 3, 11, 2, 9, 4], "T": 1}
    mem, disk = SegBatches(store, "train", preload=True, **kw), SegBatches(store, "train", preload=False, **kw)
    assert mem.preloaded and not disk.preloaded and len(mem) == len(disk) == 2
    order = torch.randperm(7, generator=torch.Generator().manual_seed(3))
    ref = load_seg_split(store, "train", kw["indices"], T=1)  # the independent reader
    got = list(disk.batches(order))
    for (xm, ym), (xd, yd) in zip(mem.batches(order), got, strict=True):
        assert torch.equal(xm, xd) and torch.equal(ym, yd) and xd.shape[1] == 1
    assert torch.equal(torch.cat([x for x, _ in got]), ref.frames[order])
    assert torch.equal(torch.cat([y for _, y in got]), ref.masks[order])


def test_resume_continues_like_an_uninterrupted_run(store: Path, tmp_path: Path) -> None:
    def cfg(out: Path) -> SegTrainConfig:
        return SegTrainConfig(store=str(store), model="small-fpn", out=str(out), epochs=3, batch_size=4,
                              backend="torch", val_fraction=0.25,
                              model_kwargs={"stages": ((4,), (8,)), "fpn_channels": 4})  # fmt: skip

    class Stop(Exception):
        pass

    def stop_after_epoch_2(msg: str) -> None:  # the process dies right after epoch 2 was saved
        if msg.startswith("epoch 2/"):
            raise Stop

    whole = fit_segmentation(cfg(tmp_path / "a"), log=None)
    with pytest.raises(Stop):
        fit_segmentation(cfg(tmp_path / "b"), log=stop_after_epoch_2)
    assert load_seg_checkpoint(tmp_path / "b" / "last.pt", for_resume=True)["epoch"] == 2
    with pytest.raises(ConfigError, match="--resume"):
        fit_segmentation(cfg(tmp_path / "b"), log=None)
    resumed = fit_segmentation(cfg(tmp_path / "b"), log=None, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for ra, rb in zip(whole.history, resumed.history, strict=True):
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-5)
        assert rb["val_miou"] == pytest.approx(ra["val_miou"], rel=1e-5)
    sa = load_seg_checkpoint(tmp_path / "a" / "last.pt")["state_dict"]
    sb = load_seg_checkpoint(tmp_path / "b" / "last.pt")["state_dict"]
    assert all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-6) for k in sa)
    with pytest.raises(ConfigError, match="already holds 3 epochs"):
        fit_segmentation(cfg(tmp_path / "b"), log=None, resume=True)
    other = cfg(tmp_path / "b")
    other.model_kwargs = {"stages": ((4,), (6,)), "fpn_channels": 4}
    with pytest.raises(ConfigError, match="model_kwargs"):
        fit_segmentation(other, log=None, resume=True)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        fit_segmentation(cfg(tmp_path / "c"), log=None, resume=True)


def test_cli_refuses_other_losses_and_distributed(store: Path, tmp_path: Path, monkeypatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    r = CliRunner()
    base = ["train", "--store", str(store), "--epochs", "1", "--out", str(tmp_path / "r")]
    for extra, words in ((["--loss", "mse"], "pixel-wise cross-entropy"), (["--distributed"], "needs a launcher"),
                         (["--resume"], "nothing to resume")):  # fmt: skip
        res = r.invoke(main, base + extra)
        assert res.exit_code != 0 and words in res.output and "Traceback" not in res.output, res.output
        assert res.output.count("Error") == 1
    res = r.invoke(main, base + ["--loss", "ce", "--max-batches", "1", "--backend", "torch", "--device", "cpu",
                                 "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output


def test_streamed_training_matches_the_preloaded_run(store: Path, tmp_path: Path) -> None:
    hist = []
    for preload, workers in ((True, 0), (False, 1)):
        cfg = SegTrainConfig(store=str(store), model="small-fpn", out=str(tmp_path / f"p{preload}"), epochs=1,
                             batch_size=4, backend="torch", preload=preload, num_workers=workers,
                             model_kwargs={"stages": ((4,), (8,)), "fpn_channels": 4})  # fmt: skip
        hist.append(fit_segmentation(cfg, log=None).history[0])
    assert hist[1]["train_loss"] == pytest.approx(hist[0]["train_loss"], rel=1e-5)
    assert hist[1]["val_miou"] == pytest.approx(hist[0]["val_miou"], rel=1e-5)


@pytest.mark.slow  # two spawned processes: ~15 s on 2 cores
def test_two_processes_train_like_one(store: Path, tmp_path: Path) -> None:
    """DDP (gloo, 2 spawned ranks, global batch norm) follows the one-process run with the same global batch."""
    from ._seg_ddp import run_seg_ranks

    cfg = {"store": str(store), "model": "small-fpn", "epochs": 2, "batch_size": 3, "backend": "torch",
           "val_fraction": 0.25, "augment": False, "model_kwargs": {"stages": ((4,), (8,)), "fpn_channels": 4}}
    torch.set_num_threads(1)
    try:
        one = fit_segmentation(SegTrainConfig(**cfg, out=str(tmp_path / "one")), log=None)
    finally:
        torch.set_num_threads(max(1, __import__("os").cpu_count() or 1))
    codes = run_seg_ranks(2, {**cfg, "out": str(tmp_path / "two")}, tmp_path / "res")
    errs = [p.read_text() for p in (tmp_path / "res").glob("*.err")]
    assert codes == [0, 0] and not errs, errs
    ranks = [torch.load(tmp_path / "res" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for got in ranks:
        for a, b in zip(one.history, got["history"], strict=True):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
            assert b["val_miou"] == pytest.approx(a["val_miou"], abs=1e-4)
        assert got["test_miou"] == pytest.approx(one.test.miou, abs=1e-4)
    assert (tmp_path / "two" / "best.pt").exists() and (tmp_path / "two" / "log.csv").exists()
