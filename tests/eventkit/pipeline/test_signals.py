"""SIGTERM (a batch system's kill) and SIGINT release the lock and leave a resumable store; pre-flight paths.

The signal tests run the real ``eventkit convert`` command in a child process (slowed down per
shard, see ``_signal_child.py``), send a real signal once some shards are written, then re-run
the same command and compare the store with an uninterrupted conversion.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import FRAMES, HERE, PYTHON, assert_same_store, child_env, done_count, small_shards

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _start(data: Path, out: Path, sleep_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, str(HERE / "_signal_child.py"), str(data), str(out), str(sleep_s)],
        env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _cli(args: list[str]):
    from click.testing import CliRunner

    from cli.eventkit_cli import main

    return CliRunner().invoke(main, args)


def _wait_for(cond, timeout: float, what: str, proc: subprocess.Popen) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"child exited ({proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.parametrize(("sig", "status", "prefix"), [(signal.SIGTERM, 143, "Aborted (SIGTERM): "),
                                                       (signal.SIGINT, 130, "Aborted: ")])  # fmt: skip
def test_a_signal_mid_convert_releases_the_lock_and_the_rerun_resumes(
    sig, status, prefix, reference_small_store, gestures_data, tmp_path
) -> None:
    out = tmp_path / "signalled.zarr"
    lock = out.with_name(out.name + ".lock")
    child = _start(gestures_data, out, 0.15)
    try:
        _wait_for(lambda: done_count(out) >= 4, 60, "4 samples written", child)
        assert lock.exists()
        child.send_signal(sig)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == status, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    aborted = [ln for ln in stderr.splitlines() if "Aborted" in ln]
    assert len(aborted) == 1 and aborted[0].startswith(prefix) and "re-run the same command" in aborted[0], stderr
    assert not lock.exists(), "the lock must be released on the way out"
    n_done = done_count(out)
    assert 4 <= n_done < 33, "the signal must land mid-job"

    with small_shards():  # the same command again (in this process: the child only adds the sleep)
        res = _cli(["convert", "synthetic-gestures", "--frames", str(FRAMES), "--from", str(gestures_data),
                    "--out", str(out), "--executor", "serial", "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    already = int(res.stdout.split("already there ")[1].split()[0])
    assert n_done - 2 <= already < 33  # at most the shard being written when the signal came is redone
    assert not lock.exists()
    assert_same_store(reference_small_store, out)


def test_the_library_call_restores_the_sigterm_handler(gestures_data, manifest, tmp_path) -> None:
    from eventkit.pipeline import convert

    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def mine(signum, frame):  # a program's own handler must be neither replaced nor lost
        seen.append(signum)

    signal.signal(signal.SIGTERM, mine)
    try:
        with small_shards():
            r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=tmp_path / "a.zarr", executor="serial",
                        progress=False)  # fmt: skip
        assert r.complete and signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)
    assert signal.getsignal(signal.SIGTERM) is before


def test_task_specs_carry_absolute_paths(gestures_data, manifest, tmp_path, monkeypatch) -> None:
    """Relative --from/--out are resolved here: a worker started in another directory sees the same files."""
    from eventkit.pipeline import convert

    conv = sys.modules["eventkit.pipeline.convert"]
    seen: list = []
    real = conv.run_conversion

    def spy(ex, fn, tasks, *args, **kwargs):
        seen.extend(tasks)
        return real(ex, fn, tasks, *args, **kwargs)

    monkeypatch.setattr(conv, "run_conversion", spy)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    rel_from = os.path.relpath(gestures_data, work)
    r = convert(manifest, frames=FRAMES, from_dir=rel_from, out="rel/frames.zarr", executor="serial", progress=False)
    assert r.complete and seen
    for task in seen:
        assert task.store_path.is_absolute() and task.store_path == work / "rel" / "frames.zarr"
        for _, sample in task.samples:
            assert Path(sample.source).is_absolute(), sample.source
            assert Path(sample.source).is_relative_to(gestures_data)
    assert r.store.is_absolute()


@pytest.mark.parametrize(("option", "url"), [("--out", "s3://bucket/x.zarr"), ("--root", "gs://b/data")])
def test_an_object_store_url_is_refused_with_one_error(option, url, gestures_data, tmp_path, monkeypatch) -> None:
    """--root must be local; --out may be an object store (tests/eventkit/store/test_object_store.py),
    and one that cannot be reached is one error line too. Neither creates a local folder ./s3:/..."""
    monkeypatch.chdir(tmp_path)  # where the URL used to become a local folder ./s3:/bucket/x.zarr
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("EVENTKIT_STORAGE_OPTIONS", '{"config_kwargs": {"retries": {"max_attempts": 1}}}')
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, "testing")
    pytest.importorskip("s3fs")
    args = ["convert", "synthetic-gestures", "--frames", "8", "--executor", "serial", "--quiet", option, url]
    if option == "--out":
        args += ["--from", str(gestures_data)]
    res = _cli(args)
    assert res.exit_code == 1, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    if option == "--root":
        assert "must be a local or shared-filesystem folder, not a URL" in lines[0] and url in lines[0]
    else:
        assert "cannot check on the object store at http://127.0.0.1:9" in lines[0] and url in lines[0]
    assert list(tmp_path.iterdir()) == [], "nothing may be created for a URL"


def test_sigterm_during_the_library_call_releases_the_lock(gestures_data, tmp_path) -> None:
    """A Python program calling ``eventkit.convert`` (no handler of its own) is unwound too, not killed."""
    out = tmp_path / "lib.zarr"
    lock = out.with_name(out.name + ".lock")
    child = subprocess.Popen([PYTHON, str(HERE / "_convert_child.py"), str(gestures_data), str(out), "0.15"],
                             env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for(lambda: done_count(out) >= 4, 60, "4 samples written", child)
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != -signal.SIGTERM, "the default SIGTERM action ran: no clean-up"
    assert "Terminated" in stderr  # the program did not catch it: Python reports the interrupt
    assert not lock.exists()
    assert 4 <= done_count(out) < 33


def test_a_sigterm_while_a_cluster_starts_is_held_back_until_it_has_started() -> None:
    from eventkit._signals import Terminated, deferred_sigterm, sigterm_as_interrupt

    reached = []
    with pytest.raises(Terminated), sigterm_as_interrupt():
        with deferred_sigterm():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # let the handler run: it must only take note
            reached.append("end of the step")
        reached.append("after the step")  # pragma: no cover - the held-back SIGTERM is raised first
    assert reached == ["end of the step"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.slow
def test_sigterm_with_the_dask_executor_exits_cleanly_and_resumes(reference_store, gestures_data, tmp_path) -> None:
    """SIGTERM while the local cluster starts (a cluster cut off half-started used to fail its own exit hook)."""
    out = tmp_path / "dask.zarr"
    lock = out.with_name(out.name + ".lock")
    cmd = ["convert", "synthetic-gestures", "--frames", str(FRAMES), "--from", str(gestures_data), "--out", str(out),
           "--quiet"]  # fmt: skip
    child = subprocess.Popen([PYTHON, "-m", "eventkit", *cmd, "--executor", "dask", "--workers", "2"],
                             env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for(lock.exists, 60, "the store to be locked", child)
        time.sleep(0.5)
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if "store: " in stdout:
        pytest.skip("the conversion finished before the signal came")
    assert child.returncode == 143, stderr[-3000:]
    assert stderr.strip().splitlines() == [stderr.strip().splitlines()[0]] and stderr.startswith("Aborted (SIGTERM): ")
    assert not lock.exists()
    res = _cli([*cmd, "--executor", "serial"])
    assert res.exit_code == 0, res.output
    assert_same_store(reference_store, out)
