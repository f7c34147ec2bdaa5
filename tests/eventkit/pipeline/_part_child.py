"""Child process of the job-array tests: ``eventkit convert`` (the CLI itself) with small shards.

Usage: python _part_child.py SLEEP_S ARGS...
Runs ``eventkit convert synthetic-gestures --frames 8 --executor serial --quiet ARGS...`` with 2
samples per shard (conftest.SMALL_S); each shard task first sleeps SLEEP_S, so the parent can
start N of them at once or kill one mid-run. Exits with the CLI's own status.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    sleep_s, args = float(sys.argv[1]), sys.argv[2:]
    import eventkit.pipeline  # noqa: F401  (the package re-exports the function under the module's name)
    import eventkit.store.writer as writer

    conv = sys.modules["eventkit.pipeline.convert"]
    writer.choose_samples_per_shard = lambda nbytes, n=None: 2  # conftest.SMALL_S
    real = conv.convert_shard

    def slow(task):
        time.sleep(sleep_s)
        return real(task)

    conv.convert_shard = slow
    from cli.eventkit_cli import main as cli

    cli(["convert", "synthetic-gestures", "--frames", "8", "--executor", "serial", "--quiet", *args],
        prog_name="eventkit")  # fmt: skip


if __name__ == "__main__":
    main()
