"""Old names that still work: keyword arguments and attributes renamed for one vocabulary.

eventkit calls a sensor's ``(width, height, polarities)`` the ``sensor`` (as the store attribute and
the manifest key do) and a store's unit of S samples a ``shard`` (``samples_per_shard``, as stored on
disk). Code written against the earlier names (``sensor_size=``, ``samples_per_block=``) keeps
working; it gets a :class:`DeprecationWarning` naming the new name.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed_keyword", "renamed_attribute"]

F = TypeVar("F", bound=Callable[..., Any])


def renamed_keyword(old: str, new: str) -> Callable[[F], F]:
    """Decorate a public function so that ``old=`` still works as ``new=`` (with a DeprecationWarning).

    Parameters
    ----------
    old
        The keyword's former name.
    new
        The keyword's name now (a parameter of the decorated function).

    Raises
    ------
    TypeError
        From the decorated function, when both names are given (as Python does for any keyword
        given twice).
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{fn.__qualname__}() got both {new}= and its old name {old}=; pass {new}= only")
                # stacklevel 2: the warning points at the caller's line, not at this wrapper
                warnings.warn(f"{fn.__qualname__}(): {old}= is deprecated, use {new}=", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap


def renamed_attribute(old: str, new: str) -> property:
    """A read-only property ``old`` that returns ``self.<new>`` with a DeprecationWarning."""

    def get(self: Any) -> Any:
        warnings.warn(f"{type(self).__name__}.{old} is deprecated, use .{new}", DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated name of :attr:`{new}`.")
