"""``eventkit synth IMAGES --method saccade|odg|diff --out STORE``: static images to an event-frame store.

Registered on the ``eventkit`` group in :mod:`cli.eventkit_cli` (``main.add_command(synth)``).
"""

from __future__ import annotations

from pathlib import Path

import click

from ._errors import user_errors
from ._executor import EXECUTOR_OPTIONS, check_executor_options, executor_notes

__all__ = ["synth"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _classes(classes: str | None, classes_file: Path | None) -> list[str] | None:
    if classes and classes_file:
        raise click.UsageError("give --classes or --classes-file, not both")
    if classes_file is not None:
        from eventkit.synth.images import read_classes_file

        return read_classes_file(classes_file)
    if classes:
        names = [c.strip() for c in classes.split(",")]
        if any(not c for c in names):
            raise click.UsageError(f"--classes has an empty name: {classes!r} (comma-separated, no empty items)")
        return names
    return None


@click.command("synth", context_settings=CONTEXT)
@click.argument("images", type=click.Path(path_type=Path))
@click.option("--method", type=click.Choice(["saccade", "odg", "diff", "shift-diff"]), default="saccade", show_default=True,
              help="saccade: DVS pixel model on N-MNIST-like micro-saccades; odg: ES-ImageNet's ODG; "
                   "diff: log-intensity frame differencing; shift-diff: the segment_snn reference's 9 shifted "
                   "colour copies, 8 real-valued differences x 6 channels (float32).")
@click.option("--masks", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Segmentation: a folder of PNG class masks parallel to IMAGES (MASKS/<path>.png; 255 = ignore).")
@click.option("--coco", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Segmentation: COCO instances JSON for the images in IMAGES (needs pycocotools).")
@click.option("--class-table", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --coco: class table file ('name: coco_id, ...' per line, background first); default VOC-21.")
@click.option("--min-foreground", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --coco: drop images with this many foreground pixels or fewer (the reference uses 1000).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Store path (a .zarr folder).")
@click.option("--classes", default=None, help="Class names in label order, comma-separated (label k = k-th name).")
@click.option("--classes-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Class names in label order, one per line.")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Labels of a .npy input (.npy or one integer per line); default IMAGES.labels.npy beside it.")
@click.option("--split", default="train", show_default=True, help="Split name when IMAGES has no train/test folders.")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="T frames per sample (default: saccade 12, odg 8, diff 8).")
@click.option("--size", type=click.IntRange(min=1, max=65535), default=128, show_default=True,
              help="Output side in pixels (images are fitted to size x size).")
@click.option("--fit", type=click.Choice(["crop", "pad", "stretch"]), default="crop", show_default=True,
              help="crop: resize the shorter side and take the centre; pad: letterbox on black; stretch.")
@click.option("--threshold", type=float, default=None,
              help="Contrast threshold (default: saccade 0.2 log, odg 0.18 intensity, diff 0.15 log).")
@click.option("--sigma", type=click.FloatRange(min=0), default=None, help="saccade: threshold mismatch (log units).")
@click.option("--refractory-us", type=click.FloatRange(min=0), default=None, help="saccade: refractory period, µs.")
@click.option("--noise-rate", "noise_rate_hz", type=click.FloatRange(min=0), default=None,
              help="saccade: background noise, events per pixel per second.")
@click.option("--amplitude", type=click.FloatRange(min=0), default=None,
              help="saccade/diff: size of the saccade triangle in pixels (default 3).")
@click.option("--jitter", type=click.FloatRange(min=0), default=None, help="diff: random position jitter, pixels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise/jitter (per sample).")
@EXECUTOR_OPTIONS
@click.option("--overwrite", is_flag=True, help="Replace the eventkit store at --out (built as <out>.new, swapped in when complete); a folder holding anything else is refused, never deleted.")
@click.option("--quiet", is_flag=True, help="No progress bar and no note of the executor chosen.")
@user_errors(resume="re-run the same command: finished images are kept and only the missing ones are converted")
def synth(images, method, masks, coco, class_table, min_foreground, out, classes, classes_file, labels, split, frames,
          size, fit, threshold, sigma, refractory_us, noise_rate_hz, amplitude, jitter, seed, executor, workers,
          scheduler, overwrite, quiet) -> None:
    """Convert static IMAGES (a folder of class sub-folders, or a .npy array) into an event-frame store.

    Labels follow --classes/--classes-file; without them the class folders are sorted by name
    (and the command says so). Folders named train/test/val under IMAGES become splits.
    Re-running the same command finishes an interrupted conversion.

    Segmentation stores (a mask per sample): --masks MASKS, --coco FILE, or IMAGES in the Pascal
    VOC 2012 layout (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/). IMAGES
    "synthetic-shapes" is the embedded segmentation dataset (generated on first use under
    $EVENTKIT_ROOT, else ~/.cache/eventkit).

    \b
    Examples:
      eventkit synth ~/mnist_png --method saccade --classes 0,1,2,3,4,5,6,7,8,9 --size 34 --out nmnist_like.zarr
      eventkit synth ~/imagenet/train --method odg --classes-file synsets.txt --size 224 --out es.zarr
      eventkit synth digits.npy --labels digits_labels.npy --method diff --frames 16 --out diff.zarr
      eventkit synth synthetic-shapes --method saccade --size 64 --frames 8 --out shapes.zarr
      eventkit synth VOCdevkit/VOC2012 --method shift-diff --size 128 --out voc.zarr
      eventkit synth photos/ --masks masks/ --classes background,cat,dog --out seg.zarr
      eventkit synth coco/val2017 --coco coco/annotations/instances_val2017.json --min-foreground 1000 --out coco.zarr
    """
    from eventkit.synth import synth_convert
    from eventkit.synth.motion import saccade_triangle

    if not images.exists() and str(images) != "synthetic-shapes":
        raise click.BadParameter(f"{images}: no such folder or file (or give synthetic-shapes)", param_hint="IMAGES")
    declared = _classes(classes, classes_file)
    table = None
    if class_table is not None:
        from eventkit.synth.seg_inputs import read_class_table

        table = read_class_table(class_table)
    mp: dict = {"threshold": threshold}
    wrong = []
    if method == "shift-diff":
        mp = {}
        wrong = [n for n, v in (("--threshold", threshold), ("--sigma", sigma), ("--refractory-us", refractory_us),
                                ("--noise-rate", noise_rate_hz), ("--amplitude", amplitude), ("--jitter", jitter))
                 if v is not None]  # fmt: skip
    elif method == "saccade":
        mp.update(sigma=sigma, refractory_us=refractory_us, noise_rate_hz=noise_rate_hz)
        wrong = [n for n, v in (("--jitter", jitter),) if v is not None]
    elif method == "diff":
        mp.update(jitter=jitter)
        wrong = [n for n, v in (("--sigma", sigma), ("--refractory-us", refractory_us),
                                ("--noise-rate", noise_rate_hz)) if v is not None]  # fmt: skip
    else:
        wrong = [n for n, v in (("--sigma", sigma), ("--refractory-us", refractory_us), ("--noise-rate", noise_rate_hz),
                                ("--amplitude", amplitude), ("--jitter", jitter)) if v is not None]  # fmt: skip
    if wrong:
        raise click.UsageError(f"{', '.join(wrong)} do(es) not apply to --method {method}")
    if amplitude is not None:
        mp["path"] = saccade_triangle(amplitude)
    from eventkit.synth import make_method

    check_executor_options(executor, workers, scheduler)
    m = make_method(method, **mp)  # a bad value (threshold <= 0, ...) raises an OptionError: one Error: line
    with executor_notes(quiet, prefix="note: "):
        report = synth_convert(
            images, method=m, out=out, classes=declared, labels=labels, split=split, frames=frames,
            size=size, fit=fit, seed=seed, executor=executor, workers=workers, scheduler=scheduler,
            progress=not quiet, overwrite=overwrite, masks=masks, coco=coco, class_table=table,
            min_foreground=min_foreground,
        )  # fmt: skip
    total = sum(report.samples.values())
    split_counts = ", ".join(f"{k} {v}" for k, v in report.samples.items())
    click.echo(f"{Path(images).name}: {total} images ({split_counts}), {len(report.classes)} classes "
               f"({report.class_order}); converted {report.converted}, already there {report.skipped}")  # fmt: skip
    for f in report.failures:
        click.echo(f"FAILED {f.split}/{f.sample_id}: {f.source}: {f.reason}", err=True)
    if report.failures:
        raise click.ClickException(
            f"{len(report.failures)} image(s) failed; the store {report.store} is incomplete. "
            "Fix or remove the files above and run the same command again: only the missing samples are converted."
        )
    click.echo(f"store: {report.store}")
