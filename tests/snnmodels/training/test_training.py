"""Training loop: learning on a tiny store, deterministic resume, masks, activity counts, plots."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from snnmodels.models import MODELS, SEGMENTATION_MODELS, SequenceDropout, build_model
from snnmodels.training import (
    ActivityMonitor, FrameBatches, TrainConfig, firing_rate, fit, load_checkpoint, plot_confusion,
    probabilities, topk_correct,
)

SMALL = {"widths": (8, 16), "dropout": 0.0}


def _cfg(store: Path, out: Path, **kw) -> TrainConfig:
    base = dict(store=str(store), model="small", out=str(out), epochs=4, batch_size=8, lr=5e-3,
                backend="numba", device="cpu", seed=1, model_kwargs=dict(SMALL))
    base.update(kw)
    return TrainConfig(**base)


def test_tiny_run_learns_and_writes_outputs(tiny_store: Path, tmp_path: Path) -> None:
    result = fit(_cfg(tiny_store, tmp_path, epochs=8), log=None)
    h = result.history
    assert len(h) == 8
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert result.best_acc >= 0.6  # chance is 0.25
    for name in ("last.pt", "best.pt", "log.csv", "curves.png"):
        assert (tmp_path / name).is_file()
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    assert float(rows[-1]["val_acc"]) == pytest.approx(h[-1]["val_acc"], abs=1e-5)
    assert result.test is not None and result.test.samples == 24 and 0.0 <= result.test_acc <= 1.0


class _Stop(Exception):
    pass


def _stop_after(epoch: int):
    def log(line: str) -> None:
        if line.startswith(f"epoch {epoch:3d}/"):
            raise _Stop
    return log


def test_resume_matches_an_uninterrupted_run(tiny_store: Path, tmp_path: Path) -> None:
    kw = {"backend": "torch", "epochs": 3, "model_kwargs": {"widths": (8, 16), "dropout": 0.3}}  # dropout: RNG
    whole = fit(_cfg(tiny_store, tmp_path / "whole", **kw), log=None)
    with pytest.raises(_Stop):
        fit(_cfg(tiny_store, tmp_path / "cut", **kw), log=_stop_after(2))  # "killed" after epoch 2
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    resumed = fit(_cfg(tiny_store, tmp_path / "cut", **kw), resume=True, log=None)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ca = load_checkpoint(tmp_path / "whole" / "last.pt")
    cb = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert ca["optimizer_state"]["state"][0]["exp_avg"].equal(cb["optimizer_state"]["state"][0]["exp_avg"])
    assert ca["scheduler_state"] == cb["scheduler_state"]


def test_resume_refuses_another_model(tiny_store: Path, tmp_path: Path) -> None:
    fit(_cfg(tiny_store, tmp_path, epochs=1), log=None)
    with pytest.raises(ValueError, match="model"):
        fit(_cfg(tiny_store, tmp_path, epochs=2, model="plif-gesture", model_kwargs={}), resume=True, log=None)


def test_variable_length_store_uses_masks(tiny_variable_store: Path, tmp_path: Path) -> None:
    batches = FrameBatches(tiny_variable_store, "train", batch_size=4)
    assert batches.variable and batches.T == 6
    x, y, lengths = next(iter(batches))
    assert x.shape == (6, 4, 2, 16, 16) and x.dtype == torch.float32
    for n, L in enumerate(lengths.tolist()):
        assert not x[L:, n].any()
    result = fit(_cfg(tiny_variable_store, tmp_path, epochs=1), log=None)
    assert result.history[0]["train_loss"] > 0


def test_firing_rate_averages_valid_steps_only() -> None:
    votes = torch.zeros(4, 2, 3)
    votes[:2, 0, 1] = 1.0
    votes[2:, 0, :] = 1.0  # padding of sample 0 (length 2) must not count
    votes[:, 1, 2] = torch.tensor([1.0, 0.0, 1.0, 0.0])
    rate = firing_rate(votes, torch.tensor([2, 4]))
    assert torch.allclose(rate, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.5]]))
    assert torch.equal(firing_rate(votes), votes.mean(0))


def test_probabilities_and_topk() -> None:
    rate = torch.tensor([[0.1, 0.3, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    p = probabilities(rate, "mse")
    assert torch.allclose(p.sum(-1), torch.ones(2))
    assert torch.allclose(p[0], torch.tensor([0.25, 0.75, 0.0, 0.0]))
    assert torch.allclose(p[1], torch.full((4,), 0.25))
    assert torch.allclose(probabilities(rate, "ce").sum(-1), torch.ones(2))
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05]])
    assert topk_correct(scores, torch.tensor([2, 0]), (1, 2)) == {1: 1, 2: 2}


# Segmenters return [N, classes, H, W] logits, not votes: tests/snnmodels/segmentation covers them.
@pytest.mark.parametrize("name", [n for n in MODELS if n not in SEGMENTATION_MODELS])
def test_every_model_builds_and_runs(name: str) -> None:
    net = build_model(name, input_size=(2, 32, 32), num_classes=5, backend="numba")
    out = net(torch.rand(2, 1, 2, 32, 32) * 2)
    assert out.shape == (2, 1, 5)
    assert ((out >= 0) & (out <= 1)).all()


def test_plif_gesture_is_the_paper_network() -> None:
    net = build_model("plif-gesture", input_size=(2, 128, 128), num_classes=11)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    fcs = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [128] * 5
    assert [(f.in_features, f.out_features) for f in fcs] == [(128 * 4 * 4, 512), (512, 110)]
    assert net.voters == 10 and net.num_classes == 11
    assert len([m for m in net.modules() if isinstance(m, SequenceDropout)]) == 2
    c10 = build_model("plif-cifar10dvs", input_size=(2, 128, 128), num_classes=10)
    assert [f.out_features for f in c10.modules() if isinstance(f, nn.Linear)] == [512, 100]
    assert len([m for m in c10.modules() if isinstance(m, nn.Conv2d)]) == 4
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", input_size=(2, 32, 32), num_classes=2)


def test_sequence_dropout_shares_its_mask_over_time() -> None:
    torch.manual_seed(0)
    d = SequenceDropout(0.5).train()
    y = d(torch.ones(5, 3, 40))
    assert torch.equal(y, y[:1].expand_as(y))
    assert torch.equal(d.eval()(torch.ones(2, 2)), torch.ones(2, 2))


def test_activity_monitor_counts_sops_and_macs() -> None:
    fc1, fc2 = nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False)
    model = nn.Sequential(fc1, nn.ReLU(), fc2)
    x = torch.tensor([[0.5, 2.0, 0.0, 1.0]])  # real-valued: MACs
    with torch.no_grad(), ActivityMonitor(model) as mon:
        fc1.weight.fill_(1.0)
        fc2.weight.fill_(0.0)
        model(x)
    s = mon.summary(num_samples=1)
    assert s["macs"] == 4 * 3 + 3 * 2  # fc1, and fc2 whose input (3.5, 3.5, 3.5) is not binary either
    spikes = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    with torch.no_grad(), ActivityMonitor(nn.Sequential(fc1)) as mon:
        fc1(spikes)
    assert mon.summary(1)["sops"] == 3 * 3 and mon.summary(1)["macs"] == 0


def test_confusion_png(tmp_path: Path) -> None:
    from PIL import Image

    p = plot_confusion([[3, 1], [0, 4]], ["a", "b"], tmp_path / "cm.png")
    assert Image.open(p).size[0] > 50


@pytest.mark.parametrize("which", ["tiny_store", "tiny_variable_store"])
def test_streamed_batches_equal_preloaded(which: str, request: pytest.FixtureRequest) -> None:
    store = request.getfixturevalue(which)
    kw = dict(batch_size=5, shuffle=True, seed=2)
    mem, streamed = FrameBatches(store, "train", preload=True, **kw), FrameBatches(store, "train", preload=False, **kw)
    assert mem.frames is not None and streamed.frames is None
    for epoch in (0, 1):
        mem.set_epoch(epoch)
        streamed.set_epoch(epoch)
        pairs = list(zip(mem, streamed, strict=True))
        assert len(pairs) == len(mem)
        for (xa, ya, la), (xb, yb, lb) in pairs:
            assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(la, lb)


def test_cross_entropy_loss_learns_too(tiny_store: Path, tmp_path: Path) -> None:
    result = fit(_cfg(tiny_store, tmp_path, loss="ce", epochs=8), log=None)
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    assert result.best_acc >= 0.6
