"""Faults: kill -9 mid-convert, a Dask worker killed mid-job, a corrupt recording, two writers, stale lock."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .conftest import (
    FRAMES,
    HERE,
    PYTHON,
    assert_same_store,
    child_env,
    done_count,
    small_shards,
    store_content,
)


def _start_child(data: Path, out: Path, sleep_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, str(HERE / "_convert_child.py"), str(data), str(out), str(sleep_s)],
        env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"child exited ({proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _dead_pid() -> int:
    p = subprocess.Popen([PYTHON, "-c", "pass"])
    p.wait()
    return p.pid


def test_kill_9_mid_convert_then_rerun_gives_the_same_store(
    reference_small_store, gestures_data, manifest, tmp_path
) -> None:
    from eventkit.pipeline import convert
    from eventkit.store import IncompleteStoreError, open_store

    out = tmp_path / "killed.zarr"
    child = _start_child(gestures_data, out, 0.15)
    try:
        _wait_for(lambda: done_count(out) >= 6, 60, "6 samples done", child)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()  # reap it: a zombie's pid still answers kill(pid, 0)
    assert child.returncode == -signal.SIGKILL
    n_done = done_count(out)
    assert 6 <= n_done < 33, "the kill must land mid-job"
    with pytest.raises(IncompleteStoreError):
        open_store(out)
    lock = out.with_name(out.name + ".lock")
    assert json.loads(lock.read_text())["pid"] == child.pid  # the dead owner's lock is left behind

    with small_shards():
        r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert r.complete and not r.failures
    assert r.skipped >= n_done - 1 > 0  # at most the shard being written was redone
    assert r.converted + r.skipped == 33
    assert r.converted < 33
    assert not lock.exists()
    assert_same_store(reference_small_store, out)


def test_two_conversions_of_one_store_the_second_is_refused(gestures_data, manifest, tmp_path) -> None:
    from eventkit.pipeline import convert
    from eventkit.store import StoreLockedError

    out = tmp_path / "busy.zarr"
    child = _start_child(gestures_data, out, 0.3)
    try:
        _wait_for(lambda: done_count(out) >= 2, 60, "the first conversion to start writing", child)
        before = done_count(out)
        with pytest.raises(StoreLockedError, match=rf"process {child.pid} on host") as exc:
            convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
        assert "lock" in str(exc.value)
        # the refused run neither wrote nor removed the first one's lock
        assert json.loads(out.with_name(out.name + ".lock").read_text())["pid"] == child.pid
        assert done_count(out) >= before
        stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, stderr[-3000:]
    assert json.loads(stdout.splitlines()[-1]) == {"converted": 33, "skipped": 0, "complete": True}


def test_a_stale_lock_of_a_dead_process_is_taken_over(reference_store, gestures_data, manifest, tmp_path) -> None:
    from eventkit.pipeline import convert

    out = tmp_path / "stale.zarr"
    lock = out.with_name(out.name + ".lock")
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "since": time.time() - 60}))
    r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert r.complete and r.converted == 33
    assert not lock.exists()
    assert_same_store(reference_store, out)


def test_a_live_lock_from_another_host_is_refused(gestures_data, manifest, tmp_path) -> None:
    from eventkit.pipeline import convert
    from eventkit.store import StoreLockedError

    out = tmp_path / "remote.zarr"
    lock = out.with_name(out.name + ".lock")
    lock.write_text(json.dumps({"pid": 1, "host": "some-other-host", "since": time.time()}))
    with pytest.raises(StoreLockedError, match="some-other-host"):
        convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert lock.exists()


def test_a_corrupt_recording_is_listed_the_rest_converted_then_fixed(
    reference_store, data_copy, manifest, tmp_path
) -> None:
    from eventkit.pipeline import convert
    from eventkit.store import IncompleteStoreError, open_store

    rec = data_copy / "DvsGesture" / "user02_fluorescent.aedat"  # train, samples 11..21
    good = rec.read_bytes()
    rec.write_bytes(good[: len(good) // 2])
    out = tmp_path / "s.zarr"
    r = convert(manifest, frames=FRAMES, from_dir=data_copy, out=out, executor="serial", progress=False)
    assert not r.complete
    assert r.converted == 22
    assert sorted(f.sample_id for f in r.failures) == sorted(f"user02_fluorescent_{k}" for k in range(11))
    for f in r.failures:
        assert f.split == "train"
        assert f.source == str(rec)
        assert "truncated" in f.reason
    with pytest.raises(IncompleteStoreError):
        open_store(out)
    st = open_store(out, allow_incomplete=True)
    assert list(st["train"].available) == list(range(11))
    assert list(st["test"].available) == list(range(11))
    assert not out.with_name(out.name + ".lock").exists()

    rec.write_bytes(good)
    r2 = convert(manifest, frames=FRAMES, from_dir=data_copy, out=out, executor="serial", progress=False)
    assert r2.complete and not r2.failures
    assert r2.converted == 11 and r2.skipped == 22
    assert_same_store(reference_store, out)


def test_a_corrupt_recording_with_dask_and_small_shards(reference_small_store, data_copy, manifest, tmp_path) -> None:
    """Shards mixing good and broken samples write the good ones; the report is the same as serial."""
    from eventkit.pipeline import convert

    rec = data_copy / "DvsGesture" / "user01_fluorescent.aedat"
    good = rec.read_bytes()
    rec.write_bytes(good[: len(good) // 3])
    out = tmp_path / "s.zarr"
    with small_shards(3):  # shard 3 of train holds user01 samples 9, 10 and user02 sample 0
        r = convert(manifest, frames=FRAMES, from_dir=data_copy, out=out, executor="dask", workers=2,
                    progress=False)
    assert not r.complete and r.converted == 22
    assert sorted(f.sample_id for f in r.failures) == sorted(f"user01_fluorescent_{k}" for k in range(11))
    rec.write_bytes(good)
    with small_shards(3):
        r2 = convert(manifest, frames=FRAMES, from_dir=data_copy, out=out, executor="serial", progress=False)
    assert r2.complete and r2.converted == 11 and r2.skipped == 22
    ref, got = store_content(reference_small_store), store_content(out)
    for k in got:  # same values; only the root attrs (samples_per_shard) differ
        if k != "attrs":
            assert got[k] == ref[k], k


def test_event_store_with_a_corrupt_recording_reports_what_it_wrote(data_copy, manifest, tmp_path) -> None:
    """Event blocks are written whole: a block holding a broken sample is not written, nor counted."""
    from eventkit.pipeline import convert
    from eventkit.store import open_event_store

    rec = data_copy / "DvsGesture" / "user01_fluorescent.aedat"  # train: shares its block with user02
    good = rec.read_bytes()
    rec.write_bytes(good[: len(good) // 2])
    out = tmp_path / "ev.zarr"
    r = convert(manifest, events=True, from_dir=data_copy, out=out, executor="serial", progress=False)
    assert not r.complete
    assert len(r.failures) == 11 and {f.split for f in r.failures} == {"train"}
    st = open_event_store(out, allow_incomplete=True)
    written = sum(int(st[s].done.sum()) for s in st)
    assert r.converted == written == 11  # the test split only
    rec.write_bytes(good)
    r2 = convert(manifest, events=True, from_dir=data_copy, out=out, executor="serial", progress=False)
    assert r2.complete and r2.converted == 22 and r2.skipped == 11


@pytest.fixture
def slow_cluster(monkeypatch):
    """A LocalCluster of 2 worker processes; every shard task sleeps 0.4 s first (see _slow_tasks)."""
    import logging
    import sys

    import cloudpickle
    from dask.distributed import Client, LocalCluster

    from . import _slow_tasks

    cloudpickle.register_pickle_by_value(_slow_tasks)
    monkeypatch.setattr(sys.modules["eventkit.pipeline.convert"], "convert_shard", _slow_tasks.slow_convert_shard)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.CRITICAL)
    client = Client(cluster)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()
        cloudpickle.unregister_pickle_by_value(_slow_tasks)


def test_a_dask_worker_killed_mid_job_the_job_completes(
    reference_small_store, gestures_data, manifest, tmp_path, slow_cluster
) -> None:
    from eventkit.pipeline import convert

    cluster, client = slow_cluster
    pids = client.run(os.getpid)
    assert len(pids) == 2
    victim = sorted(pids.values())[0]
    out = tmp_path / "dask.zarr"
    killed: dict = {}

    def killer() -> None:
        end = time.monotonic() + 60
        while done_count(out) < 4 and time.monotonic() < end:
            time.sleep(0.02)
        # wait until the victim is inside a task (processing), then kill it there
        while time.monotonic() < end:
            busy = client.run_on_scheduler(
                lambda dask_scheduler: {ws.pid: len(ws.processing) for ws in dask_scheduler.workers.values()}
            )
            if busy.get(victim):
                break
            time.sleep(0.02)
        killed["done_at_kill"] = done_count(out)
        os.kill(victim, signal.SIGKILL)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    with small_shards():
        r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="dask",
                    scheduler=cluster.scheduler_address, progress=False)
    t.join(5)
    assert "done_at_kill" in killed and 4 <= killed["done_at_kill"] < 33, killed
    assert r.complete and not r.failures, r.failures
    assert r.converted == 33
    assert_same_store(reference_small_store, out)


def test_dask_in_an_unguarded_script_says_what_to_do(monkeypatch) -> None:
    """A spawned worker re-running a script without a main guard gets one clear error, not a
    deep Dask traceback."""
    import multiprocessing

    from eventkit.errors import EventkitError
    from eventkit.pipeline.executors import get_executor

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    with pytest.raises(EventkitError, match="__main__"):
        get_executor("dask", workers=1)
