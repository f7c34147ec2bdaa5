r"""The static configuration of a neuron layer, shared by every backend.

One multi-step update over ``x_seq`` of shape ``[T, ...]`` runs, for each time step :math:`t`:

.. math::

    H[t] &= \begin{cases}
        V[t-1] + X[t] & \text{IF} \\
        V[t-1] + k\,(X[t] - (V[t-1] - V_r)) & \text{LIF/PLIF, decay\_input} \\
        V[t-1] - k\,(V[t-1] - V_r) + X[t] & \text{LIF/PLIF, not decay\_input}
    \end{cases} \\
    S[t] &= \Theta(H[t] - V_{th}) \\
    V[t] &= \begin{cases}
        H[t]\,(1 - S[t]) + V_r\,S[t] & \text{hard reset} \\
        H[t] - V_{th}\,S[t] & \text{soft reset } (V_r = \text{None, taken as 0 in the charge})
    \end{cases}

with :math:`k = 1/\tau` for LIF (computed as a division by :math:`\tau`) and
:math:`k = \mathrm{sigmoid}(w)` for PLIF. LIAF outputs :math:`\mathrm{act}(H[t] - V_{th})`
(``threshold_related``) or :math:`\mathrm{act}(H[t])` instead of :math:`S[t]`, and resets like LIF.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnmodels.errors import ConfigError
from snnmodels.neurons.surrogate import resolve_surrogate

__all__ = ["NeuronConfig", "KINDS", "OUTPUTS"]

KINDS = ("if", "lif", "plif")
OUTPUTS = ("spike", "relu", "identity")


@dataclass(frozen=True)
class NeuronConfig:
    """The parameters of a neuron layer: everything except its input and PLIF's learnable decay.

    The one configuration type of the functional API (its ``p`` argument), the modules and
    every kernel backend. The functional API sets ``kind``, ``output`` and ``threshold_related``
    from the function called (``lif_multi_step`` runs ``kind="lif"``, ...).

    Parameters
    ----------
    kind
        ``"if"``, ``"lif"`` (fixed tau) or ``"plif"`` (learnable decay).
    tau
        Membrane time constant, > 1 for LIF/LIAF; ignored by IF, and by PLIF (which learns
        ``w``; its modules take ``tau`` as the initial value).
    v_threshold
        Firing threshold :math:`V_{th}`.
    v_reset
        Hard-reset value :math:`V_r`; ``None`` selects soft reset (subtract the threshold).
    surrogate, alpha
        Surrogate gradient name and sharpness (resolved to a float).
    detach_reset
        Cut the gradient through the spike used in the reset.
    decay_input
        Whether the input is scaled by :math:`k` too.
    output
        ``"spike"`` for IF/LIF/PLIF; ``"relu"`` or ``"identity"`` for LIAF's analog output.
    threshold_related
        LIAF only: apply the activation to :math:`H - V_{th}` instead of :math:`H`.
    """

    kind: str = "lif"
    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    surrogate: str = "atan"
    alpha: float | None = None
    detach_reset: bool = False
    decay_input: bool = True
    output: str = "spike"
    threshold_related: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown neuron kind {self.kind!r}; choose one of {KINDS}")
        if self.output not in OUTPUTS:
            raise ConfigError(f"unknown output {self.output!r}; choose one of {OUTPUTS}")
        if self.kind == "lif" and not self.tau > 1:
            raise ConfigError(f"tau must be > 1, got {self.tau}")
        name, alpha = resolve_surrogate(self.surrogate, self.alpha)
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "tau", float(self.tau))
        object.__setattr__(self, "v_threshold", float(self.v_threshold))
        if self.v_reset is not None:
            object.__setattr__(self, "v_reset", float(self.v_reset))

    @property
    def hard_reset(self) -> bool:
        """True when the potential is set to ``v_reset`` after a spike."""
        return self.v_reset is not None

    @property
    def reset_value(self) -> float:
        """:math:`V_r` as used in the charge equation (0 for soft reset)."""
        return 0.0 if self.v_reset is None else self.v_reset
