r"""Fused CUDA forward/backward for IF/LIF/PLIF/LIAF through cupy ``RawModule``.

Same equations and backward recurrence as :mod:`snnmodels.kernels.numba_backend`; the CUDA source
is ``neuron.cu`` beside this file and the launch plan (buffers, arguments, grid, the PLIF
reduction) is :mod:`snnmodels.kernels.cupy.fused`. This module only adds what needs CuPy:

* Compiled by NVRTC once per source (dtype, kind, reset mode, decay_input, detach, surrogate,
  output, stored buffers) and cached; cupy also caches the binary on disk. A compile or load
  failure raises :class:`~snnmodels.errors.BackendUnavailableError` with the compiler log.
* ``--fmad=false``, no fast math: results round like torch's separate element-wise operations.
* Launched on torch's current stream (``cupy.cuda.ExternalStream``) inside a device guard.
"""

from __future__ import annotations

from functools import lru_cache

import cupy
import torch

from snnmodels.errors import BackendUnavailableError
from snnmodels.kernels.cupy.fused import THREADS, FusedKernelBackend

__all__ = ["CupyBackend", "CupyLauncher", "THREADS", "NVRTC_OPTIONS"]

#: NVRTC options: no fused multiply-add, so each operation rounds like a separate torch kernel.
NVRTC_OPTIONS = ("--fmad=false", "--std=c++14")


def _why(exc: BaseException) -> str:
    """One message from a CuPy compile/driver error, with the NVRTC log when there is one."""
    log = ""
    get_log = getattr(exc, "get_message", None)  # cupy.cuda.compiler.CompileException
    if callable(get_log):
        try:
            log = str(get_log())
        except Exception:  # the log is a courtesy: never let it hide the error itself
            log = ""
    text = str(exc).strip()
    if log and log.strip() not in text:
        text = f"{text}\n{log.strip()}"
    return f"{type(exc).__name__}: {text}"


def _others() -> list[str]:
    """The backends that can run here (cupy's own loader checks only import and device)."""
    from snnmodels.kernels.registry import available_backends

    return [n for n in available_backends() if n != "cupy"]


@lru_cache(maxsize=None)
def _function(source: str, name: str, device: int):
    """Compile ``source`` (once per device) and return its kernel ``name``."""
    with cupy.cuda.Device(device):
        try:
            return cupy.RawModule(code=source, options=NVRTC_OPTIONS).get_function(name)
        except Exception as exc:  # CompileException, CUDADriverError, CUDARuntimeError, ...
            raise BackendUnavailableError(
                "cupy", f"the CUDA kernel {name} could not be compiled or loaded "
                f"({_why(exc)})", _others(),
            ) from None


class CupyLauncher:
    """Compiles with NVRTC through ``cupy.RawModule`` and launches on torch's current stream."""

    def launch(self, source: str, name: str, grid: int, block: int, args: tuple, shared: int,
               device: torch.device) -> None:
        """See :class:`snnmodels.kernels.cupy.fused.KernelLauncher`."""
        index = torch.cuda.current_device() if device.index is None else device.index
        fn = _function(source, name, index)
        with cupy.cuda.Device(index), cupy.cuda.ExternalStream(
            torch.cuda.current_stream(index).cuda_stream
        ):
            try:
                fn((grid,), (block,), args, shared_mem=shared)
            except Exception as exc:  # a driver error at launch (bad configuration, no memory)
                raise BackendUnavailableError(
                    "cupy", f"launching the CUDA kernel {name} failed ({_why(exc)})", _others()
                ) from None


class CupyBackend(FusedKernelBackend):
    """Fused CUDA backend (cupy RawModule kernels, fp32 and fp16).

    Parameters
    ----------
    threads
        Threads per block, a power of two from 32 to 1024.
    deterministic
        PLIF's decay gradient by a fixed-order float64 reduction (same value on every run);
        ``None`` follows ``torch.are_deterministic_algorithms_enabled()``.
    """

    def __init__(self, threads: int = THREADS, deterministic: bool | None = None) -> None:
        super().__init__(CupyLauncher(), threads=threads, deterministic=deterministic,
                         device_type="cuda")
