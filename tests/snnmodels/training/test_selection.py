"""Honest model selection and a training run that talks (issue 12, parts 5 and 6).

A validation split (the store's own, else carved from train by user/recording, seeded) picks
``best.pt``; the test split is evaluated once, with ``best.pt``; argmax and top-k share one tie
rule; an existing run folder is never silently overwritten; the run prints a memory/time estimate
first and warns when it will not fit.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from eventkit.store.writer import create_store
from snnmodels.errors import CheckpointError, ConfigError
from snnmodels.training import TrainConfig, fit, load_checkpoint, topk_correct
from snnmodels.training.estimate import RunEstimate, estimate_run
from snnmodels.training.metrics import confusion_matrix, predict, rank_classes
from snnmodels.training.split import ValidationSplit, carve_validation, sample_group

from .conftest import CLASSES, _sample

SMALL = {"widths": (4, 8), "dropout": 0.0}


def _grouped_store(path: Path, *, users: int = 5, per_user: int = 4, val: int = 0) -> Path:
    """A 16x16 store whose train ids are ``user<U>_led_<i>`` (optionally with a ``val`` split)."""
    rng = np.random.default_rng(0)
    splits = {"train": users * per_user, "test": 8} | ({"val": val} if val else {})
    w = create_store(path, splits=splits, t_max=4, sensor=(16, 16, 2), params={"frames": 4, "split_by": "time"},
                     classes=CLASSES, dataset="grouped-blobs", manifest_version=1, lock=False)
    for split, n in splits.items():
        for i in range(n):
            sid = f"user{i // per_user + 1:02d}_led_{i % per_user}" if split == "train" else f"{split}{i}"
            w.write_sample(split, i, _sample(rng, i % 4, 4), i % 4, sid)
    w.finalize()
    w.close()
    return path


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _grouped_store(tmp_path_factory.mktemp("grouped") / "frames.zarr")


def _cfg(store: Path, out: Path, **kw) -> TrainConfig:
    base = dict(store=str(store), model="small", out=str(out), epochs=2, batch_size=8, lr=5e-3, backend="torch",
                device="cpu", seed=1, model_kwargs=dict(SMALL))
    return TrainConfig(**(base | kw))


# --- one tie rule -------------------------------------------------------------------------------

def test_argmax_and_topk_share_the_lowest_index_tie_rule() -> None:
    scores = torch.tensor([[0.0, 0.5, 0.5, 0.1], [0.2, 0.2, 0.2, 0.2], [0.3, 0.1, 0.3, 0.3]])
    assert rank_classes(scores, 2).tolist() == [[1, 2], [0, 1], [0, 2]]
    assert predict(scores).tolist() == [1, 0, 0]
    # label 2 of row 0 ties with class 1 for first place: not a top-1 hit, a top-2 hit
    assert topk_correct(scores, torch.tensor([2, 3, 3]), (1, 2)) == {1: 0, 2: 1}
    assert topk_correct(scores, torch.tensor([1, 0, 0]), (1,)) == {1: 3}
    cm = confusion_matrix(predict(scores), torch.tensor([1, 0, 0]), 4)
    assert cm.diagonal().sum() == 3  # the confusion matrix agrees with top-1 accuracy


# --- the validation split --------------------------------------------------------------------------

def test_grouping_rule() -> None:
    assert sample_group("user07_fluorescent_3") == "user07"
    assert sample_group("user07") == "user07"
    assert sample_group("rec12_0") == sample_group("rec12_15") == "rec12"
    assert sample_group("clip") == "clip" and sample_group("a_b") == "a_b"


def test_carved_split_keeps_groups_whole_and_is_seeded() -> None:
    ids = [f"user{u:02d}_{light}_{i}" for u in range(1, 11) for light in ("led", "lab") for i in range(3)]
    a = carve_validation(ids, 0.2, seed=3)
    assert a.to_dict() == carve_validation(ids, 0.2, seed=3).to_dict()
    assert a.grouped_by == "user" and len(a.groups) == 2 and len(a.val_indices) == 12
    assert set(a.val_indices).isdisjoint(a.train_indices) and len(a.val_indices) + len(a.train_indices) == len(ids)
    val_users = {sample_group(ids[i]) for i in a.val_indices}
    assert val_users == set(a.groups) and not val_users & {sample_group(ids[i]) for i in a.train_indices}
    assert ValidationSplit.from_dict(a.to_dict()) == a
    single = carve_validation([f"s{i}" for i in range(10)], 0.3, seed=0)
    assert single.grouped_by == "sample" and len(single.val_indices) == 3
    assert carve_validation(["only_0", "only_1"], 0.5, seed=0).train_indices  # one group: per sample, train kept
    with pytest.raises(ConfigError, match="--val-fraction"):
        carve_validation(ids, 0.95, seed=0)


def test_best_pt_is_chosen_on_validation_and_test_runs_once(grouped: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    result = fit(_cfg(grouped, tmp_path, epochs=3), log=lines.append)
    v = result.validation
    assert v is not None and v.source == "carved" and v.grouped_by == "user" and len(v.groups) == 1
    assert len(v.val_indices) == 4 and len(v.train_indices) == 16
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert "val_acc" in rows[0] and not any(k.startswith("test") for k in rows[0])
    accs = [float(r["val_acc"]) for r in rows]
    assert result.best_epoch == 1 + accs.index(max(accs))  # the first epoch with the best val accuracy
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] + 1 == result.best_epoch and best["validation"] == v.to_dict()
    assert result.test is not None and result.test.samples == 8
    assert sum(line.startswith("test accuracy") for line in lines) == 1
    assert "selected by validation accuracy" in lines[-2] and "not used for selection" in lines[-2]
    assert any(line.startswith("validation: 4 of 20 training samples carved out by user") for line in lines)


def test_a_store_val_split_is_used_instead_of_carving(tmp_path: Path) -> None:
    store = _grouped_store(tmp_path / "frames.zarr", users=2, val=4)
    result = fit(_cfg(store, tmp_path / "run", epochs=1), log=None)
    assert result.validation.source == "store" and result.validation.split == "val"
    assert len(result.validation.train_indices) == 8 and result.history[0]["val_acc"] >= 0


def test_resume_keeps_the_validation_split(grouped: Path, tmp_path: Path) -> None:
    first = fit(_cfg(grouped, tmp_path, epochs=1, val_fraction=0.3, seed=5), log=None)
    again = fit(_cfg(grouped, tmp_path, epochs=2, val_fraction=0.3, seed=5), resume=True, log=None)
    assert again.validation == first.validation
    assert load_checkpoint(tmp_path / "last.pt")["validation"] == first.validation.to_dict()


@pytest.mark.parametrize("change, problem", [
    (lambda v: v.update(val_indices=["0"]), "validation.val_indices is not a list of sample indices"),
    (lambda v: v.update(source="os.system"), "validation.source"),
    (lambda v: v.pop("seed"), "not a validation-split record"),
    (lambda v: v.update(train_indices=[10_000]), "does not fit the training split"),
    (lambda v: v.update(source="store", split="test"), "names the store split 'test'"),
    (lambda v: v.update(train_indices=v["train_indices"] + v["val_indices"][:1]), "also training samples"),
])
def test_a_damaged_validation_record_is_refused(change, problem: str, grouped: Path, tmp_path: Path) -> None:
    fit(_cfg(grouped, tmp_path, epochs=1), log=None)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    change(ckpt["validation"])
    torch.save(ckpt, tmp_path / "last.pt")
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(CheckpointError, match=problem) as err:
        fit(_cfg(grouped, tmp_path, epochs=2), resume=True, log=None)
    assert str(tmp_path / "last.pt") in str(err.value)
    assert (tmp_path / "last.pt").read_bytes() == before  # nothing rewritten


def test_no_validation_keeps_the_last_epoch(tiny_store: Path, tmp_path: Path) -> None:
    result = fit(_cfg(tiny_store, tmp_path, epochs=2, val_fraction=0.0), log=None)
    assert result.validation.source == "none" and result.best_epoch == 2 and result.test is not None


# --- run folders ----------------------------------------------------------------------------------

def test_out_with_a_run_is_refused_without_resume_or_overwrite(tiny_store: Path, tmp_path: Path) -> None:
    fit(_cfg(tiny_store, tmp_path, epochs=1), log=None)
    (tmp_path / "notes.txt").write_text("mine")
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(ConfigError, match=r"already holds a training run \(last.pt, best.pt, log.csv\).*--resume"
                                          r".*--overwrite"):
        fit(_cfg(tiny_store, tmp_path, epochs=1), log=None)
    assert (tmp_path / "last.pt").read_bytes() == before
    with pytest.raises(ConfigError, match="only one"):
        fit(_cfg(tiny_store, tmp_path, epochs=1), resume=True, overwrite=True, log=None)
    result = fit(_cfg(tiny_store, tmp_path, epochs=1, seed=9), overwrite=True, log=None)
    assert len(result.history) == 1 and load_checkpoint(tmp_path / "last.pt")["config"]["seed"] == 9
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the run's own files are replaced


# --- the estimate and the CLI ------------------------------------------------------------------------

def test_estimate_is_made_without_touching_the_model_or_rngs(tiny_store: Path) -> None:
    from snnmodels.models import build_model

    model = build_model("small", input_size=(2, 16, 16), num_classes=4, backend="torch", **SMALL)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.rand(4, 3, 2, 16, 16), torch.tensor([0, 1, 2])
    rng = torch.get_rng_state()
    est = estimate_run(model, (x, y), optimizer="adam", loss="mse", device=torch.device("cpu"), batch_size=8,
                       train_samples=40, val_samples=8, steps=5)
    assert torch.equal(torch.get_rng_state(), rng)  # dropout in the probe must not shift the run's randomness
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert est.peak_bytes > est.activation_bytes_per_sample > 0 and est.seconds_per_epoch > 0
    assert est.line("small", 4, (2, 16, 16), 8, "torch").startswith("small on [T=4, 2x16x16], batch 8, torch: ~")


def test_warning_when_the_estimate_exceeds_free_memory() -> None:
    est = RunEstimate(peak_bytes=12 * 10**9, available_bytes=3 * 10**9, seconds_per_epoch=900, steps=67,
                      activation_bytes_per_sample=10**8)
    line = est.line("plif-gesture", 16, (2, 128, 128), 16, "numba")
    assert line == "plif-gesture on [T=16, 2x128x128], batch 16, numba: ~12.0 GB peak memory, ~15.0 min/epoch (67 steps)"
    warning = est.warning(torch.device("cpu"))
    assert "12.0 GB" in warning and "3.0 GB of RAM" in warning
    assert all(s in warning for s in ("--batch-size", "--downsample", "--device cuda"))
    assert RunEstimate(10, 100, 1.0, 1, 1).warning(torch.device("cpu")) is None
    # what the process already holds (the preloaded store) is not needed again from the free memory
    assert RunEstimate(5 * 10**9, 4 * 10**9, 1.0, 1, 1, held_bytes=2 * 10**9).warning(torch.device("cpu")) is None


def test_cli_train_talks_and_reports_the_selected_test_accuracy(grouped: Path, tmp_path: Path) -> None:
    from eventkit_cli.snnmodels_cli import main

    args = ["train", "--store", str(grouped), "--epochs", "1", "--batch-size", "4", "--backend", "torch",
            "--device", "cpu", "--out", str(tmp_path), "--max-batches", "2"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    est = next(i for i, line in enumerate(lines) if "peak memory" in line)
    assert lines[est].startswith("small on [T=4, 2x16x16], batch 4, torch: ~") and "(2 steps)" in lines[est]
    assert est < next(i for i, line in enumerate(lines) if line.startswith("epoch   1/1"))
    assert any(line.startswith("smoke run: every pass stops after 2 batch(es)") for line in lines)
    assert any(line.startswith("memory: measured peak RSS") for line in lines)
    assert any(line.startswith("final test accuracy") and "validation-selected model" in line for line in lines)
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "--overwrite" in again.output and "Traceback" not in again.output
    assert CliRunner().invoke(main, args + ["--overwrite", "--quiet"]).exit_code == 0
