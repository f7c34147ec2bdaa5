"""Run shard tasks on an executor and collect what they did; finalize the store only when whole."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .plan import Failure

__all__ = ["run_shard_tasks", "progress_bar"]


class _Report(Protocol):
    converted: int
    failures: list[Failure]
    complete: bool


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(total: int, enabled: bool, desc: str):
    """A tqdm bar over samples, or a do-nothing stand-in."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="sample", desc=desc, leave=False)


def run_shard_tasks(
    executor, fn: Callable[[Any], Any], tasks: Sequence[Any], writer, report: _Report, *, progress: bool, desc: str
) -> None:
    """Run ``fn`` on every task (each has ``.split`` and ``.samples = ((index, sample), ...)``).

    A task's result has ``.written`` and ``.failures``; a task that raised counts every one of
    its samples as failed with the exception as the reason. The store is finalized (marked
    complete) only when nothing failed; otherwise it is closed, incomplete, for a later re-run.
    """
    with progress_bar(sum(len(t.samples) for t in tasks), progress, desc) as bar:
        for task, result in executor.map_unordered(fn, tasks):
            if isinstance(result, BaseException):
                reason = f"{type(result).__name__}: {result}"
                report.failures += [Failure(task.split, s.sample_id, str(s.source), reason) for _, s in task.samples]
            else:
                report.converted += result.written
                report.failures += list(result.failures)
            bar.update(len(task.samples))
    if not report.failures:
        writer.finalize()
        report.complete = True
    else:
        writer.close()
