"""Segmentation networks: [T, B, C, H, W] -> [B, classes, H, W] logits from the head's current or potential."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnmodels.errors import ConfigError
from snnmodels.models import MODELS, SEGMENTATION_MODELS, build_model
from snnmodels.models.segmentation import SpikingFPN


def _tiny(**kw) -> SpikingFPN:
    torch.manual_seed(0)
    return SpikingFPN((2, 16, 12), 3, stages=((4,), (6,), (8,)), fpn_channels=5, **kw)


def test_registered_and_shapes() -> None:
    assert {"small-fpn", "vgg16-fpn"} <= SEGMENTATION_MODELS <= set(MODELS)
    net = build_model("small-fpn", input_size=(2, 32, 32), num_classes=4)
    assert net(torch.rand(3, 2, 2, 32, 32)).shape == (2, 4, 32, 32)
    assert net(torch.rand(3, 2, 2, 32, 32), out_size=(40, 36)).shape == (2, 4, 40, 36)
    vgg = build_model("vgg16-fpn", input_size=(6, 16, 16), num_classes=21)
    assert len(vgg.stages) == 5 and sum(isinstance(m, torch.nn.MaxPool2d) for m in vgg.modules()) == 4
    assert vgg(torch.rand(2, 1, 6, 16, 16)).shape == (1, 21, 16, 16)


def test_current_readout_is_the_time_mean_of_the_head_input() -> None:
    net = _tiny()  # train mode: BatchNorm on batch statistics, so the random net spikes
    x = (torch.rand(4, 2, 2, 16, 12) < 0.3).float()
    cur = net.head_current(x)
    assert cur.shape == (4, 2, 3, 16, 12)  # decoder_from=0: the head runs at full resolution
    assert torch.allclose(net(x), cur.mean(0), atol=1e-6)
    # the mean over T of T different steps: the readout is not the last step or a spike rate
    assert not torch.allclose(cur.mean(0), cur[-1])


def test_membrane_readout_integrates_the_current() -> None:
    net = _tiny(readout="membrane", readout_tau=4.0)
    x = (torch.rand(5, 1, 2, 16, 12) < 0.3).float()
    cur = net.head_current(x)
    v, acc = torch.zeros_like(cur[0]), torch.zeros_like(cur[0])
    for t in range(5):
        v = 0.75 * v + 0.25 * cur[t]
        acc += v
    assert torch.allclose(net(x), acc / 5, atol=1e-6)


def test_decoder_from_upsamples_the_logits() -> None:
    net = _tiny(decoder_from=1)
    x = (torch.rand(2, 1, 2, 16, 12) < 0.3).float()
    cur = net.head_current(x)
    assert cur.shape[-2:] == (8, 6)
    want = F.interpolate(cur.mean(0), size=(16, 12), mode="bilinear", align_corners=False)
    assert torch.allclose(net(x), want, atol=1e-6)


def test_gradients_reach_the_first_layer_and_backends_agree() -> None:
    pytest.importorskip("numba")
    x = (torch.rand(3, 2, 2, 16, 12) < 0.4).float()
    outs, grads = [], []
    for backend in ("torch", "numba"):
        net = _tiny(backend=backend)
        y = net(x)
        F.cross_entropy(y, torch.randint(0, 3, (2, 16, 12), generator=torch.Generator().manual_seed(1))).backward()
        g = net.stages[0][0][0][0].weight.grad
        assert g is not None and g.abs().sum() > 0
        outs.append(y.detach())
        grads.append(g)
    assert torch.allclose(outs[0], outs[1], atol=1e-5) and torch.allclose(grads[0], grads[1], atol=1e-4)


def test_bad_configs() -> None:
    with pytest.raises(ConfigError, match="readout"):
        _tiny(readout="rate")
    with pytest.raises(ConfigError, match="too small"):
        SpikingFPN((2, 4, 4), 3, stages=((4,), (4,), (4,), (4,)))
    with pytest.raises(ConfigError, match="decoder_from"):
        _tiny(decoder_from=3)
    with pytest.raises(ConfigError, match=r"\[T, B, C, H, W\]"):
        _tiny()(torch.rand(2, 16, 12))


@pytest.mark.parametrize("name", sorted(SEGMENTATION_MODELS))
def test_every_segmentation_model_builds_and_runs(name: str) -> None:
    """Each registered segmenter: [T, B, C, H, W] -> finite [B, classes, H, W] logits, gradients to the input."""
    net = build_model(name, input_size=(2, 32, 32), num_classes=5, backend="numba")
    x = (torch.rand(2, 1, 2, 32, 32) * 2).requires_grad_()
    out = net(x)
    assert out.shape == (1, 5, 32, 32) and torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad is not None
