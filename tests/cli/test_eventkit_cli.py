"""The ``eventkit`` command line: info output, JSON, and one-line errors with non-zero exits."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from eventkit_cli.eventkit_cli import main
from tests.conftest import SAMPLES_DIR, load_expect, sample_names


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("name", sample_names())
def test_info_json_matches_expectation(runner: CliRunner, name: str) -> None:
    exp = load_expect(name)
    res = runner.invoke(main, ["info", str(SAMPLES_DIR / name), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["events"] == exp["event_count"]
    assert out["on_events"] == exp["polarity_counts"]["1"]
    if exp["event_count"]:
        assert out["t_first_us"] == exp["t"]["min"] or out["t_first_us"] == exp["first_5_events_txyp"][0][0]
        assert out["t_last_us"] == exp["last_5_events_txyp"][-1][0]


def test_info_human_readable(runner: CliRunner, samples_dir) -> None:
    res = runner.invoke(main, ["info", str(samples_dir / "nmnist_tonic_sample.bin")])
    assert res.exit_code == 0, res.output
    for word in ("format", "events", "4,325", "sensor", "duration", "event rate", "polarity"):
        assert word in res.output


def test_info_unknown_file_is_one_line_error(runner: CliRunner, tmp_path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    res = runner.invoke(main, ["info", str(f)])
    assert res.exit_code != 0
    assert res.output.count("\n") == 1 and str(f) in res.output and "Traceback" not in res.output


def test_info_missing_file(runner: CliRunner, tmp_path) -> None:
    res = runner.invoke(main, ["info", str(tmp_path / "nope.aedat")])
    assert res.exit_code != 0 and "no such file" in res.output


def test_info_corrupt_file_names_offset(runner: CliRunner, tmp_path, samples_dir) -> None:
    data = (samples_dir / "nmnist_tonic_sample.bin").read_bytes()
    bad = tmp_path / "cut.bin"
    bad.write_bytes(data[:-2])  # a partial 5-byte record at the end
    res = runner.invoke(main, ["info", str(bad)])
    assert res.exit_code != 0
    assert res.output.startswith("Error: ") and str(bad) in res.output and "byte" in res.output


def test_example_recording_round_trip(runner: CliRunner, tmp_path) -> None:
    out = tmp_path / "bar.aedat"
    res = runner.invoke(main, ["example-recording", str(out), "--seconds", "0.5"])
    assert res.exit_code == 0, res.output
    info = json.loads(runner.invoke(main, ["info", str(out), "--json"]).output)
    assert info["format"] == "aedat31"
    assert info["sensor"] == [128, 128, 2] and info["sensor_source"] == "header"
    assert info["events"] == 100_000
