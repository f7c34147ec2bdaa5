r"""``numba`` backend: fused CPU forward and backward for IF/LIF/PLIF/LIAF.

Layout: ``x_seq`` is flattened to ``[T, M]`` (time-major, M = all other dimensions). The neurons
are cut into contiguous blocks of :data:`BLOCK`; ``numba.prange`` runs blocks in parallel, and each
block sweeps the time steps with an inner loop over its neurons, so the working set (one potential
per neuron) stays in cache and the inner loop vectorises.

Forward (see :mod:`snnmodels.neurons.config` for the equations) stores only the charged potential
:math:`H` ``[T, M]`` (fp32 state) for backward; nothing at all under ``no_grad``. Backward recomputes
:math:`S = \Theta(H - V_{th})` and :math:`V[t]` from :math:`H` and runs the recurrence in reverse
with one carried value per neuron:

.. math::

    \frac{\partial L}{\partial H[t]} &= g_S[t]\,g'(H[t]-V_{th})
        + \Big(g_V[t] + \frac{\partial L}{\partial H[t+1]}(1-k)\Big)\,
          \frac{\partial V[t]}{\partial H[t]} \\
    \frac{\partial V[t]}{\partial H[t]} &= \begin{cases}
        1 - S[t] + (V_r - H[t])\,g'(H[t]-V_{th})\,[\text{not detached}] & \text{hard} \\
        1 - V_{th}\,g'(H[t]-V_{th})\,[\text{not detached}] & \text{soft}
    \end{cases} \\
    \frac{\partial L}{\partial X[t]} &= \frac{\partial L}{\partial H[t]} \cdot
        (k \text{ if decay\_input else } 1), \qquad
    \frac{\partial L}{\partial k} = \sum_{t} \frac{\partial L}{\partial H[t]}
        \begin{cases} (H[t] - V[t-1]) / k & \text{decay\_input} \\
                      -(V[t-1] - V_r) & \text{otherwise} \end{cases}

(:math:`k = 0` for IF.) The PLIF sum is reduced per block in float64, then across blocks.
Kernels are compiled once per static configuration and dtype (float32/float64; fp16/bf16 inputs
run in float32). Arithmetic is done in the array dtype with the same operation order as the torch
reference, so spikes and potentials match it exactly.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import torch

from snnmodels.errors import BackendUnavailableError
from snnmodels.kernels._constants import KIND_CODES, OUTPUT_CODES, surrogate_constants
from snnmodels.neurons.config import NeuronConfig
from snnmodels.neurons.surrogate import SURROGATE_IDS

__all__ = ["NumbaBackend", "BLOCK"]

#: Neurons per parallel block.
BLOCK = 4096

def _key(cfg: NeuronConfig) -> tuple:
    """The static part of a configuration that is compiled into a kernel."""
    return (
        KIND_CODES[cfg.kind],
        cfg.hard_reset,
        cfg.decay_input,
        cfg.detach_reset,
        SURROGATE_IDS[cfg.surrogate],
        OUTPUT_CODES[cfg.output],
        cfg.threshold_related,
    )


@lru_cache(maxsize=None)
def _forward_kernel(kind: int, hard: bool, decay_input: bool, out: int, tr: bool,
                    store_h: bool, store_v: bool):
    """Compile the fused forward for one configuration (closure values are constants)."""

    @numba.njit(parallel=True, cache=True, nogil=True)
    def fwd(x, v0, th, vr, dec, one, zero, h_out, y_out, vseq_out, v_last):
        T, M = x.shape
        nb = (M + BLOCK - 1) // BLOCK
        for b in numba.prange(nb):
            j0 = b * BLOCK
            j1 = min(M, j0 + BLOCK)
            for j in range(j0, j1):
                v_last[j] = v0[j]
            for t in range(T):
                for j in range(j0, j1):
                    v = v_last[j]
                    xi = x[t, j]
                    if kind == 0:
                        h = v + xi
                    elif kind == 1:
                        if decay_input:
                            h = v + (xi - (v - vr)) / dec
                        else:
                            h = v - (v - vr) / dec + xi
                    else:
                        if decay_input:
                            h = v + (xi - (v - vr)) * dec
                        else:
                            h = v - (v - vr) * dec + xi
                    if store_h:
                        h_out[t, j] = h
                    fire = h >= th
                    if out == 0:
                        y_out[t, j] = one if fire else zero
                    else:
                        y = h - th if tr else h
                        if out == 1:
                            y = y if y > zero else zero
                        y_out[t, j] = y
                    if hard:
                        vn = vr if fire else h
                    else:
                        vn = h - th if fire else h
                    v_last[j] = vn
                    if store_v:
                        vseq_out[t, j] = vn

    return fwd


@lru_cache(maxsize=None)
def _backward_kernel(kind: int, hard: bool, decay_input: bool, detach: bool, surr: int,
                     out: int, tr: bool, has_gvs: bool):
    """Compile the fused backward for one configuration."""

    @numba.njit(parallel=True, cache=True, nogil=True)
    def bwd(h, v0, gy, gvl, gvs, th, vr, dec, a1, a2, one, zero, gx, gv0, gk_part):
        T, M = h.shape
        nb = (M + BLOCK - 1) // BLOCK
        for b in numba.prange(nb):
            j0 = b * BLOCK
            j1 = min(M, j0 + BLOCK)
            acc = 0.0
            for j in range(j0, j1):
                gv0[j] = gvl[j]  # gv0 carries dL/dV[t] from the future
            for t in range(T - 1, -1, -1):
                for j in range(j0, j1):
                    hh = h[t, j]
                    u = hh - th
                    if surr == 0:
                        s_ = one / (one + np.exp(-(a1 * u)))
                        sg = (one - s_) * s_ * a1
                    elif surr == 1:
                        z = u * a1
                        sg = a2 / (one + z * z)
                    else:
                        sg = a1 - a2 * abs(u)
                        sg = sg if sg > zero else zero
                    fire = hh >= th
                    if hard:
                        dvdh = zero if fire else one
                        if not detach:
                            dvdh = dvdh + (vr - hh) * sg
                    else:
                        dvdh = one
                        if not detach:
                            dvdh = one - th * sg
                    gv = gv0[j]
                    if has_gvs:
                        gv = gv + gvs[t, j]
                    if out == 0:
                        gh = gy[t, j] * sg
                    else:
                        gh = gy[t, j]
                        if out == 1:
                            yy = hh - th if tr else hh
                            gh = gh if yy > zero else zero
                    gh = gh + gv * dvdh
                    if kind == 0:
                        gx[t, j] = gh
                        gv0[j] = gh
                    elif kind == 1:
                        gx[t, j] = gh / dec if decay_input else gh
                        gv0[j] = gh - gh / dec
                    else:
                        gx[t, j] = gh * dec if decay_input else gh
                        gv0[j] = gh - gh * dec
                        if t > 0:
                            hp = h[t - 1, j]
                            if hard:
                                vp = vr if hp >= th else hp
                            else:
                                vp = hp - th if hp >= th else hp
                        else:
                            vp = v0[j]
                        if decay_input:
                            acc += gh * ((hh - vp) / dec)
                        else:
                            acc -= gh * (vp - vr)
            gk_part[b] = acc

    return bwd


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _sync_threads() -> None:
    """Use as many numba threads as torch does (so torch.set_num_threads governs both)."""
    n = max(1, min(numba.config.NUMBA_NUM_THREADS, torch.get_num_threads()))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


class _FusedNeuron(torch.autograd.Function):
    """Autograd wrapper: forward/backward call the fused numba kernels on ``[T, M]`` views."""

    @staticmethod
    def forward(ctx, x2, v0, k, cfg, tau, store_v_seq, needs_grad):
        _sync_threads()
        dt = np.float64 if x2.dtype == torch.float64 else np.float32
        T, M = x2.shape
        xn = _np(x2)
        v0n = _np(v0).astype(dt, copy=False)
        dec = tau if cfg.kind == "lif" else (float(k) if cfg.kind == "plif" else 0.0)
        h = np.empty((T, M) if needs_grad else (1, 1), dt)
        y = np.empty((T, M), dt)
        vseq = np.empty((T, M) if store_v_seq else (1, 1), dt)
        vlast = np.empty(M, dt)
        kern = _forward_kernel(*_key(cfg)[:3], _key(cfg)[5], cfg.threshold_related,
                               needs_grad, store_v_seq)
        kern(xn, v0n, dt(cfg.v_threshold), dt(cfg.reset_value), dt(dec), dt(1), dt(0),
             h, y, vseq, vlast)
        ctx.cfg, ctx.dec, ctx.has_k = cfg, dec, k is not None
        if needs_grad:
            ctx.save_for_backward(torch.from_numpy(h), v0.detach())
        vs = torch.from_numpy(vseq) if store_v_seq else torch.empty(0, dtype=x2.dtype)
        return torch.from_numpy(y), torch.from_numpy(vlast), vs

    @staticmethod
    def backward(ctx, gy, gvl, gvs):
        _sync_threads()
        h_t, v0 = ctx.saved_tensors
        cfg = ctx.cfg
        h = h_t.numpy()
        dt = h.dtype.type
        T, M = h.shape
        gy = np.zeros((T, M), dt) if gy is None else _np(gy).astype(dt, copy=False)
        gvl = np.zeros(M, dt) if gvl is None else _np(gvl).astype(dt, copy=False)
        has_gvs = gvs is not None and gvs.numel() == T * M
        gvs_n = _np(gvs).astype(dt, copy=False).reshape(T, M) if has_gvs else np.zeros((1, 1), dt)
        a1, a2 = surrogate_constants(cfg)
        gx = np.empty((T, M), dt)
        gv0 = np.empty(M, dt)
        gk_part = np.zeros((M + BLOCK - 1) // BLOCK, np.float64)
        kern = _backward_kernel(*_key(cfg), has_gvs)
        kern(h, _np(v0).astype(dt, copy=False), gy, gvl, gvs_n, dt(cfg.v_threshold),
             dt(cfg.reset_value), dt(ctx.dec), dt(a1), dt(a2), dt(1), dt(0), gx, gv0, gk_part)
        gk = None
        if ctx.has_k and ctx.needs_input_grad[2]:
            gk = torch.tensor(gk_part.sum(), dtype=h_t.dtype)
        return torch.from_numpy(gx), torch.from_numpy(gv0), gk, None, None, None, None


class NumbaBackend:
    """Fused CPU backend (numba, parallel over neurons)."""

    name = "numba"

    def check_tensor(self, x: torch.Tensor) -> None:
        """Refuse tensors that are not on the CPU."""
        if x.device.type != "cpu":
            from snnmodels.kernels.registry import available_backends

            raise BackendUnavailableError(
                "numba", f"tensor is on {x.device}, the numba backend runs on the CPU only",
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
        work = torch.float64 if x_seq.dtype == torch.float64 else torch.float32
        x2 = x_seq.reshape(T, -1).to(work)
        v0f = v0.reshape(-1).to(work)
        k = decay.to(work) if isinstance(decay, torch.Tensor) else None
        tau = float(decay) if cfg.kind == "lif" else 0.0
        needs_grad = torch.is_grad_enabled() and (
            x2.requires_grad or v0f.requires_grad or (k is not None and k.requires_grad)
        )
        y, vlast, vs = _FusedNeuron.apply(x2, v0f, k, cfg, tau, store_v_seq, needs_grad)
        y = y.reshape(x_seq.shape).to(x_seq.dtype)
        return y, vlast.reshape(shape), (vs.reshape(x_seq.shape) if store_v_seq else None)
