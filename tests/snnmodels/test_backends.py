"""Backend registry, gradient checks (float64) and numba-vs-torch parity."""

from __future__ import annotations

import pytest
import torch

import snnmodels
from snnmodels import BackendUnavailableError, functional as F, get_backend
from snnmodels.neurons.config import NeuronConfig

CONFIGS = [
    dict(),
    dict(v_reset=None),
    dict(detach_reset=True),
    dict(v_reset=None, detach_reset=True, decay_input=False, surrogate="sigmoid", tau=3.0),
    dict(v_reset=-0.1, v_threshold=0.7, surrogate="piecewise_quadratic", decay_input=False),
]


def _run(kind: str, x: torch.Tensor, w: torch.Tensor | None, v0: torch.Tensor,
         p: NeuronConfig, backend: str):
    state = F.LIFState(v0)
    if kind == "if":
        return F.if_multi_step(x, state, p, backend=backend, store_v_seq=True)
    if kind == "lif":
        return F.lif_multi_step(x, state, p, backend=backend, store_v_seq=True)
    if kind == "plif":
        return F.plif_multi_step(x, w, state, p, backend=backend, store_v_seq=True)
    return F.liaf_multi_step(x, state, p, backend=backend, store_v_seq=True)


# -- registry -------------------------------------------------------------------------------

def test_registry_lists_cpu_backends() -> None:
    names = snnmodels.available_backends()
    assert names[:2] == ["torch", "numba"]
    assert get_backend("numba").name == "numba"


def test_unknown_backend_raises_with_available_list() -> None:
    with pytest.raises(BackendUnavailableError, match="unknown backend.*available backends: torch, numba"):
        get_backend("tpu")


def test_cupy_unavailable_is_explained() -> None:
    pytest.importorskip("numba")
    try:
        import cupy  # noqa: F401
        has_cupy = torch.cuda.is_available()
    except Exception:
        has_cupy = False
    if has_cupy:
        pytest.skip("cupy and CUDA are present")
    with pytest.raises(BackendUnavailableError) as err:
        snnmodels.LIF(backend="cupy")
    assert isinstance(err.value, RuntimeError)
    assert "cupy" in str(err.value) and ("cupy cannot be imported" in err.value.reason
                                         or "CUDA" in err.value.reason)
    assert "torch" in err.value.available


def test_numba_refuses_non_cpu_tensor() -> None:
    x = torch.zeros(2, 3, device="meta")
    with pytest.raises(BackendUnavailableError, match="CPU only"):
        F.lif_multi_step(x, backend="numba")


# -- gradcheck (float64) --------------------------------------------------------------------
# A surrogate gradient is not the derivative of the Heaviside forward, so finite differences can
# only check the paths that are true derivatives: analog (LIAF-style) output with a detached
# reset. That covers the charge, the reset masks, the BPTT carry, the initial-state gradient and
# PLIF's decay gradient; the surrogate terms are checked by numba-vs-torch parity below and by
# the SpikingJelly goldens.

GRAD_CASES = [
    (kind, hard, decay, out)
    for kind in ("if", "lif", "plif")
    for hard in (True, False)
    for decay in ((True, False) if kind != "if" else (True,))
    for out in ("identity", "relu")
]


@pytest.mark.parametrize("backend", ["torch", "numba"])
@pytest.mark.parametrize("kind,hard,decay,out", GRAD_CASES)
def test_gradcheck(kind: str, hard: bool, decay: bool, out: str, backend: str) -> None:
    cfg = NeuronConfig(kind=kind, v_threshold=0.9, v_reset=-0.1 if hard else None,
                       detach_reset=True, decay_input=decay, output=out, threshold_related=True)
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(6, 2, 5, generator=g, dtype=torch.float64) * 3.0).requires_grad_()
    v0 = (torch.rand(2, 5, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=kind == "plif")
    be = get_backend(backend)

    def fn(x, v0, w):
        decay_arg = {"if": None, "lif": 2.5, "plif": torch.sigmoid(w)}[kind]
        y, v, v_seq = be.multi_step(x, v0, decay_arg, cfg, store_v_seq=True)
        return y, v, v_seq

    assert torch.autograd.gradcheck(fn, (x, v0, w), eps=1e-6, atol=1e-6, rtol=1e-5)
    y = fn(x, v0, w)[0]
    assert (y > 0).any()  # some neurons fired (so resets are exercised)


# -- parity numba vs torch ------------------------------------------------------------------

def _parity(kind: str, p: NeuronConfig, shape: tuple, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype) * 2.0 - 0.2
    v0 = torch.rand(shape[1:], generator=g, dtype=dtype) * 0.5
    g_out = torch.randn(shape, generator=g, dtype=dtype)
    g_v = torch.randn(shape, generator=g, dtype=dtype)
    g_last = torch.randn(shape[1:], generator=g, dtype=dtype)
    res = {}
    for backend in ("torch", "numba"):
        xi = x.clone().requires_grad_()
        vi = v0.clone().requires_grad_()
        w = torch.tensor(-0.4, dtype=dtype, requires_grad=True)
        y, st = _run(kind, xi, w, vi, p, backend)
        loss = (y * g_out).sum() + (st.v_seq * g_v).sum() + (st.v * g_last).sum()
        loss.backward()
        res[backend] = (y.detach(), st.v_seq.detach(), st.v.detach(), xi.grad, vi.grad, w.grad)
    a, b = res["torch"], res["numba"]
    assert torch.equal(a[0], b[0]), "outputs differ"
    assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2]), "potentials differ"
    torch.testing.assert_close(b[3], a[3], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b[4], a[4], rtol=1e-5, atol=1e-5)
    if kind == "plif":
        torch.testing.assert_close(b[5], a[5], rtol=1e-4, atol=1e-3)
    return a


@pytest.mark.parametrize("kind", ["if", "lif", "plif", "liaf"])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_numba_matches_torch(kind: str, cfg: int) -> None:
    # 3 * 4 * 700 = 8400 neurons: several numba blocks, odd tail
    _parity(kind, NeuronConfig(**CONFIGS[cfg]), (7, 3, 4, 700), seed=cfg)


def test_numba_matches_torch_fp16_inputs() -> None:
    p = NeuronConfig()
    x = (torch.rand(4, 1000) * 2).half()
    ya, sa = F.lif_multi_step(x, p=p, backend="torch")
    yb, sb = F.lif_multi_step(x, p=p, backend="numba")
    assert ya.dtype == yb.dtype == torch.float16
    assert torch.equal(ya, yb) and torch.equal(sa.v, sb.v) and sb.v.dtype == torch.float32


def test_no_grad_forward_matches() -> None:
    x = torch.rand(6, 5000) * 2
    with torch.no_grad():
        ya, _ = F.plif_multi_step(x, torch.tensor(0.1), backend="torch")
        yb, _ = F.plif_multi_step(x, torch.tensor(0.1), backend="numba")
    assert torch.equal(ya, yb)


@pytest.mark.parametrize("cfg", [0, 3])
def test_plif_parity_100k_neurons(cfg: int) -> None:
    """PLIF tau gradient over 131k neurons (many numba blocks); about 2 s each."""
    _parity("plif", NeuronConfig(**CONFIGS[cfg]), (8, 4, 32, 32, 32), seed=7)
