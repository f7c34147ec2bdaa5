"""Run tasks on Dask: a local cluster of processes sized to the machine, or an existing cluster.

Each task is one store shard, so workers never write the same file. A worker lost mid-task (killed,
out of memory) is survived: the scheduler re-runs its tasks on the remaining workers; rewriting a
shard is idempotent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..._extras import require
from ...errors import EventkitError, OptionError, SchedulerUnreachableError

SCHEDULER_TIMEOUT_S = 10.0  # connect timeout for --scheduler (env EVENTKIT_SCHEDULER_TIMEOUT)

_MAIN_GUARD = (
    "could not start local Dask worker processes. Dask starts them with 'spawn', which re-runs "
    "your script: call eventkit.convert(...) under `if __name__ == \"__main__\":`, or pass "
    "executor=\"serial\""
)


class DaskExecutor:
    def __init__(self, *, workers: int | None = None, scheduler: str | None = None) -> None:
        distributed = require("dask.distributed", "cluster", "the Dask executor (--executor dask, --scheduler)")
        Client, LocalCluster = distributed.Client, distributed.LocalCluster

        if scheduler:
            self.cluster = None
            self.client = _connect(Client, scheduler)
            return
        if multiprocessing.parent_process() is not None:
            # We are a worker being spawned and re-running the user's script from the top.
            raise EventkitError(_MAIN_GUARD)
        n = max(1, workers or os.cpu_count() or 1)
        # processes, one thread each: decoders release the GIL but framing and zarr writes
        # are simplest and most predictable with one task per process
        try:
            with _workers_ignore_ctrl_c(), _no_malloc_trim_env():
                self.cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
        except RuntimeError as err:
            raise EventkitError(f"{_MAIN_GUARD} (Dask said: {err})") from None
        self.client = Client(self.cluster)

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        from dask.distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        # every task (shards, spans, synth) tunes malloc first: external workers keep Dask's variable
        futures = self.client.map(functools.partial(_tuned, fn), tasks, pure=False, retries=1)
        owner = {f.key: t for f, t in zip(futures, tasks)}
        for fut in as_completed(futures):
            task = owner[fut.key]
            try:
                yield task, fut.result()
            except Exception as err:
                yield task, err
            finally:
                fut.release()

    def close(self) -> None:
        """Shut the client and the local cluster down, quietly (also after Ctrl-C or an error)."""
        with _quiet_dask():
            try:
                self.client.close()
            finally:
                if self.cluster is not None:
                    self.cluster.close()


def _tuned(fn: Callable[[Any], Any], task: Any) -> Any:
    """Run ``fn(task)`` on a worker after fixing glibc's malloc thresholds (once per process, see .._malloc)."""
    from .._malloc import tune_allocator

    tune_allocator()
    return fn(task)


def _connect(client_cls: Any, scheduler: str) -> Any:
    """A client of the scheduler at ``scheduler``, or one clear error within the connect timeout."""
    timeout = float(os.environ.get("EVENTKIT_SCHEDULER_TIMEOUT", SCHEDULER_TIMEOUT_S))
    try:
        with _quiet_dask():
            return client_cls(scheduler, timeout=f"{timeout}s")
    except ValueError as err:  # malformed address: dask names the problem
        raise OptionError(f"--scheduler (scheduler=) {scheduler!r} is not a Dask scheduler address ({err}); "
                          "give one like tcp://10.0.0.5:8786") from None
    except OSError as err:  # refused, unknown host, timed out (TimeoutError is an OSError)
        raise SchedulerUnreachableError(
            f"no Dask scheduler answers at {scheduler} within {timeout:g} s ({err}); start one there "
            "(`dask scheduler` on that machine, then `dask worker <address>` on each worker), or drop "
            "--scheduler (scheduler=None) to convert on this machine"
        ) from None


# Dask's nanny exports this (distributed.nanny.pre-spawn-environ) into every worker it spawns;
# any malloc threshold switches glibc's dynamic thresholds off, so each large temporary array is
# mmap'ed and faulted in afresh (2x wall time measured). The shard task sets the thresholds
# itself (see .._malloc) for external workers; a local cluster just does not set it.
_NANNY_MALLOC_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


@contextlib.contextmanager
def _no_malloc_trim_env() -> Iterator[None]:
    """Start local workers without the nanny's ``MALLOC_TRIM_THRESHOLD_`` (a user's own export is kept)."""
    import dask

    from .._malloc import enabled

    if not enabled():  # EVENTKIT_MALLOC_TUNE=0: Dask's defaults as they are
        yield
        return
    with dask.config.set({_NANNY_MALLOC_KEY: None}):
        yield


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start the cluster with SIGINT ignored: its worker processes inherit that and never see Ctrl-C.

    Ctrl-C reaches the whole process group: without this every worker prints its own traceback
    while the main process shuts them down anyway. Only an ignored signal survives the exec of a
    spawned worker (a blocked one is unblocked, a handler reset), and Python keeps an inherited
    ignore. The price: a Ctrl-C in the second or two the cluster takes to start is not seen.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be changed in the main thread
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Silence distributed's log lines (connection retries, shutdown noise) for the block."""
    logger = logging.getLogger("distributed")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(old)
