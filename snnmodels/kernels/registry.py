"""The one seam between neurons and their kernels.

Neurons ask :func:`get_backend` for an object implementing :class:`KernelBackend`; there is no
per-neuron if/elif over backend names. A backend that cannot run raises
:class:`~snnmodels.errors.BackendUnavailableError` with the reason and the backends that can;
nothing ever falls back silently to another backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import torch

from snnmodels.errors import BackendUnavailableError

if TYPE_CHECKING:  # the config module imports nothing from here, but neurons/ does
    from snnmodels.neurons.config import NeuronConfig

__all__ = ["KernelBackend", "get_backend", "available_backends", "BACKENDS"]


class KernelBackend(Protocol):
    """What a neuron backend implements."""

    name: str

    def check_tensor(self, x: torch.Tensor) -> None:
        """Raise :class:`BackendUnavailableError` if ``x`` cannot be processed (wrong device)."""

    def multi_step(
        self,
        x_seq: torch.Tensor,
        v0: torch.Tensor,
        decay: float | torch.Tensor | None,
        cfg: NeuronConfig,
        store_v_seq: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Run the neuron over ``x_seq`` ``[T, ...]``; return ``(out_seq, v_last, v_seq)``."""


def _load_torch() -> KernelBackend:
    from snnmodels.kernels.torch_backend import TorchBackend

    return TorchBackend()


def _load_numba() -> KernelBackend:
    try:
        importlib.import_module("numba")
    except Exception as exc:  # pragma: no cover - numba is a core dependency
        raise BackendUnavailableError("numba", f"numba cannot be imported ({exc})", ["torch"])
    from snnmodels.kernels.numba_backend import NumbaBackend

    return NumbaBackend()


def _load_cupy() -> KernelBackend:
    from snnmodels.kernels.cupy import load

    return load()


#: Backend names and their loaders, in order of preference for listings.
BACKENDS: dict[str, Callable[[], KernelBackend]] = {
    "torch": _load_torch,
    "numba": _load_numba,
    "cupy": _load_cupy,
}
_cache: dict[str, "KernelBackend | BackendUnavailableError"] = {}


def _try(name: str) -> KernelBackend | BackendUnavailableError:
    """Load ``name`` once; remember the backend or the reason it failed."""
    if name not in _cache:
        try:
            _cache[name] = BACKENDS[name]()
        except BackendUnavailableError as exc:
            _cache[name] = exc
    return _cache[name]


def available_backends() -> list[str]:
    """Names of the backends that can run on this machine (probed once, then cached)."""
    return [n for n in BACKENDS if not isinstance(_try(n), BackendUnavailableError)]


def get_backend(name: str) -> KernelBackend:
    """Return the backend called ``name``.

    Parameters
    ----------
    name
        ``"torch"``, ``"numba"`` or ``"cupy"``.

    Raises
    ------
    BackendUnavailableError
        If the name is unknown or the backend cannot run here; the message gives the reason
        and lists the available backends.
    """
    if name not in BACKENDS:
        raise BackendUnavailableError(
            str(name), f"unknown backend; known backends are {list(BACKENDS)}",
            available_backends(),
        )
    got = _try(name)
    if isinstance(got, BackendUnavailableError):
        raise BackendUnavailableError(name, got.reason, available_backends())
    return got
