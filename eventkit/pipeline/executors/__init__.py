"""Executors run a function over tasks and yield results as they finish: ``serial`` or ``dask``.

Like rechunker's executors, the plan is data and the executor only decides where it runs. Dask is
imported only by the dask executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

__all__ = ["Executor", "get_executor", "EXECUTORS"]


class Executor(Protocol):
    """Runs ``fn`` on every task; yields ``(task, result)`` or ``(task, exception)`` as they finish."""

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]: ...

    def close(self) -> None: ...


EXECUTORS = ("serial", "dask")


def get_executor(name: str, *, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """Build an executor by name.

    Parameters
    ----------
    name
        ``"serial"`` (this process) or ``"dask"`` (a local cluster of processes, or the cluster
        at ``scheduler``).
    workers
        Local Dask worker processes (default: one per CPU core).
    scheduler
        Address of an existing Dask scheduler, e.g. ``tcp://10.0.0.5:8786``.
    """
    if name == "serial":
        if scheduler:
            raise ValueError("--scheduler needs the dask executor (--executor dask)")
        from .serial import SerialExecutor

        return SerialExecutor()
    if name == "dask":
        from .dask import DaskExecutor

        return DaskExecutor(workers=workers, scheduler=scheduler)
    raise ValueError(f"unknown executor {name!r}; choose one of {list(EXECUTORS)}")
