"""``--executor``/``--workers``/``--scheduler``: the options of ``eventkit convert`` and ``eventkit synth``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import click

__all__ = ["EXECUTOR_OPTIONS", "check_executor_options", "executor_notes"]


def _executor_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--executor``, ``--workers`` and ``--scheduler`` (shared by ``convert`` and ``synth``)."""
    func = click.option("--scheduler", default=None, metavar="ADDRESS",
                        help="Address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (implies the dask "
                             "executor; --workers is then ignored).")(func)  # fmt: skip
    func = click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Local Dask workers (default: CPU cores).")(func)
    return click.option("--executor", type=click.Choice(["auto", "dask", "serial"]), default="auto",
                        show_default=True,
                        help="auto: serial for small jobs (fewer than 500 samples), 1-2 CPU cores or no Dask "
                             "installed, else a local Dask cluster; it says which it chose.")(func)  # fmt: skip


EXECUTOR_OPTIONS = _executor_options


def check_executor_options(executor: str, workers: int | None, scheduler: str | None) -> None:
    """Refuse option combinations that cannot work, warn about ones that are ignored."""
    if scheduler and executor == "serial":
        raise click.UsageError("--scheduler needs the dask executor: drop --executor serial or drop --scheduler")
    if scheduler and workers is not None:
        click.echo("Warning: --workers is ignored with --scheduler (the cluster at --scheduler has its own "
                   "workers)", err=True)


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
