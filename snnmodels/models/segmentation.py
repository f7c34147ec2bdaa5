"""Spiking semantic segmentation: a spiking encoder with a feature pyramid (FPN) decoder.

Layout ``[T, B, C, H, W]`` throughout (time first, never swapped with the batch). The encoder is
a stack of stages of ``conv3x3 - BatchNorm (over T*B) - spiking neuron`` blocks with a 2x2 max
pool between stages; the decoder is an FPN over every stage's output spikes:

* a 1x1 *lateral* conv maps stage ``i`` to ``fpn_channels``;
* top-down, the merged map of the coarser level is upsampled (bilinear) to stage ``i``'s size and
  added to its lateral, then ``conv3x3 - BN - neuron`` turns the sum into spikes;
* a 1x1 *head* conv on the finest merged level gives the per-class input current ``I[t]``.

**Readout.** Logits are not spike rates (the segment_snn reference feeds 0/1 rates to the
cross-entropy, which caps logits to [0, 1]): ``readout="current"`` averages the head's input
current over T, ``"membrane"`` the membrane potential of a non-firing leaky integrator
``v[t] = v[t-1] + (I[t] - v[t-1]) / tau`` driven by it; either is then upsampled (bilinear) to the
mask size, ``[B, num_classes, H_out, W_out]``.

Networks
--------
``vgg16-fpn``: the reference's spiking VGG16 (stages 64x2, 128x2, 256x3, 512x3, 512x3, pooling
after stages 1-4, which the reference's newest code commented out and which is needed to fit in
memory) with a 128-channel FPN. ``small-fpn``: four one-conv stages (16, 32, 64, 64) and a
32-channel FPN over stages 2-4 (stride 2 and coarser), the CPU network of the segmentation demo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from snnmodels.errors import ConfigError
from snnmodels.layers import TimeFolded
from snnmodels.models.blocks import conv_stage

__all__ = ["SEG_CONFIGS", "SpikingFPN", "build_segmenter"]

#: Encoder stages (conv widths per stage) and FPN width of the registered segmenters.
SEG_CONFIGS: dict[str, dict[str, Any]] = {
    "vgg16-fpn": {"stages": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)), "fpn_channels": 128},
    "small-fpn": {"stages": ((16,), (32,), (64,), (64,)), "fpn_channels": 32, "decoder_from": 1},
}
READOUTS = ("current", "membrane")


def _resize_seq(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[T, B, C, H, W]`` to ``size`` (time folded into the batch)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    t, b = x.shape[:2]
    y = F.interpolate(x.flatten(0, 1), size=size, mode="bilinear", align_corners=False)
    return y.reshape(t, b, *y.shape[1:])


class SpikingFPN(nn.Module):
    """Spiking encoder + FPN decoder for ``[T, B, C, H, W]`` frames (see the module docstring).

    Parameters
    ----------
    input_size
        ``(C, H, W)`` of one frame (C = 2 for ON/OFF counts, 6 for shift-diff).
    num_classes
        Classes of the masks, background included.
    stages
        Conv widths per encoder stage; a 2x2 max pool separates consecutive stages.
    fpn_channels
        Width of the laterals and merged maps.
    readout
        ``"current"`` or ``"membrane"`` (see the module docstring).
    readout_tau
        Time constant of the ``"membrane"`` readout integrator (> 1).
    decoder_from
        First encoder stage the FPN reads (0: all; 1: the decoder stops at stride 2 and the logits
        are upsampled from there, which quarters the decoder's cost at full resolution).
    neuron, backend, **neuron_kwargs
        Neuron kind (``"plif"``, ``"lif"``, ``"if"``), backend (``"torch"``, ``"numba"``, ``"cupy"``)
        and neuron arguments, as for the classifiers.
    """

    def __init__(
        self, input_size: tuple[int, int, int] = (2, 64, 64), num_classes: int = 4, *,
        stages: Sequence[Sequence[int]] = SEG_CONFIGS["small-fpn"]["stages"], fpn_channels: int = 32,
        readout: str = "current", readout_tau: float = 2.0, decoder_from: int = 0, neuron: str = "plif",
        backend: str = "torch", **neuron_kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__()
        if readout not in READOUTS:
            raise ConfigError(f"readout must be one of {READOUTS}, got {readout!r}")
        if readout == "membrane" and not readout_tau > 1:
            raise ConfigError(f"readout_tau must be > 1, got {readout_tau}")
        if num_classes < 2 or fpn_channels < 1 or not stages or any(not s for s in stages):
            raise ConfigError("need num_classes >= 2, fpn_channels >= 1 and non-empty stages")
        c, h, w = (int(v) for v in input_size)
        pools = len(stages) - 1
        if h >> pools == 0 or w >> pools == 0:
            raise ConfigError(f"input {h}x{w} is too small for {pools} 2x2 poolings")
        if not 0 <= int(decoder_from) < len(stages):
            raise ConfigError(f"decoder_from must be in 0..{len(stages) - 1}, got {decoder_from}")
        self.decoder_from = int(decoder_from)
        nk = {"neuron": neuron, "backend": backend, **neuron_kwargs}
        self.stages = nn.ModuleList()
        widths = []
        for i, stage in enumerate(stages):
            layers: list[nn.Module] = [TimeFolded(nn.MaxPool2d(2, 2))] if i else []
            for width in stage:
                layers.append(conv_stage(c, int(width), pool=False, **nk))
                c = int(width)
            self.stages.append(nn.Sequential(*layers))
            widths.append(c)
        used = widths[self.decoder_from :]
        self.laterals = nn.ModuleList(TimeFolded(nn.Conv2d(wd, fpn_channels, 1)) for wd in used)
        self.smooth = nn.ModuleList(conv_stage(fpn_channels, fpn_channels, pool=False, **nk) for _ in used[:-1])
        self.top = conv_stage(fpn_channels, fpn_channels, pool=False, **nk)  # the coarsest level's spikes
        self.head = TimeFolded(nn.Conv2d(fpn_channels, num_classes, 1))
        self.num_classes = int(num_classes)
        self.input_size = (int(input_size[0]), h, w)
        self.readout = readout
        self.readout_tau = float(readout_tau)

    def encode(self, x_seq: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's output spikes, finest first."""
        feats = []
        for stage in self.stages:
            x_seq = stage(x_seq)
            feats.append(x_seq)
        return feats

    def head_current(self, x_seq: torch.Tensor) -> torch.Tensor:
        """The head's input current ``[T, B, num_classes, h, w]`` at the finest decoded level."""
        feats = self.encode(x_seq)[self.decoder_from :]
        y = self.top(self.laterals[-1](feats[-1]))
        for i in range(len(feats) - 2, -1, -1):  # top-down: coarse to fine
            lat = self.laterals[i](feats[i])
            y = self.smooth[i](_resize_seq(y, lat.shape[-2:]) + lat)
        return self.head(y)

    def forward(self, x_seq: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """``[T, B, C, H, W]`` frames -> ``[B, num_classes, H_out, W_out]`` logits (``out_size``, default the input's)."""
        if x_seq.ndim != 5:
            raise ConfigError(f"expected frames [T, B, C, H, W], got shape {tuple(x_seq.shape)}")
        cur = self.head_current(x_seq)
        if self.readout == "current":
            logits = cur.mean(0)
        else:  # a leaky integrator that never fires: its mean potential
            v = torch.zeros_like(cur[0])
            total = torch.zeros_like(v)
            for t in range(cur.shape[0]):
                v = v + (cur[t] - v) / self.readout_tau
                total = total + v
            logits = total / cur.shape[0]
        size = tuple(out_size) if out_size is not None else tuple(x_seq.shape[-2:])
        if tuple(logits.shape[-2:]) != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits


def build_segmenter(name: str, **kwargs: Any) -> SpikingFPN:
    """A registered segmenter (``vgg16-fpn``, ``small-fpn``); ``kwargs`` override its config."""
    if name not in SEG_CONFIGS:
        raise ConfigError(f"unknown segmentation model {name!r}; choose one of {', '.join(SEG_CONFIGS)}")
    return SpikingFPN(**{**SEG_CONFIGS[name], **kwargs})
