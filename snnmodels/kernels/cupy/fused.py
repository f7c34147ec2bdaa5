r"""The device-independent half of the cupy backend: launch plans and the autograd function.

Everything here works on raw pointers handed to a :class:`KernelLauncher`; nothing imports cupy.
:mod:`snnmodels.kernels.cupy.neuron` plugs in the CuPy launcher (NVRTC, CUDA streams). The tests
plug in a host launcher that compiles the very same ``neuron.cu`` source with a C++ compiler
(``tests/snnmodels/cuda_host``), so the buffer sizes, argument lists, grid and block sizes and the
deterministic reduction below run on every machine, not only where a GPU is present.

* One CUDA thread per neuron; ``grid = ceil(M / threads)`` blocks of ``threads`` threads. No
  launch at all when ``M == 0`` (CUDA rejects a zero-block grid).
* ``threads`` must be a power of two in [32, 1024]: PLIF's block tree reduction halves it.
* PLIF's :math:`\partial L/\partial k`: by default one float ``atomicAdd`` per block (fast; the
  order of the additions, hence the last bits, varies between runs). ``deterministic=True`` (or
  ``torch.use_deterministic_algorithms(True)``) compiles the kernel with ``DET_GK``: each block
  writes its float64 partial sum to a buffer that is then summed in a fixed order, so every run
  gives the same value, within float64 rounding of the numba backend's sum.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from snnmodels.errors import BackendUnavailableError, ConfigError
from snnmodels.kernels._constants import surrogate_constants  # one definition for numba and CUDA
from snnmodels.kernels.cupy.source import SCALAR, kernel_source
from snnmodels.neurons.config import NeuronConfig

__all__ = ["KernelLauncher", "FusedKernelBackend", "THREADS", "check_block_size", "grid_size",
           "surrogate_constants"]

#: Default threads per block.
THREADS = 256


class KernelLauncher(Protocol):
    """Compiles CUDA source and launches one of its ``extern "C"`` kernels."""

    def launch(self, source: str, name: str, grid: int, block: int, args: tuple, shared: int,
               device: torch.device) -> None:
        """Run ``name`` from ``source`` on ``grid`` blocks of ``block`` threads.

        ``args`` holds numpy scalars in the kernel's parameter order (``np.uint64`` pointers,
        ``np.float32``, ``np.int64``, ``np.int32``); ``shared`` is the dynamic shared memory in bytes.
        """


def check_block_size(threads: int) -> int:
    """Return ``threads`` if it is a valid block size, else raise :class:`ConfigError`.

    The PLIF reduction halves the block size until one value is left, which only visits every
    thread's partial sum when the size is a power of two; CUDA allows at most 1024 threads per
    block, and fewer than one warp (32) wastes the hardware.
    """
    t = int(threads)
    if t != threads or t < 32 or t > 1024 or t & (t - 1):
        raise ConfigError(f"threads per block must be a power of two from 32 to 1024, got {threads!r}")
    return t


def grid_size(n: int, threads: int) -> int:
    """Blocks needed for ``n`` neurons (0 when ``n == 0``: the caller must skip the launch)."""
    return (n + threads - 1) // threads


def _ptr(t: torch.Tensor | None) -> np.uint64:
    return np.uint64(0 if t is None else t.data_ptr())


class _FusedCudaNeuron(torch.autograd.Function):
    """Autograd wrapper around ``snn_forward`` / ``snn_backward`` on ``[T, M]`` tensors."""

    @staticmethod
    def forward(ctx, x2, v0, k, cfg, tau, store_v_seq, needs_grad, be):
        T, M = x2.shape
        dev = x2.device
        f32 = dict(dtype=torch.float32, device=dev)
        h = torch.empty((T, M) if needs_grad else (1,), **f32)
        y = torch.empty_like(x2)
        vseq = torch.empty((T, M) if store_v_seq else (0,), **f32)
        vlast = torch.empty(M, **f32)
        if M > 0:
            src = kernel_source(x2.dtype, cfg, needs_grad, store_v_seq, False)
            args = (_ptr(x2), _ptr(v0), _ptr(k), np.float32(cfg.v_threshold),
                    np.float32(cfg.reset_value), np.float32(tau), _ptr(h), _ptr(y), _ptr(vseq),
                    _ptr(vlast), np.int64(M), np.int32(T))
            be.launcher.launch(src, "snn_forward", grid_size(M, be.threads), be.threads, args, 0,
                               dev)
        ctx.cfg, ctx.tau, ctx.has_k, ctx.dtype, ctx.be = cfg, tau, k is not None, x2.dtype, be
        ctx.det = be.resolve_deterministic()
        if needs_grad:
            ctx.save_for_backward(h, v0.detach(), k)
        return y, vlast, vseq

    @staticmethod
    def backward(ctx, gy, gvl, gvs):
        h, v0, k = ctx.saved_tensors
        cfg, be = ctx.cfg, ctx.be
        T, M = h.shape
        dev = h.device
        gy = torch.zeros((T, M), dtype=ctx.dtype, device=dev) if gy is None \
            else gy.to(ctx.dtype).contiguous()
        gvl = torch.zeros(M, dtype=torch.float32, device=dev) if gvl is None \
            else gvl.float().contiguous()
        has_gvs = gvs is not None and gvs.numel() == T * M
        gvs = gvs.float().contiguous() if has_gvs else None
        a1, a2 = surrogate_constants(cfg)
        gx = torch.empty((T, M), dtype=ctx.dtype, device=dev)
        gv0 = torch.empty(M, dtype=torch.float32, device=dev)
        plif = cfg.kind == "plif"
        blocks = grid_size(M, be.threads)
        det = plif and ctx.det
        # atomicAdd target (one float) or one float64 partial per block
        gk = torch.zeros(blocks if det else 1, dtype=torch.float64 if det else torch.float32,
                         device=dev)
        if M > 0:
            src = kernel_source(ctx.dtype, cfg, True, False, has_gvs, det)
            args = (_ptr(h), _ptr(v0), _ptr(k), _ptr(gy), _ptr(gvl), _ptr(gvs),
                    np.float32(cfg.v_threshold), np.float32(cfg.reset_value), np.float32(ctx.tau),
                    np.float32(a1), np.float32(a2), _ptr(gx), _ptr(gv0), _ptr(gk), np.int64(M),
                    np.int32(T))
            shared = be.threads * gk.element_size() if plif else 0
            be.launcher.launch(src, "snn_backward", blocks, be.threads, args, shared, dev)
        gk_out = None
        if ctx.has_k and ctx.needs_input_grad[2]:
            # torch.sum of one tensor on one device always adds in the same order
            gk_out = (gk.sum() if det else gk[0]).to(torch.float32).reshape(1)
        return gx, gv0, gk_out, None, None, None, None, None


class FusedKernelBackend:
    """The fused-kernel neuron backend, given a launcher.

    Parameters
    ----------
    launcher
        Compiles and runs the kernels (the CuPy launcher on a GPU).
    threads
        Threads per block: a power of two from 32 to 1024.
    deterministic
        PLIF's :math:`\\partial L/\\partial k` by a fixed-order float64 reduction instead of a
        float ``atomicAdd``. ``None`` follows ``torch.are_deterministic_algorithms_enabled()``.
    device_type
        The device type the tensors must be on (``"cuda"``; ``"cpu"`` for the host emulation).
    """

    name = "cupy"

    def __init__(self, launcher: KernelLauncher, threads: int = THREADS,
                 deterministic: bool | None = None, device_type: str = "cuda") -> None:
        self.launcher = launcher
        self.threads = check_block_size(threads)
        self.deterministic = deterministic
        self.device_type = device_type

    def resolve_deterministic(self) -> bool:
        """Whether the PLIF gradient is reduced in a fixed order right now."""
        if self.deterministic is None:
            return torch.are_deterministic_algorithms_enabled()
        return bool(self.deterministic)

    def check_tensor(self, x: torch.Tensor) -> None:
        """Refuse tensors on another device type and dtypes other than float32/float16."""
        from snnmodels.kernels.registry import available_backends

        if x.device.type != self.device_type:
            raise BackendUnavailableError(
                self.name, f"tensor is on {x.device}, the {self.name} backend needs a "
                f"{'CUDA' if self.device_type == 'cuda' else self.device_type} tensor",
                available_backends(),
            )
        if x.dtype not in SCALAR:
            raise BackendUnavailableError(
                self.name, f"dtype {x.dtype} is not supported (float32 and float16 only)",
                available_backends(),
            )

    def multi_step(
        self,
        x_seq: torch.Tensor,
        v0: torch.Tensor,
        decay: float | torch.Tensor | None,
        cfg: NeuronConfig,
        store_v_seq: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Same contract as :meth:`snnmodels.kernels.torch_backend.TorchBackend.multi_step`."""
        self.check_tensor(x_seq)
        T = x_seq.shape[0]
        shape = x_seq.shape[1:]
        x2 = x_seq.reshape(T, -1).contiguous()
        v0f = v0.reshape(-1).float().contiguous()
        k = decay.float().reshape(1).contiguous() if isinstance(decay, torch.Tensor) else None
        tau = float(decay) if cfg.kind == "lif" else 0.0
        needs_grad = torch.is_grad_enabled() and (
            x2.requires_grad or v0f.requires_grad or (k is not None and k.requires_grad)
        )
        y, vlast, vs = _FusedCudaNeuron.apply(x2, v0f, k, cfg, tau, store_v_seq, needs_grad, self)
        return y.reshape(x_seq.shape), vlast.reshape(shape), (
            vs.reshape(x_seq.shape) if store_v_seq else None
        )
