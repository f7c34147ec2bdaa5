"""The ``snnmodels`` command: train and evaluate spiking networks on eventkit stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ._errors import user_errors

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
F = TypeVar("F", bound=Callable[..., Any])
RESUME_TRAIN = ("the checkpoints of finished epochs are kept; add --resume to the same command to continue "
                "from the last one")


def snn_errors(func: F) -> F:
    """The shared :func:`cli._errors.user_errors` (it also turns snnmodels' own errors into one line)."""
    return user_errors(func, resume=RESUME_TRAIN)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="eventkit")
def main() -> None:
    """Train and evaluate spiking neural networks on eventkit frame stores."""


def _model_names() -> list[str]:
    """The registry's model names; none without torch (each command then prints the one-line
    MissingExtraError from ``import snnmodels`` instead of a traceback at start-up)."""
    try:
        from snnmodels.models import MODELS
    except ImportError:
        return []
    return list(MODELS)


@main.command(context_settings=CONTEXT)
@click.option("--store", required=True, type=click.Path(path_type=Path), help="Frame store (eventkit convert output).")
@click.option("--model", default="small", show_default=True, type=click.Choice(_model_names()) if _model_names() else str,
              help="Network from the registry.")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Peak learning rate (cosine-annealed to 0).")
@click.option("--T", "T", default=None, type=click.IntRange(min=1),
              help="Time steps (default: the store's; variable-length stores are cropped/padded).")
@click.option("--backend", default="numba", show_default=True, type=click.Choice(["torch", "numba", "cupy"]),
              help="Neuron kernels: numba (fused CPU), cupy (fused CUDA), torch (reference).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--out", default="runs/snn", show_default=True, type=click.Path(path_type=Path),
              help="Folder for checkpoints, log.csv and curves.png.")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--loss", default="mse", show_default=True, type=click.Choice(["mse", "ce"]),
              help="Firing-rate MSE against one-hot (the PLIF paper) or cross-entropy.")
@click.option("--optimizer", default="adam", show_default=True, type=click.Choice(["adam", "sgd"]))
@click.option("--weight-decay", default=0.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--amp/--no-amp", default=None, help="Mixed precision (default: on for CUDA).")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="DataLoader workers for stores too large to preload.")
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0.0, 0.9),
              help="Share of the train split held out (whole users/recordings, seeded) to pick best.pt, when "
                   "the store has no val split; 0: none (best.pt is the last epoch).")
@click.option("--overwrite", is_flag=True, help="Replace the run in OUT (only its last.pt, best.pt, log.csv, "
                                                "curves.png; other files stay).")
@click.option("--max-batches", default=None, type=click.IntRange(min=1),
              help="Stop every pass after this many batches (a smoke run).")
@click.option("--quiet", is_flag=True, help="No per-batch progress bars.")
@click.option("--distributed", is_flag=True,
              help="Data-parallel: join the job a launcher (torchrun, srun) describes in RANK, WORLD_SIZE, "
                   "LOCAL_RANK, MASTER_ADDR, MASTER_PORT; one process per GPU (NCCL) or CPU worker (gloo). "
                   "--batch-size is then the global batch, split over the processes.")
@click.option("--sync-bn/--no-sync-bn", default=True, show_default=True,
              help="Distributed: batch norm over the global batch (else per process).")
@click.option("--dist-timeout", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Distributed: seconds a collective waits for the other processes before the run fails.")
def train(store: Path, model: str, epochs: int, batch_size: int, lr: float, T: int | None, backend: str,
          device: str, out: Path, resume: bool, seed: int, loss: str, optimizer: str, weight_decay: float,
          amp: bool | None, workers: int, val_fraction: float, overwrite: bool, max_batches: int | None,
          quiet: bool, distributed: bool, sync_bn: bool, dist_timeout: float) -> None:
    """Train a spiking network on a frame store; checkpoint and log every epoch.

    Writes OUT/last.pt (every epoch), OUT/best.pt (best validation accuracy), OUT/log.csv and
    OUT/curves.png. The validation split is the store's val split, or --val-fraction of the train
    split carved out by user/recording; the test split is evaluated once at the end, with best.pt.
    Before the first step it prints an estimate of peak memory and time per epoch.

    Several GPUs or nodes: start one process per device with torchrun and add --distributed
    (docs/training.md); only rank 0 prints and writes OUT.

    \b
    Examples:
      snnmodels train --store ~/.cache/eventkit/synthetic-gestures/stores/frames-T8-time-….zarr \\
          --model small --epochs 20 --out runs/small
      snnmodels train --store …/dvs128-gesture/stores/frames-T16-number.zarr --model plif-gesture \\
          --backend cupy --device cuda --epochs 256 --batch-size 16 --lr 1e-3 --out runs/plif
      snnmodels train --store … --out runs/plif --epochs 256 --resume
      torchrun --nproc-per-node 4 -m snnmodels train --distributed --store … --model plif-gesture \
          --backend cupy --batch-size 64 --out runs/plif4
    """
    _train(store, model, epochs, batch_size, lr, T, backend, device, out, resume, seed, loss, optimizer,
           weight_decay, amp, workers, val_fraction, overwrite, max_batches, quiet, distributed, sync_bn,
           dist_timeout)


@snn_errors
def _train(store, model, epochs, batch_size, lr, T, backend, device, out, resume, seed, loss, optimizer,
           weight_decay, amp, workers, val_fraction, overwrite, max_batches, quiet, distributed=False, sync_bn=True,
           dist_timeout=600.0) -> None:
    from snnmodels.training.seg_train import is_segmentation_store

    if is_segmentation_store(store):  # masks per sample: pixel-wise training (snnmodels/training/seg_cli.py)
        from snnmodels.training.seg_cli import train_segmentation

        given = click.get_current_context(silent=True)  # --loss left at its default: not the user's choice
        src = given.get_parameter_source("loss") if given is not None else None
        kw = {k: v for k, v in locals().items() if k not in ("is_segmentation_store", "given", "src")}
        kw["loss"] = None if src is not None and src.name == "DEFAULT" else loss
        return train_segmentation(**kw, echo=click.echo)
    from snnmodels.training import TrainConfig, fit

    cfg = TrainConfig(store=str(store), model=model, out=str(out), epochs=epochs, batch_size=batch_size, lr=lr,
                      T=T, backend=backend, device=device, optimizer=optimizer, weight_decay=weight_decay,
                      loss=loss, amp=amp, seed=seed, num_workers=workers, val_fraction=val_fraction,
                      max_batches=max_batches, progress=not quiet, distributed=distributed, sync_bn=sync_bn,
                      dist_timeout=dist_timeout)
    result = fit(cfg, resume=resume, overwrite=overwrite, log=click.echo)
    if result.rank != 0:
        return  # rank 0 reports for the whole job
    if result.test is not None:
        click.echo(f"final test accuracy {result.test_acc:.2%} of the validation-selected model (best.pt, epoch "
                   f"{result.best_epoch}, validation accuracy {result.best_acc:.2%})")
    click.echo(f"checkpoints: {out / 'last.pt'}, {out / 'best.pt'}  log: {out / 'log.csv'}  "
               f"curves: {out / 'curves.png'}")


def _parse_samples(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int]:
    if not value:
        return []
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated sample indices like 0,5,9, got {value!r}") from None


@main.command("eval", context_settings=CONTEXT)
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path), help="best.pt or last.pt.")
@click.option("--store", required=True, type=click.Path(path_type=Path), help="Frame store to evaluate on.")
@click.option("--split", default="test", show_default=True)
@click.option("--samples", default=None, callback=_parse_samples,
              help="Sample indices whose top-3 predictions to print, e.g. 0,5,9.")
@click.option("--out", default=None, type=click.Path(path_type=Path),
              help="Folder for confusion_<split>.png (default: the checkpoint's folder).")
@click.option("--backend", default=None, type=click.Choice(["torch", "numba", "cupy"]),
              help="Neuron kernels (default: the training backend).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--quiet", is_flag=True, help="No per-batch progress bar.")
def eval_(checkpoint: Path, store: Path, split: str, samples: list[int], out: Path | None, backend: str | None,
          device: str, batch_size: int, quiet: bool) -> None:
    """Evaluate a checkpoint: accuracy, confusion matrix (text and PNG), top-3 predictions.

    Also prints the firing rate of every neuron layer and the synaptic operations per inference
    with an energy estimate (0.9 pJ per accumulate, 4.6 pJ per multiply-accumulate).

    \b
    Examples:
      snnmodels eval --checkpoint runs/small/best.pt --store …/frames-T8-time-….zarr --samples 0,5,9
    """
    _eval(checkpoint, store, split, samples, out, backend, device, batch_size, quiet)


@user_errors(resume="nothing was written; run the same command again")
def _eval(checkpoint, store, split, samples, out, backend, device, batch_size, quiet) -> None:
    from snnmodels.training.seg_train import is_segmentation_store

    if is_segmentation_store(store):  # IoU table and overlay pictures (snnmodels/training/seg_cli.py)
        from snnmodels.training.seg_cli import eval_segmentation

        return eval_segmentation(**{k: v for k, v in locals().items() if k != "is_segmentation_store"}, echo=click.echo)
    from snnmodels.training import evaluate_checkpoint, format_report

    result = evaluate_checkpoint(checkpoint, store, split=split, samples=samples,
                                 out=out if out is not None else Path(checkpoint).parent, backend=backend,
                                 device=device, batch_size=batch_size, progress=not quiet)
    click.echo(format_report(result))


@main.command(context_settings=CONTEXT)
@click.option("--out", default="out/demo", show_default=True, type=click.Path(path_type=Path),
              help="Folder for everything the demo writes.")
@click.option("--epochs", default=None, type=click.IntRange(min=1), help="Override the demo's epoch count.")
@click.option("--quick", is_flag=True, help="A tiny dataset and 2 epochs (a smoke test, not the accuracy target).")
@click.option("--task", type=click.Choice(["gestures", "segmentation"]), default="gestures", show_default=True,
              help="gestures: classification on synthetic-gestures; segmentation: small-fpn on synthetic-shapes "
                   "(saccade frames + masks), prints the test mIoU and writes overlay pictures.")
def demo(out: Path, epochs: int | None, quick: bool, task: str = "gestures") -> None:
    """Run the whole product on the embedded synthetic-gestures dataset (--task segmentation: synthetic-shapes).

    Generate the recordings, serve them from a local 127.0.0.1 mirror, download and verify them
    through `eventkit download --manifest`, convert them with Dask, train the small network on the
    CPU and evaluate it: prints the test accuracy and where the curves and confusion matrix are.

    \b
    Examples:
      snnmodels demo --out out/demo
    """
    _demo(out, epochs, quick, task)


@user_errors(resume="run the same command again: finished steps (download, conversion) are kept")
def _demo(out, epochs, quick, task="gestures") -> None:
    if task == "segmentation":
        from snnmodels.seg_demo import run_seg_demo

        return run_seg_demo(Path("out/seg-demo") if str(out) == "out/demo" else out, epochs=epochs, quick=quick)
    from snnmodels.demo import run_demo

    run_demo(out, epochs=epochs, quick=quick)
