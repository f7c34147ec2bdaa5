"""The ``eventkit`` command: thin click commands over library functions."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from ._errors import user_errors
from ._executor import CLUSTER_OPTIONS, EXECUTOR_OPTIONS, check_executor_options, cluster_scheduler, executor_notes

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Frame dtypes a store holds: integer counts that saturate. A copy of eventkit.pipeline.spec.FRAME_DTYPES
# (importing it would load the pipeline at start-up); tests/cli/test_bad_arguments.py checks they agree.
FRAME_DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32")
# Likewise copies of spec.FLOAT_STORE_DTYPES and spec.REPRESENTATIONS (tests/eventkit/frames/test_repr_store.py).
FLOAT_STORE_DTYPES = ("float32", "float16")
REPRESENTATIONS = ("frames", "voxel", "time-surface", "hats")
RESUME_CONVERT = "re-run the same command: finished samples are kept and only the missing ones are converted"
RESUME_DOWNLOAD = "re-run the same command: the download resumes where it stopped"


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="eventkit")
def main() -> None:
    """Download, verify, decode and cache neuromorphic event datasets."""


def _dataset_info(name: str, root: Path | None, as_json: bool) -> None:
    from eventkit.datasets.prepare import dataset_dir
    from eventkit.datasets.registry import get_manifest

    m = get_manifest(name)
    where = dataset_dir(m, root)
    stores = sorted(p.name for p in (where / "stores").glob("*.zarr")) if (where / "stores").is_dir() else []
    facts = {
        "name": m.name, "title": m.title, "homepage": m.homepage, "license": m.license, "citation": m.citation,
        "decoder": m.decoder, "sensor": list(m.sensor), "classes": list(m.classes), "splits": list(m.splits),
        "manual_download": m.manual, "files": [f.filename for f in m.files], "data_dir": str(where),
        "downloaded": (where / "download").is_dir(), "extracted": (where / "extract").is_dir(), "stores": stores,
        "notes": m.notes,
    }
    if as_json:
        click.echo(json.dumps(facts))
        return
    for key in ("title", "homepage", "license", "citation", "decoder", "sensor", "splits", "manual_download",
                "files", "data_dir", "downloaded", "extracted", "stores"):
        click.echo(f"{key:<16} {facts[key]}")
    click.echo(f"{'classes':<16} {len(m.classes)}: {', '.join(m.classes[:12])}{' ...' if len(m.classes) > 12 else ''}")
    if m.notes:
        click.echo(f"{'notes':<16} {m.notes.strip()}")


def _fmt_count(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f} "


def _export_decode_limits(max_events: int | None, max_decode_ratio: float | None) -> None:
    """Put the decode limits in the environment: worker processes of a local conversion inherit it.

    (Workers of an external Dask cluster read their own environment: set the variables there.)
    """
    if max_events is not None:
        os.environ["EVENTKIT_MAX_EVENTS"] = str(max_events)
    if max_decode_ratio is not None:
        os.environ["EVENTKIT_MAX_DECODE_RATIO"] = repr(float(max_decode_ratio))


def _local_root(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--root`` is a local folder: a URL such as ``s3://x`` would otherwise become a folder ``./s3:/x``."""
    from eventkit.store._remote import is_url

    if value is not None and is_url(value):
        url = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]+):/+", r"\1://", str(value))  # click's Path made s3:// s3:/
        raise click.ClickException(f"--root {url}: the data root must be a local or shared-filesystem folder, not "
                                   f"a URL (only `eventkit convert --out` may be an object store such as s3://...)")
    return value


@main.command()
@click.argument("target")
@click.option("--format", "fmt", default=None, help="Decode as this format instead of sniffing (see `eventkit formats`).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), envvar="EVENTKIT_ROOT", default=None,
              help="Data root, for a dataset NAME (default $EVENTKIT_ROOT, else ~/.cache/eventkit).",
              callback=_local_root)
@user_errors
def info(target: str, fmt: str | None, as_json: bool, root: Path | None) -> None:
    """Describe a recording FILE (format, events, sensor, duration, rate, polarity balance) or a dataset NAME.

    \b
    Examples:
      eventkit info user01_fluorescent.aedat
      eventkit info recording.raw --json
      eventkit info dvs128-gesture
    """
    path = Path(target)
    if not path.exists() and fmt is None and "/" not in target and "." not in target:
        _dataset_info(target, root, as_json)
        return
    from eventkit.summary import summarize_file

    s = summarize_file(path, format=fmt)
    if as_json:
        click.echo(json.dumps(s.to_dict()))
        return
    sensor = "unknown" if s.sensor is None else f"{s.sensor[0]} x {s.sensor[1]}, {s.sensor[2]} polarities ({s.sensor_source})"
    lines = [
        ("file", f"{s.path} ({s.file_bytes:,} bytes)"),
        ("format", f"{s.format_title} [{s.format}]"),
        ("events", f"{s.events:,}"),
        ("sensor", sensor),
    ]
    if s.events:
        lines += [
            ("time", f"{s.t_first_us} .. {s.t_last_us} us"),
            ("duration", f"{s.duration_s:.6f} s"),
            ("event rate", "n/a (zero duration)" if s.rate_ev_per_s is None else f"{_fmt_count(s.rate_ev_per_s)}ev/s"),
            ("polarity", f"ON {s.on_events:,} ({100 * s.on_fraction:.1f} %), OFF {s.off_events:,}"),
        ]
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        click.echo(f"{k:<{width}}  {v}")


@main.command("example-recording")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seconds", default=2.0, show_default=True, help="Length of the recording.")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same file).")
@user_errors
def example_recording(path: Path, seconds: float, seed: int) -> None:
    """Write a seeded example recording (a sweeping bar, DVS128 geometry) as AEDAT 3.1.

    \b
    Example:
      eventkit example-recording bar.aedat && eventkit info bar.aedat
    """
    from eventkit.examples import moving_bar_events
    from eventkit.io.aedat31_writer import write_aedat31

    if seconds <= 0:
        raise click.BadParameter("must be positive", param_hint="--seconds")
    events = moving_bar_events(seconds, (128, 128), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_aedat31(path, events, source="DVS128")
    click.echo(f"wrote {events.size:,} events to {path}")


ROOT_OPTION = click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path), envvar="EVENTKIT_ROOT", default=None,
    help="Data root (default $EVENTKIT_ROOT, else ~/.cache/eventkit).", callback=_local_root,
)
MANIFEST_OPTION = click.option(
    "--manifest", "manifest_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
    help="Use this manifest file instead of a bundled one (private datasets, local mirrors).",
)


def _manifest(name: str | None, manifest_file: Path | None):
    from eventkit.datasets.registry import get_manifest

    if manifest_file is not None:
        m = get_manifest(manifest_file)
        if name and name != m.name:
            raise click.BadParameter(f"{manifest_file} describes {m.name!r}, not {name!r}", param_hint="NAME")
        return m
    if not name:
        raise click.UsageError("give a dataset NAME (see `eventkit list`) or --manifest FILE")
    return get_manifest(name)


@main.command("list")
@ROOT_OPTION
@user_errors
def list_cmd(root: Path | None) -> None:
    """List the bundled datasets and what of each is on disk.

    \b
    Example:
      eventkit list --root /data/neuromorphic
    """
    from eventkit.datasets.prepare import dataset_dir
    from eventkit.datasets.registry import list_datasets

    for m in list_datasets():
        where = dataset_dir(m, root)
        have = sum((where / "download" / f.filename).is_file() for f in m.files)
        state = "not on disk"
        if (where / "extract").is_dir() and any((where / "extract").iterdir()):
            state = "extracted"
        elif have:
            state = f"{have} of {len(m.files)} files downloaded"
        how = "manual download" if m.manual else ("generated locally" if m.generator else "automatic download")
        click.echo(f"{m.name:<20} {len(m.classes):>4} classes  {how:<18}  {state:<18}  {m.title}")
    from .shapes_convert import list_line

    click.echo(list_line(root))  # images with masks, not a manifest: converted through eventkit synth


@main.command()
@click.argument("name", required=False)
@ROOT_OPTION
@MANIFEST_OPTION
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--max-expand-bytes", default=None, metavar="SIZE", envvar="EVENTKIT_MAX_EXPAND_BYTES",
              help="Most bytes one archive may expand to, e.g. 4T (default 1T; env EVENTKIT_MAX_EXPAND_BYTES).")
@click.option("--max-expand-ratio", type=click.FloatRange(min=1.0), default=None, envvar="EVENTKIT_MAX_EXPAND_RATIO",
              help="Most uncompressed/compressed ratio before an archive is refused as a bomb "
                   "(default 100; env EVENTKIT_MAX_EXPAND_RATIO).")
@click.option("--stall-timeout", type=click.FloatRange(min=0.1), default=None, envvar="EVENTKIT_STALL_TIMEOUT",
              metavar="SECONDS", help="Abandon and resume a download that receives (almost) nothing for this long "
                                      "(default 60; env EVENTKIT_STALL_TIMEOUT).")
@user_errors(resume=RESUME_DOWNLOAD)
def download(name: str | None, root: Path | None, manifest_file: Path | None, quiet: bool,
             max_expand_bytes: str | None, max_expand_ratio: float | None, stall_timeout: float | None) -> None:
    """Download (or generate), verify and extract a dataset.

    Interrupted downloads resume; mirrors are tried in order; a file with a wrong hash is kept
    (renamed *.mismatch), never deleted. For manually distributed datasets it prints exactly
    what to fetch and where to put it.

    \b
    Examples:
      eventkit download synthetic-gestures
      eventkit download nmnist --root /data
      eventkit download --manifest my_mirror.toml
    """
    from eventkit.datasets.prepare import download_dataset

    m = _manifest(name, manifest_file)
    path = download_dataset(m, root, progress=not quiet, max_expand_bytes=max_expand_bytes,
                            max_expand_ratio=max_expand_ratio, stall_timeout=stall_timeout)
    click.echo(f"{m.name}: ready in {path}")


@main.command()
@click.argument("name", required=False)
@ROOT_OPTION
@MANIFEST_OPTION
@user_errors
def verify(name: str | None, root: Path | None, manifest_file: Path | None) -> None:
    """Check a dataset's downloaded files (sizes and hashes) against its manifest.

    \b
    Example:
      eventkit verify dvs128-gesture --root /data
    """
    from eventkit.datasets.prepare import verify_dataset

    m = _manifest(name, manifest_file)
    statuses = verify_dataset(m, root)
    for s in statuses:
        click.echo(f"{'ok     ' if s.ok else 'FAILED '} {s.path}" + ("" if s.ok else f": {'; '.join(s.problems)}"))
    if not statuses:
        click.echo(f"{m.name}: nothing to verify (generated locally)")
    if not all(s.ok for s in statuses):
        get = f"eventkit download {m.name}" + (f" --root {root}" if root is not None else "")
        raise click.ClickException(
            f"{m.name}: {sum(not s.ok for s in statuses)} file(s) missing or wrong; run `{get}` to fetch the "
            "missing ones (a file with a wrong hash is kept as *.mismatch and fetched again)"
        )


@main.command()
@click.argument("name", required=False)
@click.option("--frames", "-T", type=click.IntRange(min=1), default=None, help="Fixed number of frames T per sample.")
@click.option("--split-by", type=click.Choice(["number", "time"]), default="number", show_default=True,
              help="With --frames: equal event counts or equal durations (SpikingJelly 2.0 semantics).")
@click.option("--duration", type=click.IntRange(min=1), default=None, help="Frame length in µs (variable T, padded).")
@click.option("--dtype", type=click.Choice(FRAME_DTYPES + FLOAT_STORE_DTYPES), default=None,
              help="Store dtype: an integer count type for frames (default uint16; counts saturate), float32 "
                   "(default) or float16 for the other representations.")
@click.option("--repr", "representation", type=click.Choice(REPRESENTATIONS), default="frames", show_default=True,
              help="What to store: count frames, voxel grids (--bins), time surfaces per window (--tau, --dt) "
                   "or HATS averaged time surfaces (--cell-size, --surface-size, --time-window, --tau, --decay).")
@click.option("--bins", type=click.IntRange(min=1), default=None, help="--repr voxel: time bins B (T = B).")
@click.option("--polarity", type=click.Choice(["signed", "split"]), default=None,
              help="--repr voxel: one signed channel (ON +1, OFF -1; default) or one channel per polarity.")
@click.option("--time-norm", type=click.Choice(["e2vid", "tonic"]), default=None,
              help="--repr voxel: (B - 1) scaling that keeps every event (default) or Tonic's B scaling.")
@click.option("--tau", type=click.FloatRange(min=0, min_open=True), default=None,
              help="--repr time-surface / hats: decay time constant in µs.")
@click.option("--dt", type=click.IntRange(min=1), default=None, help="--repr time-surface: window length in µs.")
@click.option("--cell-size", type=click.IntRange(min=1), default=None, help="--repr hats: cell side in pixels (10).")
@click.option("--surface-size", type=click.IntRange(min=1), default=None, help="--repr hats: odd surface side (5).")
@click.option("--time-window", type=click.IntRange(min=0), default=None, help="--repr hats: look-back in µs (1000).")
@click.option("--decay", type=click.Choice(["exp", "lin"]), default=None, help="--repr hats: decay shape (exp).")
@click.option("--downsample", type=click.IntRange(min=1), default=None, help="Integer spatial factor (128 -> 32 with 4).")
@click.option("--binary", is_flag=True, help="0/1 spike frames instead of counts.")
@click.option("--events", "events_store", is_flag=True, help="Write the event store (ragged events) instead of frames.")
@click.option("--from", "from_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Convert an already-extracted copy (e.g. SpikingJelly's extract/ folder); no download.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Store path (default under --root), or an object store URL such as s3://bucket/x.zarr.")
@EXECUTOR_OPTIONS
@CLUSTER_OPTIONS
@click.option("--overwrite", is_flag=True, help="Replace the eventkit store at --out (built as <out>.new, swapped in when complete); a folder holding anything else is refused, never deleted.")
@click.option("--part", default=None, metavar="K/N",
              help="Job arrays: convert only part K (from 0) of N into the one store; run all N at once, then "
                   "--finalize. K omitted (auto/N) = $SLURM_ARRAY_TASK_ID, $PBS_ARRAY_INDEX or $LSB_JOBINDEX-1.")
@click.option("--finalize", is_flag=True,
              help="Convert nothing: check every sample is written (after all --part runs) and mark the store complete.")
@click.option("--quiet", is_flag=True, help="No progress bars and no note of the executor chosen.")
@click.option("--max-events", type=click.IntRange(min=1), default=None, envvar="EVENTKIT_MAX_EVENTS",
              help="Refuse a recording that declares more events than this (env EVENTKIT_MAX_EVENTS; default: no cap).")
@click.option("--max-decode-ratio", type=click.FloatRange(min=1.0), default=None, envvar="EVENTKIT_MAX_DECODE_RATIO",
              help="Refuse a recording that declares more than this many decoded bytes per file byte, a "
                   "decompression bomb (default 100; env EVENTKIT_MAX_DECODE_RATIO).")
@ROOT_OPTION
@MANIFEST_OPTION
@user_errors(resume=RESUME_CONVERT)
def convert(name, frames, split_by, duration, dtype, representation, bins, polarity, time_norm, tau, dt, cell_size,
            surface_size, time_window, decay, downsample, binary, events_store, from_dir, out, executor,
            workers, scheduler, cluster, overwrite, part, finalize, quiet, max_events, max_decode_ratio, root,
            manifest_file) -> None:
    """Convert a dataset into a chunked, compressed Zarr frame store (resumable, parallel).

    Re-running after an interruption converts only the missing samples. Samples that fail (a
    corrupt recording) are listed with the reason while the rest completes.

    \b
    Examples:
      eventkit convert dvs128-gesture --frames 16 --split-by number
      eventkit convert dvs128-gesture --duration 50000 --downsample 4
      eventkit convert nmnist --repr voxel --bins 10
      eventkit convert nmnist --repr time-surface --dt 50000 --tau 20000 --dtype float16
      eventkit convert nmnist --repr hats --cell-size 10 --surface-size 5 --time-window 20000 --tau 5000
      eventkit convert dvs128-gesture --frames 16 --from ~/spikingjelly/DVS128Gesture/extract
      eventkit convert es-imagenet --frames 8 --scheduler tcp://10.0.0.5:8786
      eventkit convert nmnist --frames 8 --out /shared/nm.zarr --cluster slurm --jobs 4 --cores 8 --memory 16GB \\
        --walltime 02:00:00 --queue cpu --account myproj
      eventkit convert nmnist --frames 8 --out /shared/nm.zarr --part $SLURM_ARRAY_TASK_ID/8   # sbatch --array=0-7
      eventkit convert nmnist --frames 8 --out /shared/nm.zarr --finalize                      # after all 8 parts
      eventkit convert synthetic-shapes --frames 8    # images + masks: eventkit synth, saccades (a segmentation store)

    \b
    Job arrays (--part K/N): shard g (numbered across splits) belongs to part g % N; K counts from 0
    (sbatch --array=0-7 for N=8; under LSF, --part auto/8 with bsub -J "conv[1-8]").
    """
    if name == "synthetic-shapes":  # images with masks: eventkit synth with the shared options
        from .shapes_convert import convert_synthetic_shapes

        return convert_synthetic_shapes(click.get_current_context(), dict(locals()))
    from eventkit.pipeline import convert as run_convert

    if dtype is not None and (dtype in FLOAT_STORE_DTYPES) != (representation != "frames"):
        raise click.BadParameter(f"{dtype} does not fit --repr {representation}: use "
                                 f"{', '.join(FRAME_DTYPES if representation == 'frames' else FLOAT_STORE_DTYPES)}",
                                 param_hint="--dtype")
    if not events_store and representation == "frames" and (frames is None) == (duration is None):
        raise click.UsageError("give exactly one of --frames T or --duration US (or --events)")
    m = _manifest(name, manifest_file)
    from eventkit.pipeline.convert import check_part_options, parse_part

    check_part_options(parse_part(part), finalize, overwrite, scheduler)  # before the executor's checks
    check_executor_options(executor, workers, scheduler)
    _export_decode_limits(max_events, max_decode_ratio)
    with executor_notes(quiet), cluster_scheduler(cluster, scheduler) as scheduler:  # --cluster: jobs cancelled after
        report = run_convert(
            m, frames=frames, split_by=split_by, duration=duration, dtype=dtype, downsample=downsample,
            binary=binary, representation=representation, bins=bins, polarity=polarity, time_norm=time_norm,
            tau=tau, dt=dt, cell_size=cell_size, surface_size=surface_size, time_window=time_window, decay=decay,
            events=events_store, root=root, from_dir=from_dir, out=out, executor=executor,
            workers=workers, scheduler=scheduler, progress=not quiet, overwrite=overwrite, part=part,
            finalize=finalize,
        )
    total = sum(report.samples.values())
    if finalize:
        click.echo(f"{m.name}: {total} samples ({', '.join(f'{k} {v}' for k, v in report.samples.items())}); "
                   f"all written, store marked complete")
        click.echo(f"store: {report.store}")
        return
    split_counts = ", ".join(f"{k} {v}" for k, v in report.samples.items())
    click.echo(f"{m.name}: {total} samples ({split_counts}); converted {report.converted}, "
               f"already there {report.skipped}")
    for f in report.failures:
        click.echo(f"FAILED {f.split}/{f.sample_id}: {f.source}: {f.reason}", err=True)
    if report.failures:
        raise click.ClickException(
            f"{len(report.failures)} sample(s) failed; the store {report.store} is incomplete. "
            "Fix or replace the files above and run the same command again: only the missing samples are converted."
        )
    if report.part is not None:
        k, n = report.part
        done = ("the store is complete" if report.complete else
                f"the store is not complete yet: when all {n} parts are done, run the same command with --finalize "
                f"instead of --part (or without --part)")
        click.echo(f"part {k}/{n}: wrote {report.part_written} of the {report.part_shards} shard(s) of this part "
                   f"({report.part_shards - report.part_written} already there); {done}")
    click.echo(f"store: {report.store}")


@main.command()
@user_errors
def formats() -> None:
    """List the event file formats eventkit decodes."""
    from eventkit.io import FORMATS

    for name, f in FORMATS.items():
        click.echo(f"{name:<14} {f.title}  {' '.join(f.suffixes)}")


# Commands that live in their own modules (each loads only click and numpy at start-up).
from .inspect_view import inspect, view  # noqa: E402
from .synth import synth  # noqa: E402

main.add_command(inspect)
main.add_command(view)
main.add_command(synth)
