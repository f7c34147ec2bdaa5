"""Executors run a function over tasks and yield results as they finish: ``serial`` or ``dask``.

Like rechunker's executors, the plan is data and the executor only decides where it runs. Dask is
imported only by the dask executor. ``"auto"`` (:func:`choose_executor`) picks one of the two from
the size of the job and the machine. Workers started as batch jobs (SLURM, PBS, SGE, LSF) come from
:func:`.jobqueue.jobqueue_cluster`, which yields a scheduler address for the dask executor.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from ..._extras import install_hint
from ...errors import EventkitError, OptionError

__all__ = ["AUTO_MIN_SAMPLES", "EXECUTORS", "ClusterError", "DeferredScheduler", "Executor", "LazyExecutor",
           "SchedulerLostError", "choose_executor", "get_executor"]

log = logging.getLogger("eventkit")

EXECUTORS = ("auto", "serial", "dask")
# Below this many samples a local Dask cluster costs more to start (seconds, one process per core)
# than it saves; measured on 176 synthetic-gestures samples: dask 6.6 s, serial 2.5 s on 2 cores.
AUTO_MIN_SAMPLES = 500
AUTO_MIN_CORES = 3


class ClusterError(EventkitError):
    """The Dask cluster cannot run the job: no worker joined, or a worker lacks eventkit or the data paths."""


class SchedulerLostError(ClusterError, ConnectionError):
    """The connection to the Dask scheduler was lost mid-run (not a sample's fault: re-running resumes)."""

    def __init__(self, scheduler: str, message: str | None = None) -> None:
        self.scheduler = scheduler
        super().__init__(message or f"lost the Dask scheduler {scheduler}; re-run the same command to resume")


class Executor(Protocol):
    """Runs ``fn`` on every task; yields ``(task, result)`` or ``(task, exception)`` as they finish."""

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]: ...

    def close(self) -> None: ...


def _check_name(name: str) -> None:
    if name not in EXECUTORS:
        raise OptionError(f"unknown executor {name!r}: --executor (executor=) is one of {', '.join(EXECUTORS)}")


def choose_executor(name: str, n_samples: int, *, scheduler: str | None = None,
                    cores: int | None = None) -> tuple[str, str]:
    """Resolve ``"auto"`` to ``"serial"`` or ``"dask"``, with the reason in words.

    Parameters
    ----------
    name
        ``"auto"``, ``"serial"`` or ``"dask"`` (the last two are returned as they are).
    n_samples
        Samples the job has to convert.
    scheduler
        An external Dask scheduler's address: then always ``"dask"``.
    cores
        CPU cores (default: those this process may use).

    Returns
    -------
    tuple of str
        The executor and why it was chosen.
    """
    _check_name(name)
    if name != "auto":
        return name, "as asked"
    if scheduler:
        return "dask", f"the Dask scheduler at {scheduler}"  # without Dask: MissingExtraError names the extra
    cores = cores if cores is not None else _cores()
    if cores < AUTO_MIN_CORES:
        return "serial", f"{cores} CPU core(s): worker processes would only compete for them"
    if n_samples < AUTO_MIN_SAMPLES:
        return "serial", (f"{n_samples} samples to convert, fewer than {AUTO_MIN_SAMPLES}: starting a local Dask "
                          f"cluster would take longer than it saves")
    if importlib.util.find_spec("distributed") is None:  # a base install: no Dask
        return "serial", f"Dask is not installed ({install_hint('cluster')} to convert on all {cores} cores)"
    return "dask", f"{n_samples} samples on {cores} CPU cores"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_executor(name: str, *, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """Build an executor by name.

    Parameters
    ----------
    name
        ``"serial"`` (this process) or ``"dask"`` (a local cluster of processes, or the cluster
        at ``scheduler``). Resolve ``"auto"`` with :func:`choose_executor` first.
    workers
        Local Dask worker processes (default: one per CPU core).
    scheduler
        Address of an existing Dask scheduler, e.g. ``tcp://10.0.0.5:8786``.
    """
    _check_name(name)
    if name == "serial":
        if scheduler:
            raise OptionError("--scheduler (scheduler=) needs the dask executor: drop --executor serial "
                              "(executor='serial') or drop --scheduler")
        from .serial import SerialExecutor

        return SerialExecutor()
    if name == "dask":
        from .dask import DaskExecutor

        return DaskExecutor(workers=workers, scheduler=scheduler)
    raise OptionError("executor 'auto' must be resolved with choose_executor() before get_executor()")


class DeferredScheduler:
    """A Dask scheduler started only when a job has work for it (``--cluster``: batch jobs cost queue time).

    Give it to :class:`LazyExecutor` as ``scheduler``: calling it starts the cluster (``start``,
    once) and returns its address; a store already complete never calls it, so no job is submitted.

    Parameters
    ----------
    start
        Starts the cluster and returns its scheduler's address; its owner shuts the cluster down.
    what
        The cluster in words, for messages (e.g. ``"--cluster slurm"``).
    """

    def __init__(self, start: Callable[[], str], what: str) -> None:
        self._start, self.what = start, what
        self.address: str | None = None

    def __call__(self) -> str:
        if self.address is None:
            self.address = self._start()
        return self.address

    def __str__(self) -> str:
        return self.address or self.what


class LazyExecutor:
    """An executor started on its first non-empty batch of tasks: a job with nothing left to do starts no cluster.

    With ``scheduler`` it connects at once, so an unreachable scheduler is reported before anything is written;
    a :class:`DeferredScheduler` is started (and connected to) only with the first batch of tasks.

    Parameters
    ----------
    name
        ``"auto"``, ``"serial"`` or ``"dask"``.
    workers, scheduler
        As for :func:`get_executor`.
    note
        Log the chosen executor and why (one INFO line on the ``eventkit`` logger).
    """

    def __init__(self, name: str, *, workers: int | None = None, scheduler: str | DeferredScheduler | None = None,
                 note: bool = True) -> None:
        _check_name(name)
        if name == "serial" and scheduler:
            get_executor(name, scheduler=scheduler)  # raises the option error now, before any work
        self.name, self.workers, self.scheduler, self.note = name, workers, scheduler, note
        self.chosen: str | None = None
        self._ex: Executor | None = None
        if scheduler and not isinstance(scheduler, DeferredScheduler):
            self.start(0)  # connecting to a running cluster is cheap: fail now, before any store is created

    def start(self, n_samples: int) -> Executor:
        """Choose (``"auto"``: from ``n_samples``, the samples the job converts) and start the executor, once."""
        if self._ex is not None:
            return self._ex
        scheduler = self.scheduler() if isinstance(self.scheduler, DeferredScheduler) else self.scheduler
        self.chosen, why = choose_executor(self.name, n_samples, scheduler=scheduler)
        if self.note and self.name == "auto":
            log.info("executor: %s (%s; --executor serial|dask to choose)", self.chosen, why,
                     extra={"executor_note": True})
        self._ex = get_executor(self.chosen, workers=self.workers, scheduler=scheduler)
        return self._ex

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any],
                      n_samples: int | None = None) -> Iterator[tuple[Any, Any]]:
        """As :meth:`Executor.map_unordered`, starting the executor (sized by ``n_samples``, default the tasks)."""
        tasks = list(tasks)
        if not tasks:
            return iter(())
        return self.start(len(tasks) if n_samples is None else n_samples).map_unordered(fn, tasks)

    def close(self) -> None:
        if self._ex is not None:
            self._ex.close()
