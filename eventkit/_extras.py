"""Optional dependencies: a missing one is reported in one line naming the extra that installs it.

A base ``pip install eventkit`` reads, converts and stores data; torch, Dask, CuPy and the 7z/RAR
readers come with extras (see pyproject.toml). The lazy import points call :func:`require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import EventkitError

__all__ = ["MissingExtraError", "require", "install_hint"]


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra`` (quoted for shells that glob brackets)."""
    return f"pip install 'eventkit[{extra}]'"


class MissingExtraError(EventkitError, ImportError):
    """An optional dependency is not installed; the message says which extra installs it.

    Also an ``ImportError``, so code that already falls back on a failed import keeps working.
    """

    def __init__(self, module: str, extra: str, feature: str) -> None:
        self.module, self.extra, self.feature = module, extra, feature
        super().__init__(f"{feature} needs {module}, which is not installed; install the '{extra}' extra: "
                         f"{install_hint(extra)}")
        self.name = module  # ImportError's attribute: the module that could not be imported


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``.

    Parameters
    ----------
    module
        Importable name, e.g. ``"torch"`` or ``"dask.distributed"``.
    extra
        The extra of the ``eventkit`` distribution that installs it, e.g. ``"train"``.
    feature
        What needs it, as the user knows it, e.g. ``"the Dask executor"``.

    Raises
    ------
    MissingExtraError
        ``module`` (or a module it imports) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.partition(".")[0]
        missing = (err.name or "").partition(".")[0]
        # Only a missing part of the extra is ours to explain; any other missing module is a
        # broken install and keeps its own error.
        if missing != top and missing not in _PULLED_IN.get(top, ()):
            raise
        raise MissingExtraError(module, extra, feature) from None


# Distributions an extra installs beside its main module: one of them missing is the same extra.
_PULLED_IN: dict[str, tuple[str, ...]] = {"dask": ("distributed",)}
