"""``eventkit convert``: exit codes, the failure listing, --from, --events, --help."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from eventkit_cli.eventkit_cli import main

from .conftest import FRAMES, assert_same_store


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _args(data, out, *extra):
    return ["convert", "synthetic-gestures", "--from", str(data), "--out", str(out), "--executor", "serial",
            "--quiet", *extra]


def test_help_has_examples(runner) -> None:
    res = runner.invoke(main, ["convert", "--help"])
    assert res.exit_code == 0
    assert "Examples:" in res.output
    assert "eventkit convert dvs128-gesture --frames 16 --split-by number" in res.output
    for opt in ("--frames", "--split-by", "--duration", "--from", "--events", "--executor", "--workers",
                "--scheduler", "--overwrite"):
        assert opt in res.output


def test_convert_then_rerun(runner, gestures_data, reference_store, tmp_path) -> None:
    out = tmp_path / "cli.zarr"
    res = runner.invoke(main, _args(gestures_data, out, "--frames", str(FRAMES)))
    assert res.exit_code == 0, res.output
    assert "synthetic-gestures: 33 samples (train 22, test 11); converted 33, already there 0" in res.output
    assert f"store: {out}" in res.output
    assert_same_store(reference_store, out)
    res = runner.invoke(main, _args(gestures_data, out, "--frames", str(FRAMES)))
    assert res.exit_code == 0, res.output
    assert "converted 0, already there 33" in res.output


def test_failures_are_listed_and_exit_1_then_fixed(runner, data_copy, tmp_path) -> None:
    rec = data_copy / "DvsGesture" / "user03_fluorescent.aedat"
    good = rec.read_bytes()
    rec.write_bytes(good[:1000])
    out = tmp_path / "cli.zarr"
    res = runner.invoke(main, _args(data_copy, out, "--frames", "4"))
    assert res.exit_code == 1, res.output
    failed = [line for line in res.output.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 11
    assert all(line.startswith(f"FAILED test/user03_fluorescent_") and str(rec) in line for line in failed)
    assert "11 sample(s) failed" in res.output and "incomplete" in res.output
    assert "converted 22" in res.output
    rec.write_bytes(good)
    res = runner.invoke(main, _args(data_copy, out, "--frames", "4"))
    assert res.exit_code == 0, res.output
    assert "converted 11, already there 22" in res.output


def test_usage_errors_exit_2(runner, gestures_data, tmp_path) -> None:
    out = tmp_path / "x.zarr"
    res = runner.invoke(main, _args(gestures_data, out))
    assert res.exit_code == 2 and "--frames" in res.output
    res = runner.invoke(main, _args(gestures_data, out, "--frames", "4", "--duration", "1000"))
    assert res.exit_code == 2
    res = runner.invoke(main, _args(tmp_path / "missing", out, "--frames", "4"))
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(main, _args(gestures_data, out, "--frames", "0"))
    assert res.exit_code == 2
    res = runner.invoke(main, ["convert", "no-such-dataset", "--frames", "4", "--from", str(gestures_data)])
    assert res.exit_code != 0 and "no-such-dataset" in res.output
    assert not out.exists()


def test_mismatch_is_an_error_and_overwrite_rebuilds(runner, gestures_data, tmp_path) -> None:
    out = tmp_path / "cli.zarr"
    assert runner.invoke(main, _args(gestures_data, out, "--frames", "4")).exit_code == 0
    res = runner.invoke(main, _args(gestures_data, out, "--frames", "6"))
    assert res.exit_code == 1
    assert "params.frames: 4 -> 6" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, _args(gestures_data, out, "--frames", "6", "--overwrite"))
    assert res.exit_code == 0, res.output
    assert "converted 33" in res.output


def test_events_flag_writes_the_event_store(runner, gestures_data, tmp_path) -> None:
    from eventkit.store import open_event_store

    out = tmp_path / "ev.zarr"
    res = runner.invoke(main, _args(gestures_data, out, "--events"))
    assert res.exit_code == 0, res.output
    st = open_event_store(out)
    assert (len(st["train"]), len(st["test"])) == (22, 11)


def test_dask_executor_from_the_cli(runner, gestures_data, reference_store, tmp_path) -> None:
    out = tmp_path / "dask.zarr"
    args = _args(gestures_data, out, "--frames", str(FRAMES))
    args[args.index("serial")] = "dask"
    res = runner.invoke(main, [*args, "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert_same_store(reference_store, out)
