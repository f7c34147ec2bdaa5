"""Evaluating a segmentation checkpoint: per-class IoU, mIoU, pixel accuracy and overlay pictures.

``snnmodels eval --checkpoint best.pt --store STORE --samples 0,5,9`` on a segmentation store
prints the IoU table of the split and writes, for the chosen samples, one picture each
(``overlay_<split>_<i>.png``: the input frames summed over time and channels, the true mask, the
predicted mask, and the prediction blended over the input) plus all of them stacked
(``overlays_<split>.png``). Colours follow the Pascal VOC palette; ignored pixels are white.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from snnmodels.errors import ConfigError
from snnmodels.training.seg_metrics import IGNORE_INDEX, SegMetrics, format_iou_table, seg_metrics
from snnmodels.training.seg_train import evaluate_segmenter, load_seg_checkpoint, load_seg_split, seg_model_from_checkpoint

__all__ = ["SegEvalResult", "evaluate_seg_checkpoint", "overlay_picture", "palette"]


def palette(n: int = 256) -> np.ndarray:
    """``[n, 3]`` uint8 colours: the Pascal VOC colour map (class bits spread over R, G, B, high bits first)."""
    out = np.zeros((n, 3), np.uint8)
    for k in range(n):
        c, r, g, b = k, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[k] = (r, g, b)
    out[IGNORE_INDEX] = (255, 255, 255)
    return out


def overlay_picture(frames: np.ndarray, true: np.ndarray, pred: np.ndarray, scale: int = 4) -> np.ndarray:
    """``[H*scale, 4*W*scale, 3]`` uint8: input (frames summed), true mask, predicted mask, prediction over input."""
    act = np.abs(frames).sum(axis=(0, 1))
    act = act / max(float(np.percentile(act, 99)), 1e-6)
    gray = (np.clip(act, 0, 1) * 255).astype(np.uint8)
    inp = np.repeat(gray[..., None], 3, axis=2)
    pal = palette()
    t, p = pal[true], pal[pred]
    blend = (0.55 * p + 0.45 * inp).astype(np.uint8)
    sep = np.full((true.shape[0], 2, 3), 128, np.uint8)
    row = np.concatenate([inp, sep, t, sep, p, sep, blend], axis=1)
    return np.repeat(np.repeat(row, scale, axis=0), scale, axis=1)


@dataclass
class SegEvalResult:
    """What :func:`evaluate_seg_checkpoint` measured and wrote."""

    split: str
    classes: list[str]
    metrics: SegMetrics
    num_samples: int
    overlays: list[Path] = field(default_factory=list)
    grid: Path | None = None

    def report(self) -> str:
        lines = [f"{self.split}: {self.num_samples} samples", format_iou_table(self.metrics, self.classes)]
        if self.grid is not None:
            lines.append(f"overlays (input | true | predicted | predicted over input): {self.grid}")
        return "\n".join(lines)


def evaluate_seg_checkpoint(
    checkpoint: str | os.PathLike[str], store: str | os.PathLike[str], *, split: str = "test",
    samples: Sequence[int] = (), out: str | os.PathLike[str] | None = None, backend: str | None = None,
    device: str = "cpu", batch_size: int = 8,
) -> SegEvalResult:  # fmt: skip
    """Metrics of a segmentation checkpoint on ``split`` of ``store``, and overlays of ``samples``."""
    from PIL import Image

    from snnmodels.training.seg_data import SegBatches

    ckpt = load_seg_checkpoint(checkpoint)
    model = seg_model_from_checkpoint(ckpt, backend, checkpoint).to(device)
    batches = SegBatches(store, split, batch_size=batch_size, T=int(ckpt["T"]))  # streamed when large
    if list(batches.frame_shape) != list(ckpt["input_size"]):
        raise ConfigError(f"{store}: frames {list(batches.frame_shape)} do not fit the checkpoint's input "
                          f"{ckpt['input_size']} (convert with the same --size and method)")  # fmt: skip
    from eventkit.store import open_store

    if open_store(store).classes != ckpt["classes"]:
        raise ConfigError(f"{store}: its classes differ from the checkpoint's {ckpt['classes']}")
    k = len(ckpt["classes"])
    n = batches.num_samples
    bad = [i for i in samples if not -n <= i < n]
    if bad:  # before the (long) evaluation
        raise ConfigError(f"--samples {bad} out of range: split {split!r} has {n} samples")
    _, cm = evaluate_segmenter(model, batches, k, device=device)
    result = SegEvalResult(split, list(ckpt["classes"]), seg_metrics(cm), n)
    if samples:
        folder = Path(out) if out is not None else Path(checkpoint).parent
        folder.mkdir(parents=True, exist_ok=True)
        idx = [i % n for i in samples]
        data = load_seg_split(store, split, sorted(set(idx)), T=int(ckpt["T"]))  # only the pictured samples
        pos = {i: j for j, i in enumerate(sorted(set(idx)))}
        with torch.no_grad():
            model.eval()
            x = data.frames.to(device).transpose(0, 1)
            pred_all = model(x, out_size=tuple(data.masks.shape[-2:])).argmax(1).cpu().numpy().astype(np.uint8)
        frames = [data.frames[pos[i]] for i in idx]
        masks = [data.masks[pos[i]] for i in idx]
        pred = [pred_all[pos[i]] for i in idx]
        pics = []
        for j, i in enumerate(idx):
            pic = overlay_picture(frames[j].numpy(), masks[j].numpy().astype(np.uint8), pred[j])
            path = folder / f"overlay_{split}_{i}.png"
            Image.fromarray(pic).save(path)
            result.overlays.append(path)
            pics.append(pic)
        result.grid = folder / f"overlays_{split}.png"
        gap = np.full((4, pics[0].shape[1], 3), 128, np.uint8)  # a grey line between samples
        Image.fromarray(np.concatenate([x for pic in pics for x in (pic, gap)][:-1], axis=0)).save(result.grid)
    return result
