"""Neurons against SpikingJelly 2.0 golden arrays (tests/golden/make_neuron_goldens.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import snnmodels

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "neurons_sj2.npz"
DATA = np.load(GOLDEN)
META = json.loads(str(DATA["meta"]))
CLASSES = {"if": snnmodels.IF, "lif": snnmodels.LIF, "plif": snnmodels.PLIF,
           "liaf": snnmodels.LIAF}


@pytest.mark.parametrize("backend", ["torch", "numba"])
@pytest.mark.parametrize("name", sorted(META["configs"]))
def test_matches_spikingjelly(name: str, backend: str) -> None:
    kw = dict(META["configs"][name])
    cls = CLASSES[kw.pop("kind")]
    neuron = cls(backend=backend, store_v_seq=True, **kw)
    if "w" in kw or f"{name}/w" in DATA:
        assert neuron.w.item() == pytest.approx(float(DATA[f"{name}/w"]), abs=0)
    x = torch.from_numpy(DATA[f"{name}/x"]).requires_grad_()
    out = neuron(x)
    v_seq = neuron.state.v_seq
    # spikes / analog outputs and potentials are bit-identical to SpikingJelly's
    np.testing.assert_array_equal(out.detach().numpy(), DATA[f"{name}/out"])
    np.testing.assert_array_equal(v_seq.detach().numpy(), DATA[f"{name}/v_seq"])
    loss = (out * torch.from_numpy(DATA[f"{name}/g_out"])).sum()
    loss = loss + (v_seq * torch.from_numpy(DATA[f"{name}/g_v"])).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), DATA[f"{name}/grad_x"], rtol=1e-5, atol=1e-6)
    if isinstance(neuron, snnmodels.PLIF):
        np.testing.assert_allclose(neuron.w.grad.numpy(), DATA[f"{name}/grad_w"], rtol=1e-5,
                                   atol=1e-5)


def test_goldens_cover_the_required_variants() -> None:
    cfgs = META["configs"].values()
    assert {c["kind"] for c in cfgs} == {"if", "lif", "plif", "liaf"}
    assert any(c.get("v_reset", 0.0) is None for c in cfgs)
    assert any(c.get("decay_input") is False for c in cfgs)
    assert any(c.get("detach_reset") for c in cfgs)
    assert {c["surrogate"] for c in cfgs} == {"atan", "sigmoid", "piecewise_quadratic"}
