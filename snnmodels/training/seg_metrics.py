"""Segmentation metrics: a confusion matrix over pixels, then per-class IoU, mIoU and pixel accuracy.

Pixels whose target is the ignore index (255, VOC's boundaries and padding) count nowhere.
``IoU_k = TP_k / (TP_k + FP_k + FN_k)``; **mIoU** is the mean over the classes that occur in the
targets or the predictions of the evaluated set (a class absent from both has no IoU, as in the
usual VOC evaluation, and shows as ``nan`` in the table); **pixel accuracy** is
``sum_k TP_k / (labelled pixels)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["IGNORE_INDEX", "SegMetrics", "confusion_matrix", "format_iou_table", "seg_metrics"]

IGNORE_INDEX = 255


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:  # fmt: skip
    """``[K, K]`` int64 counts, rows the target class, columns the predicted class.

    ``pred`` and ``target`` are integer tensors of one shape (any); target pixels equal to
    ``ignore_index`` are skipped. A target value outside ``0..K-1`` (other than the ignore index)
    is an error, since it would silently be dropped otherwise.
    """
    t = target.reshape(-1).long()
    p = pred.reshape(-1).long()
    keep = t != ignore_index
    t, p = t[keep], p[keep]
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(f"target classes must be in 0..{num_classes - 1} or {ignore_index}, got {int(t.max())}")
    return torch.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes).cpu()


@dataclass(frozen=True)
class SegMetrics:
    """Metrics of one confusion matrix (see the module docstring)."""

    iou: tuple[float, ...]  # per class; nan where the class is in neither targets nor predictions
    miou: float
    pixel_acc: float
    pixels: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """``{prefix + "miou": ..., prefix + "pixel_acc": ...}``."""
        return {f"{prefix}miou": self.miou, f"{prefix}pixel_acc": self.pixel_acc}


def seg_metrics(cm: torch.Tensor) -> SegMetrics:
    """Per-class IoU, mIoU and pixel accuracy of a ``[K, K]`` confusion matrix."""
    cm = cm.double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    iou = [float(a / u) if u > 0 else math.nan for a, u in zip(tp.tolist(), union.tolist())]
    present = [v for v in iou if not math.isnan(v)]
    total = float(cm.sum())
    return SegMetrics(tuple(iou), sum(present) / len(present) if present else math.nan,
                      float(tp.sum()) / total if total else math.nan, int(total))  # fmt: skip


def format_iou_table(m: SegMetrics, classes: Sequence[str]) -> str:
    """A text table: one row per class with its IoU, then mIoU and pixel accuracy."""
    width = max([len(c) for c in classes] + [len("pixel accuracy")])
    lines = [f"{'class':<{width}}  IoU"]
    for name, v in zip(classes, m.iou):
        lines.append(f"{name:<{width}}  {'  n/a' if math.isnan(v) else f'{v:.3f}'}")
    lines.append(f"{'mIoU':<{width}}  {m.miou:.3f}")
    lines.append(f"{'pixel accuracy':<{width}}  {m.pixel_acc:.3f}")
    return "\n".join(lines)
