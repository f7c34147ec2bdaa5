r"""Thin multi-step neuron modules over the functional API.

Every module takes ``x_seq`` ``[T, N, ...]`` and returns the output sequence of the same shape.
The state starts afresh (``v_reset``, or 0 for soft reset) at the start of every ``forward``, so
there is no ``reset_net`` to forget; pass ``state=`` to continue a sequence explicitly. After a
call, ``self.state`` holds the last :class:`~snnmodels.neurons.functional.LIFState` (with the
potential trace ``v_seq`` when ``store_v_seq=True``).

Equations: see :mod:`snnmodels.neurons.config`.
"""

from __future__ import annotations

import torch
from torch import nn

from snnmodels.kernels.registry import get_backend
from snnmodels.neurons import functional as F
from snnmodels.neurons.config import NeuronConfig
from snnmodels.neurons.functional import LIFState

__all__ = ["IF", "LIF", "PLIF", "LIAF"]


class _Neuron(nn.Module):
    kind = "lif"

    def __init__(
        self,
        *,
        tau: float = 2.0,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate: str = "atan",
        alpha: float | None = None,
        detach_reset: bool = False,
        decay_input: bool = True,
        backend: str = "torch",
        store_v_seq: bool = False,
    ) -> None:
        super().__init__()
        # validated now rather than at the first forward
        self.p = NeuronConfig(kind=self.kind, tau=float(tau), v_threshold=float(v_threshold), v_reset=v_reset,
                              surrogate=surrogate, alpha=alpha, detach_reset=bool(detach_reset),
                              decay_input=bool(decay_input))
        get_backend(backend)  # raises BackendUnavailableError with the reason
        self.backend = backend
        self.store_v_seq = store_v_seq
        self.state: LIFState | None = None

    def extra_repr(self) -> str:
        p = self.p
        return (f"tau={p.tau}, v_threshold={p.v_threshold}, v_reset={p.v_reset}, "
                f"surrogate={p.surrogate!r}, detach_reset={p.detach_reset}, "
                f"decay_input={p.decay_input}, backend={self.backend!r}")

    def _run(self, x_seq: torch.Tensor, state: LIFState | None) -> tuple[torch.Tensor, LIFState]:
        raise NotImplementedError

    def forward(self, x_seq: torch.Tensor, state: LIFState | None = None) -> torch.Tensor:
        """Run the neuron over ``x_seq`` ``[T, ...]`` from a fresh (or the given) state."""
        y, st = self._run(x_seq, state)
        self.state = st
        return y


class IF(_Neuron):
    r"""Integrate-and-fire neuron, :math:`H[t] = V[t-1] + X[t]` (``tau`` is ignored).

    Parameters
    ----------
    v_threshold, v_reset, surrogate, alpha, detach_reset
        See :class:`~snnmodels.neurons.config.NeuronConfig`; ``v_reset=None`` is soft reset.
    backend
        ``"torch"``, ``"numba"`` or ``"cupy"``.
    store_v_seq
        Keep the potential after every step in ``self.state.v_seq``.
    """

    kind = "if"

    def _run(self, x_seq, state):
        return F.if_multi_step(x_seq, state, self.p, backend=self.backend,
                               store_v_seq=self.store_v_seq)


class LIF(_Neuron):
    r"""Leaky integrate-and-fire neuron with fixed time constant ``tau``.

    .. math::
        H[t] = V[t-1] + \frac{1}{\tau}\big(X[t] - (V[t-1] - V_r)\big)

    (``decay_input=False``: :math:`H[t] = V[t-1] - \frac{1}{\tau}(V[t-1] - V_r) + X[t]`.)

    Parameters
    ----------
    tau
        Membrane time constant, > 1.
    v_threshold, v_reset, surrogate, alpha, detach_reset, decay_input
        See :class:`~snnmodels.neurons.config.NeuronConfig`.
    backend, store_v_seq
        As for :class:`IF`.
    """

    kind = "lif"

    def _run(self, x_seq, state):
        return F.lif_multi_step(x_seq, state, self.p, backend=self.backend,
                                store_v_seq=self.store_v_seq)


class PLIF(_Neuron):
    r"""Parametric LIF (Fang et al., 2021): one learnable decay per layer.

    :math:`k = \mathrm{sigmoid}(w) = 1/\tau`, with ``w`` initialised to
    :math:`-\ln(\tau_0 - 1)` from ``tau`` (SpikingJelly's ``init_tau``).

    Parameters
    ----------
    tau
        Initial time constant :math:`\tau_0` > 1.
    Others
        As for :class:`LIF`.
    """

    kind = "plif"

    def __init__(self, *, tau: float = 2.0, **kwargs) -> None:
        super().__init__(tau=tau, **kwargs)
        self.w = nn.Parameter(torch.tensor(F.w_from_tau(tau)))

    @property
    def tau(self) -> torch.Tensor:
        """Current time constant :math:`1/\\mathrm{sigmoid}(w)`."""
        return 1.0 / torch.sigmoid(self.w.detach())

    def _run(self, x_seq, state):
        return F.plif_multi_step(x_seq, self.w, state, self.p, backend=self.backend,
                                 store_v_seq=self.store_v_seq)


class LIAF(_Neuron):
    r"""Leaky integrate and analog fire (LIAF-Net; the ES-ImageNet recipe).

    LIF charge and reset (the spike :math:`\Theta(H - V_{th})` still resets the potential), but
    the output is analog: :math:`\mathrm{act}(H[t] - V_{th})` if ``threshold_related`` else
    :math:`\mathrm{act}(H[t])`, with ``act`` ``"relu"`` (default) or ``"identity"``.

    Parameters
    ----------
    act
        ``"relu"`` or ``"identity"``.
    threshold_related
        Subtract the threshold before the activation.
    Others
        As for :class:`LIF`.
    """

    kind = "lif"

    def __init__(self, *, act: str = "relu", threshold_related: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.p = F.config_for("lif", self.p, act, threshold_related)  # checks act now
        self.act = act
        self.threshold_related = threshold_related

    def _run(self, x_seq, state):
        return F.liaf_multi_step(x_seq, state, self.p, act=self.act,
                                 threshold_related=self.threshold_related,
                                 backend=self.backend, store_v_seq=self.store_v_seq)
