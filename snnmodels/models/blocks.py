"""Building blocks of the spiking networks: conv/BN/neuron/pool stages, time-shared dropout and
the VGG-style stack builder.

Every block takes and returns time-first ``[T, N, ...]`` tensors; stateless layers run inside
:class:`~snnmodels.TimeFolded` (time folded into the batch), neurons run over the whole sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from snnmodels.errors import ConfigError
from snnmodels.layers import TimeFolded
from snnmodels.neurons import IF, LIF, PLIF

__all__ = ["NEURONS", "make_neuron", "SequenceDropout", "conv_stage", "spiking_vgg_features", "VGG_CONFIGS"]

NEURONS: dict[str, type[nn.Module]] = {"plif": PLIF, "lif": LIF, "if": IF}

#: VGG layer lists: ints are 3x3 conv widths, ``"M"`` a 2x2 max pool (Simonyan & Zisserman).
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def make_neuron(kind: str = "plif", *, backend: str = "torch", **kwargs: Any) -> nn.Module:
    """A multi-step neuron layer by name.

    Parameters
    ----------
    kind
        ``"plif"`` (learnable decay, the PLIF paper), ``"lif"`` or ``"if"``.
    backend
        ``"torch"``, ``"numba"`` or ``"cupy"``.
    **kwargs
        Neuron arguments (``tau``, ``surrogate``, ``detach_reset``, ...). Defaults follow the PLIF
        paper: ``tau=2``, ATan surrogate, ``detach_reset=True``.
    """
    if kind not in NEURONS:
        raise ConfigError(f"unknown neuron {kind!r}; choose one of {sorted(NEURONS)}")
    opts: dict[str, Any] = {"tau": 2.0, "surrogate": "atan", "detach_reset": True}
    opts.update(kwargs)
    if kind == "if":
        opts.pop("tau")
    return NEURONS[kind](backend=backend, **opts)


class SequenceDropout(nn.Module):
    """Dropout with one mask per sequence, shared by all ``T`` steps (SpikingJelly's multi-step
    dropout): a neuron dropped at ``t=0`` stays dropped for the whole sample.

    Parameters
    ----------
    p
        Drop probability.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout p must be in [0, 1), got {p}")
        self.p = float(p)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """Multiply ``x_seq`` ``[T, N, ...]`` by one scaled Bernoulli mask ``[N, ...]``."""
        if not self.training or self.p == 0.0:
            return x_seq
        keep = 1.0 - self.p
        mask = torch.empty_like(x_seq[0]).bernoulli_(keep).div_(keep)
        return x_seq * mask


def conv_stage(
    c_in: int, c_out: int, *, neuron: str = "plif", backend: str = "torch", pool: bool = True,
    **neuron_kwargs: Any,
) -> nn.Sequential:
    """``conv3x3 -> BN -> spiking neuron [-> maxpool2]`` over ``[T, N, C, H, W]``."""
    folded = TimeFolded(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
    layers: list[nn.Module] = [folded, make_neuron(neuron, backend=backend, **neuron_kwargs)]
    if pool:
        layers.append(TimeFolded(nn.MaxPool2d(2, 2)))
    return nn.Sequential(*layers)


def spiking_vgg_features(
    cfg: Sequence[int | str], in_channels: int, *, neuron: str = "plif", backend: str = "torch",
    **neuron_kwargs: Any,
) -> tuple[nn.Sequential, int, int]:
    """The convolutional part of a spiking VGG from a layer list.

    Parameters
    ----------
    cfg
        Conv widths (3x3, BN, neuron) and ``"M"`` (2x2 max pool), e.g. ``VGG_CONFIGS["vgg11"]``.
    in_channels
        Input channels (2 for ON/OFF frames).

    Returns
    -------
    features : nn.Sequential
        ``[T, N, in_channels, H, W] -> [T, N, C, H / 2**pools, W / 2**pools]``.
    channels : int
        ``C``, the width of the last conv.
    pools : int
        Number of poolings.
    """
    layers: list[nn.Module] = []
    c, pools = in_channels, 0
    for item in cfg:
        if item == "M":
            layers.append(TimeFolded(nn.MaxPool2d(2, 2)))
            pools += 1
        else:
            layers.append(conv_stage(c, int(item), neuron=neuron, backend=backend, pool=False, **neuron_kwargs))
            c = int(item)
    return nn.Sequential(*layers), c, pools
