"""Child process of the signal tests: ``eventkit convert`` (the CLI itself), slowed down, small shards.

Usage: python _signal_child.py DATA OUT SLEEP_S
Each shard task sleeps SLEEP_S before converting, so the parent can send SIGTERM or SIGINT while
some shards are done and others are not. Exits with the CLI's own status.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    data, out, sleep_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
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

    cli(["convert", "synthetic-gestures", "--frames", "8", "--from", data, "--out", out, "--executor", "serial",
         "--quiet"], prog_name="eventkit")  # fmt: skip


if __name__ == "__main__":
    main()
