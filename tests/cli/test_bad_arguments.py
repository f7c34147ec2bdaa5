"""Every command of ``eventkit`` and ``snnmodels`` against bad arguments and bad files.

Each row must end with a non-zero exit, exactly one line starting with ``Error:`` (exit 1 for an
expected failure, 2 for click's usage error) and no traceback. Ctrl-C must print ``Aborted:`` and
how to resume, exit 130, and shut a local Dask cluster down.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from eventkit_cli.eventkit_cli import FRAME_DTYPES
from eventkit_cli.eventkit_cli import main as ek_main
from eventkit_cli.snnmodels_cli import main as snn_main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# -- the files the table refers to -----------------------------------------------------------------
def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _frame_store(path: Path) -> Path:
    from eventkit.store import create_store

    w = create_store(path, splits={"train": 2, "test": 1}, t_max=4, sensor=(8, 6, 2), params={"frames": 4},
                     classes=["left", "right"], dataset="toy", samples_per_shard=2)  # fmt: skip
    for split in ("train", "test"):
        for s in range(w.n_shards(split)):
            w.write_shard(split, s, [(np.ones((4, 2, 6, 8), np.uint16), i % 2, f"{split}{i}")
                                     for i in w.shard_range(split, s)])  # fmt: skip
    w.finalize()
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Bad (and a few good) inputs, built here; ``{name}`` in a row's arguments is replaced by these paths."""
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(12)
    (d / "random.bin").write_bytes(rng.bytes(4096))
    (d / "random.aedat").write_bytes(b"#!AER-DAT3.1\r\n" + rng.bytes(999))  # a header, then noise
    (d / "empty.aedat").write_bytes(b"")
    (d / "folder").mkdir()
    (d / "folder" / "thesis.tex").write_text("my thesis")
    (d / "empty_dir").mkdir()
    store = _frame_store(d / "good.zarr")
    damaged = _frame_store(d / "damaged.zarr")
    (damaged / "zarr.json").write_text("{ this is not json")
    truncated = _frame_store(d / "truncated.zarr")
    attrs = json.loads((truncated / "zarr.json").read_text())
    attrs["attributes"]["t_max"] = -3
    (truncated / "zarr.json").write_text(json.dumps(attrs))
    (d / "ckpt_random.pt").write_bytes(rng.bytes(2048))
    (d / "ckpt_text.pt").write_text("not a checkpoint\n")
    with zipfile.ZipFile(d / "ckpt_zip.pt", "w") as z:  # torch checkpoints are zip files: cut one in half
        z.writestr("archive/data.pkl", rng.bytes(4096))
    whole = (d / "ckpt_zip.pt").read_bytes()
    (d / "ckpt_truncated.pt").write_bytes(whole[: len(whole) // 2])
    (d / "manifest_bad.toml").write_text("this is = = not toml [")
    (d / "manifest_empty.toml").write_text('name = "x"\n')
    (d / "classes_empty.txt").write_text("")
    (d / "images").mkdir()
    (d / "images" / "cat").mkdir()
    (d / "images" / "cat" / "broken.png").write_bytes(rng.bytes(300))
    np.save(d / "digits.npy", rng.integers(0, 255, (2, 8, 8), dtype=np.uint8))
    np.save(d / "nan.npy", np.full((2, 8, 8), np.nan))
    (d / "labels_bad.npy").write_bytes(rng.bytes(64))
    (d / "root").mkdir()
    paths = {p.name.replace(".", "_"): str(p) for p in d.iterdir()}
    paths.update(missing=str(d / "missing.aedat"), missing_dir=str(d / "no_such_dir"), store=str(store),
                 root=str(d / "root"), scheduler=f"tcp://127.0.0.1:{_closed_port()}", tmp=str(d))
    return paths


# -- the table: (id, cli, arguments, "error" (exit 1) or "usage" (exit 2)) ------------------------
EK, SNN = "eventkit", "snnmodels"
ROWS: list[tuple[str, str, list[str], str]] = [
    # info
    ("info-missing-file", EK, ["info", "{missing}"], "error"),
    ("info-folder", EK, ["info", "{folder}"], "error"),
    ("info-random-bytes", EK, ["info", "{random_bin}"], "error"),
    ("info-damaged-aedat", EK, ["info", "{random_aedat}"], "error"),
    ("info-empty-file", EK, ["info", "{empty_aedat}"], "error"),
    ("info-unknown-format", EK, ["info", "{random_bin}", "--format", "nosuchformat"], "error"),
    ("info-unknown-dataset", EK, ["info", "no-such-dataset", "--root", "{root}"], "error"),
    ("info-no-argument", EK, ["info"], "usage"),
    ("info-unknown-option", EK, ["info", "{random_bin}", "--bogus"], "usage"),
    # example-recording
    ("example-negative-seconds", EK, ["example-recording", "{tmp}/x.aedat", "--seconds", "-1"], "usage"),
    ("example-seconds-not-a-number", EK, ["example-recording", "{tmp}/x.aedat", "--seconds", "abc"], "usage"),
    ("example-into-folder", EK, ["example-recording", "{folder}"], "usage"),
    ("example-under-a-file", EK, ["example-recording", "{random_bin}/x.aedat", "--seconds", "0.01"], "error"),
    # list / formats
    ("list-root-is-file", EK, ["list", "--root", "{random_bin}"], "usage"),
    ("formats-extra-argument", EK, ["formats", "extra"], "usage"),
    # download
    ("download-unknown-dataset", EK, ["download", "no-such-dataset", "--root", "{root}", "--quiet"], "error"),
    ("download-no-name", EK, ["download", "--root", "{root}"], "usage"),
    ("download-bad-manifest", EK, ["download", "--manifest", "{manifest_bad_toml}", "--root", "{root}"], "error"),
    ("download-incomplete-manifest", EK, ["download", "--manifest", "{manifest_empty_toml}", "--root", "{root}"],
     "error"),
    ("download-missing-manifest", EK, ["download", "--manifest", "{missing}"], "usage"),
    ("download-bad-expand-bytes", EK, ["download", "nmnist", "--root", "{root}", "--max-expand-bytes", "lots"],
     "error"),
    ("download-expand-ratio-below-1", EK, ["download", "nmnist", "--max-expand-ratio", "0.5"], "usage"),
    ("download-root-is-file", EK, ["download", "synthetic-gestures", "--root", "{random_bin}"], "usage"),
    # verify
    ("verify-not-downloaded", EK, ["verify", "dvs128-gesture", "--root", "{root}"], "error"),
    ("verify-unknown-dataset", EK, ["verify", "no-such-dataset", "--root", "{root}"], "error"),
    ("verify-bad-manifest", EK, ["verify", "--manifest", "{manifest_bad_toml}"], "error"),
    # convert (all refused before anything is downloaded or written)
    ("convert-dtype-float32", EK, ["convert", "synthetic-gestures", "-T", "4", "--dtype", "float32"], "usage"),
    ("convert-dtype-uint3", EK, ["convert", "synthetic-gestures", "-T", "4", "--dtype", "uint3"], "usage"),
    ("convert-frames-and-duration", EK, ["convert", "synthetic-gestures", "-T", "4", "--duration", "9"], "usage"),
    ("convert-no-frames", EK, ["convert", "synthetic-gestures"], "usage"),
    ("convert-frames-zero", EK, ["convert", "synthetic-gestures", "-T", "0"], "usage"),
    ("convert-frames-not-int", EK, ["convert", "synthetic-gestures", "-T", "many"], "usage"),
    ("convert-split-by-bad", EK, ["convert", "synthetic-gestures", "-T", "4", "--split-by", "mood"], "usage"),
    ("convert-downsample-1000", EK, ["convert", "synthetic-gestures", "-T", "4", "--downsample", "1000",
                                     "--root", "{root}"], "error"),
    ("convert-downsample-zero", EK, ["convert", "synthetic-gestures", "-T", "4", "--downsample", "0"], "usage"),
    ("convert-unknown-dataset", EK, ["convert", "no-such-dataset", "-T", "4", "--root", "{root}"], "error"),
    ("convert-executor-bad", EK, ["convert", "synthetic-gestures", "-T", "4", "--executor", "gpu"], "usage"),
    ("convert-workers-zero", EK, ["convert", "synthetic-gestures", "-T", "4", "--workers", "0"], "usage"),
    ("convert-scheduler-closed-port", EK, ["convert", "synthetic-gestures", "-T", "4", "--scheduler", "{scheduler}",
                                           "--root", "{root}", "--out", "{tmp}/sched.zarr"], "error"),
    ("convert-scheduler-not-an-address", EK, ["convert", "synthetic-gestures", "-T", "4", "--scheduler", "nonsense",
                                              "--root", "{root}"], "error"),
    ("convert-scheduler-with-serial", EK, ["convert", "synthetic-gestures", "-T", "4", "--scheduler", "{scheduler}",
                                           "--executor", "serial"], "usage"),
    ("convert-from-missing", EK, ["convert", "synthetic-gestures", "-T", "4", "--from", "{missing_dir}"], "usage"),
    ("convert-from-empty", EK, ["convert", "synthetic-gestures", "-T", "4", "--from", "{empty_dir}",
                                "--executor", "serial", "--quiet"], "error"),
    ("convert-max-events-zero", EK, ["convert", "synthetic-gestures", "-T", "4", "--max-events", "0"], "usage"),
    ("convert-bad-manifest", EK, ["convert", "--manifest", "{manifest_bad_toml}", "-T", "4"], "error"),
    # inspect
    ("inspect-missing", EK, ["inspect", "{missing_dir}"], "error"),
    ("inspect-file", EK, ["inspect", "{random_bin}"], "error"),
    ("inspect-folder-not-store", EK, ["inspect", "{folder}"], "error"),
    ("inspect-damaged-store", EK, ["inspect", "{damaged_zarr}"], "error"),
    ("inspect-bad-attrs-store", EK, ["inspect", "{truncated_zarr}"], "error"),
    ("inspect-repair-without-verify", EK, ["inspect", "{store}", "--repair"], "usage"),
    # view
    ("view-missing", EK, ["view", "{missing}"], "error"),
    ("view-folder-not-store", EK, ["view", "{folder}"], "error"),
    ("view-random-bytes", EK, ["view", "{random_bin}", "--out", "{tmp}/v1"], "error"),
    ("view-bad-split", EK, ["view", "{store}", "--split", "nope", "--out", "{tmp}/v2"], "error"),
    ("view-index-out-of-range", EK, ["view", "{store}", "--index", "99", "--out", "{tmp}/v3"], "error"),
    ("view-damaged-store", EK, ["view", "{damaged_zarr}", "--out", "{tmp}/v4"], "error"),
    ("view-fps-zero", EK, ["view", "{store}", "--fps", "0"], "usage"),
    ("view-percentile-200", EK, ["view", "{store}", "--percentile", "200"], "usage"),
    ("view-background-bad", EK, ["view", "{store}", "--background", "pink"], "usage"),
    # synth
    ("synth-missing-images", EK, ["synth", "{missing_dir}", "--out", "{tmp}/s0.zarr"], "usage"),
    ("synth-no-out", EK, ["synth", "{images}"], "usage"),
    ("synth-broken-image", EK, ["synth", "{images}", "--out", "{tmp}/s1.zarr", "--executor", "serial", "--quiet"],
     "error"),
    ("synth-random-bytes", EK, ["synth", "{random_bin}", "--out", "{tmp}/s2.zarr", "--quiet"], "error"),
    ("synth-npy-without-labels", EK, ["synth", "{digits_npy}", "--out", "{tmp}/s3.zarr", "--quiet"], "error"),
    ("synth-npy-bad-labels", EK, ["synth", "{digits_npy}", "--labels", "{labels_bad_npy}", "--out",
                                  "{tmp}/s4.zarr", "--quiet"], "error"),
    ("synth-negative-threshold", EK, ["synth", "{digits_npy}", "--threshold", "-1", "--out", "{tmp}/s5.zarr"],
     "error"),
    ("synth-option-not-for-method", EK, ["synth", "{digits_npy}", "--method", "odg", "--sigma", "0.1",
                                         "--out", "{tmp}/s6.zarr"], "usage"),
    ("synth-classes-and-file", EK, ["synth", "{digits_npy}", "--classes", "a,b", "--classes-file",
                                    "{classes_empty_txt}", "--out", "{tmp}/s7.zarr"], "usage"),
    ("synth-empty-class-name", EK, ["synth", "{digits_npy}", "--classes", "a,,b", "--out", "{tmp}/s8.zarr"],
     "usage"),
    ("synth-size-zero", EK, ["synth", "{digits_npy}", "--size", "0", "--out", "{tmp}/s9.zarr"], "usage"),
    ("synth-out-is-folder-of-thesis", EK, ["synth", "{images}", "--out", "{folder}", "--overwrite", "--quiet",
                                           "--classes", "cat"], "error"),
    ("synth-scheduler-closed-port", EK, ["synth", "{images}", "--out", "{tmp}/s10.zarr", "--scheduler",
                                         "{scheduler}", "--quiet"], "error"),
    # snnmodels train
    ("train-missing-store", SNN, ["train", "--store", "{missing_dir}", "--out", "{tmp}/run1", "--quiet"], "error"),
    ("train-folder-not-store", SNN, ["train", "--store", "{folder}", "--out", "{tmp}/run2", "--quiet"], "error"),
    ("train-damaged-store", SNN, ["train", "--store", "{damaged_zarr}", "--out", "{tmp}/run3", "--quiet"], "error"),
    ("train-file-as-store", SNN, ["train", "--store", "{random_bin}", "--out", "{tmp}/run4", "--quiet"], "error"),
    ("train-unknown-model", SNN, ["train", "--store", "{store}", "--model", "gpt"], "usage"),
    ("train-epochs-zero", SNN, ["train", "--store", "{store}", "--epochs", "0"], "usage"),
    ("train-negative-lr", SNN, ["train", "--store", "{store}", "--lr", "-1"], "usage"),
    ("train-batch-size-zero", SNN, ["train", "--store", "{store}", "--batch-size", "0"], "usage"),
    ("train-bad-backend", SNN, ["train", "--store", "{store}", "--backend", "tpu"], "usage"),
    ("train-bad-device", SNN, ["train", "--store", "{store}", "--device", "quantum", "--out", "{tmp}/run5",
                               "--quiet"], "error"),
    ("train-no-store", SNN, ["train"], "usage"),
    # snnmodels eval
    ("eval-random-checkpoint", SNN, ["eval", "--checkpoint", "{ckpt_random_pt}", "--store", "{store}", "--quiet"],
     "error"),
    ("eval-text-checkpoint", SNN, ["eval", "--checkpoint", "{ckpt_text_pt}", "--store", "{store}", "--quiet"],
     "error"),
    ("eval-truncated-checkpoint", SNN, ["eval", "--checkpoint", "{ckpt_truncated_pt}", "--store", "{store}",
                                       "--quiet"], "error"),
    ("eval-zip-not-checkpoint", SNN, ["eval", "--checkpoint", "{ckpt_zip_pt}", "--store", "{store}", "--quiet"],
     "error"),
    ("eval-missing-checkpoint", SNN, ["eval", "--checkpoint", "{missing}", "--store", "{store}", "--quiet"], "error"),
    ("eval-folder-checkpoint", SNN, ["eval", "--checkpoint", "{folder}", "--store", "{store}", "--quiet"], "error"),
    ("eval-bad-samples", SNN, ["eval", "--checkpoint", "{ckpt_random_pt}", "--store", "{store}", "--samples",
                               "one,two"], "usage"),
    ("eval-no-checkpoint", SNN, ["eval", "--store", "{store}"], "usage"),
    # snnmodels demo
    ("demo-epochs-zero", SNN, ["demo", "--epochs", "0"], "usage"),
    ("demo-out-is-file", SNN, ["demo", "--out", "{random_bin}", "--quick"], "error"),
]


def _fill(args: list[str], world: dict[str, str]) -> list[str]:
    return [a.format(**world) for a in args]


def _check_one_error(output: str, exit_code: int, expect: str) -> None:
    assert "Traceback" not in output, output
    assert exit_code == (1 if expect == "error" else 2), output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output


@pytest.mark.parametrize("row_id,cli,args,expect", ROWS, ids=[r[0] for r in ROWS])
def test_bad_argument_is_one_error_line(row_id: str, cli: str, args: list[str], expect: str,
                                        world: dict[str, str]) -> None:
    group = ek_main if cli == EK else snn_main
    env = {"EVENTKIT_ROOT": world["root"], "EVENTKIT_SCHEDULER_TIMEOUT": "1"}
    res = CliRunner().invoke(group, _fill(args, world), env=env)
    assert isinstance(res.exception, SystemExit), f"uncaught {res.exception!r}\n{res.output}"
    _check_one_error(res.output, res.exit_code, expect)
    assert Path(world["folder"], "thesis.tex").read_text() == "my thesis"  # a user's file is never touched


def test_every_command_is_in_the_table() -> None:
    covered = {(cli, args[0]) for _, cli, args, _ in ROWS}
    for cli, group in ((EK, ek_main), (SNN, snn_main)):
        for name in group.list_commands(click.Context(group)):
            assert (cli, name) in covered, f"`{cli} {name}` has no bad-argument row"
    assert len(ROWS) >= 60


def test_dtype_choices_are_the_store_dtypes() -> None:
    from eventkit.pipeline.spec import FRAME_DTYPES as SPEC_DTYPES

    assert FRAME_DTYPES == SPEC_DTYPES


def test_scheduler_error_names_address_and_what_to_do(world: dict[str, str]) -> None:
    res = CliRunner().invoke(ek_main, ["convert", "synthetic-gestures", "-T", "4", "--scheduler", world["scheduler"],
                                       "--out", f"{world['tmp']}/sched2.zarr"],
                             env={"EVENTKIT_ROOT": world["root"], "EVENTKIT_SCHEDULER_TIMEOUT": "1"})
    assert res.exit_code == 1
    assert world["scheduler"] in res.output and "dask scheduler" in res.output and "drop --scheduler" in res.output
    assert not Path(world["tmp"], "sched2.zarr").exists()  # refused before any store was created


def test_downsample_error_names_the_sensor(world: dict[str, str]) -> None:
    res = CliRunner().invoke(ek_main, ["convert", "synthetic-gestures", "-T", "4", "--downsample", "1000"],
                             env={"EVENTKIT_ROOT": world["root"]})
    assert res.exit_code == 1 and "128 x 128" in res.output and "--downsample" in res.output


def test_workers_with_scheduler_is_a_usage_error(world: dict[str, str]) -> None:
    res = CliRunner().invoke(ek_main, ["convert", "synthetic-gestures", "-T", "4", "--scheduler", world["scheduler"],
                                       "--workers", "3", "--out", f"{world['tmp']}/sched3.zarr"],
                             env={"EVENTKIT_ROOT": world["root"], "EVENTKIT_SCHEDULER_TIMEOUT": "1"})
    assert res.exit_code == 2, res.output
    assert "--workers cannot be used with --scheduler" in res.output and "drop --workers" in res.output
    assert "Traceback" not in res.output
    assert not Path(world["tmp"], "sched3.zarr").exists()  # refused before anything started


def test_os_error_names_the_path_and_the_fix(world: dict[str, str]) -> None:
    res = CliRunner().invoke(ek_main, ["example-recording", f"{world['random_bin']}/x.aedat", "--seconds", "0.01"])
    assert res.exit_code == 1 and world["random_bin"] in res.output and "choose another path" in res.output


def test_missing_store_says_does_not_exist(world: dict[str, str]) -> None:
    res = CliRunner().invoke(ek_main, ["inspect", world["missing_dir"]])
    assert "does not exist" in res.output and "holds no" not in res.output


def test_verify_suggests_download(world: dict[str, str]) -> None:
    res = CliRunner().invoke(ek_main, ["verify", "dvs128-gesture", "--root", world["root"]])
    assert res.exit_code == 1 and "eventkit download dvs128-gesture" in res.output


# -- the real entry points -----------------------------------------------------------------------
def _entry(name: str) -> list[str]:
    exe = Path(sys.executable).parent / name
    return [str(exe)] if exe.exists() else [sys.executable, "-m", name]


@pytest.mark.parametrize("row_id", ["convert-dtype-float32", "inspect-damaged-store", "eval-random-checkpoint"])
def test_real_entry_point(row_id: str, world: dict[str, str]) -> None:
    _, cli, args, expect = next(r for r in ROWS if r[0] == row_id)
    env = {**os.environ, "EVENTKIT_ROOT": world["root"]}
    proc = subprocess.run(_entry(cli) + _fill(args, world), capture_output=True, text=True, env=env, timeout=120)
    _check_one_error(proc.stdout + proc.stderr, proc.returncode, expect)
    assert sum(line.startswith("Error:") for line in proc.stderr.splitlines()) == 1  # on stderr, not stdout


# -- Ctrl-C ----------------------------------------------------------------------------------------
def _gestures_root(tmp_path: Path) -> Path:
    """A tiny synthetic-gestures download (one user per split, one lighting)."""
    from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures

    root = tmp_path / "root"
    generate_synthetic_gestures(root / "synthetic-gestures" / "extract",
                                SyntheticGesturesConfig(train_users=1, test_users=1, lightings_per_user=1))
    return root


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_in_serial_convert_is_aborted_with_resume_hint(tmp_path: Path, monkeypatch) -> None:
    convert_module = sys.modules["eventkit.pipeline.convert"]  # the package exports a function of that name
    monkeypatch.setattr(convert_module, "convert_shard", _interrupt)
    res = CliRunner().invoke(ek_main, ["convert", "synthetic-gestures", "-T", "4", "--executor", "serial", "--from",
                                       str(_extract(tmp_path)), "--out", str(tmp_path / "s.zarr"), "--quiet"],
                             env={"EVENTKIT_ROOT": str(tmp_path / "root")})
    assert res.exit_code == 130, res.output
    assert "Aborted: re-run the same command" in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_ctrl_c_in_dask_convert_shuts_the_cluster_down_quietly(tmp_path: Path, monkeypatch) -> None:
    from eventkit.pipeline.executors import dask as dask_executor

    closed: list[bool] = []
    real_close = dask_executor.DaskExecutor.close

    def close(self) -> None:
        real_close(self)
        closed.append(self.cluster.status.name == "closed")

    monkeypatch.setattr(dask_executor.DaskExecutor, "map_unordered", _interrupt)
    monkeypatch.setattr(dask_executor.DaskExecutor, "close", close)
    res = CliRunner().invoke(ek_main, ["convert", "synthetic-gestures", "-T", "4", "--executor", "dask", "--workers",
                                       "1", "--from", str(_extract(tmp_path)), "--out", str(tmp_path / "d.zarr"),
                                       "--quiet"], env={"EVENTKIT_ROOT": str(tmp_path / "root")})  # fmt: skip
    assert res.exit_code == 130, res.output
    assert res.output.strip().startswith("Aborted:") and "Traceback" not in res.output, res.output
    assert closed == [True]  # the local cluster was shut down


def _extract(tmp_path: Path) -> Path:
    return _gestures_root(tmp_path) / "synthetic-gestures" / "extract"
