"""The cupy backend's CUDA kernels, compiled for the host and compared with numba and torch.

``neuron.cu`` is compiled by g++ with a small CUDA shim (``cuda_host/include``): one OS thread per
CUDA thread of a block, ``__syncthreads`` a real barrier, ``extern __shared__`` one buffer per
block poisoned with NaN, ``__half`` as ``_Float16`` rounding like ``__float2half_rn``,
``atomicAdd`` a host atomic, ``-ffp-contract=off`` for ``--fmad=false``. The backend's own
Python half (:mod:`snnmodels.kernels.cupy.fused`: buffers, argument tuple, grid, block size,
shared memory, PLIF reduction) drives it, with the host launcher in CuPy's place; every launch
also checks the argument tuple against the kernel's parameter types.

This is evidence about the kernels' arithmetic and indexing, not about CuPy's launch path
(NVRTC, streams, device memory, the GPU's ``expf``): ``scripts/gpu_check.sh`` runs the
gpu-marked tests on a real device for that.

Tolerances: outputs, potentials and the input and initial-state gradients equal numba's bit for
bit, in fp32 and in fp16 (numba computes fp16 inputs in fp32 too; both round results to fp16 to
nearest even); PLIF's decay gradient is within 1e-4 relative of numba's float64 sum with the
float ``atomicAdd`` (3e-6 seen) and within 2 fp32 ulp with ``deterministic=True``. Against the
torch reference (autograd, another rounding order): outputs equal, gradients within 1e-4.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from snnmodels.errors import ConfigError
from snnmodels.kernels.cupy.fused import FusedKernelBackend, check_block_size
from snnmodels.kernels.cupy.source import kernel_source
from snnmodels.kernels.registry import get_backend
from snnmodels.neurons.config import NeuronConfig
from tests.snnmodels.cuda_host import HostLauncher, compiler_problem

pytestmark = pytest.mark.skipif(compiler_problem() is not None,
                                reason=f"host CUDA emulation unavailable: {compiler_problem()}")

SURROGATES = ("atan", "sigmoid", "piecewise_quadratic")
T, M = 5, 300  # 300 neurons = one full block of 256 and a partial one


def _spike_cases() -> list[dict]:
    """Every kind x reset x surrogate; detach_reset and decay_input alternate through them."""
    out = []
    for i, (kind, hard, surr) in enumerate(itertools.product(("if", "lif", "plif"), (True, False),
                                                             SURROGATES)):
        out.append(dict(kind=kind, v_reset=-0.1 if hard else None, surrogate=surr,
                        detach_reset=i % 2 == 0, decay_input=(i // 2) % 2 == 0,
                        v_threshold=0.8 if i % 3 else 1.0))
    return out


def _analog_cases() -> list[dict]:
    """LIAF outputs (relu/identity, threshold-related or not) on LIF and PLIF."""
    return [dict(kind=kind, output=o, threshold_related=tr, v_reset=0.0 if tr else None,
                 surrogate=SURROGATES[j % 3], decay_input=j % 2 == 0)
            for j, (kind, o, tr) in enumerate(itertools.product(("lif", "plif"),
                                                                 ("relu", "identity"),
                                                                 (False, True)))]


CASES = _spike_cases() + _analog_cases()
DTYPES = (torch.float32, torch.float16)


def _sources(cases, dtypes, store_v=True, grad=True, det=False) -> list[str]:
    """The sources the backend will ask for (so they compile in one batch, not one by one)."""
    srcs = []
    for c, dt in itertools.product(cases, dtypes):
        cfg = NeuronConfig(**c)
        srcs.append(kernel_source(dt, cfg, grad, store_v, False))
        if grad:
            srcs.append(kernel_source(dt, cfg, True, False, store_v,
                                      det and cfg.kind == "plif"))
    return srcs


_F16_SRC = """#include <cuda_fp16.h>
extern "C" __global__ void roundtrip(const float* __restrict__ x, __half* __restrict__ h,
                                     float* __restrict__ back, const long long n)
{
    for (long long j = threadIdx.x; j < n; j += blockDim.x) {
        h[j] = __float2half_rn(x[j]);
        back[j] = __half2float(h[j]);
    }
}
"""

_BAD_SRC = """extern "C" __global__ void bad(float* __restrict__ out, const long long n)
{
    if (threadIdx.x >= n) return;
    __syncthreads();
    out[threadIdx.x] = 1.0f;
}
"""


@pytest.fixture(scope="module")
def launcher() -> HostLauncher:
    lau = HostLauncher()
    lau.prepare(_sources(CASES, DTYPES) + _sources(CASES[:3], DTYPES, store_v=False)
                + _sources([CASES[0]], DTYPES, grad=False)
                + _sources([c for c in CASES if c["kind"] == "plif"][:2], (torch.float32,),
                           det=True) + [_F16_SRC, _BAD_SRC])
    return lau


def _backend(launcher, **kw) -> FusedKernelBackend:
    return FusedKernelBackend(launcher, device_type="cpu", **kw)


def _run(be, case: dict, dtype, shape=(T, M), store_v=True, grad=True, seed=0):
    """Forward + backward of one configuration; returns outputs and gradients."""
    cfg = NeuronConfig(**case)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=g) * 2 - 0.2).to(dtype)
    v0 = torch.rand(shape[1:], generator=g) * 0.5
    g_out = torch.randn(shape, generator=g).to(dtype)
    g_v = torch.randn(shape, generator=g)
    g_last = torch.randn(shape[1:], generator=g)
    xi = x.clone().requires_grad_(grad)
    vi = v0.clone().requires_grad_(grad)
    w = torch.tensor(-0.4, requires_grad=grad)
    decay = {"if": None, "lif": 2.5, "plif": torch.sigmoid(w)}[cfg.kind]
    with torch.set_grad_enabled(grad):
        y, v, vs = be.multi_step(xi, vi, decay, cfg, store_v_seq=store_v)
    if not grad:
        return dict(y=y, v=v, vs=vs)
    loss = (y.float() * g_out.float()).sum() + (v * g_last).sum()
    if store_v:
        loss = loss + (vs * g_v).sum()
    loss.backward()
    return dict(y=y.detach(), v=v.detach(), vs=None if vs is None else vs.detach(),
                gx=xi.grad, gv0=vi.grad, gw=w.grad)


def _compare(emu: dict, ref: dict, grad_tol: float, gw_rtol: float | None) -> None:
    assert emu["y"].dtype == ref["y"].dtype
    assert torch.equal(emu["y"], ref["y"]), "outputs differ"
    assert torch.equal(emu["v"], ref["v"]), "last potentials differ"
    if ref["vs"] is not None:
        assert torch.equal(emu["vs"], ref["vs"]), "potential sequences differ"
    if "gx" in ref:
        torch.testing.assert_close(emu["gx"], ref["gx"], rtol=grad_tol, atol=grad_tol)
        torch.testing.assert_close(emu["gv0"], ref["gv0"], rtol=grad_tol, atol=grad_tol)
        if ref["gw"] is not None and gw_rtol is not None:
            torch.testing.assert_close(emu["gw"], ref["gw"], rtol=gw_rtol, atol=gw_rtol)


def _ids(case: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in case.items())


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "fp16"])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_emulated_kernels_match_numba_and_torch(launcher, case, dtype) -> None:
    emu = _run(_backend(launcher), case, dtype)
    if case.get("output", "spike") == "spike":
        assert (emu["y"] > 0).any() and (emu["y"] == 0).any(), "nothing fired or everything did"
    _compare(emu, _run(get_backend("numba"), case, dtype), grad_tol=0, gw_rtol=1e-4)
    _compare(emu, _run(get_backend("torch"), case, dtype), grad_tol=1e-4, gw_rtol=1e-3)
    if case["kind"] == "plif":  # the tau gradient really went through the block reduction
        assert launcher.launches[-1][0] == "snn_backward" and launcher.launches[-1][3] > 0


@pytest.mark.parametrize("case", CASES[:3], ids=_ids)
def test_without_potential_sequence(launcher, case) -> None:
    """V not stored (STORE_V 0) and no gradient for it (HAS_GVS 0)."""
    for dt in DTYPES:
        emu = _run(_backend(launcher), case, dt, store_v=False)
        assert emu["vs"] is None
        _compare(emu, _run(get_backend("numba"), case, dt, store_v=False), 0, 1e-4)


def test_forward_only_stores_nothing_for_backward(launcher) -> None:
    """Under no_grad the forward is compiled with STORE_H 0 and still gives the same spikes."""
    for dt in DTYPES:
        emu = _run(_backend(launcher), CASES[0], dt, grad=False)
        ref = _run(get_backend("numba"), CASES[0], dt, grad=False)
        assert torch.equal(emu["y"], ref["y"]) and torch.equal(emu["vs"], ref["vs"])


def test_launch_uses_the_backend_grid(launcher) -> None:
    launcher.launches.clear()
    _run(_backend(launcher), CASES[-1], torch.float32)
    assert [(n, g, b) for n, g, b, _ in launcher.launches] == [
        ("snn_forward", 2, 256), ("snn_backward", 2, 256)]


def test_zero_neurons_launch_nothing(launcher) -> None:
    """M == 0: no kernel launch at all (CUDA, and the emulation, reject a zero-block grid)."""
    launcher.launches.clear()
    plif = next(c for c in CASES if c["kind"] == "plif")
    emu = _run(_backend(launcher), plif, torch.float32, shape=(T, 0, 4))
    ref = _run(get_backend("numba"), plif, torch.float32, shape=(T, 0, 4))
    assert launcher.launches == []
    assert emu["y"].shape == (T, 0, 4) and emu["gx"].shape == (T, 0, 4)
    _compare(emu, ref, 0, 0)
    src = kernel_source(torch.float32, NeuronConfig(**plif), True, True, False)
    args = (np.uint64(0),) * 3 + (np.float32(1),) * 3 + (np.uint64(0),) * 4 + (
        np.int64(0), np.int32(T))
    with pytest.raises(RuntimeError, match="invalid configuration"):
        launcher.launch(src, "snn_forward", 0, 256, args, 0)


@pytest.mark.parametrize("threads", [32, 64, 1024])
def test_plif_reduction_for_every_power_of_two(launcher, threads) -> None:
    plif = next(c for c in CASES if c["kind"] == "plif")
    emu = _run(_backend(launcher, threads=threads), plif, torch.float32, shape=(T, 1100))
    ref = _run(get_backend("numba"), plif, torch.float32, shape=(T, 1100))
    _compare(emu, ref, 0, 1e-4)
    assert launcher.launches[-1][1:] == ((1100 + threads - 1) // threads, threads, threads * 4)


@pytest.mark.parametrize("threads", [0, 16, 96, 257, 2048, 2.5])
def test_block_size_must_be_a_power_of_two(threads) -> None:
    with pytest.raises(ConfigError, match="power of two"):
        check_block_size(threads)
    with pytest.raises(ConfigError, match="power of two"):
        FusedKernelBackend(None, threads=threads)


def test_non_power_of_two_block_loses_partial_sums(launcher) -> None:
    """Why the check exists: the tree reduction skips threads when blockDim is not 2^k."""
    plif = next(c for c in CASES if c["kind"] == "plif")
    be = _backend(launcher, threads=64)
    be.threads = 96  # bypass the check to show what it prevents
    bad = _run(be, plif, torch.float32)["gw"]
    ref = _run(get_backend("numba"), plif, torch.float32)["gw"]
    assert not torch.allclose(bad, ref, rtol=1e-3)


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "plif"][:2], ids=_ids)
def test_deterministic_plif_gradient_matches_numba_sum(launcher, case) -> None:
    be = _backend(launcher, deterministic=True)
    a, b = _run(be, case, torch.float32), _run(be, case, torch.float32)
    assert launcher.launches[-1][3] == 256 * 8  # float64 partial sums in shared memory
    assert torch.equal(a["gw"], b["gw"])
    ref = _run(get_backend("numba"), case, torch.float32)
    _compare(a, ref, 0, None)  # everything else as without the option
    ulp = torch.finfo(torch.float32).eps * ref["gw"].abs()
    assert (a["gw"] - ref["gw"]).abs() <= 2 * ulp


def test_deterministic_follows_torch_flag(launcher) -> None:
    plif = next(c for c in CASES if c["kind"] == "plif")
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        _run(_backend(launcher), plif, torch.float32)
    finally:
        torch.use_deterministic_algorithms(prev)
    assert launcher.launches[-1][3] == 256 * 8
    _run(_backend(launcher), plif, torch.float32)
    assert launcher.launches[-1][3] == 256 * 4


def test_half_conversions_round_like_cuda(launcher) -> None:
    """The shim's __float2half_rn is round-to-nearest-even with overflow to inf (numpy's rule)."""
    halves = np.arange(0, 1 << 16, dtype=np.uint16).view(np.float16)
    finite = halves[np.isfinite(halves)].astype(np.float32)
    finite.sort()
    mid = (finite[:-1] + finite[1:]) / 2  # exact in fp32: the ties
    x = np.concatenate([finite, mid, np.nextafter(mid, np.float32(np.inf)),
                        np.nextafter(mid, np.float32(-np.inf)),
                        np.float32([65519.0, 65520.0, 1e6, -1e6, np.inf, -np.inf])])
    x = np.ascontiguousarray(x, dtype=np.float32)
    h = np.empty(x.size, np.float16)
    back = np.empty(x.size, np.float32)
    launcher.launch(_F16_SRC, "roundtrip", 1, 32,
                    (np.uint64(x.ctypes.data), np.uint64(h.ctypes.data),
                     np.uint64(back.ctypes.data), np.int64(x.size)), 0)
    with np.errstate(over="ignore"):  # the overflow to inf is part of what is checked
        want = x.astype(np.float16)
    np.testing.assert_array_equal(h.view(np.uint16), want.view(np.uint16))
    np.testing.assert_array_equal(back, want.astype(np.float32))


def test_divergent_barrier_is_reported(launcher) -> None:
    """A block whose threads disagree on __syncthreads is an error, never a hang."""
    out = np.zeros(64, np.float32)
    with pytest.raises(RuntimeError, match="different number of times"):
        launcher.launch(_BAD_SRC, "bad", 1, 64, (np.uint64(out.ctypes.data), np.int64(40)), 0)


def test_argument_types_are_checked(launcher) -> None:
    src = kernel_source(torch.float32, NeuronConfig(**CASES[0]), True, True, False)  # prepared
    args = (np.uint64(0),) * 3 + (np.float32(1),) * 3 + (np.uint64(0),) * 4 + (
        np.int32(3), np.int32(T))  # M must be a 64-bit integer
    with pytest.raises(TypeError, match="argument 10"):
        launcher.launch(src, "snn_forward", 1, 256, args, 0)


# -- exhaustive sweep (slow): every combination of every option ------------------------------

def _all_cases() -> list[dict]:
    out = []
    for kind, hard, det, dec, surr in itertools.product(("if", "lif", "plif"), (True, False),
                                                        (True, False), (True, False),
                                                        SURROGATES):
        if kind == "if" and not dec:
            continue  # decay_input means nothing for IF
        for o, tr in (("spike", False), ("relu", False), ("relu", True), ("identity", False),
                      ("identity", True)):
            out.append(dict(kind=kind, v_reset=-0.1 if hard else None, detach_reset=det,
                            decay_input=dec, surrogate=surr, output=o, threshold_related=tr))
    return out


@pytest.mark.slow
def test_exhaustive_sweep(launcher) -> None:
    cases = _all_cases()
    launcher.prepare(_sources(cases, DTYPES), jobs=4)
    for case, dt in itertools.product(cases, DTYPES):
        emu = _run(_backend(launcher), case, dt, shape=(4, 270), seed=1)
        _compare(emu, _run(get_backend("numba"), case, dt, shape=(4, 270), seed=1), 0, 1e-4)
