r"""Functional neurons: pure step and multi-step functions with small state tuples.

Layout is time-first: ``x_seq`` has shape ``[T, N, ...]``; state tensors have ``x_seq.shape[1:]``.
Each function returns ``(output, state)`` and never mutates its arguments. Multi-step functions
dispatch to a backend from :mod:`snnmodels.kernels.registry` (``"torch"``, ``"numba"``,
``"cupy"``); step functions always use the torch formulas.

For one step (see :mod:`snnmodels.neurons.config` for all cases):

.. math::

    H[t] = V[t-1] + k\,(X[t] - (V[t-1] - V_r)), \quad
    S[t] = \Theta(H[t] - V_{th}), \quad
    V[t] = H[t]\,(1 - S[t]) + V_r\,S[t]

with :math:`k = 1/\tau` (LIF), :math:`k = \mathrm{sigmoid}(w)` (PLIF), and
:math:`H[t] = V[t-1] + X[t]` for IF.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch

from snnmodels.errors import ConfigError
from snnmodels.kernels.registry import get_backend
from snnmodels.kernels.torch_backend import charge, fire_and_reset
from snnmodels.neurons.config import NeuronConfig

__all__ = [
    "LIFState",
    "config_for",
    "initial_state",
    "w_from_tau",
    "if_step",
    "if_multi_step",
    "lif_step",
    "lif_multi_step",
    "plif_step",
    "plif_multi_step",
    "liaf_step",
    "liaf_multi_step",
]


class LIFState(NamedTuple):
    """Neuron state.

    Attributes
    ----------
    v
        Membrane potential after the last step.
    v_seq
        Potential after every step ``[T, ...]``; only filled by multi-step calls with
        ``store_v_seq=True``, ignored when the state is passed back in.
    """

    v: torch.Tensor
    v_seq: torch.Tensor | None = None


def w_from_tau(tau: float) -> float:
    """PLIF parameter :math:`w = -\\ln(\\tau - 1)`, so that :math:`\\mathrm{sigmoid}(w) = 1/\\tau`."""
    if not tau > 1:
        raise ConfigError(f"tau must be > 1, got {tau}")
    return -math.log(tau - 1.0)


def config_for(kind: str, p: NeuronConfig, output: str = "spike",
               threshold_related: bool = False) -> NeuronConfig:
    """``p`` run as a neuron of ``kind`` with ``output`` (what each function below runs).

    Raises :class:`~snnmodels.errors.ConfigError` for an impossible combination (LIF with
    ``tau <= 1``, an unknown output).
    """
    if (p.kind, p.output, p.threshold_related) == (kind, output, threshold_related):
        return p
    return dataclasses.replace(p, kind=kind, output=output, threshold_related=threshold_related)


def initial_state(x: torch.Tensor, p: NeuronConfig) -> LIFState:
    """State at the start of a sequence: ``v_reset`` (0 for soft reset) everywhere.

    ``x`` is one time step (or any tensor of the state's shape); the state is fp32 for
    fp16/bf16 inputs, else ``x``'s dtype.
    """
    dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    v0 = 0.0 if p.v_reset is None else p.v_reset
    return LIFState(torch.full(x.shape, v0, dtype=dtype, device=x.device))


def _step(x, state, decay, cfg):
    low = x.dtype in (torch.float16, torch.bfloat16)
    h = charge(x.float() if low else x, state.v, decay, cfg)
    y, v = fire_and_reset(h, cfg)
    return (y.to(x.dtype) if low else y), LIFState(v)


def _multi(x_seq, state, decay, cfg, backend, store_v_seq):
    if state is None:
        state = initial_state(x_seq[0], cfg)
    be = get_backend(backend)
    y, v, v_seq = be.multi_step(x_seq, state.v, decay, cfg, store_v_seq)
    return y, LIFState(v, v_seq)


def if_step(x: torch.Tensor, state: LIFState, p: NeuronConfig = NeuronConfig()
            ) -> tuple[torch.Tensor, LIFState]:
    """One IF step: :math:`H = V + X`; returns ``(spikes, new_state)``."""
    return _step(x, state, None, config_for("if", p))


def lif_step(x: torch.Tensor, state: LIFState, p: NeuronConfig = NeuronConfig()
             ) -> tuple[torch.Tensor, LIFState]:
    """One LIF step with time constant ``p.tau``; returns ``(spikes, new_state)``."""
    return _step(x, state, p.tau, config_for("lif", p))


def plif_step(x: torch.Tensor, state: LIFState, w: torch.Tensor,
              p: NeuronConfig = NeuronConfig()) -> tuple[torch.Tensor, LIFState]:
    """One PLIF step with decay :math:`k = \\mathrm{sigmoid}(w)`; returns ``(spikes, new_state)``."""
    return _step(x, state, torch.sigmoid(w), config_for("plif", p))


def liaf_step(x: torch.Tensor, state: LIFState, p: NeuronConfig = NeuronConfig(),
              act: str = "relu", threshold_related: bool = False
              ) -> tuple[torch.Tensor, LIFState]:
    """One LIAF step: LIF dynamics, analog output ``act(H - V_th)`` or ``act(H)``."""
    return _step(x, state, p.tau, config_for("lif", p, act, threshold_related))


def if_multi_step(x_seq: torch.Tensor, state: LIFState | None = None,
                  p: NeuronConfig = NeuronConfig(), *, backend: str = "torch",
                  store_v_seq: bool = False) -> tuple[torch.Tensor, LIFState]:
    """IF over ``x_seq`` ``[T, ...]``.

    Parameters
    ----------
    x_seq
        Input current, time first.
    state
        Initial state; ``None`` starts from :func:`initial_state`.
    p
        Neuron parameters (``tau`` unused; ``kind`` and ``output`` are the function's).
    backend
        ``"torch"``, ``"numba"`` or ``"cupy"``.
    store_v_seq
        Also return the potential after every step in ``state.v_seq``.

    Returns
    -------
    spikes, state
        Spikes ``[T, ...]`` in ``x_seq``'s dtype and the state after the last step.
    """
    return _multi(x_seq, state, None, config_for("if", p), backend, store_v_seq)


def lif_multi_step(x_seq: torch.Tensor, state: LIFState | None = None,
                   p: NeuronConfig = NeuronConfig(), *, backend: str = "torch",
                   store_v_seq: bool = False) -> tuple[torch.Tensor, LIFState]:
    """LIF over ``x_seq`` ``[T, ...]`` (arguments and returns as :func:`if_multi_step`)."""
    return _multi(x_seq, state, float(p.tau), config_for("lif", p), backend, store_v_seq)


def plif_multi_step(x_seq: torch.Tensor, w: torch.Tensor, state: LIFState | None = None,
                    p: NeuronConfig = NeuronConfig(), *, backend: str = "torch",
                    store_v_seq: bool = False) -> tuple[torch.Tensor, LIFState]:
    """PLIF over ``x_seq`` with learnable scalar ``w`` (:math:`k = \\mathrm{sigmoid}(w)`).

    Gradients flow to ``w`` through :math:`k`; other arguments as :func:`if_multi_step`.
    """
    return _multi(x_seq, state, torch.sigmoid(w), config_for("plif", p), backend, store_v_seq)


def liaf_multi_step(x_seq: torch.Tensor, state: LIFState | None = None,
                    p: NeuronConfig = NeuronConfig(), *, act: str = "relu",
                    threshold_related: bool = False, backend: str = "torch",
                    store_v_seq: bool = False) -> tuple[torch.Tensor, LIFState]:
    """LIAF over ``x_seq``: LIF dynamics and reset, analog output.

    ``act`` is ``"relu"`` or ``"identity"``; the output is ``act(H - V_th)`` when
    ``threshold_related`` else ``act(H)``. Other arguments as :func:`if_multi_step`.
    """
    cfg = config_for("lif", p, act, threshold_related)
    return _multi(x_seq, state, float(p.tau), cfg, backend, store_v_seq)
