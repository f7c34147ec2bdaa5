"""The segmentation demo: ``snnmodels demo --task segmentation``, offline, on the CPU.

1. generate the seeded synthetic-shapes dataset (Pascal VOC layout, exact masks);
2. ``eventkit synth`` it with the saccade emulator into a segmentation store (frames + masks);
3. train ``small-fpn`` with the numba neurons (pixel-wise cross-entropy, ``best.pt`` chosen on a
   validation split carved from train);
4. evaluate ``best.pt`` once on the held-out test images: per-class IoU, mIoU, pixel accuracy and
   overlay pictures.

Everything lands under ``out``: ``data/`` (images and masks), ``shapes.zarr``, ``run/``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["SEG_DEFAULT", "SEG_QUICK", "SegDemoSettings", "run_seg_demo"]


@dataclass(frozen=True)
class SegDemoSettings:
    """Dataset size, conversion and training schedule of the segmentation demo."""

    train: int = 400
    test: int = 100
    image_size: int = 48
    size: int = 32
    frames: int = 6
    epochs: int = 16
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0


SEG_DEFAULT = SegDemoSettings()
SEG_QUICK = SegDemoSettings(train=24, test=8, epochs=1)
MARKER = ".snnmodels-seg-demo"


def run_seg_demo(out: str | os.PathLike[str] = "out/seg-demo", *, epochs: int | None = None, quick: bool = False,
                 settings: SegDemoSettings | None = None) -> dict[str, object]:  # fmt: skip
    """Run the segmentation demo (see the module docstring); return test mIoU, timings and paths."""
    from eventkit.datasets.synthetic_shapes import SyntheticShapesConfig, generate_synthetic_shapes
    from eventkit.synth import synth_convert

    from snnmodels.errors import ConfigError
    from snnmodels.training.seg_eval import evaluate_seg_checkpoint
    from snnmodels.training.seg_train import SegTrainConfig, fit_segmentation

    s = settings or (SEG_QUICK if quick else SEG_DEFAULT)
    if epochs is not None:
        s = replace(s, epochs=int(epochs))
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"{out} holds files the demo did not make; choose an empty or new --out")
    for sub in ("data", "shapes.zarr", "run"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `snnmodels demo --task segmentation`; data/, shapes.zarr and run/ are replaced on a re-run\n")
    t_start = time.perf_counter()
    steps: dict[str, float] = {}

    def step(name: str, t0: float) -> None:
        steps[name] = time.perf_counter() - t0
        print(f"  [{name}: {steps[name]:.1f} s]", flush=True)

    print(f"== 1/4 generate synthetic-shapes ({s.train} train + {s.test} test images, {s.image_size}x{s.image_size})", flush=True)
    t0 = time.perf_counter()
    voc = generate_synthetic_shapes(out / "data", SyntheticShapesConfig(train=s.train, test=s.test, size=s.image_size,
                                                                         seed=s.seed)) / "SyntheticShapes"  # fmt: skip
    step("generate", t0)
    store = out / "shapes.zarr"
    print(f"== 2/4 $ eventkit synth {voc} --method saccade --size {s.size} --frames {s.frames} --out {store}", flush=True)
    t0 = time.perf_counter()
    rep = synth_convert(voc, method="saccade", out=store, size=s.size, frames=s.frames, seed=s.seed, executor="serial",
                        progress=False)  # fmt: skip
    print(f"  {sum(rep.samples.values())} images -> frames [T={s.frames}, 2, {s.size}, {s.size}] + masks; classes "
          f"{', '.join(rep.classes)}")  # fmt: skip
    step("convert", t0)
    run = out / "run"
    print(f"== 3/4 $ snnmodels train --store {store} --model small-fpn --epochs {s.epochs} --batch-size {s.batch_size} "
          f"--lr {s.lr} --backend numba --out {run}", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    import torch

    res = fit_segmentation(SegTrainConfig(store=str(store), model="small-fpn", out=str(run), epochs=s.epochs,
                                          batch_size=s.batch_size, lr=s.lr, backend="numba", seed=s.seed),
                           overwrite=True)  # fmt: skip
    step("train", t0)
    print("== 4/4 evaluate best.pt once on the held-out test images", flush=True)
    t0 = time.perf_counter()
    ev = evaluate_seg_checkpoint(run / "best.pt", store, split="test", samples=[0, 1, 2, 3], out=run)
    print(ev.report())
    step("evaluate", t0)
    total = time.perf_counter() - t_start
    print("== result")
    print(f"test mIoU {ev.metrics.miou:.3f}, pixel accuracy {ev.metrics.pixel_acc:.3f} on {ev.num_samples} held-out "
          f"images, of best.pt (epoch {res.best_epoch}, validation mIoU {res.best_miou:.3f})")  # fmt: skip
    print(f"wall time: {total:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in steps.items())}); "
          f"torch threads: {torch.get_num_threads()}")  # fmt: skip
    print(f"overlays: {ev.grid}\ncurves: {run / 'curves.png'}  log: {run / 'log.csv'}")
    return {"miou": ev.metrics.miou, "pixel_acc": ev.metrics.pixel_acc, "iou": ev.metrics.iou, "seconds": total,
            "steps": steps, "store": store, "run": run, "overlays": ev.grid, "best_epoch": res.best_epoch}


if __name__ == "__main__":  # python -m snnmodels.seg_demo [OUT]
    import sys

    run_seg_demo(sys.argv[1] if len(sys.argv) > 1 else "out/seg-demo")
