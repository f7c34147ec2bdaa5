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
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..._extras import require
from ...errors import EventkitError, OptionError, SchedulerUnreachableError
from . import ClusterError, SchedulerLostError, _probe

SCHEDULER_TIMEOUT_S = 10.0  # connect timeout for --scheduler (env EVENTKIT_SCHEDULER_TIMEOUT)
WORKER_TIMEOUT_S = 60.0  # --scheduler: wait for a first worker, and for each worker's probe (env EVENTKIT_WORKER_TIMEOUT)

log = logging.getLogger("eventkit")

_MAIN_GUARD = (
    "could not start local Dask worker processes. Dask starts them with 'spawn', which re-runs "
    "your script: call eventkit.convert(...) under `if __name__ == \"__main__\":`, or pass "
    "executor=\"serial\""
)


class DaskExecutor:
    def __init__(self, *, workers: int | None = None, scheduler: str | None = None) -> None:
        distributed = require("dask.distributed", "cluster", "the Dask executor (--executor dask, --scheduler)")
        Client, LocalCluster = distributed.Client, distributed.LocalCluster

        self._probed = False
        if scheduler:
            self.cluster = None
            self.client = _connect(Client, scheduler)
            self.address = scheduler
            try:
                _wait_for_workers(self.client, scheduler)
            except BaseException:
                self.close()
                raise
            _note_dashboard(self.client, check=True)
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
        self.address = self.cluster.scheduler_address
        self._probed = True  # local workers share this process's install and filesystem
        _note_dashboard(self.client)

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Run ``fn`` on every task; the first call checks every worker first (see :meth:`preflight`).

        Raises
        ------
        SchedulerLostError
            The scheduler went away mid-run (its futures are cancelled): not reported per task.
        """
        from dask.distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        if not self._probed:
            self.preflight(*_task_dirs(tasks))
        # every task (shards, spans, synth) tunes malloc first: external workers keep Dask's variable
        futures = self.client.map(functools.partial(_tuned, fn), tasks, pure=False, retries=1)
        owner = {f.key: t for f, t in zip(futures, tasks)}
        for fut in as_completed(futures):
            task = owner[fut.key]
            try:
                result = fut.result()
            except Exception as err:
                if _connection_lost(fut, err, self.client):
                    raise SchedulerLostError(self.address) from None
                result = err
            finally:
                fut.release()
            yield task, result

    def preflight(self, read_dirs: Iterable[str], write_dirs: Iterable[str]) -> None:
        """Check every worker once: eventkit imports at this version, the folders are visible and writable.

        Parameters
        ----------
        read_dirs, write_dirs
            Absolute folders every worker must list (the input) and write into (the store).

        Raises
        ------
        ClusterError
            One line naming each worker that failed and what it lacks.
        """
        from ... import __version__

        read_dirs, write_dirs = sorted(set(read_dirs)), sorted(set(write_dirs))
        timeout = _worker_timeout()
        answers = _probe_workers(self.client, read_dirs, write_dirs, timeout)
        problems = [p for addr, ans in sorted(answers.items()) for p in _problems(addr, ans, __version__, timeout)]
        if problems:
            more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
            raise ClusterError("; ".join(problems[:3]) + more)
        self._probed = True

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


def _worker_timeout() -> float:
    return float(os.environ.get("EVENTKIT_WORKER_TIMEOUT", WORKER_TIMEOUT_S))


def _wait_for_workers(client: Any, scheduler: str) -> None:
    """Return once a worker has joined ``scheduler``; else one clear error after the worker timeout."""
    timeout = _worker_timeout()
    try:
        with _quiet_dask():
            client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:  # dask raises the builtin (an asyncio/dask TimeoutError is one)
        raise ClusterError(
            f"no Dask worker joined {scheduler} within {timeout:g} s; start workers with `dask worker {scheduler}` "
            "(each needs eventkit installed and the data paths mounted) or drop --scheduler (scheduler=None); "
            "EVENTKIT_WORKER_TIMEOUT sets the wait in seconds"
        ) from None


def _note_dashboard(client: Any, *, check: bool = False) -> None:
    """One INFO line with the dashboard's address (shown by the CLI unless --quiet).

    ``check``: ask the link first (an external scheduler started with ``--no-dashboard`` still
    reports its HTTP server as the dashboard, where ``/status`` is a 404).
    """
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return  # no HTTP server at all
        link = client.dashboard_link
    except Exception:  # no dashboard (bokeh missing on the scheduler): nothing to show
        return
    if link and check:
        import requests

        try:
            with requests.get(link, timeout=2, stream=True) as reply:
                if not reply.ok:
                    return
        except requests.RequestException:
            return
    if link:
        log.info("Dask dashboard: %s", link, extra={"executor_note": True})


def _task_dirs(tasks: list[Any]) -> tuple[set[str], set[str]]:
    """The input folder (common parent of the samples' files) and the store folders the tasks use.

    Tasks are shard tasks (``.store_path``, ``.samples`` of ``(index, sample)``) or ``(manifest,
    [sample, ...])`` span jobs; anything else adds nothing to check.
    """
    sources: set[str] = set()
    stores: set[str] = set()
    for task in tasks:
        store = getattr(task, "store_path", None)
        if store is not None and hasattr(store, "protocol"):  # an object store (RemotePath): its URL is probed
            stores.add(str(store))
        elif store is not None:
            store = os.fspath(store)
            stores.add(store if os.path.isdir(store) else os.path.dirname(store))
        samples = [s for _, s in getattr(task, "samples", ())]
        if isinstance(task, tuple):
            samples += [s for part in task if isinstance(part, list) for s in part]
        for s in samples:
            src = getattr(s, "source", None)
            if src is not None and os.path.isabs(os.fspath(src)):
                sources.add(os.path.dirname(os.fspath(src)))
    read = {os.path.commonpath(sorted(sources))} if sources else set()
    return read, stores


def _probe_workers(client: Any, read_dirs: list[str], write_dirs: list[str], timeout: float) -> dict[str, Any]:
    """Each worker's probe answer, its error, or None where it did not answer within ``timeout``."""
    import concurrent.futures as cf

    import cloudpickle

    cloudpickle.register_pickle_by_value(_probe)  # sent as code: workers without eventkit can run it
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    pool = cf.ThreadPoolExecutor(max(1, min(len(workers), 16)))
    jobs = {w: pool.submit(client.run, _probe.probe, read_dirs, write_dirs, workers=[w], on_error="return")
            for w in workers}
    answers: dict[str, Any] = {}
    with _quiet_dask():
        done, _ = cf.wait(list(jobs.values()), timeout=timeout)
        for w, job in jobs.items():
            if job not in done:
                answers[w] = None
                continue
            try:
                answers[w] = job.result().get(w)
            except Exception as err:  # the worker left or broke mid-probe
                answers[w] = err
    pool.shutdown(wait=False, cancel_futures=True)
    return answers


def _problems(worker: str, answer: Any, version: str, timeout: float) -> list[str]:
    """What ``worker`` lacks, in words (empty when it is ready)."""
    if answer is None:
        return [f"worker {worker} did not answer the pre-flight check within {timeout:g} s: see its log "
                "(EVENTKIT_WORKER_TIMEOUT sets the wait in seconds)"]
    if isinstance(answer, BaseException) or not isinstance(answer, dict):
        return [f"worker {worker} failed the pre-flight check ({type(answer).__name__}: {answer}): see its log"]
    if answer["import_error"]:
        return [f"worker {worker} cannot import eventkit ({answer['import_error']}): install eventkit {version} "
                "in the environment that runs `dask worker` there"]
    out = []
    if answer["version"] != version:
        out.append(f"worker {worker} runs eventkit {answer['version']}, this process {version}: install the same "
                   "version on every worker")
    out += [f"worker {worker} cannot see {d}: mount the shared filesystem there (workers need the input and "
            "the store at the same absolute paths)" for d in answer["missing"]]
    out += [f"worker {worker} cannot write to {d}: give the worker's user write permission there"
            for d in answer["unwritable"]]
    out += [f"worker {worker} cannot use the object store: {p} (set the same AWS_* / EVENTKIT_STORAGE_OPTIONS "
            f"variables there)" for p in answer.get("object_store", [])]
    return out


def _connection_lost(fut: Any, err: BaseException, client: Any) -> bool:
    """Whether ``fut`` failed because the scheduler went away rather than because its task raised."""
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError

    if getattr(fut, "status", None) == "cancelled" or isinstance(err, (CancelledError, CommClosedError)):
        return True
    # an OSError raised by the task itself (a full disk) arrives with status "error" and a running client
    return isinstance(err, OSError) and getattr(client, "status", "running") != "running"


def _note_version_mismatch(table: str) -> None:
    """distributed's package-version table, folded into one note line (the worker probe reports
    what actually stops a conversion, such as eventkit missing on a worker)."""
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and len(cells) == 4 and cells[0] != "Package":
            rows.append(f"{cells[0]} (here {cells[1]}, scheduler {cells[2]}, workers {cells[3]})")
    if rows:
        log.info("Note: package versions differ between this process and the Dask cluster: %s", ", ".join(rows),
                 extra={"executor_note": True})


def _connect(client_cls: Any, scheduler: str) -> Any:
    """A client of the scheduler at ``scheduler``, or one clear error within the connect timeout."""
    timeout = float(os.environ.get("EVENTKIT_SCHEDULER_TIMEOUT", SCHEDULER_TIMEOUT_S))
    try:
        with _quiet_dask(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = client_cls(scheduler, timeout=f"{timeout}s")
        for w in caught:
            if type(w.message).__name__ == "VersionMismatchWarning":
                _note_version_mismatch(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return client
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
    # distributed's config gives some children their own level (distributed.client: warning)
    names = ["distributed"] + [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    loggers = [logging.getLogger(n) for n in names]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, old):
            lg.setLevel(level)
