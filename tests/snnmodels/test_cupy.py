"""cupy backend vs the torch reference (gpu-marked; skips without cupy or CUDA)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import torch

from snnmodels.neurons import functional as F
from snnmodels.neurons.config import NeuronConfig
from snnmodels.neurons.functional import LIFParameters

CONFIGS = [
    dict(),
    dict(v_reset=None, detach_reset=True, decay_input=False, surrogate="sigmoid", tau=3.0),
    dict(v_reset=-0.1, v_threshold=0.7, surrogate="piecewise_quadratic"),
]


def _cuda_ready() -> None:
    pytest.importorskip("cupy")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


def _run(kind, x, w, v0, p, backend):
    st = F.LIFState(v0)
    if kind == "lif":
        return F.lif_multi_step(x, st, p, backend=backend, store_v_seq=True)
    if kind == "if":
        return F.if_multi_step(x, st, p, backend=backend, store_v_seq=True)
    if kind == "liaf":
        return F.liaf_multi_step(x, st, p, backend=backend, store_v_seq=True)
    return F.plif_multi_step(x, w, st, p, backend=backend, store_v_seq=True)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("kind", ["if", "lif", "plif", "liaf"])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
@pytest.mark.parametrize("shape", [(5, 3, 7), (16, 4, 32, 33, 31)])  # 1 block / > 100k odd M
def test_cupy_matches_torch(kind, cfg, dtype, shape) -> None:
    _cuda_ready()
    p = LIFParameters(**CONFIGS[cfg])
    g = torch.Generator().manual_seed(cfg)
    x = (torch.rand(shape, generator=g) * 2 - 0.2).to(dtype)
    v0 = torch.rand(shape[1:], generator=g) * 0.5
    g_out = torch.randn(shape, generator=g).to(dtype)
    g_v = torch.randn(shape, generator=g)
    res = {}
    for backend, dev in (("torch", "cpu"), ("cupy", "cuda")):
        xi = x.to(dev).requires_grad_()
        vi = v0.to(dev).requires_grad_()
        w = torch.tensor(-0.4, device=dev, requires_grad=True)
        y, st = _run(kind, xi, w, vi, p, backend)
        ((y.float() * g_out.to(dev).float()).sum() + (st.v_seq * g_v.to(dev)).sum()).backward()
        res[backend] = [t.detach().cpu() for t in (y, st.v_seq, xi.grad, vi.grad)] + [
            None if w.grad is None else w.grad.cpu()]
    a, b = res["torch"], res["cupy"]
    assert torch.equal(a[0], b[0]), "outputs differ"
    assert torch.equal(a[1], b[1]), "potentials differ"
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-2, atol=2e-2)
    torch.testing.assert_close(b[2].float(), a[2].float(), **tol)
    torch.testing.assert_close(b[3], a[3], rtol=1e-4, atol=1e-4)
    if kind == "plif":
        torch.testing.assert_close(b[4], a[4], rtol=1e-3, atol=1e-2)


@pytest.mark.gpu
def test_cupy_refuses_cpu_tensor() -> None:
    _cuda_ready()
    from snnmodels import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="CUDA tensor"):
        F.lif_multi_step(torch.zeros(2, 3), backend="cupy")


@pytest.mark.gpu
def test_cupy_runs_on_torch_current_stream() -> None:
    _cuda_ready()
    x = torch.rand(8, 4096, device="cuda") * 2
    ref, _ = F.lif_multi_step(x, backend="cupy")
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        y, _ = F.lif_multi_step(x, backend="cupy")
    s.synchronize()
    assert torch.equal(y, ref)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("kind,out", [("lif", "spike"), ("plif", "spike"), ("if", "relu")])
def test_cuda_source_compiles(tmp_path, kind, out, dtype) -> None:
    """The generated kernel source compiles (nvcc --ptx), even on a machine without a GPU."""
    from snnmodels.kernels.cupy.source import kernel_source

    cfg = NeuronConfig(kind=kind, v_reset=None if kind == "plif" else 0.0, output=out,
                       threshold_related=out != "spike")
    src = tmp_path / "k.cu"
    src.write_text(kernel_source(dtype, cfg, True, True, True))
    r = subprocess.run(["nvcc", "--ptx", "--fmad=false", "-arch=sm_80", "-o",
                        str(tmp_path / "k.ptx"), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
