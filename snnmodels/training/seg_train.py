"""Training a spiking segmenter on a segmentation store (``snnmodels train`` on a store with masks).

The loss is pixel-wise cross-entropy with the ignore index 255 (VOC boundaries, padding), with
optional label smoothing (the reference uses 0.1). Every epoch reports train loss and mIoU,
validation loss, mIoU and pixel accuracy; ``best.pt`` is the epoch with the best validation mIoU
(the store's ``val`` split, else ``val_fraction`` of train carved out by
:func:`~snnmodels.training.split.carve_validation`); the ``test`` split is evaluated once at the
end with ``best.pt`` (per-class IoU table). ``OUT/log.csv`` and ``OUT/curves.png`` (loss and mIoU)
are written every epoch.

Samples are read into memory once (segmentation demos and tests are small; an ``[N, T, C, H, W]``
float32 copy of the split). Training augments with a random horizontal flip and a translation of up
to 1/8 of the side, applied to frames and masks alike (:func:`eventkit.torch.seg_transforms.joint_apply`).
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from snnmodels.errors import CheckpointError, ConfigError
from snnmodels.training.seg_metrics import IGNORE_INDEX, SegMetrics, confusion_matrix, format_iou_table, seg_metrics

__all__ = ["SegData", "SegResult", "SegTrainConfig", "evaluate_segmenter", "fit_segmentation", "is_segmentation_store",
           "load_seg_checkpoint", "load_seg_split", "seg_model_from_checkpoint"]


def is_segmentation_store(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an eventkit frame store with masks (read from its ``zarr.json`` only)."""
    from eventkit.store.layout import read_root_attrs

    try:
        attrs = read_root_attrs(path)
    except Exception:  # a damaged store: the regular path reports it in its own words
        return False
    return bool(attrs and attrs.get("eventkit_store") == "frames" and attrs.get("masks"))


@dataclass
class SegTrainConfig:
    """Settings of :func:`fit_segmentation` (``snnmodels train`` options of the same names)."""

    store: str
    model: str = "small-fpn"
    out: str = "runs/seg"
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    T: int | None = None
    backend: str = "numba"
    device: str = "cpu"
    seed: int = 0
    val_fraction: float = 0.1
    augment: bool = True
    max_batches: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        from snnmodels.models import SEGMENTATION_MODELS

        if self.model not in SEGMENTATION_MODELS:
            raise ConfigError(f"{self.store} is a segmentation store: choose a segmentation model "
                              f"({', '.join(sorted(SEGMENTATION_MODELS))}), not {self.model!r}")  # fmt: skip
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"optimizer must be adam or sgd, got {self.optimizer!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ConfigError("need epochs >= 1, batch size >= 1 and lr > 0")


@dataclass
class SegData:
    """One split in memory: frames ``[N, T, C, H, W]`` float32, masks ``[N, H, W]`` int64, ids."""

    frames: torch.Tensor
    masks: torch.Tensor
    sample_ids: list[str]


def load_seg_split(store: str | os.PathLike[str], split: str, indices: list[int] | None = None,
                   T: int | None = None) -> SegData:  # fmt: skip
    """Read ``indices`` (default all) of a segmentation store's split into memory (first ``T`` frames)."""
    from eventkit.store import open_store

    s = open_store(store)
    if not s.has_masks:
        raise ConfigError(f"{store}: not a segmentation store (no masks); convert images with masks "
                          "(eventkit synth IMAGES --masks MASKS, a VOC folder or --coco)")  # fmt: skip
    if split not in s:
        raise ConfigError(f"{store}: no split {split!r}; it has {', '.join(s)}")
    sp = s[split]
    idx = list(range(len(sp))) if indices is None else [int(i) for i in indices]
    t = s.t_max if T is None else min(int(T), s.t_max)
    frames = torch.from_numpy(np.ascontiguousarray(sp.read_frames(idx)[:, :t], dtype=np.float32)) if idx else \
        torch.zeros((0, t, *sp.frames.shape[2:]))  # fmt: skip
    masks = torch.from_numpy(np.stack([sp.read_mask(i) for i in idx]).astype(np.int64)) if idx else \
        torch.zeros((0, *sp.frames.shape[3:]), dtype=torch.int64)  # fmt: skip
    return SegData(frames, masks, [str(sp.sample_ids[i]) for i in idx])


@torch.no_grad()
def evaluate_segmenter(model: torch.nn.Module, data: SegData, num_classes: int, *, batch_size: int = 8,
                       device: torch.device | str = "cpu", label_smoothing: float = 0.0,
                       max_batches: int | None = None) -> tuple[float, torch.Tensor]:  # fmt: skip
    """Mean loss and the ``[K, K]`` pixel confusion matrix of ``model`` on ``data`` (eval mode)."""
    model.eval()
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    loss_sum, n = 0.0, 0
    for b, lo in enumerate(range(0, len(data.sample_ids), batch_size)):
        if max_batches is not None and b >= max_batches:
            break
        x = data.frames[lo : lo + batch_size].to(device).transpose(0, 1)  # [T, B, C, H, W]
        y = data.masks[lo : lo + batch_size].to(device)
        logits = model(x, out_size=tuple(y.shape[-2:]))
        if (y != IGNORE_INDEX).any():
            loss_sum += float(F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX,
                                              label_smoothing=label_smoothing)) * y.shape[0]  # fmt: skip
            n += y.shape[0]
        cm += confusion_matrix(logits.argmax(1), y, num_classes)
    return (loss_sum / n if n else math.nan), cm


@dataclass
class SegResult:
    """What :func:`fit_segmentation` did."""

    out: Path
    history: list[dict[str, float]]
    best_epoch: int
    best_miou: float
    classes: list[str]
    test: SegMetrics | None = None
    seconds: float = 0.0

    def table(self) -> str:
        """The per-class IoU table of the test split (empty without one)."""
        return format_iou_table(self.test, self.classes) if self.test is not None else ""


def _augment(x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    from eventkit.torch.seg_transforms import joint_apply
    from eventkit.torch.transforms import RandomHorizontalFlip, RandomTranslate

    for tr in (RandomHorizontalFlip(), RandomTranslate(0.125)):
        x, y = joint_apply(tr, x, y, generator=g)
    return x, y


def _curves(history: list[dict[str, float]], path: Path, title: str) -> None:
    from PIL import Image, ImageDraw

    from snnmodels.training.plots import _FONT, _panel

    img = Image.new("RGB", (900, 360), "white")
    draw = ImageDraw.Draw(img)
    draw.text((10, 4), title, fill="black", font=_FONT)
    ep = [float(r["epoch"]) for r in history]

    def col(k: str) -> list[float]:
        return [float(r.get(k, math.nan)) for r in history]

    _panel(draw, (0, 20, 450, 360), "loss (pixel CE)", {"train": (ep, col("train_loss")), "val": (ep, col("val_loss"))}, None)
    _panel(draw, (450, 20, 900, 360), "mIoU", {"train": (ep, col("train_miou")), "val": (ep, col("val_miou"))}, (0.0, 1.0))
    img.save(path)


def _write_log(history: list[dict[str, float]], path: Path) -> None:
    keys = list(history[0])
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(history)


def load_seg_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint written by :func:`fit_segmentation` (tensors and plain data only)."""
    from snnmodels.training.checkpoint import _describe_unreadable

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no checkpoint there (`snnmodels train` writes last.pt and best.pt in its --out folder)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # a hostile or cut file makes torch raise anything
        raise CheckpointError(f"{p}: {_describe_unreadable(p, err)}") from err
    need = {"kind": str, "model": str, "state_dict": dict, "classes": list, "input_size": list, "T": int}
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "segmentation" or any(
            not isinstance(ckpt.get(k), t) for k, t in need.items()):  # fmt: skip
        raise CheckpointError(f"{p}: not a segmentation checkpoint of `snnmodels train` (needs {sorted(need)})")
    return ckpt


def seg_model_from_checkpoint(ckpt: dict[str, Any], backend: str | None = None) -> torch.nn.Module:
    """Rebuild the network of a segmentation checkpoint and load its weights."""
    from snnmodels.models import build_model

    model = build_model(ckpt["model"], input_size=tuple(ckpt["input_size"]), num_classes=len(ckpt["classes"]),
                        backend=backend or ckpt.get("backend", "torch"), **dict(ckpt.get("model_kwargs") or {}))  # fmt: skip
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"the checkpoint's weights do not fit {ckpt['model']}: {str(err).splitlines()[0]}") from None
    return model


def fit_segmentation(cfg: SegTrainConfig, log: Callable[[str], None] | None = print,
                     overwrite: bool = False) -> SegResult:  # fmt: skip
    """Train ``cfg.model`` on ``cfg.store`` (see the module docstring); returns the history and test metrics."""
    from eventkit.store import open_store

    from snnmodels.models import build_model
    from snnmodels.training.split import VAL_SPLIT_NAMES, carve_validation
    from snnmodels.training.trainer import resolve_device

    say = log or (lambda _m: None)
    cfg.validate()
    t_start = time.perf_counter()
    out = Path(cfg.out)
    if (out / "last.pt").exists() and not overwrite:
        raise ConfigError(f"{out} already holds a run (last.pt); choose another --out or add --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device, cfg.backend)
    torch.manual_seed(cfg.seed)
    store = open_store(cfg.store)
    if not store.has_masks:
        raise ConfigError(f"{cfg.store}: not a segmentation store (no masks)")
    classes = store.classes
    k = len(classes)
    val_name = next((s for s in VAL_SPLIT_NAMES if s in store), None)
    train_ids = [str(s) for s in store["train"].sample_ids] if "train" in store else []
    if not train_ids:
        raise ConfigError(f"{cfg.store}: no train split to train on (splits: {', '.join(store)})")
    if val_name is not None:
        train, val = load_seg_split(cfg.store, "train", T=cfg.T), load_seg_split(cfg.store, val_name, T=cfg.T)
        how = f"the store's {val_name!r} split"
    else:
        vs = carve_validation(train_ids, cfg.val_fraction, cfg.seed)
        train = load_seg_split(cfg.store, "train", vs.train_indices, T=cfg.T)
        val = load_seg_split(cfg.store, "train", vs.val_indices, T=cfg.T) if vs.val_indices else None
        how = f"{len(vs.val_indices)} samples carved from train" if vs.val_indices else "none (best.pt is the last epoch)"
    T, C, H, W = train.frames.shape[1:]
    model = build_model(cfg.model, input_size=(C, H, W), num_classes=k, backend=cfg.backend, **cfg.model_kwargs).to(device)
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"segmentation: {cfg.model} ({n_params / 1e3:.0f} k parameters, {cfg.backend}) on {Path(cfg.store).name}: "
        f"{len(train.sample_ids)} train samples [T={T}, C={C}, {H}x{W}], {k} classes; validation: {how}")  # fmt: skip
    g = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    best = (-1.0, 0)
    meta = {"kind": "segmentation", "model": cfg.model, "classes": list(classes), "input_size": [int(C), int(H), int(W)],
            "T": int(T), "backend": cfg.backend, "model_kwargs": dict(cfg.model_kwargs), "store": str(cfg.store),
            "config": {k2: v for k2, v in asdict(cfg).items() if isinstance(v, (int, float, str, bool, type(None)))}}  # fmt: skip
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(train.sample_ids), generator=g)
        cm = torch.zeros(k, k, dtype=torch.int64)
        loss_sum, seen = 0.0, 0
        for b, lo in enumerate(range(0, len(order), cfg.batch_size)):
            if cfg.max_batches is not None and b >= cfg.max_batches:
                break
            idx = order[lo : lo + cfg.batch_size]
            x, y = train.frames[idx], train.masks[idx]
            if cfg.augment:
                x, y = _augment(x, y, g)
            x, y = x.to(device).transpose(0, 1), y.to(device)
            logits = model(x, out_size=(H, W))
            loss = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            seen += len(idx)
            cm += confusion_matrix(logits.detach().argmax(1), y, k)
        sched.step()
        row: dict[str, float] = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1),
                                 "train_miou": seg_metrics(cm).miou, "lr": opt.param_groups[0]["lr"]}  # fmt: skip
        if val is not None:
            vl, vcm = evaluate_segmenter(model, val, k, batch_size=cfg.batch_size, device=device,
                                         label_smoothing=cfg.label_smoothing, max_batches=cfg.max_batches)  # fmt: skip
            vm = seg_metrics(vcm)
            row.update(val_loss=vl, val_miou=vm.miou, val_pixel_acc=vm.pixel_acc)
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        score = row.get("val_miou", row["train_miou"]) if val is not None else float(epoch)
        ckpt = {**meta, "epoch": epoch, "state_dict": model.state_dict(), "history": history}
        torch.save(ckpt, out / "last.pt")
        if score > best[0]:
            best = (score, epoch)
            torch.save(ckpt, out / "best.pt")
        _write_log(history, out / "log.csv")
        _curves(history, out / "curves.png", f"{cfg.model} on {Path(cfg.store).name} -> {out}")
        vtxt = f", val loss {row['val_loss']:.3f} mIoU {row['val_miou']:.3f}" if val is not None else ""
        say(f"epoch {epoch}/{cfg.epochs}: train loss {row['train_loss']:.3f} mIoU {row['train_miou']:.3f}{vtxt} "
            f"({row['seconds']:.0f} s)")  # fmt: skip
    result = SegResult(out, history, best[1], best[0] if val is not None else math.nan, list(classes))
    if "test" in store:
        model.load_state_dict(load_seg_checkpoint(out / "best.pt")["state_dict"])
        _, tcm = evaluate_segmenter(model, load_seg_split(cfg.store, "test", T=cfg.T), k, batch_size=cfg.batch_size,
                                    device=device)  # fmt: skip
        result.test = seg_metrics(tcm)
    result.seconds = time.perf_counter() - t_start
    return result
