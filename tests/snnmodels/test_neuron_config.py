"""One neuron configuration type (NeuronConfig) and kernel constants defined once."""

from __future__ import annotations

import math

import pytest
import torch

from snnmodels.errors import ConfigError
from snnmodels.neurons import IF, LIAF, LIF, PLIF, NeuronConfig
from snnmodels.neurons import functional as F


def test_the_modules_and_the_functional_api_share_one_configuration() -> None:
    lif = LIF(tau=3.0, v_threshold=0.5, v_reset=None, surrogate="sigmoid")
    assert lif.p == NeuronConfig(kind="lif", tau=3.0, v_threshold=0.5, v_reset=None, surrogate="sigmoid", alpha=4.0)
    assert IF().p.kind == "if" and PLIF().p.kind == "plif"
    liaf = LIAF(act="identity", threshold_related=True)
    assert (liaf.p.kind, liaf.p.output, liaf.p.threshold_related) == ("lif", "identity", True)
    x = torch.randn(6, 3, 5)
    torch.testing.assert_close(lif(x), F.lif_multi_step(x, p=lif.p)[0], rtol=0, atol=0)
    torch.testing.assert_close(liaf(x), F.liaf_multi_step(x, p=liaf.p, act="identity", threshold_related=True)[0],
                               rtol=0, atol=0)  # fmt: skip


def test_the_function_called_sets_kind_and_output() -> None:
    """``if_multi_step`` runs IF whatever ``p.kind`` says; the LIF ``tau`` reaches the LIF kernel."""
    x = torch.rand(5, 40) * 2
    p = NeuronConfig(kind="lif", tau=4.0, output="relu")
    y_if, s_if = F.if_multi_step(x, p=p)
    assert set(y_if.unique().tolist()) <= {0.0, 1.0}  # spikes, not the relu output
    v = torch.zeros(40)  # IF by hand: H = V + X, hard reset to 0
    for t in range(5):
        h = v + x[t]
        v = torch.where(h >= 1.0, torch.zeros_like(h), h)
    torch.testing.assert_close(s_if.v, v)
    _, s3 = F.lif_multi_step(x, p=p)
    _, s2 = F.lif_multi_step(x, p=NeuronConfig(tau=2.0))
    assert not torch.equal(s3.v, s2.v)


@pytest.mark.parametrize("bad", [dict(tau=1.0), dict(kind="lif", tau=0.5), dict(kind="glif"), dict(output="tanh"),
                                 dict(surrogate="erf"), dict(alpha=0.0)])  # fmt: skip
def test_bad_configurations_are_one_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError):
        NeuronConfig(**bad)


def test_tau_is_checked_for_lif_only() -> None:
    assert NeuronConfig(kind="if", tau=0.5).tau == 0.5  # IF ignores tau
    with pytest.raises(ConfigError, match="tau must be > 1"):
        F.lif_multi_step(torch.zeros(2, 3), p=NeuronConfig(kind="if", tau=0.5))
    with pytest.raises(ConfigError, match="tau must be > 1"):
        LIF(tau=1.0)
    with pytest.raises(ConfigError, match="tau must be > 1"):
        PLIF(tau=0.9)
    assert not hasattr(NeuronConfig(), "output_offset")


def test_kernel_codes_and_surrogate_constants_are_defined_once() -> None:
    from snnmodels.kernels import _constants, numba_backend
    from snnmodels.kernels.cupy import fused, source

    assert fused.surrogate_constants is _constants.surrogate_constants
    assert numba_backend.surrogate_constants is _constants.surrogate_constants
    assert source.KIND_CODES is numba_backend.KIND_CODES is _constants.KIND_CODES
    assert source.OUTPUT_CODES is numba_backend.OUTPUT_CODES is _constants.OUTPUT_CODES
    # the constants against the surrogate derivatives of the torch reference at one point
    from snnmodels.neurons.surrogate import surrogate_grad

    u = torch.tensor([0.3], dtype=torch.float64)
    for name in ("atan", "sigmoid", "piecewise_quadratic"):
        cfg = NeuronConfig(surrogate=name, alpha=1.5)
        a1, a2 = _constants.surrogate_constants(cfg)
        if name == "atan":
            g = a2 / (1 + (a1 * u) ** 2)
        elif name == "sigmoid":
            s = 1 / (1 + torch.exp(-a1 * u))
            g = (1 - s) * s * a1
        else:
            g = torch.clamp(a1 - a2 * u.abs(), min=0)
        torch.testing.assert_close(g, surrogate_grad(u, name, 1.5))
    assert math.isclose(_constants.surrogate_constants(NeuronConfig())[0], math.pi)
