"""The writer lock: a dead owner on this host is taken over, a live one refused, another host's explained."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from eventkit.store._lock import WriterLock, _start_ticks
from eventkit.store.errors import StoreLockedError


def _lock(tmp_path: Path) -> WriterLock:
    return WriterLock(tmp_path / "s.zarr.lock", tmp_path / "s.zarr")


def _write_owner(lock: WriterLock, **owner: object) -> None:
    lock.path.write_text(json.dumps(owner))


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped (a zombie would still answer kill(pid, 0))."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_the_lock_records_pid_host_and_start_time(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    lock.acquire()
    owner = json.loads(lock.path.read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    if sys.platform.startswith("linux"):
        assert isinstance(owner["start"], int) and owner["start"] == _start_ticks(os.getpid())
    lock.release()
    assert not lock.path.exists()


def test_a_dead_owner_on_this_host_is_taken_over_with_a_note(tmp_path: Path, caplog) -> None:
    lock = _lock(tmp_path)
    dead = _dead_pid()
    _write_owner(lock, pid=dead, host=socket.gethostname(), since=0.0, start=1)
    with caplog.at_level(logging.WARNING, logger="eventkit"):
        lock.acquire()
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    notes = [r.getMessage() for r in caplog.records if "taking over" in r.getMessage()]
    assert len(notes) == 1 and f"process {dead} on host {socket.gethostname()}" in notes[0]
    assert str(lock.path) in notes[0]
    lock.release()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc for process start times")
def test_a_reused_pid_with_another_start_time_is_taken_over(tmp_path: Path) -> None:
    # our own (live) pid, but recorded with a start time it never had: a process that died and
    # whose pid was handed to a newer one
    lock = _lock(tmp_path)
    _write_owner(lock, pid=os.getpid(), host=socket.gethostname(), start=_start_ticks(os.getpid()) + 1)
    lock.acquire()
    assert json.loads(lock.path.read_text())["start"] == _start_ticks(os.getpid())
    lock.release()


def test_a_live_owner_on_this_host_is_refused(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_owner(lock, pid=live.pid, host=socket.gethostname(), start=_start_ticks(live.pid))
        with pytest.raises(StoreLockedError) as exc:
            lock.acquire()
    finally:
        live.kill()
        live.wait()
    msg = str(exc.value)
    assert f"process {live.pid} on host {socket.gethostname()}" in msg and str(lock.path) in msg
    assert "still running on this host" in msg
    assert json.loads(lock.path.read_text())["pid"] == live.pid  # the owner's lock is untouched


def test_a_lock_from_another_host_is_explained_not_taken(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    _write_owner(lock, pid=_dead_pid(), host="node-017.cluster", start=1)
    with pytest.raises(StoreLockedError) as exc:
        lock.acquire()
    msg = str(exc.value)
    assert "node-017.cluster" in msg
    assert f"if you are sure no job on node-017.cluster still writes this store, delete the lock file {lock.path}" in msg
    assert json.loads(lock.path.read_text())["host"] == "node-017.cluster"


@pytest.mark.parametrize("content", ['{"pid": "x", "host": "%s"}', '{"host": "%s"}'])
def test_a_damaged_owner_on_this_host_is_taken_over(tmp_path: Path, content: str) -> None:
    lock = _lock(tmp_path)
    lock.path.write_text(content % socket.gethostname())
    lock.acquire()
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()


def test_a_takeover_never_deletes_the_fresh_lock_of_a_writer_that_took_over_first(tmp_path: Path, monkeypatch) -> None:
    # Two writers judged the same stale lock; the other one was faster and now holds a fresh lock
    # (simulated: the file holds a live owner, while this writer's read still saw the dead one).
    lock = _lock(tmp_path)
    stale = json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}).encode()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fresh = json.dumps({"pid": live.pid, "host": socket.gethostname(), "start": _start_ticks(live.pid)})
        lock.path.write_text(fresh)
        reads = iter([stale])
        real = WriterLock._read_raw
        monkeypatch.setattr(WriterLock, "_read_raw", lambda self: next(reads, None) or real(self))
        with pytest.raises(StoreLockedError, match=f"process {live.pid} on host"):
            lock.acquire()
    finally:
        live.kill()
        live.wait()
    assert lock.path.read_text() == fresh  # put back, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [lock.path.name]  # nothing left aside
