"""Host emulation of snnmodels' CUDA kernels: compile ``neuron.cu`` with g++ and run it with threads.

This is evidence about the kernels' arithmetic and indexing (bounds guard, ``[T, M]`` strides,
fp16 rounding, the backward recurrence, the PLIF block reduction with real barriers), obtained on
any machine with a C++20 compiler. It says nothing about CuPy's launch path (NVRTC, streams,
device memory): ``scripts/gpu_check.sh`` covers that on a GPU machine.
"""

from tests.snnmodels.cuda_host.launcher import HostLauncher, compiler_problem

__all__ = ["HostLauncher", "compiler_problem"]
