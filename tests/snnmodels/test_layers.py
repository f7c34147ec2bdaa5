"""Modules, state reset, TimeFolded, Voting and torch.compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import snnmodels
from snnmodels import LIF, PLIF, TimeFolded, Voting


@pytest.mark.parametrize("backend", ["torch", "numba"])
@pytest.mark.parametrize("cls", [snnmodels.IF, snnmodels.LIF, snnmodels.PLIF, snnmodels.LIAF])
def test_state_resets_every_forward(cls, backend: str) -> None:
    neuron = cls(backend=backend)
    x = torch.rand(5, 2, 40) * 2
    a = neuron(x)
    b = neuron(x)
    assert torch.equal(a, b)
    assert neuron.state.v.shape == (2, 40)


def test_explicit_state_continues_a_sequence() -> None:
    neuron = LIF(tau=3.0)
    x = torch.rand(6, 2, 10) * 2
    whole = neuron(x)
    first = neuron(x[:3])
    second = neuron(x[3:], state=neuron.state)
    assert torch.equal(torch.cat([first, second]), whole)


def test_plif_init_and_learnable_tau() -> None:
    neuron = PLIF(tau=3.0)
    assert neuron.w.item() == pytest.approx(-0.6931471805599453)
    assert neuron.tau.item() == pytest.approx(3.0)
    x = (torch.rand(4, 3, 8) * 2).requires_grad_()
    neuron(x).sum().backward()
    assert neuron.w.grad is not None and neuron.w.grad.item() != 0.0


def test_bad_arguments_fail_early() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        LIF(surrogate="gaussian")
    with pytest.raises(ValueError, match="tau"):
        LIF(tau=1.0)
    with pytest.raises(ValueError, match="output"):
        snnmodels.LIAF(act="tanh")


def test_time_folded_equals_per_step() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 4, 3, padding=1)
    layer = TimeFolded(conv, nn.Flatten())
    x = torch.rand(3, 2, 2, 6, 6)
    y = layer(x)
    assert y.shape == (3, 2, 4 * 36)
    for t in range(3):
        torch.testing.assert_close(y[t], conv(x[t]).flatten(1))


def test_voting_averages_groups() -> None:
    x = torch.arange(2 * 3 * 20, dtype=torch.float32).reshape(2, 3, 20)
    y = Voting(10)(x)
    assert y.shape == (2, 3, 2)
    torch.testing.assert_close(y, x.reshape(2, 3, 2, 10).mean(-1))
    with pytest.raises(ValueError, match="multiple"):
        Voting(7)(x)


def _net(backend: str) -> nn.Sequential:
    return nn.Sequential(
        TimeFolded(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)),
        LIF(backend=backend, detach_reset=True),
        TimeFolded(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 20)),
        PLIF(backend=backend),
        Voting(10),
    )


def test_small_network_trains_and_backends_agree() -> None:
    torch.manual_seed(1)
    net_t = _net("torch")
    net_n = _net("numba")
    net_n.load_state_dict(net_t.state_dict())
    x = torch.rand(4, 3, 2, 8, 8) * 3
    out_t = net_t(x)
    out_n = net_n(x)
    assert out_t.shape == (4, 3, 2)
    assert torch.equal(out_t, out_n)
    out_t.mean(0).sum().backward()
    out_n.mean(0).sum().backward()
    for (name, pt), (_, pn) in zip(net_t.named_parameters(), net_n.named_parameters()):
        torch.testing.assert_close(pn.grad, pt.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_torch_backend_compiles_without_graph_breaks() -> None:
    net = _net("torch").eval()
    x = torch.rand(3, 2, 2, 8, 8) * 3
    ref = net(x)
    compiled = torch.compile(net, backend="eager", fullgraph=True)
    assert torch.equal(compiled(x), ref)
