"""The ``eventkit`` command: thin click commands over library functions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._errors import user_errors

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="eventkit")
def main() -> None:
    """Download, verify, decode and cache neuromorphic event datasets."""


def _fmt_count(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f} "


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default=None, help="Decode as this format instead of sniffing (see `eventkit formats`).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@user_errors
def info(path: Path, fmt: str | None, as_json: bool) -> None:
    """Decode a recording and describe it: format, events, sensor, duration, rate, polarity balance.

    \b
    Example:
      eventkit info user01_fluorescent.aedat
      eventkit info recording.raw --json
    """
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


@main.command()
def formats() -> None:
    """List the event file formats eventkit decodes."""
    from eventkit.io import FORMATS

    for name, f in FORMATS.items():
        click.echo(f"{name:<14} {f.title}  {' '.join(f.suffixes)}")
