"""snnmodels: multi-step spiking neurons with fused CPU/GPU kernels, and layers for
time-first ``[T, N, ...]`` neuromorphic frames.

Neurons (:class:`IF`, :class:`LIF`, :class:`PLIF`, :class:`LIAF`) reset their state at the start of
every forward; the ``backend`` argument picks ``"torch"`` (autograd reference), ``"numba"`` (fused
CPU) or ``"cupy"`` (fused CUDA) through :func:`get_backend`.
"""

import sys

from eventkit._extras import MissingExtraError, require

# snnmodels is all torch: without it, `import snnmodels` says in one line which extra installs it.
try:
    require("torch", "train", "snnmodels")
except MissingExtraError as _err:
    if sys.argv[:1] == ["-m"]:  # `python -m snnmodels` is importing this package: a CLI, so no traceback
        raise SystemExit(f"Error: {_err}") from None
    raise

from snnmodels.errors import BackendUnavailableError, SnnmodelsError  # noqa: E402
from snnmodels.kernels.registry import available_backends, get_backend  # noqa: E402
from snnmodels.layers import TimeFolded, Voting  # noqa: E402
from snnmodels.neurons import IF, LIAF, LIF, PLIF, LIFState, NeuronConfig  # noqa: E402
from snnmodels.neurons import functional  # noqa: E402

__all__ = [
    "IF",
    "LIF",
    "PLIF",
    "LIAF",
    "NeuronConfig",
    "LIFState",
    "TimeFolded",
    "Voting",
    "functional",
    "get_backend",
    "available_backends",
    "BackendUnavailableError",
    "SnnmodelsError",
]
