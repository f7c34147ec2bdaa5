"""Spiking networks for event frames and their registry by name.

>>> from snnmodels.models import build_model, MODELS
>>> net = build_model("plif-gesture", input_size=(2, 128, 128), num_classes=11, backend="numba")
>>> votes = net(x_seq)            # [T, N, C, H, W] -> [T, N, 11]

=================  ==========================================================================
name               network
=================  ==========================================================================
plif-gesture       PLIF paper, DVS128 Gesture: {c128k3-BN-PLIF-MP2}x5, DP, FC512, PLIF, DP,
                   FC110, PLIF, voting by 10
plif-cifar10dvs    PLIF paper, CIFAR10-DVS: {c128k3-BN-PLIF-MP2}x4, DP, FC512, PLIF, DP, FC100,
                   PLIF, voting by 10
small              3 conv stages (16, 32, 32), FC classes*10, voting: the fast CPU demo network
vgg11 / 13 / 16    spiking VGG (conv-BN-PLIF stacks), FC512, FC classes*10, voting
small-fpn          segmentation: 4 conv stages (16, 32, 64, 64) + 32-channel FPN from stride 2, logits
                   [N, classes, H, W] from the head's current averaged over T (CPU demo)
vgg16-fpn          segmentation: spiking VGG16 (pooling after stages 1-4) + 128-channel FPN
=================  ==========================================================================

Segmentation models (:mod:`snnmodels.models.segmentation`) return ``[N, classes, H, W]`` logits,
not per-step votes; :data:`SEGMENTATION_MODELS` names them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from snnmodels.errors import ConfigError
from snnmodels.models.blocks import VGG_CONFIGS, SequenceDropout, conv_stage, make_neuron, spiking_vgg_features
from snnmodels.models.networks import PLIFNet, SmallNet, SpikingClassifier, SpikingVGG
from snnmodels.models.segmentation import SEG_CONFIGS, SpikingFPN, build_segmenter

__all__ = [
    "MODELS", "build_model", "PLIFNet", "SmallNet", "SpikingVGG", "SpikingClassifier", "SequenceDropout",
    "conv_stage", "make_neuron", "spiking_vgg_features", "VGG_CONFIGS", "SEGMENTATION_MODELS", "SpikingFPN",
]


def _vgg(name: str) -> Callable[..., nn.Module]:
    return lambda **kw: SpikingVGG(name, **kw)


#: Model constructors by name; each takes ``input_size``, ``num_classes``, ``backend`` and extras.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "plif-gesture": lambda **kw: PLIFNet(stages=5, **kw),
    "plif-cifar10dvs": lambda **kw: PLIFNet(stages=4, **kw),
    "small": lambda **kw: SmallNet(**kw),
    **{name: _vgg(name) for name in VGG_CONFIGS},
    **{name: (lambda n: lambda **kw: build_segmenter(n, **kw))(name) for name in SEG_CONFIGS},
}
#: The names in :data:`MODELS` that are segmenters (``[T, N, C, H, W] -> [N, classes, H, W]`` logits).
SEGMENTATION_MODELS: frozenset[str] = frozenset(SEG_CONFIGS)


def build_model(
    name: str, *, input_size: tuple[int, int, int], num_classes: int, backend: str = "torch", **kwargs: Any
) -> SpikingClassifier:
    """Build a registered network.

    Parameters
    ----------
    name
        A key of :data:`MODELS`.
    input_size
        ``(C, H, W)`` of one frame.
    num_classes
        Number of classes.
    backend
        Neuron backend (``"torch"``, ``"numba"``, ``"cupy"``).
    **kwargs
        Network or neuron arguments (``dropout``, ``tau``, ``surrogate``, ...).

    Raises
    ------
    ValueError
        Unknown name (the message lists the registered ones) or an input too small for the network.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](input_size=tuple(input_size), num_classes=int(num_classes), backend=backend, **kwargs)
