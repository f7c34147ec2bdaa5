"""``--executor auto``: serial for small jobs or few cores, Dask otherwise; a finished store starts nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventkit.errors import OptionError
from eventkit.pipeline.executors import AUTO_MIN_SAMPLES, LazyExecutor, choose_executor
from eventkit_cli.eventkit_cli import main as ek_main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("n, cores, scheduler, expect", [
    (10, 16, None, "serial"),  # a small job
    (AUTO_MIN_SAMPLES - 1, 16, None, "serial"),
    (AUTO_MIN_SAMPLES, 16, None, "dask"),  # large enough, enough cores
    (100_000, 2, None, "serial"),  # 2 cores: worker processes only compete
    (100_000, 1, None, "serial"),
    (3, 1, "tcp://10.0.0.5:8786", "dask"),  # a cluster was asked for
])
def test_auto_choice(n: int, cores: int, scheduler: str | None, expect: str) -> None:
    chosen, why = choose_executor("auto", n, scheduler=scheduler, cores=cores)
    assert chosen == expect and why


def test_auto_without_dask_is_serial_and_says_how_to_get_dask(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    chosen, why = choose_executor("auto", 10**6, cores=16)
    assert chosen == "serial" and "eventkit[cluster]" in why


def test_explicit_executor_is_kept_and_unknown_refused() -> None:
    assert choose_executor("dask", 1, cores=1)[0] == "dask"
    assert choose_executor("serial", 10**6, cores=64)[0] == "serial"
    with pytest.raises(OptionError, match="--executor"):
        choose_executor("gpu", 1)


def test_lazy_executor_starts_nothing_without_tasks(monkeypatch) -> None:
    from eventkit.pipeline import executors

    monkeypatch.setattr(executors, "get_executor", _no_executor)
    ex = LazyExecutor("dask")
    assert list(ex.map_unordered(str, [])) == []
    ex.close()
    assert ex.chosen is None


def _no_executor(*args, **kwargs):
    raise AssertionError("an executor was started for nothing")


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures

    out = tmp_path_factory.mktemp("gestures") / "extract"
    generate_synthetic_gestures(out, SyntheticGesturesConfig(train_users=1, test_users=1, lightings_per_user=1))
    return out


def test_auto_says_what_it_chose_and_a_rerun_starts_no_executor(extract: Path, tmp_path: Path, monkeypatch) -> None:
    args = ["convert", "synthetic-gestures", "-T", "4", "--from", str(extract), "--out", str(tmp_path / "s.zarr")]
    res = CliRunner().invoke(ek_main, args, env={"EVENTKIT_ROOT": str(tmp_path)})
    assert res.exit_code == 0, res.output
    assert "executor: serial (" in res.output  # a tiny job: serial, and why
    quiet = CliRunner().invoke(ek_main, args + ["--quiet"], env={"EVENTKIT_ROOT": str(tmp_path)})
    assert quiet.exit_code == 0 and "executor:" not in quiet.output
    # the store is complete: the re-run must not start any executor (no local cluster to do nothing)
    monkeypatch.setattr(sys.modules["eventkit.pipeline.executors"], "get_executor", _no_executor)
    res = CliRunner().invoke(ek_main, args + ["--executor", "dask"], env={"EVENTKIT_ROOT": str(tmp_path)})
    assert res.exit_code == 0, res.output
    assert "already there" in res.output and "converted 0" in res.output


def test_python_api_accepts_auto(extract: Path, tmp_path: Path) -> None:
    import eventkit

    report = eventkit.convert("synthetic-gestures", frames=4, from_dir=extract, out=tmp_path / "a.zarr",
                              executor="auto", progress=False)
    assert report.complete and report.converted == sum(report.samples.values())
