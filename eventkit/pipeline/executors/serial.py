"""Run every task in this process, one after the other (debugging, tiny jobs, tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


class SerialExecutor:
    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        for task in tasks:
            try:
                yield task, fn(task)
            except Exception as err:  # reported per task, like the dask executor does
                yield task, err

    def close(self) -> None:
        pass
