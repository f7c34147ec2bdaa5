"""What ``snnmodels train`` / ``eval`` / ``demo --task segmentation`` do for segmentation stores.

The command line detects a segmentation store (:func:`~snnmodels.training.seg_train.is_segmentation_store`)
and hands over to these functions, so the classification commands keep one code path each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from snnmodels.errors import ConfigError

__all__ = ["eval_segmentation", "train_segmentation"]


def train_segmentation(*, store: Path, model: str, epochs: int, batch_size: int, lr: float, T: int | None, backend: str,
                       device: str, out: Path, seed: int, optimizer: str, weight_decay: float, val_fraction: float,
                       overwrite: bool, max_batches: int | None, echo: Callable[[str], None] = print,
                       resume: bool = False, distributed: bool = False, loss: str | None = None,
                       workers: int = 0, dist_timeout: float = 600.0, sync_bn: bool = True, **_ignored: Any) -> None:  # fmt: skip
    """``snnmodels train`` on a segmentation store: pixel-wise CE, mIoU, best.pt on validation mIoU.

    ``loss`` is the ``--loss`` the user gave (None when left at its default): segmentation trains
    with pixel-wise cross-entropy only, so anything but ``ce`` is refused rather than ignored.
    ``distributed`` joins the job a launcher (torchrun) describes: one rank of a data-parallel run
    (global batch norm unless ``sync_bn`` is off; only rank 0 prints and writes OUT).
    """
    from snnmodels.models import SEGMENTATION_MODELS
    from snnmodels.training.seg_train import SegTrainConfig, fit_segmentation

    if loss is not None and loss != "ce":
        raise ConfigError(f"{store} is a segmentation store: it trains with pixel-wise cross-entropy "
                          f"(--loss ce), not --loss {loss}")  # fmt: skip
    if model not in SEGMENTATION_MODELS:
        if model != "small":  # "small" is the command's default: take the segmentation counterpart
            raise ConfigError(f"{store} is a segmentation store: choose --model "
                              f"{' or '.join(sorted(SEGMENTATION_MODELS))}, not {model!r}")  # fmt: skip
        model = "small-fpn"
        echo("note: segmentation store: --model small-fpn")
    cfg = SegTrainConfig(store=str(store), model=model, out=str(out), epochs=epochs, batch_size=batch_size, lr=lr,
                         optimizer=optimizer, weight_decay=weight_decay, T=T, backend=backend, device=device,
                         seed=seed, val_fraction=val_fraction, max_batches=max_batches, num_workers=workers,
                         sync_bn=sync_bn)  # fmt: skip
    from snnmodels.training.distributed import SINGLE, init_distributed, require_launch_env

    dist = SINGLE
    if distributed:
        env = require_launch_env()  # no launcher variables: one DistributedError line
        dist = init_distributed(env, "cpu" if device == "auto" and backend == "numba" else device,
                                timeout_s=dist_timeout)  # fmt: skip
    try:
        res = fit_segmentation(cfg, log=echo, overwrite=overwrite, resume=resume, dist=dist)
    finally:
        dist.close()
    if not dist.is_main:
        return  # rank 0 reports for the whole job
    if res.test is not None:
        echo(res.table())
        val = "" if math.isnan(res.best_miou) else f", validation mIoU {res.best_miou:.3f}"
        echo(f"final test mIoU {res.test.miou:.3f} (pixel accuracy {res.test.pixel_acc:.3f}) of best.pt "
             f"(epoch {res.best_epoch}{val})")  # fmt: skip
    echo(f"checkpoints: {out / 'last.pt'}, {out / 'best.pt'}  log: {out / 'log.csv'}  curves: {out / 'curves.png'}")


def eval_segmentation(*, checkpoint: Path, store: Path, split: str, samples: list[int], out: Path | None,
                      backend: str | None, device: str, batch_size: int, echo: Callable[[str], None] = print,
                      **_ignored: Any) -> None:  # fmt: skip
    """``snnmodels eval`` on a segmentation store: IoU table and overlay pictures of ``samples``."""
    from snnmodels.training.seg_eval import evaluate_seg_checkpoint

    r = evaluate_seg_checkpoint(checkpoint, store, split=split, samples=samples, out=out, backend=backend,
                                device=device, batch_size=batch_size)  # fmt: skip
    echo(r.report())
