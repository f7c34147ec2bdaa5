"""Dask workers convert at serial speed: no ``MALLOC_TRIM_THRESHOLD_`` penalty (issue 13).

Dask's nanny exports ``MALLOC_TRIM_THRESHOLD_=65536`` into every worker, which makes glibc mmap
and fault in every large temporary array afresh. The local cluster must start without it, and a
shard task must set the allocator thresholds itself so that external workers (which we do not
start) run at the same speed. Speed is checked through minor page faults, a count, not a time.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time

import pytest

from tests.helpers import dask_cluster
from .conftest import FRAMES, PYTHON, assert_same_store, child_env

pytest.importorskip("distributed")

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
needs_glibc = pytest.mark.skipif(not GLIBC, reason="the allocator thresholds are glibc's")

# Allocate and free an 8 MiB array 50 times; return the minor page faults it took. A tuned glibc
# reuses the freed heap (a few hundred faults); with the nanny's variable each array is a fresh
# mmap (hundreds to 2048 faults each, by page size).
PROBE = """
import resource, numpy as np
def probe():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        a = np.ones(1 << 20)
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
"""


def _probe():
    """The probe as a fresh function: cloudpickle sends it by value (workers cannot import tests)."""
    ns: dict = {}
    exec(PROBE, ns)
    return ns["probe"]


def _child_faults(setup: str) -> int:
    """Probe faults in a fresh process started with the nanny's variable, after running ``setup``."""
    code = PROBE + setup + "\nprobe()\nprint(probe())\n"  # the first round warms the heap up
    env = {**child_env(), "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


@needs_glibc
def test_tune_allocator_undoes_the_nanny_variable() -> None:
    untuned = _child_faults("")
    tuned = _child_faults("from eventkit.pipeline._malloc import tune_allocator\nassert tune_allocator()")
    assert untuned > 5_000  # the variable's penalty is real in this environment
    assert tuned * 10 < untuned


@needs_glibc
def test_serial_conversion_tunes_its_process(gestures_data, tmp_path) -> None:
    """The shard task itself sets the thresholds: a serial run in a process with the variable is fast too."""
    untuned = _child_faults("")
    after = _child_faults("from eventkit.pipeline import convert\n"
                          f"r = convert('synthetic-gestures', frames={FRAMES}, from_dir={str(gestures_data)!r}, "
                          f"out={str(tmp_path / 'x.zarr')!r}, executor='serial', progress=False)\n"
                          "assert r.complete and not r.failures")  # fmt: skip
    assert after * 10 < untuned


def test_tune_allocator_is_a_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventkit.pipeline import _malloc

    monkeypatch.setattr(_malloc, "_done", None)
    monkeypatch.setattr(_malloc.sys, "platform", "darwin")
    assert _malloc.tune_allocator() is False
    monkeypatch.setattr(_malloc.sys, "platform", "linux")
    assert _malloc.tune_allocator() is False  # tried once per process: not again


def test_local_cluster_workers_start_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventkit.pipeline.executors.dask import DaskExecutor

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    ex = DaskExecutor(workers=1)
    try:
        seen = ex.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    finally:
        ex.close()
    assert list(seen.values()) == [None]
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # the nanny sets it in its own process too


def _wait_for_workers(client, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(client.scheduler_info()["workers"]) < n:
        assert time.monotonic() < deadline, "dask worker did not join"
        time.sleep(0.1)


@needs_glibc
# Slow, and not in the default run: on a fresh CI clone the external worker once showed no penalty
# before any task (250 faults: an untuned baseline we cannot reproduce on demand), so the default
# suite keeps the deterministic checks above and this end-to-end one runs with -m slow.
@pytest.mark.slow
def test_external_worker_task_sets_the_allocator_itself(gestures_data, manifest, reference_store, tmp_path) -> None:
    """An external ``dask worker`` keeps the nanny's variable; every task undoes its effect first."""
    from dask.distributed import Client

    from eventkit.pipeline import convert
    from eventkit.pipeline.executors.dask import DaskExecutor

    env = child_env()
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask_cluster.cluster(tmp_path, env, worker_env=env) as (addr, _):
        with Client(addr, timeout="30s") as client:
            _wait_for_workers(client, 1)
            assert list(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == ["65536"]
            before = list(client.run(_probe()).values())[0]
            # any task sent through the executor (not only shard conversion) runs tuned
            ex = DaskExecutor(scheduler=addr)
            try:
                [(_, tuned)] = list(ex.map_unordered(lambda _task, p=_probe(): (p(), p())[1], [0]))
            finally:
                ex.close()
            out = tmp_path / "ext.zarr"
            r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="dask",
                        scheduler=addr, progress=False)  # fmt: skip
    assert r.complete and not r.failures
    assert_same_store(reference_store, out)
    if before <= 5_000:  # this worker shows no penalty to undo: nothing to compare against
        pytest.skip(f"the external worker's untuned baseline was only {before} faults")
    assert tuned * 10 < before  # the worker's environment slowed it down, not once a task has run in it


def test_opt_out_leaves_the_allocator_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """``EVENTKIT_MALLOC_TUNE=0``: no mallopt call (users who tune malloc themselves keep their values)."""
    from eventkit.pipeline import _malloc

    monkeypatch.setattr(_malloc, "_done", None)
    monkeypatch.setenv("EVENTKIT_MALLOC_TUNE", "0")
    monkeypatch.setattr(_malloc, "_apply", lambda: pytest.fail("mallopt called despite EVENTKIT_MALLOC_TUNE=0"))
    assert _malloc.tune_allocator() is False
