"""Dask workers as batch jobs (SLURM, PBS, SGE, LSF) through dask-jobqueue, for the length of one run.

:func:`jobqueue_cluster` starts a scheduler in this process, submits ``jobs`` batch jobs that
each run Dask workers pointed at it, waits for the first worker, and yields the scheduler's
address: the conversion then runs as with ``--scheduler`` (same pre-flight probe, same errors).
A job that ends mid-run (its time limit) is replaced, so the run never waits on no jobs at all.
On the way out (success, error, Ctrl-C, SIGTERM) every job is cancelled, falling back to the batch
system's cancel command itself when the cluster cannot close.

Dask and dask-jobqueue are imported only when a cluster is started; the option checks
(:func:`parse_walltime`, :func:`parse_memory`, :func:`check_spec`) need neither.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..._extras import require
from ..._signals import deferred_sigterm
from ...errors import OptionError
from . import ClusterError

__all__ = ["SYSTEMS", "JobSpec", "check_spec", "cluster_kwargs", "jobqueue_cluster", "parse_memory",
           "parse_walltime"]

log = logging.getLogger("eventkit")


@dataclass(frozen=True)
class _System:
    title: str
    cluster_class: str  # in dask_jobqueue
    submit: str
    cancel: str
    status: str  # the command a user runs to see their jobs
    account_key: str  # the keyword dask-jobqueue takes the account (project) under


SYSTEMS: dict[str, _System] = {
    "slurm": _System("SLURM", "SLURMCluster", "sbatch", "scancel", "squeue -u $USER", "account"),
    "pbs": _System("PBS", "PBSCluster", "qsub", "qdel", "qstat -u $USER", "account"),
    "sge": _System("SGE", "SGECluster", "qsub", "qdel", "qstat -u $USER", "project"),
    "lsf": _System("LSF", "LSFCluster", "bsub", "bkill", "bjobs", "project"),
}

FIRST_WORKER_TIMEOUT_S = 600.0  # batch queues take minutes; EVENTKIT_WORKER_TIMEOUT overrides
CLOSE_TIMEOUT_S = 60.0  # closing the cluster (retire workers, cancel jobs); then the cancel command directly
CANCEL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class JobSpec:
    """What to ask the batch system for: ``jobs`` jobs of ``cores`` cores and ``memory`` each.

    ``None`` leaves a setting to the Dask configuration (``jobqueue.<system>.*`` in
    ``~/.config/dask/jobqueue.yaml``), then to dask-jobqueue's default.

    Parameters
    ----------
    system
        ``"slurm"``, ``"pbs"``, ``"sge"`` or ``"lsf"``.
    jobs
        Batch jobs to submit; each runs ``cores`` single-threaded worker processes.
    cores, memory
        Per job; ``memory`` like ``"16GB"`` or ``"4GiB"``, shared by the job's worker processes.
    walltime
        Per job, ``HH:MM:SS``.
    queue, account
        The queue (SLURM partition) and the account (SGE/LSF: project) to charge.
    job_extra
        Further directives for the job script's header, e.g. ``"--constraint=avx2"`` (SLURM).
    prologue
        Shell lines run before the worker starts, e.g. ``"source /shared/venv/bin/activate"``.
    interface
        Network interface of the scheduler and workers, e.g. ``"ib0"``.
    local_directory
        Node-local scratch folder for the workers, e.g. ``"$TMPDIR"``.
    log_directory
        Where the jobs write their output (default: the batch system's own default).
    """

    system: str
    jobs: int = 1
    cores: int | None = None
    memory: str | None = None
    walltime: str | None = None
    queue: str | None = None
    account: str | None = None
    job_extra: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()
    interface: str | None = None
    local_directory: str | None = None
    log_directory: str | None = None


_WALLTIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
_MEMORY = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp])(i?)b?", re.I)


def parse_walltime(text: str) -> int:
    """Seconds in a ``HH:MM:SS`` walltime (hours may exceed 24).

    Raises
    ------
    OptionError
        Not ``HH:MM:SS``, or zero.
    """
    m = _WALLTIME.fullmatch(text.strip())
    if not m:
        raise OptionError(f"--walltime {text!r} is not HH:MM:SS (e.g. 01:30:00 for an hour and a half)")
    h, mi, s = map(int, m.groups())
    seconds = 3600 * h + 60 * mi + s
    if seconds == 0:
        raise OptionError("--walltime 00:00:00 gives the jobs no time: give HH:MM:SS, e.g. 01:00:00")
    return seconds


def parse_memory(text: str) -> int:
    """Bytes in a memory size like ``16GB`` (10^9), ``16GiB`` (2^30) or ``16G`` (as dask: 10^9).

    Raises
    ------
    OptionError
        No number, no unit (K, M, G, T or P, optionally with i and B), or zero.
    """
    m = _MEMORY.fullmatch(text.strip())
    if not m:
        raise OptionError(f"--memory {text!r} is not a memory size with a unit, e.g. 16GB or 4GiB (per job)")
    number, unit, binary = float(m.group(1)), m.group(2).lower(), m.group(3)
    n = int(number * (1024 if binary else 1000) ** ("kmgtp".index(unit) + 1))
    if n <= 0:
        raise OptionError(f"--memory {text!r} is zero: give the memory of one job, e.g. 16GB")
    return n


def check_spec(spec: JobSpec) -> None:
    """Check ``spec`` before anything is started.

    Raises
    ------
    OptionError
        An unknown batch system, fewer than 1 job or core, a bad walltime or memory.
    """
    if spec.system not in SYSTEMS:
        raise OptionError(f"unknown batch system {spec.system!r}: --cluster is one of {', '.join(SYSTEMS)}")
    if spec.jobs < 1:
        raise OptionError(f"--jobs {spec.jobs}: submit at least 1 job")
    if spec.cores is not None and spec.cores < 1:
        raise OptionError(f"--cores {spec.cores}: each job needs at least 1 core")
    if spec.walltime is not None:
        parse_walltime(spec.walltime)
    if spec.memory is not None:
        parse_memory(spec.memory)


def cluster_kwargs(spec: JobSpec) -> dict[str, Any]:
    """The keywords for dask-jobqueue's cluster class of ``spec.system`` (only what ``spec`` sets).

    Each job runs ``cores`` worker processes of one thread each, like the local cluster: one
    conversion task per process is the fastest and the most predictable in memory.
    """
    check_spec(spec)
    system = SYSTEMS[spec.system]
    kw: dict[str, Any] = {"scheduler_options": {"dashboard_address": ":0"}}  # 8787 is often taken on a login node
    if spec.cores is not None:
        kw["cores"] = spec.cores
        kw["processes"] = spec.cores
    if spec.memory is not None:
        kw["memory"] = parse_memory(spec.memory)
    if spec.walltime is not None:
        kw["walltime"] = _lsf_walltime(spec.walltime) if spec.system == "lsf" else spec.walltime.strip()
    if spec.queue is not None:
        kw["queue"] = spec.queue
    if spec.account is not None:
        kw[system.account_key] = spec.account
    if spec.job_extra:
        kw["job_extra_directives"] = list(spec.job_extra)
    if spec.prologue:
        kw["job_script_prologue"] = list(spec.prologue)
    if spec.interface is not None:
        kw["interface"] = spec.interface
    if spec.local_directory is not None:
        kw["local_directory"] = spec.local_directory
    if spec.log_directory is not None:
        kw["log_directory"] = spec.log_directory
    return kw


def _lsf_walltime(text: str) -> str:
    """LSF's ``-W`` takes ``HH:MM``: round the seconds up, so that the job never gets less than asked."""
    minutes = -(-parse_walltime(text) // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@contextlib.contextmanager
def jobqueue_cluster(spec: JobSpec) -> Iterator[str]:
    """Start a dask-jobqueue cluster of ``spec.jobs`` batch jobs; yield its scheduler address; cancel the jobs.

    Returns once the first worker has joined (the others join as their jobs start). A job whose
    workers have all left for ``ENDED_AFTER_S`` (its time limit) is replaced while the block runs.
    The jobs are cancelled when the block ends, however it ends.

    Parameters
    ----------
    spec
        The jobs to submit.

    Yields
    ------
    str
        The scheduler's address, for ``convert(..., scheduler=...)``.

    Raises
    ------
    MissingExtraError
        dask-jobqueue is not installed (the ``cluster`` extra).
    OptionError
        A bad setting, or no cores/memory given here nor in the Dask configuration.
    ClusterError
        The batch system refused the jobs (its message is included), or no worker joined within
        ``EVENTKIT_WORKER_TIMEOUT`` seconds (default 600).
    """
    kwargs = cluster_kwargs(spec)
    system = SYSTEMS[spec.system]
    jq = _import_jobqueue(f"--cluster {spec.system} (Dask workers as {system.title} jobs)")
    cluster = _start(getattr(jq, system.cluster_class), kwargs, spec)
    keeper = _JobKeeper(cluster, system)
    try:
        _submit(cluster, spec.jobs, system)
        _wait_for_first_worker(cluster, spec, system)
        keeper.start()
        yield cluster.scheduler_address
    finally:
        keeper.stop()
        _shutdown(cluster, system)


def _import_jobqueue(feature: str) -> Any:
    """dask_jobqueue, keeping this process's Ctrl-C handler.

    Importing it (its ``runner`` module) replaces the SIGINT handler with ``sys.exit()``: Ctrl-C
    would then end the run with exit status 0 and no clean-up message.
    """
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main else None
    try:
        return require("dask_jobqueue", "cluster", feature)
    finally:
        if main and before is not None and signal.getsignal(signal.SIGINT) is not before:
            signal.signal(signal.SIGINT, before)


def _start(cls: Any, kwargs: dict[str, Any], spec: JobSpec) -> Any:
    """The cluster object (scheduler started in this process, no job submitted yet)."""
    if spec.log_directory is not None:  # dask-jobqueue would create it too, with a less helpful error
        try:
            os.makedirs(os.path.expandvars(os.path.expanduser(spec.log_directory)), exist_ok=True)
        except OSError as err:
            raise OptionError(f"--job-log-dir {spec.log_directory}: cannot create it ({err.strerror or err})") from None
    with deferred_sigterm():  # a scheduler cut off half-way fails in its own exit hook
        try:
            return cls(**kwargs)
        except ValueError as err:
            if "cores and memory" in str(err):
                raise OptionError(
                    f"--cluster {spec.system} needs the size of a job: --cores and --memory (or "
                    f"jobqueue.{spec.system}.cores and .memory in the Dask configuration)"
                ) from None
            raise OptionError(f"--cluster {spec.system}: {' '.join(str(err).split())}") from None
        except (RuntimeError, OSError) as err:  # "Cluster failed to start": no such --interface, no free port
            why = err.__cause__ if isinstance(err, RuntimeError) and err.__cause__ is not None else err
            raise ClusterError(f"could not start the Dask scheduler for --cluster {spec.system}: {why}") from None


def _submit(cluster: Any, jobs: int, system: _System) -> None:
    """Submit ``jobs`` jobs now (not in the background as ``scale`` would), so that a refusal is raised here."""
    from distributed.core import Status

    while len(cluster.worker_spec) < jobs:
        cluster.worker_spec.update(cluster.new_worker_spec())
    try:
        cluster.sync(cluster._correct_state)
    except (RuntimeError, ValueError, OSError) as err:
        _mark_unsubmitted(cluster)
        raise ClusterError(_submit_error(err, system)) from None
    ids = _job_ids(cluster)
    log.info("submitted %d %s job(s) (%s); waiting for the first worker", len(ids), system.title, ", ".join(ids),
             extra={"executor_note": True})


def _mark_unsubmitted(cluster: Any) -> None:
    """Mark the jobs that were never submitted as failed: nothing to cancel (else the cluster's close() refuses)."""
    from distributed.core import Status

    for job in list(cluster.workers.values()) + list(getattr(cluster, "_created", ())):
        if getattr(job, "job_id", None) is None:
            job.status = Status.failed


def _submit_error(err: BaseException, system: _System) -> str:
    """One line: what the batch system said when it refused the job."""
    head = f"the {system.title} job could not be submitted"
    if isinstance(err, FileNotFoundError):
        return (f"{head}: {system.submit} is not on PATH; run this on a {system.title} login node, "
                "or choose the batch system this cluster runs with --cluster")
    text = str(err)
    if "stderr:" in text:  # dask-jobqueue: "Command exited ...\nExit code: N\n...stderr:\n<what it said>"
        code = re.search(r"Exit code: (-?\d+)", text)
        said = " ".join(text.partition("stderr:")[2].split()) or "nothing on stderr"
        status = f" (exit status {code.group(1)})" if code else ""
        return f"{head}: {system.submit} failed{status}: {said}"
    return f"{head}: {' '.join(text.split())}"


def _job_ids(cluster: Any) -> list[str]:
    ids = [str(j.job_id) for j in cluster.workers.values() if getattr(j, "job_id", None)]
    return sorted(ids, key=lambda i: (len(i), i))  # numeric ids in submission order


def _first_worker_timeout() -> float:
    return float(os.environ.get("EVENTKIT_WORKER_TIMEOUT", FIRST_WORKER_TIMEOUT_S))


def _wait_for_first_worker(cluster: Any, spec: JobSpec, system: _System) -> None:
    """Return once a worker has joined; else one clear error (the jobs are then cancelled on the way out)."""
    from .dask import _quiet_dask

    timeout = _first_worker_timeout()
    try:
        with _quiet_dask():
            cluster.wait_for_workers(1, timeout=timeout)
    except TimeoutError:  # the builtin; dask's is the same class
        ids = _job_ids(cluster)
        raise ClusterError(
            f"no Dask worker joined {cluster.scheduler_address} within {timeout:g} s: none of the {len(ids)} "
            f"{system.title} job(s) ({', '.join(ids)}) started a worker, so they are cancelled. See whether they "
            f"are still queued (`{system.status}`) or failed (their output; --job-log-dir), or wait longer: "
            "EVENTKIT_WORKER_TIMEOUT sets the wait in seconds"
        ) from None


REPLACE_CHECK_S = 5.0  # how often the jobs' workers are counted
ENDED_AFTER_S = 30.0  # a job whose workers have all been gone this long has ended (a nanny restart takes seconds)


class _JobKeeper:
    """Resubmit a job once all its workers have left (its time limit, a node failure) while the run goes on.

    Only jobs that had a worker count: a job still waiting in the queue is left alone. The ended
    job is cancelled (in case it only lost its workers) and a new one is submitted in its place,
    so the run never waits forever on a cluster with no jobs left.
    """

    def __init__(self, cluster: Any, system: _System) -> None:
        self.cluster, self.system = cluster, system
        self.seen: set[str] = set()  # jobs that have had a worker
        self.gone_since: dict[str, float] = {}
        self.jobs: dict[str, Any] = {}  # name -> the job last submitted under it
        self._callback: Any = None

    def start(self) -> None:
        from tornado.ioloop import PeriodicCallback

        def begin() -> None:  # PeriodicCallback must be created on the cluster's event loop
            self._callback = PeriodicCallback(self._check, REPLACE_CHECK_S * 1000)
            self._callback.start()

        self.cluster.loop.add_callback(begin)

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # the loop may be closed already
            self.cluster.loop.add_callback(lambda: self._callback is not None and self._callback.stop())

    def _present(self) -> set[str]:
        """The jobs with a worker now (a job's workers are named <job> or <job>-<i>)."""
        jobs = self.cluster.worker_spec
        out = set()
        for ws in self.cluster.scheduler.workers.values():
            name = str(ws.name)
            out.add(name if name in jobs else name.rsplit("-", 1)[0])
        return out & set(jobs)

    async def _check(self) -> None:
        import time

        from distributed.core import Status

        cluster = self.cluster
        if cluster.status != Status.running:
            return
        now, present = time.monotonic(), self._present()
        self.jobs.update(cluster.workers)
        self.seen |= present
        for name in present:
            self.gone_since.pop(name, None)
        ended = []
        for name in sorted(self.seen - present):
            since = self.gone_since.setdefault(name, now)
            if now - since >= ENDED_AFTER_S and name in cluster.worker_spec:
                ended.append(name)
        if not ended:
            return
        old = []
        for name in ended:
            # Dask may have dropped (and cancelled) a single-worker job already (lost-worker-timeout, 15 s)
            job = cluster.workers.pop(name, None) or self.jobs.get(name)
            if job is not None:
                old.append(str(job.job_id))
                with contextlib.suppress(Exception):
                    await job.close()  # cancel it, in case it only lost its workers
                job.status = Status.closed
            self.seen.discard(name)
            self.gone_since.pop(name, None)
        log.warning("%s job(s) %s ended before the conversion did (their time limit?): submitting %d new one(s)",
                    self.system.title, ", ".join(old), len(old))
        try:
            await cluster._correct_state()  # re-opens every job of the spec that is not running
        except Exception as err:
            _mark_unsubmitted(cluster)
            log.warning("%s", _submit_error(err, self.system))


def _shutdown(cluster: Any, system: _System) -> None:
    """Close the cluster, cancelling every job; if that fails, cancel them with the batch system's command."""
    from .dask import _quiet_dask

    ids = _job_ids(cluster)
    with _no_interrupts(), _quiet_dask():
        try:
            cluster.close(timeout=CLOSE_TIMEOUT_S)
            return
        except Exception:  # timed out, or dask could not close a job: cancel them ourselves below
            pass
        if ids:
            _cancel(ids, system)


def _cancel(ids: list[str], system: _System) -> None:
    """Cancel the jobs ``ids`` directly; a warning says which to cancel by hand when that fails too."""
    try:
        res = subprocess.run([system.cancel, *ids], capture_output=True, text=True, timeout=CANCEL_TIMEOUT_S)
        if res.returncode == 0:
            return
        why = " ".join(res.stderr.split()) or f"exit status {res.returncode}"
    except (OSError, subprocess.TimeoutExpired) as err:
        why = str(err)
    log.warning("could not cancel the %s jobs %s (%s): cancel them yourself: %s %s", system.title, ", ".join(ids),
                why, system.cancel, " ".join(ids))


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while the jobs are being cancelled: a second Ctrl-C must not leave jobs behind.

    The close is bounded by its timeouts, so this cannot hang a user's terminal for long.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
