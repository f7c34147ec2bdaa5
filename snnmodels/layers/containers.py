"""Containers for time-first ``[T, N, ...]`` sequences.

:class:`TimeFolded` runs stateless modules (convolution, batch norm, pooling, linear, flatten)
once over all time steps by folding ``T`` into the batch: ``[T, N, ...] -> [T*N, ...]`` and back,
so e.g. a convolution runs as one large batch and BatchNorm statistics are shared across time.
:class:`Voting` averages groups of output neurons into class scores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ["TimeFolded", "Voting"]


class TimeFolded(nn.Sequential):
    """Apply stateless modules to ``[T, N, ...]`` by folding time into the batch.

    Parameters
    ----------
    *modules
        Modules that see ``[T*N, ...]`` and have no state across calls.

    Examples
    --------
    >>> layer = TimeFolded(nn.Conv2d(2, 8, 3, padding=1), nn.BatchNorm2d(8))
    >>> layer(torch.zeros(4, 3, 2, 16, 16)).shape
    torch.Size([4, 3, 8, 16, 16])
    """

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """Run the modules on ``x_seq.flatten(0, 1)`` and split ``T`` back out."""
        T, N = x_seq.shape[0], x_seq.shape[1]
        y = super().forward(x_seq.flatten(0, 1))
        return y.reshape(T, N, *y.shape[1:])


class Voting(nn.Module):
    """Average pooling over groups of ``voters`` consecutive neurons in the last dimension.

    ``[..., C * voters] -> [..., C]``; e.g. 110 output neurons with ``voters=10`` give 11 class
    scores.

    Parameters
    ----------
    voters
        Group size.
    """

    def __init__(self, voters: int = 10) -> None:
        super().__init__()
        if voters < 1:
            raise ConfigError(f"voters must be >= 1, got {voters}")
        self.voters = int(voters)

    def extra_repr(self) -> str:
        return f"voters={self.voters}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of each group of ``voters`` neurons along the last dimension."""
        if x.shape[-1] % self.voters:
            raise ConfigError(
                f"last dimension {x.shape[-1]} is not a multiple of voters={self.voters}"
            )
        lead = x.shape[:-1]
        y = F.avg_pool1d(x.reshape(-1, 1, x.shape[-1]), self.voters, self.voters)
        return y.reshape(*lead, -1)
