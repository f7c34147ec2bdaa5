"""mIoU, per-class IoU and pixel accuracy against a direct per-pixel count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snnmodels.training.seg_metrics import confusion_matrix, format_iou_table, seg_metrics


def _reference(pred: np.ndarray, target: np.ndarray, k: int) -> tuple[list[float], float, float]:
    iou = []
    for c in range(k):
        tp = fp = fn = 0
        for p, t in zip(pred.ravel(), target.ravel()):
            if t == 255:
                continue
            tp += p == c and t == c
            fp += p == c and t != c
            fn += p != c and t == c
        iou.append(tp / (tp + fp + fn) if tp + fp + fn else math.nan)
    keep = target != 255
    present = [v for v in iou if not math.isnan(v)]
    return iou, sum(present) / len(present), float((pred[keep] == target[keep]).mean())


def test_matches_a_per_pixel_count() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 4, (3, 7, 9))
    target[rng.random(target.shape) < 0.1] = 255
    target[target == 3] = 0  # class 3 never in the targets...
    pred = rng.integers(0, 4, target.shape)
    pred[pred == 3] = 1  # ... nor predicted: no IoU
    m = seg_metrics(confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), 5))
    iou, miou, acc = _reference(pred, target, 5)
    assert len(m.iou) == 5 and math.isnan(m.iou[3]) and math.isnan(m.iou[4])
    assert np.allclose([v for v in m.iou if not math.isnan(v)], [v for v in iou if not math.isnan(v)])
    assert m.miou == pytest.approx(miou) and m.pixel_acc == pytest.approx(acc)
    assert m.pixels == int((target != 255).sum())
    table = format_iou_table(m, ["bg", "a", "b", "c", "d"])
    assert "n/a" in table and f"{miou:.3f}" in table


def test_perfect_prediction_and_bad_targets() -> None:
    t = torch.tensor([[0, 1], [2, 255]])
    m = seg_metrics(confusion_matrix(t.clamp(max=2), t, 3))
    assert m.miou == 1.0 and m.pixel_acc == 1.0
    with pytest.raises(ValueError, match="target classes"):
        confusion_matrix(t, torch.tensor([[0, 7], [1, 1]]), 3)
