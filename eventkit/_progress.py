"""The one way eventkit and snnmodels draw a progress bar (downloads, conversions, training).

:func:`progress_bar` returns a tqdm bar when asked for one and a do-nothing :class:`NullBar`
otherwise, so callers write ``with progress_bar(...) as bar: bar.update(n)`` without checking
whether progress is on, and tqdm is imported only when a bar is drawn.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Bar", "NullBar", "progress_bar"]


class Bar(Protocol):
    """What callers use of a bar (a tqdm bar or a :class:`NullBar`)."""

    def update(self, n: float = 1) -> Any: ...

    def set_postfix(self, *args: Any, **kwargs: Any) -> Any: ...

    def close(self) -> None: ...

    def __enter__(self) -> Bar: ...

    def __exit__(self, *exc: object) -> Any: ...


class NullBar:
    """A bar that draws nothing (progress off)."""

    def update(self, n: float = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(
    total: int | None, *, enabled: bool, desc: str, unit: str = "sample", terminal_only: bool = False, **options: Any
) -> Bar:
    """A transient (``leave=False``) tqdm bar, or a :class:`NullBar` when ``enabled`` is false.

    Parameters
    ----------
    total
        Units to come; None when unknown (a download without a size).
    enabled
        False gives a :class:`NullBar` (tqdm is not imported).
    desc, unit
        The bar's label and unit (``"B"`` with ``unit_scale=True`` for bytes).
    terminal_only
        Draw only when the output is a terminal (tqdm's ``disable=None``), so logs and captured
        output get no carriage returns.
    **options
        Further tqdm options (``initial``, ``file``, ``unit_scale``, ``mininterval``, ...).
    """
    if not enabled:
        return NullBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, disable=None if terminal_only else False, **options)
