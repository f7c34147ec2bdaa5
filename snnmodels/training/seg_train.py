"""Training a spiking segmenter on a segmentation store (``snnmodels train`` on a store with masks).

The loss is pixel-wise cross-entropy with the ignore index 255 (VOC boundaries, padding), with
optional label smoothing (the reference uses 0.1). Every epoch reports train loss and mIoU,
validation loss, mIoU and pixel accuracy; ``best.pt`` is the epoch with the best validation mIoU
(the store's ``val`` split, else ``val_fraction`` of train carved out by
:func:`~snnmodels.training.split.carve_validation`); the ``test`` split is evaluated once at the
end with ``best.pt`` (per-class IoU table). ``OUT/log.csv`` and ``OUT/curves.png`` (loss and mIoU)
are written every epoch.

Batches come from :class:`~snnmodels.training.seg_data.SegBatches`: small splits are read into memory
once, larger ones stream through :class:`eventkit.torch.FrameDataset` and a DataLoader. Training
augments with a random horizontal flip and a translation of up to 1/8 of the side, applied to frames
and masks alike (:func:`eventkit.torch.seg_transforms.joint_apply`). ``last.pt`` carries the optimizer,
scheduler and shuffling-generator states, so ``resume=True`` continues a run with the batches and
augmentations an uninterrupted run would have seen.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from snnmodels.errors import CheckpointError, ConfigError
from snnmodels.training.distributed import Dist
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
    num_workers: int = 0
    preload: bool | str = "auto"
    sync_bn: bool = True
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

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive ``(frames, masks)`` batches of ``batch_size`` samples."""
        for lo in range(0, len(self.sample_ids), batch_size):
            yield self.frames[lo : lo + batch_size], self.masks[lo : lo + batch_size]


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
def evaluate_segmenter(model: torch.nn.Module, data: SegData | Iterable[tuple[torch.Tensor, torch.Tensor]],
                       num_classes: int, *, batch_size: int = 8, device: torch.device | str = "cpu",
                       label_smoothing: float = 0.0, max_batches: int | None = None) -> tuple[float, torch.Tensor]:  # fmt: skip
    """Mean loss and the ``[K, K]`` pixel confusion matrix of ``model`` (eval mode).

    ``data`` is a :class:`SegData` (cut into ``batch_size`` batches) or any iterable of batch-first
    ``(frames [B, T, C, H, W], masks [B, H, W])`` batches, such as a
    :class:`~snnmodels.training.seg_data.SegBatches`.
    """
    loss_sum, n, cm = _eval_sums(model, data.batches(batch_size) if isinstance(data, SegData) else data, num_classes,
                                 device=device, label_smoothing=label_smoothing, max_batches=max_batches)  # fmt: skip
    return (loss_sum / n if n else math.nan), cm


@torch.no_grad()
def _eval_sums(model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], num_classes: int, *,
               device: torch.device | str, label_smoothing: float = 0.0,
               max_batches: int | None = None) -> tuple[float, int, torch.Tensor]:  # fmt: skip
    """Summed loss (sample-weighted), samples with a labelled pixel, confusion matrix: what ranks add up."""
    model.eval()
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    loss_sum, n = 0.0, 0
    for b, (xb, yb) in enumerate(batches):
        if max_batches is not None and b >= max_batches:
            break
        x = xb.to(device).transpose(0, 1)  # [T, B, C, H, W]
        y = yb.to(device)
        logits = model(x, out_size=tuple(y.shape[-2:]))
        if (y != IGNORE_INDEX).any():
            loss_sum += float(F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX,
                                              label_smoothing=label_smoothing)) * y.shape[0]  # fmt: skip
            n += y.shape[0]
        cm += confusion_matrix(logits.argmax(1), y, num_classes)
    return loss_sum, n, cm


def _all_sum(dist: Dist, loss_sum: float, n: int, cm: torch.Tensor) -> tuple[float, int, torch.Tensor]:
    """Add ``(loss_sum, n, cm)`` over the ranks (one all-reduce; identity in a one-process run)."""
    if not dist.enabled:
        return loss_sum, n, cm
    t = dist.sum(torch.cat([torch.tensor([loss_sum, float(n)], dtype=torch.float64), cm.flatten().double()]))
    return float(t[0]), int(round(float(t[1]))), t[2:].round().long().reshape(cm.shape)


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


#: Keys of a segmentation checkpoint and their types; ``last.pt`` also holds :data:`RESUME_KEYS`.
SEG_KEYS: dict[str, type | tuple[type, ...]] = {"kind": str, "model": str, "state_dict": dict, "classes": list,
                                                "input_size": list, "T": int, "epoch": int, "history": list}
#: What ``--resume`` needs besides :data:`SEG_KEYS` (checkpoints of older runs lack it).
RESUME_KEYS: dict[str, type | tuple[type, ...]] = {"optimizer_state": dict, "scheduler_state": dict,
                                                   "generator": torch.Tensor, "best_score": float, "best_epoch": int}


def load_seg_checkpoint(path: str | os.PathLike[str], *, for_resume: bool = False) -> dict[str, Any]:
    """A checkpoint written by :func:`fit_segmentation`: tensors and plain data only, keys and types checked.

    Read with ``torch.load(weights_only=True)`` (a file that holds code is refused without running
    it, :mod:`snnmodels.training.checkpoint`); ``for_resume`` also requires the optimizer, scheduler
    and generator states of ``last.pt``.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    CheckpointError
        A folder, an empty, damaged or foreign file, or a dict without the keys and types of one.
    """
    from snnmodels.training.checkpoint import _describe_unreadable

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no checkpoint there (`snnmodels train` writes last.pt and best.pt in its --out folder)")
    if p.is_dir() or p.stat().st_size == 0:
        raise CheckpointError(f"{p}: {'is a folder' if p.is_dir() else 'is empty (0 bytes)'}, not a checkpoint file")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except PermissionError:
        raise
    except Exception as err:  # a hostile or cut file makes torch raise anything
        raise CheckpointError(f"{p}: {_describe_unreadable(p, err)}") from err
    need = {**SEG_KEYS, **(RESUME_KEYS if for_resume else {})}
    bad = [k for k, t in need.items() if not isinstance(ckpt, dict) or not isinstance(ckpt.get(k), t)]
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "segmentation" or bad:
        what = "a resumable" if for_resume and isinstance(ckpt, dict) and ckpt.get("kind") == "segmentation" else "a"
        raise CheckpointError(f"{p}: not {what} segmentation checkpoint of `snnmodels train` "
                              f"(missing or mistyped: {', '.join(bad) or 'kind'})")  # fmt: skip
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt["state_dict"].items()):
        raise CheckpointError(f"{p}: state_dict is not a mapping of parameter names to tensors")
    if for_resume and ckpt["generator"].dtype != torch.uint8:
        raise CheckpointError(f"{p}: generator is not a torch generator state (uint8)")
    return ckpt


def seg_model_from_checkpoint(ckpt: dict[str, Any], backend: str | None = None,
                              path: str | os.PathLike[str] = "checkpoint") -> torch.nn.Module:  # fmt: skip
    """Rebuild the network of a segmentation checkpoint and load its weights (names and shapes checked first)."""
    from snnmodels.models import build_model
    from snnmodels.training.checkpoint import check_state_dict

    try:
        model = build_model(ckpt["model"], input_size=tuple(ckpt["input_size"]), num_classes=len(ckpt["classes"]),
                            backend=backend or ckpt.get("backend", "torch"), **dict(ckpt.get("model_kwargs") or {}))  # fmt: skip
    except (TypeError, ValueError) as err:  # the stored options are the file's data
        raise CheckpointError(f"{path}: stores options that do not build {ckpt['model']!r}: {err}") from err
    check_state_dict(ckpt["state_dict"], model.state_dict(), Path(path), ckpt["model"])
    model.load_state_dict(ckpt["state_dict"])
    return model


def _check_resumable(ckpt: dict[str, Any], cfg: SegTrainConfig, classes: list[str], input_size: list[int],
                     T: int, path: Path) -> None:  # fmt: skip
    """Refuse to resume a run of another network, store layout or time length (one clear line)."""
    mine = {"model": cfg.model, "classes": list(classes), "input_size": input_size, "T": T,
            "model_kwargs": dict(cfg.model_kwargs)}  # fmt: skip
    for key, want in mine.items():
        have = ckpt.get(key) if key != "model_kwargs" else dict(ckpt.get("model_kwargs") or {})
        if have != want:
            raise ConfigError(f"{path} was trained with {key} {have!r}, this run has {want!r}; resume with the "
                              "options of that run or start a new one in another --out")  # fmt: skip


def fit_segmentation(cfg: SegTrainConfig, log: Callable[[str], None] | None = print,
                     overwrite: bool = False, resume: bool = False, dist: Dist | None = None) -> SegResult:  # fmt: skip
    """Train ``cfg.model`` on ``cfg.store`` (see the module docstring); returns the history and test metrics.

    ``resume`` continues from ``OUT/last.pt`` (model, optimizer, scheduler, generator, history) up to
    ``cfg.epochs``; ``overwrite`` replaces a run already in ``OUT``. ``dist`` (a joined
    :class:`~snnmodels.training.distributed.Dist`) makes it one rank of a data-parallel job:
    ``batch_size`` is the global batch, each rank takes its part of every batch (the same order and
    augmentation draws on all ranks), validation and test are sharded and their counts summed, and
    rank 0 alone logs and writes ``OUT``.
    """
    from eventkit.store import open_store

    from snnmodels.models import build_model
    from snnmodels.training.seg_data import SegBatches
    from snnmodels.training.distributed import SINGLE, rank_seed, shard_indices
    from snnmodels.training.split import VAL_SPLIT_NAMES, carve_validation
    from snnmodels.training.trainer import resolve_device

    dist = dist or SINGLE
    main = dist.is_main
    say = (log or (lambda _m: None)) if main else (lambda _m: None)
    cfg.validate()
    t_start = time.perf_counter()
    out = Path(cfg.out)
    if resume and overwrite:
        raise ConfigError("--resume continues the run in --out, --overwrite replaces it: choose one")
    if resume and not (out / "last.pt").exists():
        raise ConfigError(f"nothing to resume: {out / 'last.pt'} does not exist")
    if (out / "last.pt").exists() and not (overwrite or resume):
        raise ConfigError(f"{out} already holds a run (last.pt); add --resume to continue it, choose another "
                          "--out or add --overwrite")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(str(dist.device) if dist.enabled else cfg.device, cfg.backend)
    torch.manual_seed(cfg.seed)
    store = open_store(cfg.store)
    if not store.has_masks:
        raise ConfigError(f"{cfg.store}: not a segmentation store (no masks)")
    classes = store.classes
    k = len(classes)
    val_name = next((s for s in VAL_SPLIT_NAMES if s in store), None)
    n_train = len(store["train"]) if "train" in store else 0
    if not n_train:
        raise ConfigError(f"{cfg.store}: no train split to train on (splits: {', '.join(store)})")
    opts = {"batch_size": cfg.batch_size, "T": cfg.T, "preload": cfg.preload, "num_workers": cfg.num_workers}
    local = {**opts, "batch_size": max(1, -(-cfg.batch_size // dist.world_size))}

    def shard(idx: list[int]) -> list[int]:  # this rank's contiguous part of an evaluation split
        return [idx[i] for i in shard_indices(len(idx), dist.rank, dist.world_size)]

    train_idx: list[int] | None = None
    val: SegBatches | None
    if val_name is not None:
        val = SegBatches(cfg.store, val_name, indices=shard(list(range(len(store[val_name])))), **local)
        how = f"the store's {val_name!r} split"
    else:
        vs = carve_validation([str(s) for s in store["train"].sample_ids], cfg.val_fraction, cfg.seed)
        train_idx = list(vs.train_indices)
        val = SegBatches(cfg.store, "train", indices=shard(list(vs.val_indices)), **local) if vs.val_indices else None
        how = f"{len(vs.val_indices)} samples carved from train" if vs.val_indices else "none (best.pt is the last epoch)"
    train = SegBatches(cfg.store, "train", indices=train_idx, rank=dist.rank, world_size=dist.world_size, **opts)
    T = train.T
    C, H, W = train.frame_shape
    model = build_model(cfg.model, input_size=(C, H, W), num_classes=k, backend=cfg.backend, **cfg.model_kwargs).to(device)
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    g = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    best = (-1.0, 0)
    start = 1
    if resume:
        ckpt = load_seg_checkpoint(out / "last.pt", for_resume=True)
        _check_resumable(ckpt, cfg, list(classes), [int(C), int(H), int(W)], int(T), out / "last.pt")
        model.load_state_dict(seg_model_from_checkpoint(ckpt, cfg.backend, out / "last.pt").state_dict())
        try:
            opt.load_state_dict(ckpt["optimizer_state"])
            sched.load_state_dict(ckpt["scheduler_state"])
            g.set_state(ckpt["generator"])
        except (ValueError, KeyError, RuntimeError, TypeError) as err:  # the file's data, not ours
            raise CheckpointError(f"{out / 'last.pt'}: its optimizer or generator state does not fit this run "
                                  f"({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None  # fmt: skip
        sched.T_max = cfg.epochs  # --epochs may extend the run: the cosine runs to the new end
        history = [dict(r) for r in ckpt["history"]]
        best = (float(ckpt["best_score"]), int(ckpt["best_epoch"]))
        start = int(ckpt["epoch"]) + 1
        if start > cfg.epochs:
            raise ConfigError(f"{out / 'last.pt'} already holds {start - 1} epochs; raise --epochs to train further")
        say(f"resuming {out / 'last.pt'} after epoch {start - 1}")
    if dist.enabled:
        say(f"distributed: {dist.world_size} processes ({'NCCL' if device.type == 'cuda' else 'gloo'}), global "
            f"batch {cfg.batch_size}")  # fmt: skip
    net = dist.wrap(model, sync_bn=cfg.sync_bn)  # `model` stays the plain network: evaluation, checkpoints
    n_params = sum(p.numel() for p in model.parameters())
    stream = "in memory" if train.preloaded else f"streamed, {cfg.num_workers} workers"
    say(f"segmentation: {cfg.model} ({n_params / 1e3:.0f} k parameters, {cfg.backend}) on {Path(cfg.store).name}: "
        f"{train.num_samples} train samples [T={T}, C={C}, {H}x{W}] ({stream}), {k} classes; validation: {how}")  # fmt: skip
    meta = {"kind": "segmentation", "model": cfg.model, "classes": list(classes), "input_size": [int(C), int(H), int(W)],
            "T": int(T), "backend": cfg.backend, "model_kwargs": dict(cfg.model_kwargs), "store": str(cfg.store),
            "config": {k2: v for k2, v in asdict(cfg).items() if isinstance(v, (int, float, str, bool, type(None)))}}  # fmt: skip
    hint = f"The last finished epoch is in {out / 'last.pt'}: run the same command with --resume"
    with dist.guard(hint):  # a rank that died or timed out: one DistributedError, not a hang
        for epoch in range(start, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = torch.randperm(train.num_samples, generator=g)  # the same on every rank
            # one process: augmentations draw from g too (resumable through its state); ranks: their own
            # draws (seeded by epoch and rank, so a resumed job repeats them), not copies of each other's
            ga = g if not dist.enabled else torch.Generator().manual_seed(rank_seed(cfg.seed, epoch, dist.rank))
            cm = torch.zeros(k, k, dtype=torch.int64)
            loss_sum, seen = 0.0, 0
            sizes = train.global_sizes()
            for (x, y), n_step in zip(train.batches(order, cfg.max_batches), sizes):
                if cfg.augment:
                    x, y = _augment(x, y, ga)
                x, y = x.to(device).transpose(0, 1), y.to(device)
                logits = net(x, out_size=(H, W))
                loss = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                # DDP averages the ranks' gradients: weight each rank's mean by its share of the global batch
                (loss * (y.shape[0] * dist.world_size / n_step) if dist.enabled else loss).backward()
                opt.step()
                loss_sum += float(loss.detach()) * y.shape[0]
                seen += y.shape[0]
                cm += confusion_matrix(logits.detach().argmax(1), y, k)
            sched.step()
            loss_sum, seen, cm = _all_sum(dist, loss_sum, seen, cm)
            row: dict[str, float] = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1),
                                     "train_miou": seg_metrics(cm).miou, "lr": opt.param_groups[0]["lr"]}  # fmt: skip
            if val is not None:
                vs_, vn, vcm = _all_sum(dist, *_eval_sums(model, val.batches(max_batches=cfg.max_batches), k, device=device,
                                                           label_smoothing=cfg.label_smoothing))  # fmt: skip
                vm = seg_metrics(vcm)
                row.update(val_loss=vs_ / vn if vn else math.nan, val_miou=vm.miou, val_pixel_acc=vm.pixel_acc)
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            score = float(row["val_miou"]) if val is not None else float(epoch)
            improved = score > best[0]
            if improved:
                best = (score, epoch)
            ckpt = {**meta, "epoch": epoch, "state_dict": model.state_dict(), "history": history,
                    "optimizer_state": opt.state_dict(), "scheduler_state": sched.state_dict(),
                    "generator": g.get_state(), "best_score": float(best[0]), "best_epoch": int(best[1])}  # fmt: skip
            if main:
                torch.save(ckpt, out / "last.pt")
                if improved:
                    torch.save(ckpt, out / "best.pt")
                _write_log(history, out / "log.csv")
                _curves(history, out / "curves.png", f"{cfg.model} on {Path(cfg.store).name} -> {out}")
            vtxt = f", val loss {row['val_loss']:.3f} mIoU {row['val_miou']:.3f}" if val is not None else ""
            say(f"epoch {epoch}/{cfg.epochs}: train loss {row['train_loss']:.3f} mIoU {row['train_miou']:.3f}{vtxt} "
                f"({row['seconds']:.0f} s)")  # fmt: skip
    result = SegResult(out, history, best[1], best[0] if val is not None else math.nan, list(classes))
    if "test" in store:
        with dist.guard(hint):
            dist.barrier()  # rank 0 has written best.pt
            model.load_state_dict(load_seg_checkpoint(out / "best.pt")["state_dict"])
            test = SegBatches(cfg.store, "test", indices=shard(list(range(len(store["test"])))), **local)
            result.test = seg_metrics(_all_sum(dist, *_eval_sums(model, test, k, device=device))[2])
    result.seconds = time.perf_counter() - t_start
    return result
