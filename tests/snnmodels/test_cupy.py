"""cupy backend: error handling with a stand-in cupy (everywhere), the real thing vs the torch
reference (gpu-marked; skips without cupy or CUDA). The kernels' arithmetic is also checked on
every machine by the host emulation in ``test_cuda_emulation.py``."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from snnmodels.neurons import functional as F
from snnmodels.neurons.config import NeuronConfig

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
    p = NeuronConfig(**CONFIGS[cfg])
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
    """The generated kernel source compiles (nvcc --ptx), even on a machine without a GPU.

    Without any include path: the kernels need no CUDA header (CuPy 14 wheels ship none)."""
    from snnmodels.kernels.cupy.source import kernel_source

    cfg = NeuronConfig(kind=kind, v_reset=None if kind == "plif" else 0.0, output=out,
                       threshold_related=out != "spike")
    for det in (False, True) if kind == "plif" else (False,):  # atomicAdd / fixed-order gk
        src = tmp_path / "k.cu"
        src.write_text(kernel_source(dtype, cfg, True, True, True, det))
        r = subprocess.run(["nvcc", "--ptx", "--fmad=false", "-arch=sm_80", "-o",
                            str(tmp_path / "k.ptx"), str(src)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        if dtype == torch.float16:  # binary16 by PTX conversions, no <cuda_fp16.h> needed
            ptx = (tmp_path / "k.ptx").read_text()
            assert "cvt.rn.f16.f32" in ptx and "cvt.f32.f16" in ptx


# -- error handling, with a stand-in cupy module (runs everywhere) ---------------------------

class _CompileException(Exception):
    """Shaped like cupy.cuda.compiler.CompileException: the log comes from get_message()."""

    def get_message(self) -> str:
        return 'kernel.cu(12): error: identifier "bogus" is undefined'


def _neuron_with_fake_cupy(monkeypatch, fail_with: Exception):
    """Load snnmodels/kernels/cupy/neuron.py under another name, with a fake ``cupy``."""
    import snnmodels.kernels.cupy as pkg

    class RawModule:
        def __init__(self, code: str, options: tuple) -> None:
            self.options = options

        def get_function(self, name: str):
            raise fail_with

    class Device:
        def __init__(self, index: int) -> None:
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            return None

    fake = types.ModuleType("cupy")
    fake.RawModule = RawModule
    fake.cuda = types.SimpleNamespace(Device=Device, ExternalStream=Device)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    path = Path(pkg.__file__).with_name("neuron.py")
    spec = importlib.util.spec_from_file_location("_neuron_with_fake_cupy", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_compile_error_becomes_backend_unavailable_with_log(monkeypatch) -> None:
    from snnmodels import BackendUnavailableError

    mod = _neuron_with_fake_cupy(monkeypatch, _CompileException("NVRTC_ERROR_COMPILATION (6)"))
    with pytest.raises(BackendUnavailableError) as err:
        mod._function("// source", "snn_forward", 0)
    msg = str(err.value)
    assert "snn_forward" in msg and "NVRTC_ERROR_COMPILATION" in msg
    assert 'identifier "bogus" is undefined' in msg  # the compiler log
    assert "numba" in err.value.available


def test_driver_error_becomes_backend_unavailable(monkeypatch) -> None:
    from snnmodels import BackendUnavailableError

    mod = _neuron_with_fake_cupy(monkeypatch, RuntimeError("CUDA_ERROR_NO_BINARY_FOR_GPU"))
    with pytest.raises(BackendUnavailableError, match="CUDA_ERROR_NO_BINARY_FOR_GPU"):
        mod._function("// source 2", "snn_backward", 0)


def test_cupy_backend_checks_block_size(monkeypatch) -> None:
    from snnmodels.errors import ConfigError

    mod = _neuron_with_fake_cupy(monkeypatch, RuntimeError("unused"))
    assert mod.CupyBackend().threads == 256
    assert mod.NVRTC_OPTIONS[0] == "--fmad=false"
    with pytest.raises(ConfigError, match="power of two"):
        mod.CupyBackend(threads=192)


# -- fixes, on a real GPU --------------------------------------------------------------------

@pytest.mark.gpu
def test_cupy_zero_neurons() -> None:
    _cuda_ready()
    x = torch.rand(4, 0, 3, device="cuda", requires_grad=True)
    w = torch.tensor(0.2, device="cuda", requires_grad=True)
    y, st = F.plif_multi_step(x, w, backend="cupy", store_v_seq=True)
    (y.sum() + st.v_seq.sum()).backward()
    assert y.shape == (4, 0, 3) and x.grad.shape == (4, 0, 3) and w.grad.item() == 0.0


@pytest.mark.gpu
def test_cupy_deterministic_plif_gradient() -> None:
    """deterministic=True: the same decay gradient on every run, close to numba's float64 sum."""
    _cuda_ready()
    from snnmodels.kernels.cupy.neuron import CupyBackend

    cfg = NeuronConfig(kind="plif")
    g = torch.Generator().manual_seed(5)
    x = torch.rand(8, 70_000, generator=g) * 2
    grads = {}
    for name, be, dev in (("numba", snnmodels_backend("numba"), "cpu"),
                          ("det", CupyBackend(deterministic=True), "cuda"),
                          ("det2", CupyBackend(deterministic=True), "cuda")):
        w = torch.tensor(-0.4, device=dev, requires_grad=True)
        y, _, _ = be.multi_step(x.to(dev), torch.zeros(70_000, device=dev), torch.sigmoid(w),
                                cfg)
        y.sum().backward()
        grads[name] = w.grad.cpu()
    assert torch.equal(grads["det"], grads["det2"])
    torch.testing.assert_close(grads["det"], grads["numba"], rtol=1e-6, atol=0)


def snnmodels_backend(name: str):
    from snnmodels import get_backend

    return get_backend(name)


# -- scripts/gpu_check.sh ------------------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: run the script itself")
def test_gpu_check_stops_cleanly_without_cuda(tmp_path) -> None:
    """Without CUDA the one-call check says so in one line, runs nothing and exits 3."""
    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run(["bash", str(repo / "scripts" / "gpu_check.sh"), str(tmp_path / "out"),
                        str(tmp_path / "no-wheels")],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin",
                                                            "PYTHON": sys.executable},
                       timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "no CUDA:" in summary and "nothing was run on a GPU" in summary
    assert not (tmp_path / "out" / "gpu_tests.txt").exists()
