"""Spiking classifiers for ``[T, N, C, H, W]`` event frames.

All networks end in a spiking output layer of ``num_classes * voters`` neurons and a
:class:`~snnmodels.Voting` layer, so ``forward`` returns ``[T, N, num_classes]`` per-step votes in
``[0, 1]``; their mean over the valid time steps is the class firing rate the losses use.

Architectures of the PLIF paper (Fang et al., ICCV 2021, "Incorporating learnable membrane time
constant to enhance learning of spiking neural networks"), in its notation:

* DVS128 Gesture: ``{c128k3s1-BN-PLIF-MPk2s2}*5 - DP - FC512 - PLIF - DP - FC110 - PLIF - APk10s10``
* CIFAR10-DVS:    ``{c128k3s1-BN-PLIF-MPk2s2}*4 - DP - FC512 - PLIF - DP - FC100 - PLIF - APk10s10``

``DP`` is dropout with one mask per sequence (:class:`SequenceDropout`), ``APk10s10`` the voting
layer. Neurons default to the paper's PLIF with ``tau0=2``, ATan surrogate and ``detach_reset``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from snnmodels.errors import ConfigError
from snnmodels.layers import TimeFolded, Voting
from snnmodels.models.blocks import SequenceDropout, conv_stage, make_neuron, spiking_vgg_features

__all__ = ["SpikingClassifier", "PLIFNet", "SmallNet", "SpikingVGG"]


class SpikingClassifier(nn.Module):
    """``features -> flatten -> classifier -> Voting``; the base of every network here.

    Attributes
    ----------
    num_classes, voters : int
        Class count and output neurons per class.
    """

    def __init__(self, features: nn.Module, classifier: nn.Module, num_classes: int, voters: int) -> None:
        super().__init__()
        self.features = features
        self.flatten = TimeFolded(nn.Flatten())
        self.classifier = classifier
        self.voting = Voting(voters)
        self.num_classes = int(num_classes)
        self.voters = int(voters)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, N, C, H, W]`` frames -> ``[T, N, num_classes]`` votes (output spikes averaged per class)."""
        return self.voting(self.classifier(self.flatten(self.features(x_seq))))


def _head(
    in_features: int, hidden: int, num_classes: int, voters: int, dropout: float, neuron: str,
    backend: str, **nk: Any,
) -> nn.Sequential:
    layers: list[nn.Module] = []
    if hidden:
        layers += [SequenceDropout(dropout), TimeFolded(nn.Linear(in_features, hidden)),
                   make_neuron(neuron, backend=backend, **nk)]
        in_features = hidden
    layers += [SequenceDropout(dropout), TimeFolded(nn.Linear(in_features, num_classes * voters)),
               make_neuron(neuron, backend=backend, **nk)]
    return nn.Sequential(*layers)


def _spatial(input_size: tuple[int, int, int], pools: int) -> tuple[int, int]:
    _, h, w = input_size
    if h >> pools == 0 or w >> pools == 0:
        raise ConfigError(f"input {h}x{w} is too small for {pools} 2x2 poolings")
    return h >> pools, w >> pools


class PLIFNet(SpikingClassifier):
    """The PLIF paper's convolutional network: ``{conv3x3 C, BN, PLIF, maxpool2} x stages``, then
    ``dropout, FC hidden, PLIF, dropout, FC classes*voters, PLIF, voting``.

    Parameters
    ----------
    input_size
        ``(C, H, W)`` of one frame, e.g. ``(2, 128, 128)``.
    num_classes
        11 for DVS128 Gesture, 10 for CIFAR10-DVS.
    stages
        Conv stages: 5 (DVS128 Gesture) or 4 (CIFAR10-DVS).
    channels, hidden, voters, dropout
        128, 512, 10 and 0.5 in the paper.
    neuron
        ``"plif"`` (the paper), ``"lif"`` or ``"if"``.
    backend
        Neuron backend: ``"torch"``, ``"numba"`` or ``"cupy"``.
    **neuron_kwargs
        Passed to every neuron (``tau``, ``surrogate``, ``detach_reset``, ...).
    """

    def __init__(
        self, input_size: tuple[int, int, int] = (2, 128, 128), num_classes: int = 11, *, stages: int = 5,
        channels: int = 128, hidden: int = 512, voters: int = 10, dropout: float = 0.5, neuron: str = "plif",
        backend: str = "torch", **neuron_kwargs: Any,
    ) -> None:
        c_in = input_size[0]
        convs = []
        for _ in range(stages):
            convs.append(conv_stage(c_in, channels, neuron=neuron, backend=backend, **neuron_kwargs))
            c_in = channels
        h, w = _spatial(input_size, stages)
        head = _head(channels * h * w, hidden, num_classes, voters, dropout, neuron, backend, **neuron_kwargs)
        super().__init__(nn.Sequential(*convs), head, num_classes, voters)


class SmallNet(SpikingClassifier):
    """A small fast network for CPU demos and tests.

    ``{conv3x3 w_i, BN, PLIF, maxpool2}`` for each width in ``widths`` (default 16, 32, 32), then
    ``dropout, FC classes*voters, PLIF, voting``. About 70 k parameters at 32x32 input (56 k in the output layer); one
    training epoch of the default synthetic-gestures store takes seconds on one core.

    Parameters
    ----------
    input_size, num_classes, voters, dropout, neuron, backend, **neuron_kwargs
        As for :class:`PLIFNet`.
    widths
        Conv widths, one pooling stage each.
    """

    def __init__(
        self, input_size: tuple[int, int, int] = (2, 32, 32), num_classes: int = 11, *,
        widths: tuple[int, ...] = (16, 32, 32), voters: int = 10, dropout: float = 0.25, neuron: str = "plif",
        backend: str = "torch", **neuron_kwargs: Any,
    ) -> None:
        c_in, convs = input_size[0], []
        for c in widths:
            convs.append(conv_stage(c_in, c, neuron=neuron, backend=backend, **neuron_kwargs))
            c_in = c
        h, w = _spatial(input_size, len(widths))
        head = _head(c_in * h * w, 0, num_classes, voters, dropout, neuron, backend, **neuron_kwargs)
        super().__init__(nn.Sequential(*convs), head, num_classes, voters)


class SpikingVGG(SpikingClassifier):
    """A spiking VGG: ``{conv3x3, BN, neuron}`` stacks with max pools from a layer list, then
    ``dropout, FC hidden, neuron, dropout, FC classes*voters, neuron, voting``.

    Parameters
    ----------
    cfg
        A name of :data:`~snnmodels.models.blocks.VGG_CONFIGS` (``"vgg11"``, ...) or a layer list.
    input_size, num_classes, hidden, voters, dropout, neuron, backend, **neuron_kwargs
        As for :class:`PLIFNet`; ``hidden=0`` drops the hidden FC layer.
    """

    def __init__(
        self, cfg: str | list[int | str] = "vgg11", input_size: tuple[int, int, int] = (2, 128, 128),
        num_classes: int = 11, *, hidden: int = 512, voters: int = 10, dropout: float = 0.5,
        neuron: str = "plif", backend: str = "torch", **neuron_kwargs: Any,
    ) -> None:
        from snnmodels.models.blocks import VGG_CONFIGS

        layers = VGG_CONFIGS[cfg] if isinstance(cfg, str) else list(cfg)
        features, c, pools = spiking_vgg_features(layers, input_size[0], neuron=neuron, backend=backend,
                                                  **neuron_kwargs)
        h, w = _spatial(input_size, pools)
        head = _head(c * h * w, hidden, num_classes, voters, dropout, neuron, backend, **neuron_kwargs)
        super().__init__(features, head, num_classes, voters)
