"""``snnmodels train / eval``: output format and one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventkit_cli.snnmodels_cli import main


@pytest.fixture(scope="module")
def trained(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    res = CliRunner().invoke(main, ["train", "--store", str(tiny_store), "--model", "small", "--epochs", "2",
                                    "--batch-size", "8", "--lr", "5e-3", "--backend", "numba", "--device", "cpu",
                                    "--out", str(out), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert re.search(r"epoch   2/2  train loss \d\.\d{4} acc", res.output)
    assert "final test accuracy" in res.output and "curves.png" in res.output
    return out


def test_eval_prints_accuracy_confusion_and_top3(trained: Path, tiny_store: Path) -> None:
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(trained / "last.pt"), "--store", str(tiny_store),
                                    "--samples", "0,5,23"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert re.fullmatch(r"test: 24 samples  accuracy \d+\.\d\d%  top-3 \d+\.\d\d%  loss \d\.\d{4}", lines[0])
    assert lines[1].startswith("confusion matrix (rows: true class")
    rows = [line for line in lines if re.match(r"^ ?\d+ (up|down|left|right) ", line)]
    assert len(rows) == 4 and sum(int(v) for r in rows for v in r.split()[2:]) == 24
    assert (trained / "confusion_test.png").is_file()
    assert any(line.startswith("firing rates per neuron layer: ") for line in lines)
    assert any("M SOPs" in line and "uJ" in line for line in lines)
    samples = [line for line in lines if line.startswith("sample ")]
    assert [s.split()[1] for s in samples] == ["0", "5", "23"]
    for s in samples:
        assert len(re.findall(r"\(\d\) \d+\.\d%", s)) == 3  # top-3 classes with probabilities


def test_train_resume_continues(trained: Path, tiny_store: Path) -> None:
    res = CliRunner().invoke(main, ["train", "--store", str(tiny_store), "--epochs", "3", "--batch-size", "8",
                                    "--lr", "5e-3", "--out", str(trained), "--seed", "3", "--resume",
                                    "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "resumed from" in res.output and "epoch   3/3" in res.output and "epoch   1/3" not in res.output


@pytest.mark.parametrize("args, message", [
    (["train", "--store", "{missing}"], "does not exist"),
    (["train", "--store", "{store}", "--T", "7", "--epochs", "1"], "holds T=4 frames per sample"),
    (["train", "--store", "{store}", "--backend", "numba", "--device", "cuda"], "device"),
    (["train", "--store", "{store}", "--out", "{empty}", "--resume"], "no checkpoint"),
    (["eval", "--checkpoint", "{empty}/nope.pt", "--store", "{store}"], "no checkpoint"),
    (["eval", "--checkpoint", "{ckpt}", "--store", "{store}", "--samples", "99"], "out of range"),
    (["eval", "--checkpoint", "{ckpt}", "--store", "{store}", "--split", "val"], "unknown split"),
])
def test_user_errors_are_one_line(args: list[str], message: str, tiny_store: Path, trained: Path,
                                  tmp_path: Path) -> None:
    subs = {"missing": str(tmp_path / "missing.zarr"), "store": str(tiny_store), "empty": str(tmp_path),
            "ckpt": str(trained / "last.pt")}
    res = CliRunner().invoke(main, [a.format(**subs) for a in args])
    assert res.exit_code != 0
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    err = res.output.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and message in err[0], res.output


def test_bad_model_name_is_a_usage_error(tiny_store: Path) -> None:
    res = CliRunner().invoke(main, ["train", "--store", str(tiny_store), "--model", "resnet"])
    assert res.exit_code == 2 and "plif-gesture" in res.output
