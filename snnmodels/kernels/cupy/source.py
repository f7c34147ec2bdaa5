"""CUDA source assembly for the cupy backend (no cupy import: usable for compile checks)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from snnmodels.kernels._constants import KIND_CODES, OUTPUT_CODES
from snnmodels.neurons.config import NeuronConfig
from snnmodels.neurons.surrogate import SURROGATE_IDS

__all__ = ["SCALAR", "kernel_source"]

_SRC = Path(__file__).with_name("neuron.cu")
#: Supported tensor dtypes and their CUDA scalar type.
SCALAR = {torch.float32: "float", torch.float16: "half_t"}


@lru_cache(maxsize=1)
def _cu_text() -> str:
    return _SRC.read_text()


def kernel_source(dtype: torch.dtype, cfg: NeuronConfig, store_h: bool, store_v: bool,
                  has_gvs: bool, deterministic: bool = False) -> str:
    """The CUDA source for one configuration (``#define`` header + ``neuron.cu``).

    Parameters
    ----------
    dtype
        ``torch.float32`` or ``torch.float16`` (the type of inputs, outputs and their gradients).
    cfg
        The neuron configuration; its kind, reset mode, surrogate and output become ``#define`` lines.
    store_h, store_v
        Whether the forward writes :math:`H` (for backward) and the potential sequence.
    has_gvs
        Whether the backward receives a gradient for the potential sequence.
    deterministic
        PLIF: write one float64 partial sum of dL/dk per block instead of a float
        ``atomicAdd`` (``DET_GK``, see ``neuron.cu``).

    Returns
    -------
    str
        Source text for NVRTC (or for the host emulation in the tests).
    """
    defs = {
        "SCALAR_T": SCALAR[dtype],
        "KIND": KIND_CODES[cfg.kind],
        "HARD": int(cfg.hard_reset),
        "DECAY_INPUT": int(cfg.decay_input),
        "DETACH": int(cfg.detach_reset),
        "SURR": SURROGATE_IDS[cfg.surrogate],
        "OUT": OUTPUT_CODES[cfg.output],
        "TR": int(cfg.threshold_related),
        "STORE_H": int(store_h),
        "STORE_V": int(store_v),
        "HAS_GVS": int(has_gvs),
        "DET_GK": int(deterministic),
    }
    head = "".join(f"#define {k} {v}\n" for k, v in defs.items())
    return head + _cu_text()
