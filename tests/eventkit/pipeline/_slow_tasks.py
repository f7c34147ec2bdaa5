"""A slow shard task for the worker-kill test, shipped to Dask workers by value (cloudpickle)."""

from __future__ import annotations


def slow_convert_shard(task):
    import time

    from eventkit.pipeline.stages import convert_shard

    time.sleep(0.4)  # long enough for the test to SIGKILL a worker inside a task
    return convert_shard(task)
