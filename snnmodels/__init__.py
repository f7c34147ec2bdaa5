"""snnmodels: multi-step spiking neurons with fused CPU/GPU kernels, and layers for
time-first ``[T, N, ...]`` neuromorphic frames.

Neurons (:class:`IF`, :class:`LIF`, :class:`PLIF`, :class:`LIAF`) reset their state at the start of
every forward; the ``backend`` argument picks ``"torch"`` (autograd reference), ``"numba"`` (fused
CPU) or ``"cupy"`` (fused CUDA) through :func:`get_backend`.
"""

from snnmodels.errors import BackendUnavailableError, SnnmodelsError
from snnmodels.kernels.registry import available_backends, get_backend
from snnmodels.layers import TimeFolded, Voting
from snnmodels.neurons import IF, LIAF, LIF, PLIF, LIFParameters, LIFState
from snnmodels.neurons import functional

__all__ = [
    "IF",
    "LIF",
    "PLIF",
    "LIAF",
    "LIFParameters",
    "LIFState",
    "TimeFolded",
    "Voting",
    "functional",
    "get_backend",
    "available_backends",
    "BackendUnavailableError",
    "SnnmodelsError",
]
