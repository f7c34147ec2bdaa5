"""Numbers every fused kernel compiles in, defined once for the numba and CUDA backends.

A configuration's kind and output become small integers (``#define KIND``/``OUT`` in
``cupy/neuron.cu``, closure constants in ``numba_backend``), and the surrogate derivative of the
backward pass is written in both with the same two constants ``a1``, ``a2`` (see
:func:`surrogate_constants`). The surrogate ids themselves are
:data:`snnmodels.neurons.surrogate.SURROGATE_IDS`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from snnmodels.neurons.config import NeuronConfig

__all__ = ["KIND_CODES", "OUTPUT_CODES", "surrogate_constants"]

#: Integer code of each neuron kind inside the kernels (``KIND``).
KIND_CODES: dict[str, int] = {"if": 0, "lif": 1, "plif": 2}
#: Integer code of each output inside the kernels (``OUT``).
OUTPUT_CODES: dict[str, int] = {"spike": 0, "relu": 1, "identity": 2}


def surrogate_constants(cfg: NeuronConfig) -> tuple[float, float]:
    """The two constants ``(a1, a2)`` of the kernels' surrogate derivative of ``cfg``.

    sigmoid: :math:`g' = (1 - s)\\,s\\,a_1` with :math:`s = \\sigma(a_1 u)`, :math:`a_1 = \\alpha`;
    atan: :math:`g' = a_2 / (1 + (a_1 u)^2)`, :math:`a_1 = \\tfrac{\\pi}{2}\\alpha`,
    :math:`a_2 = \\alpha/2`; piecewise quadratic: :math:`g' = \\max(0, a_1 - a_2|u|)`,
    :math:`a_1 = \\alpha`, :math:`a_2 = \\alpha^2` (see :mod:`snnmodels.neurons.surrogate`).
    """
    if cfg.surrogate == "atan":
        return math.pi / 2 * cfg.alpha, cfg.alpha / 2
    if cfg.surrogate == "sigmoid":
        return cfg.alpha, 0.0
    return cfg.alpha, cfg.alpha * cfg.alpha
