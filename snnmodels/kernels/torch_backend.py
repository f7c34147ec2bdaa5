r"""``torch`` backend: the autograd reference.

Each time step is a handful of element-wise torch operations (see
:mod:`snnmodels.neurons.config` for the equations); autograd records them and computes exact BPTT
under the surrogate. The operation order follows SpikingJelly 2.0 so that potentials agree bit for
bit. It runs on any device and dtype (fp16/bf16 inputs are computed in fp32) and traces under
``torch.compile`` without graph breaks.
"""

from __future__ import annotations

import torch

from snnmodels.neurons.config import NeuronConfig
from snnmodels.neurons.surrogate import _Heaviside

__all__ = ["TorchBackend", "charge", "fire_and_reset"]

Decay = float | torch.Tensor | None


def charge(x: torch.Tensor, v: torch.Tensor, decay: Decay, cfg: NeuronConfig) -> torch.Tensor:
    """Charged potential :math:`H[t]` from input ``x`` and previous potential ``v``.

    ``decay`` is ``None`` (IF), ``tau`` as a float (LIF) or :math:`k=\\mathrm{sigmoid}(w)` as a
    tensor (PLIF).
    """
    if cfg.kind == "if":
        return v + x
    r = cfg.reset_value
    if cfg.kind == "lif":
        if cfg.decay_input:
            return v + (x - (v - r)) / decay
        return v - (v - r) / decay + x
    if cfg.decay_input:
        return v + (x - (v - r)) * decay
    return v - (v - r) * decay + x


def fire_and_reset(h: torch.Tensor, cfg: NeuronConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Output (spike or LIAF analog value) and reset potential from the charged potential."""
    spike = _Heaviside.apply(h - cfg.v_threshold, cfg.surrogate, cfg.alpha)
    s = spike.detach() if cfg.detach_reset else spike
    if cfg.v_reset is None:
        v = h - s * cfg.v_threshold
    else:
        v = s * cfg.v_reset + (1.0 - s) * h
    if cfg.output == "spike":
        return spike, v
    y = h - cfg.v_threshold if cfg.threshold_related else h
    return (torch.relu(y) if cfg.output == "relu" else y), v


class TorchBackend:
    """Reference backend: per-step torch operations, gradients by autograd."""

    name = "torch"

    def check_tensor(self, x: torch.Tensor) -> None:
        """Every device is fine for the reference backend."""

    def multi_step(
        self,
        x_seq: torch.Tensor,
        v0: torch.Tensor,
        decay: Decay,
        cfg: NeuronConfig,
        store_v_seq: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Run ``T = x_seq.shape[0]`` steps.

        Parameters
        ----------
        x_seq
            Input ``[T, ...]``.
        v0
            Initial potential, shape ``x_seq.shape[1:]``, fp32 or fp64.
        decay
            ``None`` (IF), ``tau`` (LIF) or ``sigmoid(w)`` tensor (PLIF).
        cfg
            Static neuron configuration.
        store_v_seq
            Also return the potential after every step.

        Returns
        -------
        out_seq, v_last, v_seq
            Output ``[T, ...]`` in ``x_seq``'s dtype, last potential, and ``[T, ...]`` potentials
            (``None`` unless ``store_v_seq``).
        """
        low = x_seq.dtype in (torch.float16, torch.bfloat16)
        v = v0
        outs, vs = [], []
        for x in x_seq:
            h = charge(x.float() if low else x, v, decay, cfg)
            y, v = fire_and_reset(h, cfg)
            outs.append(y.to(x_seq.dtype) if low else y)
            if store_v_seq:
                vs.append(v)
        return torch.stack(outs), v, (torch.stack(vs) if store_v_seq else None)
