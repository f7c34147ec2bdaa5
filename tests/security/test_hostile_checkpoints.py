"""Hostile checkpoints (issue 11 item 1): crafted pickles never run, damaged files are one clean error.

Every file is built here: pickles whose ``__reduce__`` writes a marker file (through ``torch.save``
and through raw ``pickle``), random bytes, empty and truncated files, a zip that is not a torch
file, a folder, and real checkpoints with a key removed, a value of the wrong type or weights of
the wrong shape. Each must end in one :class:`CheckpointError` naming the file, through the Python
API and through ``snnmodels eval --checkpoint`` / ``snnmodels train --resume``, with the marker
never written.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import shlex
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from eventkit_cli.snnmodels_cli import main
from snnmodels.errors import CheckpointError
from snnmodels.training import TrainConfig, evaluate_checkpoint, fit, load_checkpoint
from tests.snnmodels.training.conftest import make_store

SMALL = {"widths": (4, 8), "dropout": 0.0}


def _touch(path: str) -> None:
    """The "payload": proof that unpickling ran code if the file exists afterwards."""
    Path(path).write_text("code ran")


class _TouchOnLoad:
    """Unpickles by calling :func:`_touch` (an importable function, so a full unpickler would run it)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return _touch, (self.marker,)


class _SystemOnLoad:
    """Unpickles by calling ``os.system`` (the attack of the issue)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return os.system, (f"touch {shlex.quote(self.marker)}",)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("ckpt-store") / "frames.zarr", n_train=8, n_test=4)


@pytest.fixture(scope="module")
def good(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``last.pt`` from one epoch of training (the template the damaged ones are made from)."""
    out = tmp_path_factory.mktemp("ckpt-run")
    fit(_cfg(store, out), log=None)
    return out / "last.pt"


def _cfg(store: Path, out: Path, **kw: Any) -> TrainConfig:
    return TrainConfig(store=str(store), model="small", out=str(out), epochs=kw.pop("epochs", 1), batch_size=4,
                       backend="torch", device="cpu", model_kwargs=dict(SMALL), **kw)


def _real(good: Path) -> dict[str, Any]:
    return torch.load(good, weights_only=True)


# Each builder writes one hostile file at ``path`` (``marker``: where injected code would write) and
# returns a phrase the error must contain.
def _evil_torch_save(path: Path, marker: Path, good: Path) -> str:
    ckpt = _real(good)
    ckpt["history"] = [_TouchOnLoad(marker)]
    torch.save(ckpt, path)
    return "refused without running"


def _evil_raw_pickle(path: Path, marker: Path, good: Path) -> str:
    path.write_bytes(pickle.dumps({"model_state": {}, "config": _SystemOnLoad(marker)}, protocol=2))
    return "refused without running"


def _numpy_object(path: Path, marker: Path, good: Path) -> str:
    ckpt = _real(good)
    ckpt["rng"]["numpy"] = np.zeros(624, np.uint32)  # what checkpoints held before: not plain data
    torch.save(ckpt, path)
    return "refused without running"


def _random_bytes(path: Path, marker: Path, good: Path) -> str:
    path.write_bytes(np.random.default_rng(7).bytes(4096))
    return "not a PyTorch checkpoint"


def _empty(path: Path, marker: Path, good: Path) -> str:
    path.write_bytes(b"")
    return "empty"


def _truncated(path: Path, marker: Path, good: Path) -> str:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return "truncated or damaged"


def _foreign_zip(path: Path, marker: Path, good: Path) -> str:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("thesis.tex", "\\documentclass{article}")
    return "not a PyTorch file"


def _folder(path: Path, marker: Path, good: Path) -> str:
    path.mkdir()
    return "is a folder"


def _not_a_dict(path: Path, marker: Path, good: Path) -> str:
    torch.save([torch.zeros(3)], path)
    return "holds a list"


def _missing_key(path: Path, marker: Path, good: Path) -> str:
    ckpt = _real(good)
    del ckpt["classes"]
    torch.save(ckpt, path)
    return "lacks classes"


def _wrong_type(path: Path, marker: Path, good: Path) -> str:
    ckpt = _real(good)
    ckpt["input_size"] = "2x16x16"
    torch.save(ckpt, path)
    return "input_size is a str"


def _unknown_model(path: Path, marker: Path, good: Path) -> str:
    ckpt = _real(good)
    ckpt["config"]["model"] = "os:system"
    torch.save(ckpt, path)
    return "unknown model 'os:system'"


def _bad_model_kwargs(path: Path, marker: Path, good: Path) -> str:
    ckpt = _real(good)
    ckpt["config"]["model_kwargs"] = {"widths": (4, 8), "no_such_option": 1}
    torch.save(ckpt, path)
    return "do not build 'small'"


def _wrong_shapes(path: Path, marker: Path, good: Path) -> str:
    ckpt = _real(good)
    name = next(k for k, v in ckpt["model_state"].items() if v.dim() == 4)
    ckpt["model_state"][name] = torch.zeros(3, 3, 3, 3)
    torch.save(ckpt, path)
    return "another network"


def _cli_defaults_wrong_shapes(path: Path, marker: Path, good: Path) -> str:
    """Wrong shapes in a checkpoint whose options equal the CLI defaults (so resume gets past its option check)."""
    ckpt = _real(good)
    ckpt["config"]["model_kwargs"] = {}
    torch.save(ckpt, path)  # weights of widths (4, 8) under the default widths
    return "another network"


HOSTILE = [_evil_torch_save, _evil_raw_pickle, _numpy_object, _random_bytes, _empty, _truncated, _foreign_zip,
           _folder, _not_a_dict, _missing_key, _wrong_type, _unknown_model, _bad_model_kwargs, _wrong_shapes]
IDS = [f.__name__.strip("_") for f in HOSTILE]


@pytest.mark.parametrize("build", HOSTILE, ids=IDS)
def test_python_api_refuses(build: Callable[..., str], good: Path, store: Path, tmp_path: Path) -> None:
    path, marker = tmp_path / "last.pt", tmp_path / "marker"
    phrase = build(path, marker, good)
    with pytest.raises(CheckpointError) as info:
        evaluate_checkpoint(path, store, out=None)
    msg = str(info.value)
    assert str(path) in msg and phrase in msg and "expected a checkpoint" in msg, msg
    assert not marker.exists(), "unpickling ran code"
    assert isinstance(info.value, ValueError)  # callers that caught ValueError keep working


def _one_error_line(res: Any, phrase: str, path: Path) -> None:
    assert res.exit_code != 0
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and phrase in lines[0] and str(path) in lines[0], \
        res.output


@pytest.mark.parametrize("build", HOSTILE, ids=IDS)
def test_cli_eval_refuses(build: Callable[..., str], good: Path, store: Path, tmp_path: Path) -> None:
    path, marker = tmp_path / "best.pt", tmp_path / "marker"
    phrase = build(path, marker, good)
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(path), "--store", str(store)])
    _one_error_line(res, phrase, path)
    assert not marker.exists()


@pytest.mark.parametrize("build", [_evil_torch_save, _evil_raw_pickle, _truncated, _folder, _cli_defaults_wrong_shapes],
                         ids=["evil_torch_save", "evil_raw_pickle", "truncated", "folder", "wrong_shapes"])
def test_cli_train_resume_refuses(build: Callable[..., str], good: Path, store: Path, tmp_path: Path) -> None:
    out, marker = tmp_path / "run", tmp_path / "marker"
    out.mkdir()
    phrase = build(out / "last.pt", marker, good)
    res = CliRunner().invoke(main, ["train", "--store", str(store), "--model", "small", "--epochs", "2",
                                    "--backend", "torch", "--device", "cpu", "--out", str(out), "--resume"])
    _one_error_line(res, phrase, out / "last.pt")
    assert not marker.exists()
    assert not (out / "log.csv").exists()  # nothing was trained or written


def _resume_with(good: Path, store: Path, out: Path, change: Callable[[dict[str, Any]], None]) -> CheckpointError:
    out.mkdir()
    ckpt = _real(good)
    change(ckpt)
    torch.save(ckpt, out / "last.pt")
    with pytest.raises(CheckpointError) as info:
        fit(_cfg(store, out, epochs=2), resume=True, log=None)
    return info.value


def test_resume_refuses_a_scheduler_state_with_foreign_keys(good: Path, store: Path, tmp_path: Path) -> None:
    # load_state_dict would copy "optimizer" into the scheduler's attributes
    err = _resume_with(good, store, tmp_path / "run", lambda c: c["scheduler_state"].update(optimizer={"x": 1}))
    assert "schedule" in str(err) and "last.pt" in str(err)


def test_resume_refuses_optimizer_state_of_another_shape(good: Path, store: Path, tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        c["optimizer_state"]["state"][0]["exp_avg"] = torch.zeros(5)

    err = _resume_with(good, store, tmp_path / "run", change)
    assert "optimizer exp_avg of parameter 0" in str(err)


def test_resume_refuses_a_damaged_rng_state(good: Path, store: Path, tmp_path: Path) -> None:
    err = _resume_with(good, store, tmp_path / "run", lambda c: c["rng"].update(python="seed"))
    assert "rng" in str(err)


def test_valid_checkpoint_loads_evaluates_and_resumes(good: Path, store: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(good)
    assert ckpt["config"]["model"] == "small" and ckpt["epoch"] == 0
    result = evaluate_checkpoint(good, store, samples=[0], out=None)
    assert result.num_samples == 4 and 0.0 <= result.accuracy <= 1.0
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(good), "--store", str(store), "--samples", "0"])
    assert res.exit_code == 0 and "accuracy" in res.output, res.output
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(good, out / "last.pt")
    resumed = fit(_cfg(store, out, epochs=2), resume=True, log=None)
    assert [r["epoch"] for r in resumed.history] == [1, 2]


def test_saved_checkpoints_hold_only_plain_data(good: Path) -> None:
    """What fit writes must be loadable by the restricted unpickler (no dataclasses, no numpy)."""
    ckpt = torch.load(io.BytesIO(good.read_bytes()), weights_only=True)
    assert dataclasses.is_dataclass(ckpt) is False and isinstance(ckpt["rng"]["numpy"]["key"], torch.Tensor)
