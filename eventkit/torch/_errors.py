"""The error eventkit.torch raises for a bad argument (kept apart so every module can import it)."""

from __future__ import annotations

from ..errors import OptionError

__all__ = ["DatasetArgumentError"]


class DatasetArgumentError(OptionError):
    """An eventkit.torch argument is invalid (a Dataset's split, dtype or frame options, a transform's
    or ``pad_collate``'s parameters, an input of the wrong shape); the message says which and why.

    An :class:`~eventkit.errors.OptionError`, hence an ``EventkitError`` and a ``ValueError``."""
