"""Regenerate ``tests/golden/neurons_sj2.npz``: SpikingJelly 2.0 multi-step neuron outputs.

Run from the repository root with the bench extra installed::

    python tests/golden/make_neuron_goldens.py

For each configuration it feeds a fixed random input ``x`` ``[T, N, C, L]`` (float32) to
SpikingJelly's ``IFNode`` / ``LIFNode`` / ``ParametricLIFNode`` / ``LIAFNode`` (``step_mode='m'``,
``store_v_seq=True``, CPU) and stores the spikes (or LIAF outputs), the potential after every step,
and the gradients of ``sum(out * g_out) + sum(v_seq * g_v)`` with respect to ``x`` (and PLIF's
``w``). The tests (tests/snnmodels/test_golden.py) never import SpikingJelly; they read the arrays.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("neurons_sj2.npz")
SHAPE = (8, 2, 3, 4)

# name: (kind, kwargs in snnmodels terms)
CONFIGS: dict[str, tuple[str, dict]] = {
    "lif_hard_atan": ("lif", dict(tau=2.0, surrogate="atan")),
    "lif_soft_sigmoid_detach_nodecay": (
        "lif", dict(tau=3.0, v_reset=None, surrogate="sigmoid", detach_reset=True,
                    decay_input=False)),
    "lif_hard_pq_vreset_detach": (
        "lif", dict(tau=1.5, v_threshold=0.8, v_reset=-0.2, surrogate="piecewise_quadratic",
                    detach_reset=True)),
    "lif_soft_atan_alpha3": ("lif", dict(tau=4.0, v_reset=None, surrogate="atan", alpha=3.0)),
    "plif_hard_atan_detach": ("plif", dict(tau=2.0, surrogate="atan", detach_reset=True)),
    "plif_soft_sigmoid_nodecay": (
        "plif", dict(tau=4.0, v_reset=None, surrogate="sigmoid", decay_input=False)),
    "plif_hard_pq_vreset": (
        "plif", dict(tau=3.0, v_reset=0.1, surrogate="piecewise_quadratic", alpha=1.5)),
    "if_hard_atan": ("if", dict(surrogate="atan")),
    "if_soft_sigmoid_detach": ("if", dict(v_reset=None, surrogate="sigmoid", detach_reset=True)),
    "liaf_relu": ("liaf", dict(tau=2.0, surrogate="atan", act="relu", threshold_related=False)),
    "liaf_relu_tr_soft": (
        "liaf", dict(tau=2.0, v_reset=None, surrogate="atan", act="relu", threshold_related=True)),
}


def _sj_node(kind: str, kw: dict):
    from spikingjelly.activation_based import neuron, surrogate

    names = {"atan": surrogate.ATan, "sigmoid": surrogate.Sigmoid,
             "piecewise_quadratic": surrogate.PiecewiseQuadratic}
    sg = names[kw.get("surrogate", "atan")]
    sg = sg() if kw.get("alpha") is None else sg(alpha=kw["alpha"])
    common = dict(v_threshold=kw.get("v_threshold", 1.0), v_reset=kw.get("v_reset", 0.0),
                  surrogate_function=sg, detach_reset=kw.get("detach_reset", False),
                  step_mode="m", store_v_seq=True)
    if kind == "if":
        return neuron.IFNode(**common)
    if kind == "lif":
        return neuron.LIFNode(tau=kw["tau"], decay_input=kw.get("decay_input", True), **common)
    if kind == "plif":
        return neuron.ParametricLIFNode(init_tau=kw["tau"],
                                        decay_input=kw.get("decay_input", True), **common)
    act = {"relu": torch.relu, "identity": lambda v: v}[kw["act"]]
    return neuron.LIAFNode(act=act, threshold_related=kw["threshold_related"], tau=kw["tau"],
                           decay_input=kw.get("decay_input", True), **common)


def main() -> None:
    sys.path.insert(0, str(REPO))
    from bench._peers import import_spikingjelly

    sj = import_spikingjelly()
    gen = torch.Generator().manual_seed(20240611)
    arrays: dict[str, np.ndarray] = {}
    for name, (kind, kw) in CONFIGS.items():
        x = (torch.rand(SHAPE, generator=gen) * 2.2 - 0.4).requires_grad_()
        g_out = torch.randn(SHAPE, generator=gen)
        g_v = torch.randn(SHAPE, generator=gen) * 0.5
        node = _sj_node(kind, kw)
        out = node(x)
        v_seq = node.v_seq
        ((out * g_out).sum() + (v_seq * g_v).sum()).backward()
        arrays[f"{name}/x"] = x.detach().numpy()
        arrays[f"{name}/g_out"] = g_out.numpy()
        arrays[f"{name}/g_v"] = g_v.numpy()
        arrays[f"{name}/out"] = out.detach().numpy()
        arrays[f"{name}/v_seq"] = v_seq.detach().numpy()
        arrays[f"{name}/grad_x"] = x.grad.numpy()
        if kind == "plif":
            arrays[f"{name}/w"] = node.w.detach().numpy()
            arrays[f"{name}/grad_w"] = node.w.grad.numpy()
    meta = {"spikingjelly": sj.__version__ if hasattr(sj, "__version__") else "2.0.0",
            "torch": torch.__version__, "shape": SHAPE,
            "configs": {k: {"kind": v[0], **v[1]} for k, v in CONFIGS.items()}}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(CONFIGS)} configurations)")


if __name__ == "__main__":
    main()
