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
@click.argument("images", type=click.Path(exists=True, path_type=Path))
@click.option("--method", type=click.Choice(["saccade", "odg", "diff"]), default="saccade", show_default=True,
              help="saccade: DVS pixel model on N-MNIST-like micro-saccades; odg: ES-ImageNet's ODG; "
                   "diff: log-intensity frame differencing.")
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
def synth(images, method, out, classes, classes_file, labels, split, frames, size, fit, threshold, sigma,
          refractory_us, noise_rate_hz, amplitude, jitter, seed, executor, workers, scheduler, overwrite,
          quiet) -> None:
    """Convert static IMAGES (a folder of class sub-folders, or a .npy array) into an event-frame store.

    Labels follow --classes/--classes-file; without them the class folders are sorted by name
    (and the command says so). Folders named train/test/val under IMAGES become splits.
    Re-running the same command finishes an interrupted conversion.

    \b
    Examples:
      eventkit synth ~/mnist_png --method saccade --classes 0,1,2,3,4,5,6,7,8,9 --size 34 --out nmnist_like.zarr
      eventkit synth ~/imagenet/train --method odg --classes-file synsets.txt --size 224 --out es.zarr
      eventkit synth digits.npy --labels digits_labels.npy --method diff --frames 16 --out diff.zarr
    """
    from eventkit.synth import synth_convert
    from eventkit.synth.motion import saccade_triangle

    declared = _classes(classes, classes_file)
    mp: dict = {"threshold": threshold}
    wrong = []
    if method == "saccade":
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
            progress=not quiet, overwrite=overwrite,
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
