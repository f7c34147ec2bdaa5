"""The one error wrapper of every command of ``eventkit`` and ``snnmodels``.

The contract (see ``docs/errors.md``):

* an expected failure (an :class:`~eventkit.errors.EventkitError`, a
  :class:`~snnmodels.errors.SnnmodelsError`, a missing file, a folder given for a file, no
  permission) prints one line ``Error: <message>`` on stderr and exits with status 1;
* a bad option or argument is click's usage error: exit status 2;
* Ctrl-C prints ``Aborted: <how to resume>`` and exits with status 130, without a traceback;
  SIGTERM (a batch system's kill, e.g. a SLURM time limit) unwinds the same way (the store lock
  is released) and prints ``Aborted (SIGTERM): <how to resume>``, exit status 143;
* anything else is a bug of ours and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from eventkit._signals import TERM_EXIT, Terminated, sigterm_as_interrupt
from eventkit.errors import EventkitError

F = TypeVar("F", bound=Callable[..., Any])

# What a user can cause: bad files, missing files, permissions. Anything else is our bug and
# keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    EventkitError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError,
)

ABORT_EXIT = 130  # the shell's status for a process ended by SIGINT
DEFAULT_RESUME = "nothing was half-written; run the same command again to start over"


def _snnmodels_error() -> tuple[type[BaseException], ...]:
    """snnmodels' base error, if snnmodels is loaded.

    Looked up in ``sys.modules`` rather than imported: importing snnmodels loads torch (seconds),
    and an error of a process that never loaded snnmodels cannot be a ``SnnmodelsError``.
    """
    module = sys.modules.get("snnmodels.errors")
    return (module.SnnmodelsError,) if module is not None else ()


def user_errors(func: F | None = None, *, resume: str = DEFAULT_RESUME) -> Any:
    """Decorate a click command: user errors -> ``Error: <message>`` (exit 1), Ctrl-C -> ``Aborted``.

    Ctrl-C exits with status 130, SIGTERM (handled like Ctrl-C while the command runs) with 143.

    Parameters
    ----------
    func
        The command callback (``@user_errors`` without arguments).
    resume
        What to tell a user who pressed Ctrl-C, e.g. ``"re-run the same command: finished
        samples are kept"``.
    """

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with sigterm_as_interrupt():  # SIGTERM -> Terminated, so clean-up runs as for Ctrl-C
                    return f(*args, **kwargs)
            except Terminated:
                click.echo(f"Aborted (SIGTERM): {resume}", err=True)
                raise click.exceptions.Exit(TERM_EXIT) from None
            except KeyboardInterrupt:
                # click would print "Aborted!" and exit 1; say how to resume, exit like SIGINT does
                click.echo(f"Aborted: {resume}", err=True)
                raise click.exceptions.Exit(ABORT_EXIT) from None
            except USER_ERRORS + _snnmodels_error() as err:
                raise click.ClickException(_message(err)) from None

        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def _message(err: BaseException) -> str:
    """The message of ``err`` (a builtin OSError as ``<file>: <reason>``, never its errno tuple)."""
    if isinstance(err, OSError) and not isinstance(err, EventkitError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror.lower()}{_OS_HINTS.get(type(err), '')}"
    return str(err) or type(err).__name__


# What to do about a builtin OSError that names a path (its own text says only what went wrong).
_OS_HINTS: dict[type[BaseException], str] = {
    FileNotFoundError: "; check the path",
    FileExistsError: " (a file is where a folder is needed); choose another path",
    NotADirectoryError: " (a file is where a folder is needed); choose another path",
    IsADirectoryError: " (a folder was given where a file is needed); give the file",
    PermissionError: "; check the permissions, or choose a path you may write to",
}
