r"""Surrogate gradients for the Heaviside spike function.

The forward pass is always the Heaviside step :math:`\Theta(x) = 1` if :math:`x \ge 0` else 0;
only the backward pass uses the derivative :math:`g'(x)` of a smooth stand-in:

.. math::

    \text{sigmoid:}\quad g'(x) &= \alpha\,\sigma(\alpha x)\,(1 - \sigma(\alpha x)),
        \quad \alpha = 4 \\
    \text{atan:}\quad g'(x) &= \frac{\alpha / 2}{1 + (\tfrac{\pi}{2}\alpha x)^2},
        \quad \alpha = 2 \\
    \text{piecewise\_quadratic:}\quad g'(x) &= \max(0,\ \alpha - \alpha^2 |x|),
        \quad \alpha = 1

The default :math:`\alpha` of each gives a peak derivative of 1 (SpikingJelly's defaults).
The ids in :data:`SURROGATE_IDS` are what the fused kernels compile in.
"""

from __future__ import annotations

import math

import torch

from snnmodels.errors import ConfigError

__all__ = ["SURROGATE_ALPHA", "SURROGATE_IDS", "resolve_surrogate", "surrogate_grad", "heaviside"]

#: Default alpha of each surrogate.
SURROGATE_ALPHA: dict[str, float] = {"sigmoid": 4.0, "atan": 2.0, "piecewise_quadratic": 1.0}
#: Integer id of each surrogate inside the fused kernels.
SURROGATE_IDS: dict[str, int] = {"sigmoid": 0, "atan": 1, "piecewise_quadratic": 2}


def resolve_surrogate(name: str, alpha: float | None) -> tuple[str, float]:
    """Check a surrogate name and fill in its default alpha.

    Parameters
    ----------
    name
        One of ``"atan"``, ``"sigmoid"``, ``"piecewise_quadratic"``.
    alpha
        Sharpness; ``None`` takes the surrogate's default.

    Returns
    -------
    tuple of (str, float)
        The name and the alpha to use.
    """
    if name not in SURROGATE_ALPHA:
        raise ConfigError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATE_ALPHA)}")
    a = SURROGATE_ALPHA[name] if alpha is None else float(alpha)
    if not a > 0:
        raise ConfigError(f"surrogate alpha must be > 0, got {alpha!r}")
    return name, a


def surrogate_grad(x: torch.Tensor, name: str, alpha: float) -> torch.Tensor:
    """Surrogate derivative :math:`g'(x)` (same operation order as SpikingJelly 2.0)."""
    if name == "sigmoid":
        s = torch.sigmoid(alpha * x)
        return (1 - s) * s * alpha
    if name == "atan":
        z = x * (math.pi / 2 * alpha)
        return (alpha / 2) / (1 + z * z)
    if name == "piecewise_quadratic":
        return (alpha - alpha * alpha * x.abs()).clamp_min(0)
    raise ConfigError(f"unknown surrogate {name!r}")


class _Heaviside(torch.autograd.Function):
    """Heaviside forward, surrogate derivative backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.name = name
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * surrogate_grad(x, ctx.name, ctx.alpha), None, None


def heaviside(x: torch.Tensor, name: str = "atan", alpha: float | None = None) -> torch.Tensor:
    """Spike function :math:`\\Theta(x)` with the named surrogate gradient.

    Parameters
    ----------
    x
        Membrane potential minus threshold.
    name, alpha
        Surrogate and its sharpness (``None``: default alpha).

    Returns
    -------
    torch.Tensor
        ``1.0`` where ``x >= 0``, else ``0.0``, in ``x``'s dtype.
    """
    name, a = resolve_surrogate(name, alpha)
    return _Heaviside.apply(x, name, a)
