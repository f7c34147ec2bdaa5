"""A :class:`~snnmodels.kernels.cupy.fused.KernelLauncher` that runs CUDA source on the host.

The source the backend would hand to NVRTC is compiled by g++ (C++20, ``-ffp-contract=off`` to
mirror ``--fmad=false``) together with ``include/cuda_shim.h`` and loaded with ctypes; the
backend's grid, block size, shared-memory size and argument tuple are used unchanged. Several
sources are compiled into one library (each in its own namespace, its kernels renamed) because
a compiler start costs more than a kernel. Libraries are cached on disk per content hash (shim,
sources, flags, compiler version) in the temporary directory, so a test session compiles only
what changed.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

INCLUDE = Path(__file__).with_name("include")
FLAGS = ("-std=c++20", "-O1", "-fPIC", "-shared", "-pthread", "-ffp-contract=off",
         "-fno-fast-math", "-w")
_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(')
_SHARED = re.compile(r"extern\s+__shared__\s+(\w+)\s+(\w+)\s*\[\s*\]")
_DEFINE = re.compile(r"^\s*#\s*define\s+(\w+)", re.M)
# numpy scalar type the backend passes -> (ctypes type, the shim's parameter type code)
_ARG = {np.uint64: (ctypes.c_uint64, 108), np.float32: (ctypes.c_float, 204),
        np.float64: (ctypes.c_double, 208), np.int64: (ctypes.c_int64, 308),
        np.int32: (ctypes.c_int32, 304)}


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@lru_cache(maxsize=1)
def compiler_problem() -> str | None:
    """Why the emulation cannot run here (no C++20 compiler with ``<barrier>``), or None."""
    cxx = _compiler()
    if cxx is None:
        return "no C++ compiler (g++, c++ or clang++; or $CXX) on PATH"
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.cpp"
        probe.write_text('#include "cuda_shim.h"\nextern "C" int f() { return sizeof(__half); }\n')
        r = subprocess.run([cxx, *FLAGS, "-I", str(INCLUDE), "-o", str(Path(tmp) / "p.so"),
                            str(probe)], capture_output=True, text=True)
    if r.returncode != 0:
        return f"{cxx} cannot compile the C++20 CUDA shim ({r.stderr.strip()[:300]})"
    return None


def _cache_dir() -> Path:
    d = Path(os.environ.get("SNNMODELS_CUDA_HOST_CACHE",
                            Path(tempfile.gettempdir()) / f"snnmodels-cuda-host-{os.getuid()}"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@lru_cache(maxsize=1)
def _toolchain_id() -> str:
    cxx = _compiler() or ""
    ver = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    shim = "".join(p.read_text() for p in sorted(INCLUDE.iterdir()))
    return hashlib.sha256(f"{cxx}\n{ver}\n{FLAGS}\n{shim}".encode()).hexdigest()


def _translation_unit(sources: list[str]) -> str:
    """One C++ file holding every source, each in namespace ``emu_cI`` with renamed kernels."""
    parts = ['#include "cuda_shim.h"\n']
    for i, src in enumerate(sources):
        names = _KERNEL.findall(src)
        shared = sorted(set(_SHARED.findall(src)))
        macros = sorted(set(_DEFINE.findall(src)))
        # kernels and shared arrays have C linkage (extern "C" / block-scope extern): rename them
        renamed = names + [n for _, n in shared]
        parts.append(f"namespace emu_c{i} {{\n")
        parts += [f"#define {n} c{i}_{n}\n" for n in renamed]
        parts.append(src)
        parts += [f"\nEMU_SHARED({t}, {n})\n" for t, n in shared]
        parts += [f"#undef {n}\n" for n in renamed + macros]
        parts += [f"EMU_EXPORT(c{i}_{n})\n" for n in names]  # C linkage: unique names
        parts.append(f"}}  // namespace emu_c{i}\n")
    return "".join(parts)


class HostLauncher:
    """Compile CUDA sources with the host compiler and run their kernels on CPU threads."""

    def __init__(self) -> None:
        problem = compiler_problem()
        if problem:
            raise RuntimeError(problem)
        self._where: dict[str, tuple[ctypes.CDLL, str]] = {}
        self.launches: list[tuple[str, int, int, int]] = []  # (kernel, grid, block, shared)

    def prepare(self, sources: Iterable[str], jobs: int = 2) -> None:
        """Compile every source not loaded yet, in ``jobs`` libraries built side by side."""
        todo = sorted(set(sources) - set(self._where))
        if not todo:
            return
        chunks = [todo[i::jobs] for i in range(jobs) if todo[i::jobs]]
        procs = []
        for chunk in chunks:
            key = hashlib.sha256((_toolchain_id() + "\0".join(chunk)).encode()).hexdigest()[:24]
            so = _cache_dir() / f"kernels_{key}.so"
            proc = None
            if not so.exists():
                cpp = so.with_suffix(f".{os.getpid()}.cpp")
                cpp.write_text(_translation_unit(chunk))
                tmp = so.with_suffix(f".{os.getpid()}.tmp")
                proc = subprocess.Popen(
                    [_compiler(), *FLAGS, "-I", str(INCLUDE), "-o", str(tmp), str(cpp)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append((chunk, so, proc))
        for chunk, so, proc in procs:
            if proc is not None:
                _, err = proc.communicate()
                cpp = so.with_suffix(f".{os.getpid()}.cpp")
                tmp = so.with_suffix(f".{os.getpid()}.tmp")
                if proc.returncode != 0:
                    raise RuntimeError(f"host compile failed (source kept in {cpp}):\n{err[-4000:]}")
                os.replace(tmp, so)  # atomic: a parallel session never loads half a library
                cpp.unlink()
            lib = ctypes.CDLL(str(so))
            for i, src in enumerate(chunk):
                self._where[src] = (lib, f"c{i}_")

    def signature(self, source: str, name: str) -> list[int]:
        """The shim's type codes of kernel ``name``'s parameters (see ``cuda_shim.h``)."""
        self.prepare([source])
        lib, prefix = self._where[source]
        codes = (ctypes.c_int * 64)()
        n = getattr(lib, f"emu_signature_{prefix}{name}")(codes, 64)
        return list(codes[:n])

    def launch(self, source: str, name: str, grid: int, block: int, args: tuple, shared: int,
               device=None) -> None:
        """Run kernel ``name`` like ``fn((grid,), (block,), args, shared_mem=shared)`` would."""
        self.prepare([source])
        lib, prefix = self._where[source]
        codes = self.signature(source, name)
        if len(codes) != len(args):
            raise TypeError(f"{name} takes {len(codes)} arguments, the launch passed {len(args)}")
        values = []
        for i, (a, code) in enumerate(zip(args, codes)):
            ctype, want = _ARG.get(type(a), (None, None))
            if want != code:
                raise TypeError(f"{name} argument {i}: kernel parameter code {code}, "
                                f"launch passed {type(a).__name__}")
            values.append(ctype(a.item()))
        params = (ctypes.c_void_p * len(values))(*[ctypes.addressof(v) for v in values])
        err = ctypes.create_string_buffer(512)
        fn = getattr(lib, f"emu_launch_{prefix}{name}")
        fn.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_size_t, ctypes.c_void_p,
                       ctypes.c_char_p, ctypes.c_size_t]
        self.launches.append((name, grid, block, shared))
        if fn(grid, block, shared, params, err, len(err)) != 0:
            raise RuntimeError(f"emulated launch of {name} failed: {err.value.decode()}")
