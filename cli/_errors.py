"""Turn expected failures into one clean line and a non-zero exit, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from eventkit.errors import EventkitError

F = TypeVar("F", bound=Callable[..., Any])

# What a user can cause: bad files, missing files, permissions. Anything else is our bug and
# keeps its traceback.
USER_ERRORS = (EventkitError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def user_errors(func: F) -> F:
    """Decorate a click command so user errors print ``Error: <message>`` and exit with status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            raise click.ClickException(str(err) or type(err).__name__) from None

    return wrapper  # type: ignore[return-value]
