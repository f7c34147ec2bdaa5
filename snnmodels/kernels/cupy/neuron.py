r"""Fused CUDA forward/backward for IF/LIF/PLIF/LIAF through cupy ``RawModule``.

Same equations and backward recurrence as :mod:`snnmodels.kernels.numba_backend`; the CUDA source
is ``neuron.cu`` beside this file. One thread per neuron loops over T; the forward keeps only
:math:`H` (fp32) for backward. PLIF's :math:`\partial L/\partial k` is reduced per block in shared
memory and added with one ``atomicAdd`` per block (so every block counts; tests use > 1 block).

* Compiled once per (dtype, kind, reset mode, decay_input, detach, surrogate, output, ...) and
  cached; cupy also caches the binary on disk.
* Inputs and outputs in float32 or float16; state and :math:`H` always float32.
* Launched on torch's current stream (``cupy.cuda.ExternalStream``) inside a device guard.
* ``--fmad=false``, no fast math: results round like torch's separate element-wise operations.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cupy
import numpy as np
import torch

from snnmodels.errors import BackendUnavailableError
from snnmodels.neurons.config import NeuronConfig
from snnmodels.kernels.cupy.source import SCALAR as _SCALAR
from snnmodels.kernels.cupy.source import kernel_source

__all__ = ["CupyBackend", "THREADS"]

#: Threads per block (a power of two: the PLIF reduction needs it).
THREADS = 256


@lru_cache(maxsize=None)
def _module(dtype: torch.dtype, key: tuple, store_h: bool, store_v: bool, has_gvs: bool):
    cfg = NeuronConfig(*key)
    src = kernel_source(dtype, cfg, store_h, store_v, has_gvs)
    return cupy.RawModule(code=src, options=("--fmad=false", "--std=c++14"))


def _static(cfg: NeuronConfig) -> tuple:
    # thresholds/reset/alpha values are runtime arguments, so normalise them out of the key
    return (cfg.kind, 1.0, 0.0 if cfg.hard_reset else None, cfg.surrogate, None,
            cfg.detach_reset, cfg.decay_input, cfg.output, cfg.threshold_related)


def _launch(fn, n: int, args: tuple, device: torch.device, shared: int = 0) -> None:
    grid = ((n + THREADS - 1) // THREADS,)
    with cupy.cuda.Device(device.index), cupy.cuda.ExternalStream(
        torch.cuda.current_stream(device).cuda_stream
    ):
        fn(grid, (THREADS,), args, shared_mem=shared)


def _ptr(t: torch.Tensor | None) -> np.uint64:
    return np.uint64(0 if t is None else t.data_ptr())


class _CupyNeuron(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, v0, k, cfg, tau, store_v_seq, needs_grad):
        T, M = x2.shape
        dev = x2.device
        f32 = dict(dtype=torch.float32, device=dev)
        h = torch.empty((T, M) if needs_grad else (1,), **f32)
        y = torch.empty_like(x2)
        vseq = torch.empty((T, M) if store_v_seq else (0,), **f32)
        vlast = torch.empty(M, **f32)
        mod = _module(x2.dtype, _static(cfg), needs_grad, store_v_seq, False)
        args = (_ptr(x2), _ptr(v0), _ptr(k), np.float32(cfg.v_threshold),
                np.float32(cfg.reset_value), np.float32(tau), _ptr(h), _ptr(y), _ptr(vseq),
                _ptr(vlast), np.int64(M), np.int32(T))
        _launch(mod.get_function("snn_forward"), M, args, dev)
        ctx.cfg, ctx.tau, ctx.has_k, ctx.dtype = cfg, tau, k is not None, x2.dtype
        if needs_grad:
            ctx.save_for_backward(h, v0.detach(), k)
        return y, vlast, vseq

    @staticmethod
    def backward(ctx, gy, gvl, gvs):
        h, v0, k = ctx.saved_tensors
        cfg = ctx.cfg
        T, M = h.shape
        dev = h.device
        gy = torch.zeros((T, M), dtype=ctx.dtype,
                         device=dev) if gy is None else gy.contiguous()
        gvl = torch.zeros(M, dtype=torch.float32, device=dev) if gvl is None \
            else gvl.float().contiguous()
        has_gvs = gvs is not None and gvs.numel() == T * M
        gvs = gvs.float().contiguous() if has_gvs else None
        if cfg.surrogate == "atan":
            a1, a2 = math.pi / 2 * cfg.alpha, cfg.alpha / 2
        elif cfg.surrogate == "sigmoid":
            a1, a2 = cfg.alpha, 0.0
        else:
            a1, a2 = cfg.alpha, cfg.alpha * cfg.alpha
        gx = torch.empty((T, M), dtype=gy.dtype, device=dev)
        gv0 = torch.empty(M, dtype=torch.float32, device=dev)
        gk = torch.zeros(1, dtype=torch.float32, device=dev)
        mod = _module(gy.dtype, _static(cfg), True, False, has_gvs)
        args = (_ptr(h), _ptr(v0), _ptr(k), _ptr(gy), _ptr(gvl), _ptr(gvs),
                np.float32(cfg.v_threshold), np.float32(cfg.reset_value), np.float32(ctx.tau),
                np.float32(a1), np.float32(a2), _ptr(gx), _ptr(gv0), _ptr(gk), np.int64(M),
                np.int32(T))
        shared = THREADS * 4 if cfg.kind == "plif" else 0
        _launch(mod.get_function("snn_backward"), M, args, dev, shared)
        gk_out = gk if (ctx.has_k and ctx.needs_input_grad[2]) else None
        return gx, gv0, gk_out, None, None, None, None


class CupyBackend:
    """Fused CUDA backend (cupy RawModule kernels, fp32 and fp16)."""

    name = "cupy"

    def check_tensor(self, x: torch.Tensor) -> None:
        """Refuse CPU tensors and dtypes other than float32/float16."""
        from snnmodels.kernels.registry import available_backends

        if x.device.type != "cuda":
            raise BackendUnavailableError(
                "cupy", f"tensor is on {x.device}, the cupy backend needs a CUDA tensor",
                available_backends(),
            )
        if x.dtype not in _SCALAR:
            raise BackendUnavailableError(
                "cupy", f"dtype {x.dtype} is not supported (float32 and float16 only)",
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
        y, vlast, vs = _CupyNeuron.apply(x2, v0f, k, cfg, tau, store_v_seq, needs_grad)
        return y.reshape(x_seq.shape), vlast.reshape(shape), (
            vs.reshape(x_seq.shape) if store_v_seq else None
        )
