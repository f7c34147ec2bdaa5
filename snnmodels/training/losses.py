r"""Losses on spiking outputs, mask-aware for padded (variable-length) batches.

A network returns per-step class votes ``votes [T, N, K]``. The class firing rate of sample ``n``
averages only its valid steps (``t < lengths[n]``):

.. math::  r_{n,k} = \frac{1}{L_n} \sum_{t < L_n} \mathrm{votes}_{t,n,k}

* ``"mse"`` (the PLIF paper): :math:`\frac{1}{NK}\sum_{n,k} (r_{n,k} - \mathrm{onehot}(y_n)_k)^2`;
* ``"ce"``: cross-entropy of ``softmax(scale * r)`` with ``scale = CE_SCALE`` (rates lie in
  [0, 1], too flat to be useful logits unscaled).

:func:`probabilities` turns rates into class probabilities consistently with the loss a model was
trained with: the softmax above for ``"ce"``, the share of votes :math:`r / \sum_k r` for ``"mse"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["CE_SCALE", "LOSSES", "firing_rate", "rate_mse_loss", "rate_ce_loss", "probabilities"]

#: Rate-to-logit scale of the cross-entropy loss.
CE_SCALE = 10.0


def firing_rate(votes: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``votes [T, N, K]`` over the valid steps of each sample -> ``[N, K]``.

    Parameters
    ----------
    votes
        Network output, time first.
    lengths
        ``[N]`` valid steps per sample; None means all ``T`` steps are valid.
    """
    T = votes.shape[0]
    if lengths is None:
        return votes.mean(0)
    lengths = lengths.to(votes.device)
    mask = torch.arange(T, device=votes.device)[:, None] < lengths[None, :]  # [T, N], True = valid
    summed = (votes * mask[..., None].to(votes.dtype)).sum(0)
    return summed / lengths.clamp(min=1)[:, None].to(votes.dtype)


def rate_mse_loss(rate: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MSE between firing rates ``[N, K]`` and the one-hot labels (the PLIF paper's loss)."""
    target = F.one_hot(labels, rate.shape[-1]).to(rate.dtype)
    return F.mse_loss(rate, target)


def rate_ce_loss(rate: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``softmax(CE_SCALE * rate)`` against the labels."""
    return F.cross_entropy(rate * CE_SCALE, labels)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": rate_mse_loss, "ce": rate_ce_loss,
}


def probabilities(rate: torch.Tensor, loss: str = "mse") -> torch.Tensor:
    """Class probabilities ``[N, K]`` from firing rates (see the module docstring)."""
    if loss == "ce":
        return torch.softmax(rate * CE_SCALE, -1)
    total = rate.sum(-1, keepdim=True)
    uniform = torch.full_like(rate, 1.0 / rate.shape[-1])
    return torch.where(total > 0, rate / total.clamp(min=1e-12), uniform)
