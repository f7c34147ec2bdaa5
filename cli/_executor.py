"""``--executor``/``--workers``/``--scheduler`` (``eventkit convert`` and ``synth``) and ``--cluster`` (convert)."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import click

__all__ = ["CLUSTER_OPTIONS", "EXECUTOR_OPTIONS", "check_executor_options", "cluster_scheduler", "executor_notes"]


def _executor_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--executor``, ``--workers`` and ``--scheduler`` (shared by ``convert`` and ``synth``)."""
    func = click.option("--scheduler", default=None, metavar="ADDRESS",
                        help="Address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (implies the dask "
                             "executor; not with --workers: the cluster has its own).")(func)  # fmt: skip
    func = click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Local Dask workers (default: CPU cores).")(func)
    return click.option("--executor", type=click.Choice(["auto", "dask", "serial"]), default="auto",
                        show_default=True,
                        help="auto: serial for small jobs (fewer than 500 samples), 1-2 CPU cores or no Dask "
                             "installed, else a local Dask cluster; it says which it chose.")(func)  # fmt: skip


EXECUTOR_OPTIONS = _executor_options


def check_executor_options(executor: str, workers: int | None, scheduler: str | None) -> None:
    """Refuse option combinations that cannot work (a usage error before anything starts)."""
    if scheduler and executor == "serial":
        raise click.UsageError("--scheduler needs the dask executor: drop --executor serial or drop --scheduler")
    if scheduler and workers is not None:
        raise click.UsageError("--workers cannot be used with --scheduler: the cluster at --scheduler has its own "
                               "workers (start more there); drop --workers")


# The batch-job options: (name, click option keywords). They reach the command as one ``cluster``
# argument (a JobSpec, or None without --cluster), so the command's signature stays short.
_JOB_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--jobs", {"type": click.IntRange(min=1), "default": None, "help": "Batch jobs to submit (default 1)."}),
    ("--cores", {"type": click.IntRange(min=1), "default": None,
                 "help": "CPU cores per job; each runs one single-threaded worker process."}),
    ("--memory", {"default": None, "metavar": "SIZE", "help": "Memory per job, e.g. 16GB or 4GiB."}),
    ("--walltime", {"default": None, "metavar": "HH:MM:SS", "help": "Time limit per job (default 00:30:00)."}),
    ("--queue", {"default": None, "help": "Queue (SLURM: partition) to submit to."}),
    ("--account", {"default": None, "help": "Account to charge (SGE, LSF: project)."}),
    ("--job-extra", {"multiple": True, "metavar": "DIRECTIVE",
                     "help": "Extra job-script directive, e.g. '--constraint=avx2' (repeatable)."}),
    ("--job-prologue", {"multiple": True, "metavar": "COMMAND",
                        "help": "Shell line run in each job before its workers start, e.g. "
                                "'source /shared/venv/bin/activate' (repeatable)."}),  # fmt: skip
    ("--interface", {"default": None, "help": "Network interface of scheduler and workers, e.g. ib0."}),
    ("--local-directory", {"default": None, "metavar": "DIR",
                           "help": "Node-local scratch folder for the workers, e.g. '$TMPDIR'."}),
    ("--job-log-dir", {"default": None, "metavar": "DIR", "help": "Folder for the jobs' output files."}),
]


def _cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--cluster slurm|pbs|sge|lsf`` and the job options, passed on as ``cluster=JobSpec(...)`` or None.

    Combinations that cannot work are usage errors (exit status 2) before anything starts.
    """
    names = [opt[2:].replace("-", "_") for opt, _ in _JOB_OPTIONS]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        system = kwargs.pop("cluster_system")
        given = {n: kwargs.pop(n) for n in names}
        given = {n: v for n, v in given.items() if v not in (None, ())}
        if not system and given:
            flags = ", ".join("--" + n.replace("_", "-") for n in given)
            raise click.UsageError(f"{flags} set(s) the batch jobs of --cluster: add --cluster slurm|pbs|sge|lsf")
        kwargs["cluster"] = _job_spec(system, given, kwargs) if system else None
        if system:
            kwargs["executor"] = "dask"  # its workers are the jobs: no "auto" choice to note
        return func(*args, **kwargs)

    for opt, kw in reversed(_JOB_OPTIONS):
        wrapper = click.option(opt, **kw)(wrapper)
    return click.option("--cluster", "cluster_system", type=click.Choice(["slurm", "pbs", "sge", "lsf"]),
                        default=None,
                        help="Run the Dask workers as batch jobs of this system (dask-jobqueue; the "
                             "'cluster' extra); they are cancelled when the conversion ends.")(wrapper)  # fmt: skip


CLUSTER_OPTIONS = _cluster_options


def _job_spec(system: str, given: dict[str, Any], others: dict[str, Any]) -> Any:
    """The checked JobSpec; a usage error for options --cluster cannot be combined with or bad values."""
    from eventkit.errors import OptionError
    from eventkit.pipeline.executors.jobqueue import JobSpec, check_spec

    clash = [flag for flag, bad in (("--scheduler", others.get("scheduler")), ("--workers", others.get("workers")),
                                    ("--executor serial", others.get("executor") == "serial"),
                                    ("--part", others.get("part")), ("--finalize", others.get("finalize")))
             if bad]  # fmt: skip
    if clash:
        raise click.UsageError(f"--cluster cannot be combined with {' or '.join(clash)}: --cluster starts its own "
                               "Dask scheduler and sizes its workers with --jobs/--cores")
    spec = JobSpec(system, jobs=given.get("jobs", 1), cores=given.get("cores"), memory=given.get("memory"),
                   walltime=given.get("walltime"), queue=given.get("queue"), account=given.get("account"),
                   job_extra=tuple(given.get("job_extra", ())), prologue=tuple(given.get("job_prologue", ())),
                   interface=given.get("interface"), local_directory=given.get("local_directory"),
                   log_directory=given.get("job_log_dir"))  # fmt: skip
    try:
        check_spec(spec)
    except OptionError as err:
        raise click.UsageError(str(err)) from None
    return spec


@contextlib.contextmanager
def cluster_scheduler(cluster: Any, scheduler: str | None) -> Iterator[Any]:
    """With ``cluster`` (a JobSpec): yield a scheduler that submits its batch jobs when the conversion
    first has work for them (a complete store submits none), and cancel the jobs after.

    Without: yield ``scheduler`` as it is.
    """
    if cluster is None:
        yield scheduler
        return
    from eventkit.pipeline.executors import DeferredScheduler
    from eventkit.pipeline.executors.jobqueue import jobqueue_cluster

    with contextlib.ExitStack() as jobs:  # closes the cluster only if it was started
        yield DeferredScheduler(lambda: jobs.enter_context(jobqueue_cluster(cluster)), f"--cluster {cluster.system}")


class executor_notes:  # noqa: N801 - used as a `with` statement
    """While converting, print the library's note of the executor it chose (unless quiet) and its warnings.

    Warnings are printed even when quiet (the logger's last-resort printer would have printed them).
    """

    def __init__(self, quiet: bool, prefix: str = "") -> None:
        self.quiet = quiet
        self.handler = logging.StreamHandler()
        self.handler.setFormatter(logging.Formatter(prefix + "%(message)s"))
        self.handler.addFilter(self._wanted)
        self.log = logging.getLogger("eventkit")
        self.old_level = self.log.level

    def _wanted(self, record: logging.LogRecord) -> bool:
        # warnings always (a handler here stops logging's last-resort printer), the note unless quiet
        return record.levelno >= logging.WARNING or (not self.quiet and getattr(record, "executor_note", False))

    def __enter__(self) -> executor_notes:
        if not self.quiet and self.log.getEffectiveLevel() > logging.INFO:
            self.log.setLevel(logging.INFO)  # lets the note through; the filter drops every other INFO record
        self.log.addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.removeHandler(self.handler)
        self.log.setLevel(self.old_level)
