"""A real ``dask scheduler`` (and workers) as subprocesses on 127.0.0.1, for tests that need one."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

DASK = os.path.join(os.path.dirname(sys.executable), "dask")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*args: str, env: dict, cwd: Path, dashboard: bool = False) -> subprocess.Popen:
    """``dask <args> --no-dashboard`` (or with a dashboard on a free port), quiet."""
    board = ["--dashboard-address", f"127.0.0.1:{free_port()}"] if dashboard else ["--no-dashboard"]
    return subprocess.Popen([DASK, *args, *board], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def stop(procs: list[subprocess.Popen]) -> None:
    """Terminate (workers first), then kill what does not exit within 20 s."""
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextlib.contextmanager
def cluster(cwd: Path, env: dict, worker_env: dict | None = None,
            dashboard: bool = False) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler (``dashboard``: with one) and, with ``worker_env``, one single-threaded worker;
    yields (address, processes)."""
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = [start("scheduler", "--host", "127.0.0.1", "--port", str(port), env=env, cwd=cwd, dashboard=dashboard)]
    try:
        if worker_env is not None:
            procs.append(start("worker", addr, "--nworkers", "1", "--nthreads", "1", env=worker_env, cwd=cwd))
        yield addr, procs
    finally:
        stop(procs)
