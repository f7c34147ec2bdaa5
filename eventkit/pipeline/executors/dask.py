"""Run tasks on Dask: a local cluster of processes sized to the machine, or an existing cluster.

Each task is one store shard, so workers never write the same file. A worker lost mid-task (killed,
out of memory) is survived: the scheduler re-runs its tasks on the remaining workers; rewriting a
shard is idempotent.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ...errors import EventkitError

_MAIN_GUARD = (
    "could not start local Dask worker processes. Dask starts them with 'spawn', which re-runs "
    "your script: call eventkit.convert(...) under `if __name__ == \"__main__\":`, or pass "
    "executor=\"serial\""
)


class DaskExecutor:
    def __init__(self, *, workers: int | None = None, scheduler: str | None = None) -> None:
        from dask.distributed import Client, LocalCluster

        if scheduler:
            self.cluster = None
            self.client = Client(scheduler, timeout="30s")
            return
        if multiprocessing.parent_process() is not None:
            # We are a worker being spawned and re-running the user's script from the top.
            raise EventkitError(_MAIN_GUARD)
        n = max(1, workers or os.cpu_count() or 1)
        # processes, one thread each: decoders release the GIL but framing and zarr writes
        # are simplest and most predictable with one task per process
        try:
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
        futures = self.client.map(fn, tasks, pure=False, retries=1)
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
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
