"""``cupy`` backend: fused CUDA kernels (optional extras ``gpu-cuda12`` / ``gpu-cuda13``; cupy is imported only here).

:func:`load` returns the backend or raises
:class:`~snnmodels.errors.BackendUnavailableError` saying why (cupy missing or broken, no CUDA
device visible to torch or to cupy); a kernel that NVRTC cannot compile raises it too, with the
compiler log. ``neuron.cu`` is the CUDA source, :mod:`.source` assembles it per configuration,
:mod:`.fused` plans the launches (no cupy import), :mod:`.neuron` compiles and launches with CuPy.

PLIF's decay gradient is summed with float ``atomicAdd`` by default; for the same value on every
run use ``torch.use_deterministic_algorithms(True)`` or
``snnmodels.get_backend("cupy").deterministic = True`` (a fixed-order float64 reduction).
"""

from __future__ import annotations

from snnmodels.errors import BackendUnavailableError

__all__ = ["load"]


def load():
    """Import cupy, check for a CUDA device and return a :class:`CupyBackend`."""
    try:
        import cupy  # noqa: F401
    except Exception as exc:
        raise BackendUnavailableError(
            "cupy", f"cupy cannot be imported ({type(exc).__name__}: {exc}); "
            "install the extra matching your CUDA version: pip install 'eventkit[gpu-cuda12]' "
            "or pip install 'eventkit[gpu-cuda13]'",
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailableError("cupy", "torch sees no CUDA device")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise BackendUnavailableError("cupy", f"cupy cannot reach a CUDA device ({exc})") from None
    if n < 1:
        raise BackendUnavailableError("cupy", "cupy sees no CUDA device")
    from snnmodels.kernels.cupy.neuron import CupyBackend

    return CupyBackend()
