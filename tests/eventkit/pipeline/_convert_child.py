"""Child process of the kill -9 and lock tests: a slow serial conversion with small shards.

Usage: python _convert_child.py DATA OUT SLEEP_S
Each shard task sleeps SLEEP_S before converting, so the parent can SIGKILL the process (or
try a second conversion) while some shards are done and others are not.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    data, out, sleep_s = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    import eventkit.pipeline  # noqa: F401  (the package re-exports the function under the module's name)

    conv = sys.modules["eventkit.pipeline.convert"]
    import eventkit.store.writer as writer
    from eventkit.datasets.registry import get_manifest

    writer.choose_samples_per_shard = lambda nbytes, n=None: 2  # conftest.SMALL_S
    real = conv.convert_shard

    def slow(task):
        time.sleep(sleep_s)
        return real(task)

    conv.convert_shard = slow
    print("started", flush=True)
    r = conv.convert(get_manifest("synthetic-gestures"), frames=8, from_dir=data, out=out, executor="serial",
                     progress=False)
    print(json.dumps({"converted": r.converted, "skipped": r.skipped, "complete": r.complete}), flush=True)


if __name__ == "__main__":
    main()
