"""SIGTERM handled like Ctrl-C: a batch system's kill (a SLURM time limit) unwinds the job cleanly.

Python's default for SIGTERM ends the process at once: no ``finally`` runs, so a store writer's
lock stays behind. Inside :func:`sigterm_as_interrupt` SIGTERM raises :class:`Terminated` (a
:class:`KeyboardInterrupt`) instead, so the same clean-up that Ctrl-C gets (stop submitting,
release the lock, leave a resumable store) runs for SIGTERM too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["TERM_EXIT", "Terminated", "deferred_sigterm", "sigterm_as_interrupt"]

TERM_EXIT = 128 + signal.SIGTERM  # 143: the shell's status for a process ended by SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C (the CLIs then exit with status 143, not 130)."""


def _raise_terminated(signum: int, frame: object) -> None:
    # one SIGTERM is enough: a second one (a scheduler repeating itself) must not interrupt the
    # clean-up that the first one started
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated("SIGTERM")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread; the previous handler is restored after.

    Nothing is changed outside the main thread (signals are delivered only there) or when the
    program has chosen its own SIGTERM handling (anything but the default): a library call must
    not override its caller's choice.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_sigterm() -> Iterator[None]:
    """Hold back a SIGTERM that arrives within the block and raise :class:`Terminated` once it ends.

    For steps that cannot be cut short cleanly, e.g. starting a Dask cluster: interrupted half-way,
    its processes are left in a state its own exit hook then fails on (a traceback after the
    ``Aborted`` line). Only acts inside :func:`sigterm_as_interrupt`; otherwise does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not _raise_terminated
    ):
        yield
        return
    arrived: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, _raise_terminated)
    if arrived:
        _raise_terminated(signal.SIGTERM, None)
