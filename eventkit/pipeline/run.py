"""Run shard tasks on an executor and collect what they did; finalize the store only when whole."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .._progress import progress_bar
from .._signals import deferred_sigterm
from .executors import SchedulerLostError
from .plan import Failure

__all__ = ["run_conversion", "run_shard_tasks"]


class _Report(Protocol):
    converted: int
    failures: list[Failure]
    complete: bool


def run_conversion(
    executor, fn: Callable[[Any], Any], tasks: Sequence[Any], writer, report: _Report, *, progress: bool, desc: str
) -> None:
    """The one runner of ``convert`` and ``synth``: start ``executor`` (a :class:`LazyExecutor`)
    for the samples to do, then :func:`run_shard_tasks`. A finished store starts no executor
    (no cluster to do nothing); the caller closes the writer and the executor on any exit.
    """
    if tasks:  # before the progress bar
        n = sum(len(t.samples) if getattr(t, "todo", None) is None else len(t.todo) for t in tasks)
        with deferred_sigterm():  # a cluster cut off while starting fails to close
            executor.start(n)
    run_shard_tasks(executor, fn, tasks, writer, report, progress=progress, desc=desc)


def run_shard_tasks(
    executor, fn: Callable[[Any], Any], tasks: Sequence[Any], writer, report: _Report, *, progress: bool, desc: str
) -> None:
    """Run ``fn`` on every task (each has ``.split`` and ``.samples = ((index, sample), ...)``).

    A task may also have ``.todo``: the indices of its samples still to convert (None = all; the
    others are already in the store and count neither in the progress nor as failures). A
    task's result has ``.written`` and ``.failures``; a task that raised counts every one of its
    samples to do as failed with the exception as the reason. The store is finalized (marked
    complete) only when nothing failed; otherwise it is closed, incomplete, for a later re-run.
    """

    def todo(task) -> list:
        keep = getattr(task, "todo", None)
        return [s for i, s in task.samples if keep is None or i in keep]

    total = sum(len(todo(t)) for t in tasks)
    done = getattr(report, "skipped", 0)  # samples in the store: from earlier runs, then this one's
    with progress_bar(total, enabled=progress and total > 0, desc=desc) as bar:
        try:
            for task, result in executor.map_unordered(fn, tasks):
                _collect(task, result, report, todo(task))
                done += len(todo(task))
                bar.update(len(todo(task)))
        except SchedulerLostError as err:
            raise SchedulerLostError(
                err.scheduler,
                f"lost the Dask scheduler {err.scheduler} ({done} of {total + getattr(report, 'skipped', 0)} samples "
                f"reported done; the store keeps every shard finished so far): re-run the same command to resume",
            ) from None
    if not report.failures:
        writer.finalize()
        report.complete = True
    else:
        writer.close()


def _collect(task, result, report: _Report, todo: list) -> None:
    """Add one task's result (or the exception that ended it) to the report."""
    if isinstance(result, BaseException):
        # not a decode failure (those are reported per sample): the task itself died
        shard = getattr(task, "shard", "?")
        reason = f"the conversion task of shard {shard} failed ({type(result).__name__}: {result})"
        report.failures += [Failure(task.split, s.sample_id, str(s.source), reason) for s in todo]
    else:
        report.converted += result.written
        report.failures += list(result.failures)
