"""Pre-flight on an external Dask cluster (issue 13): workers joined, each one checked, a lost scheduler in one line.

Real ``dask scheduler`` / ``dask worker`` processes on 127.0.0.1: a scheduler with no worker, a
worker where eventkit cannot be imported (a ``sitecustomize`` blocks it, as on a machine where it
is not installed), a worker that cannot see a folder, and a scheduler killed mid-run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import dask_cluster
from .conftest import FRAMES, PYTHON, child_env

pytest.importorskip("distributed")

from eventkit.pipeline.executors import ClusterError, SchedulerLostError  # noqa: E402

# Imported first by the worker's Python: every `import eventkit` fails as if it were not installed.
BLOCK_EVENTKIT = """
import sys

class _NoEventkit:
    def find_spec(self, name, path=None, target=None):
        if name == "eventkit" or name.startswith("eventkit."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoEventkit())
"""

@contextlib.contextmanager
def _cluster(tmp_path: Path, worker_env: dict | None = None, dashboard: bool = False) -> Iterator[tuple]:
    """A ``dask scheduler`` and, with ``worker_env``, one ``dask worker``; yields (address, processes)."""
    with dask_cluster.cluster(tmp_path, child_env(), worker_env, dashboard=dashboard) as running:
        yield running


def _executor(addr: str, monkeypatch: pytest.MonkeyPatch, timeout: str = "60"):
    from eventkit.pipeline.executors.dask import DaskExecutor

    monkeypatch.setenv("EVENTKIT_SCHEDULER_TIMEOUT", "30")  # the scheduler process may still be starting
    monkeypatch.setenv("EVENTKIT_WORKER_TIMEOUT", timeout)
    return DaskExecutor(scheduler=addr)


def test_no_worker_joined_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _cluster(tmp_path) as (addr, _):
        with pytest.raises(ClusterError) as exc:
            _executor(addr, monkeypatch, timeout="1")
    msg = str(exc.value)
    assert f"no Dask worker joined {addr} within 1 s" in msg
    assert f"`dask worker {addr}`" in msg and "drop --scheduler" in msg


def test_worker_without_eventkit_is_named(gestures_data, manifest, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the task failed to unpickle on the worker and the run hung. Now: one error, nothing converted."""
    from eventkit.pipeline import convert

    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCK_EVENTKIT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(block)
    check = subprocess.run([PYTHON, "-c", "import eventkit"], env=env, capture_output=True, text=True)
    assert "No module named 'eventkit'" in check.stderr  # the stand-in really lacks eventkit
    out = tmp_path / "out.zarr"
    with _cluster(tmp_path, worker_env=env) as (addr, _):
        monkeypatch.setenv("EVENTKIT_SCHEDULER_TIMEOUT", "30")
        monkeypatch.setenv("EVENTKIT_WORKER_TIMEOUT", "60")
        with pytest.raises(ClusterError) as exc:
            convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, scheduler=addr, progress=False)
    msg = str(exc.value)
    assert "worker tcp://127.0.0.1:" in msg and "cannot import eventkit" in msg
    assert "No module named 'eventkit'" in msg and "install eventkit" in msg
    assert not list(out.rglob("c/*"))  # no shard written


def test_probe_names_the_worker_and_what_it_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import eventkit

    seen, readonly = tmp_path / "seen", tmp_path / "ro"
    seen.mkdir()
    readonly.mkdir()
    with _cluster(tmp_path, worker_env=child_env()) as (addr, _):
        ex = _executor(addr, monkeypatch)
        try:
            ex.preflight([str(seen)], [str(seen)])  # a ready worker passes
            gone = tmp_path / "extract"  # a folder the worker cannot see (its mount missing)
            with pytest.raises(ClusterError) as exc:
                ex.preflight([str(gone)], [str(seen)])
            assert f"cannot see {gone}: mount the shared filesystem there" in str(exc.value)
            assert str(exc.value).startswith("worker tcp://127.0.0.1:")
            monkeypatch.setattr(eventkit, "__version__", "0.0.0-here")
            with pytest.raises(ClusterError, match=r"runs eventkit .+, this process 0\.0\.0-here: install the same"):
                ex.preflight([str(seen)], [str(seen)])
            if os.geteuid() != 0:  # root writes anywhere
                readonly.chmod(0o500)
                with pytest.raises(ClusterError, match=f"cannot write to {readonly}"):
                    ex.preflight([], [str(readonly)])
        finally:
            readonly.chmod(0o700)
            ex.close()


def test_task_dirs_are_the_input_root_and_the_store(gestures_data, manifest, tmp_path: Path) -> None:
    from eventkit.datasets.layouts import iter_samples
    from eventkit.pipeline.executors.dask import _task_dirs
    from eventkit.pipeline.plan import ShardTask

    samples = iter_samples(manifest, gestures_data)
    store = tmp_path / "s.zarr"
    store.mkdir()
    task = ShardTask(manifest, None, store, "k", "train", 0, tuple(enumerate(samples)))
    read, write = _task_dirs([task, (manifest, samples)])
    assert write == {str(store)}
    [root] = read
    assert Path(root) == gestures_data or gestures_data in Path(root).parents


class _LostAfterOne:
    """Stands in for a Dask executor whose scheduler dies after the first task."""

    def map_unordered(self, fn, tasks):
        yield tasks[0], fn(tasks[0])
        raise SchedulerLostError("tcp://10.0.0.5:8786")


def test_lost_scheduler_is_one_message_not_a_failure_per_sample() -> None:
    from types import SimpleNamespace

    from eventkit.pipeline.run import run_shard_tasks

    s = SimpleNamespace(sample_id="x", source="/d/x")
    tasks = [SimpleNamespace(split="train", shard=k, samples=tuple((i, s) for i in range(4))) for k in range(3)]
    report = SimpleNamespace(converted=0, skipped=2, failures=[], complete=False)
    writer = SimpleNamespace(finalize=lambda: pytest.fail("an incomplete store was finalized"), close=lambda: None)
    with pytest.raises(SchedulerLostError) as exc:
        run_shard_tasks(_LostAfterOne(), lambda t: SimpleNamespace(written=4, failures=()), tasks, writer, report,
                        progress=False, desc="t")  # fmt: skip
    assert str(exc.value) == ("lost the Dask scheduler tcp://10.0.0.5:8786 (6 of 14 samples reported done; the "
                              "store keeps every shard finished so far): re-run the same command to resume")
    assert report.failures == [] and not report.complete


@pytest.mark.slow
def test_scheduler_killed_mid_run(manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capfd: pytest.CaptureFixture) -> None:
    """A real scheduler killed once the first shard is on disk: one SchedulerLostError, no log noise,
    and a re-run resumes to the store a serial run writes."""
    import threading

    from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures
    from eventkit.pipeline import convert

    from .conftest import assert_same_store

    data = Path(generate_synthetic_gestures(tmp_path / "data", SyntheticGesturesConfig(seed=3)))  # 176 samples, 6 shards
    out = tmp_path / "out.zarr"
    monkeypatch.setenv("EVENTKIT_SCHEDULER_TIMEOUT", "30")
    with _cluster(tmp_path, worker_env=child_env()) as (addr, procs):
        def kill_after_first_shard() -> None:
            while not [p for p in out.rglob("*") if p.is_file() and "/frames/c/" in p.as_posix()]:
                time.sleep(0.02)
            procs[0].kill()

        killer = threading.Thread(target=kill_after_first_shard, daemon=True)
        killer.start()
        capfd.readouterr()
        with pytest.raises(SchedulerLostError) as exc:
            convert(manifest, frames=FRAMES, from_dir=data, out=out, executor="dask", scheduler=addr,
                    progress=False)  # fmt: skip
        killer.join(timeout=60)
    msg = str(exc.value)
    assert msg.startswith(f"lost the Dask scheduler {addr} (") and " samples reported done" in msg
    assert msg.endswith("every shard finished so far): re-run the same command to resume")
    assert "Traceback" not in capfd.readouterr().err  # no log flood from distributed
    r = convert(manifest, frames=FRAMES, from_dir=data, out=out, executor="serial", progress=False)
    assert r.complete and not r.failures
    ref = tmp_path / "ref.zarr"
    convert(manifest, frames=FRAMES, from_dir=data, out=ref, executor="serial", progress=False)
    assert_same_store(ref, out)


def test_dashboard_note_only_when_the_scheduler_serves_one(caplog: pytest.LogCaptureFixture) -> None:
    """A scheduler started with --no-dashboard has no dashboard service: no link to nothing."""
    import logging

    from eventkit.pipeline.executors.dask import _note_dashboard

    class Client:
        dashboard_link = "http://127.0.0.1:8787/status"

        def __init__(self, services: dict) -> None:
            self.services = services

        def scheduler_info(self) -> dict:
            return {"services": self.services}

    with caplog.at_level(logging.INFO, logger="eventkit"):
        _note_dashboard(Client({}))
        assert "Dask dashboard" not in caplog.text
        _note_dashboard(Client({"dashboard": 8787}))
        assert "Dask dashboard: http://127.0.0.1:8787/status" in caplog.text


@pytest.mark.parametrize("dashboard", [True, False])
def test_dashboard_link_of_an_external_scheduler_is_checked(dashboard: bool, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`dask scheduler --no-dashboard` still reports an HTTP server as its dashboard (/status: 404):
    the link is shown only when it answers."""
    import logging

    from eventkit.pipeline.executors.dask import DaskExecutor

    monkeypatch.setenv("EVENTKIT_SCHEDULER_TIMEOUT", "30")  # the scheduler process may still be starting
    with _cluster(tmp_path, worker_env=child_env(), dashboard=dashboard) as (addr, procs):
        with caplog.at_level(logging.INFO, logger="eventkit"):
            ex = DaskExecutor(scheduler=addr)
            ex.close()
    assert ("Dask dashboard: http://" in caplog.text) is dashboard


def test_version_mismatch_table_becomes_one_note(caplog: pytest.LogCaptureFixture) -> None:
    """distributed's 8-line version table (a worker env without numpy, say) -> one note line."""
    import logging
    import warnings

    from eventkit.pipeline.executors.dask import _connect

    table = ("Mismatched versions found\n\n+---------+--------+-----------+---------+\n"
             "| Package | Client | Scheduler | Workers |\n+---------+--------+-----------+---------+\n"
             "| lz4     | 4.4.5  | None      | None    |\n| numpy   | 2.4.6  | None      | None    |\n"
             "+---------+--------+-----------+---------+")  # fmt: skip

    class VersionMismatchWarning(Warning):
        pass

    def client(address: str, timeout: str) -> str:
        warnings.warn(VersionMismatchWarning(table))
        return "client"

    with caplog.at_level(logging.INFO, logger="eventkit"), warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        assert _connect(client, "tcp://127.0.0.1:1") == "client"
    assert not [w for w in shown if "Mismatched" in str(w.message)]
    notes = [r.getMessage() for r in caplog.records if "versions differ" in r.getMessage()]
    assert notes == ["Note: package versions differ between this process and the Dask cluster: lz4 (here 4.4.5, "
                     "scheduler None, workers None), numpy (here 2.4.6, scheduler None, workers None)"]
