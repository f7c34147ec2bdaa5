"""``eventkit inspect STORE`` and ``eventkit view PATH``: look at a store or a recording.

Registered on the ``eventkit`` group in :mod:`cli.eventkit_cli` (``main.add_command(inspect)``,
``main.add_command(view)``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
import numpy as np

from ._errors import user_errors

__all__ = ["inspect", "view"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
LABEL_ROWS = 24  # class rows printed before "... N more"
HIST_ROWS = 12  # T histogram rows before values are binned


# -- inspect ---------------------------------------------------------------------------------
@click.command("inspect", context_settings=CONTEXT)
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.option("--verify", is_flag=True,
              help="Also read and check every chunk of every split; list damaged samples, exit 1 if any.")
@click.option("--repair", is_flag=True,
              help="With --verify: mark the shards of damaged samples as not written (deletes nothing), so "
                   "re-running the same `eventkit convert` command rewrites them.")
@user_errors
def inspect(store: Path, as_json: bool, verify: bool, repair: bool) -> None:
    """Describe a frame or event STORE: counts, completeness, T, sizes, parameters.

    Prints splits and sample counts, completeness (missing samples), the T distribution, dtype
    and frame shape, size on disk and compression ratio, parameters, cache key, codec and the
    label counts per class. Reads only the small per-sample arrays, never the frames, so it is quick on large stores and
    works while a conversion is still running (or was interrupted). --verify reads every chunk
    (shard index checksums, chunk sizes, per-sample arrays) and lists the damaged samples.

    \b
    Examples:
      eventkit inspect ~/.cache/eventkit/dvs128-gesture/stores/frames-T16-number.zarr
      eventkit inspect frames-T16-number.zarr --json | jq .splits.train.lengths
      eventkit inspect frames-T16-number.zarr --verify
    """
    from eventkit.store.inspect import inspect_store, mark_for_rewrite, verify_store

    if repair and not verify:
        raise click.UsageError("--repair needs --verify (it marks the samples that --verify finds)")
    facts = inspect_store(store)
    if verify:
        facts["damaged"] = verify_store(store)
        facts["verified"] = not facts["damaged"] and not facts["damaged_files"]
        if not facts["verified"]:
            facts["complete"] = False
    if repair and facts["damaged"]:
        facts["marked_for_rewrite"] = mark_for_rewrite(store, facts["damaged"])
    if as_json:
        click.echo(json.dumps(facts))
    else:
        click.echo("\n".join(format_facts(facts)))
        if facts.get("marked_for_rewrite"):
            marked = ", ".join(f"{k} {v:,}" for k, v in facts["marked_for_rewrite"].items())
            click.echo(f"\nrepair: samples now marked not written ({marked}); re-run the same `eventkit convert` "
                       "command to rewrite them")  # fmt: skip
    if verify and not facts["verified"] and not facts.get("marked_for_rewrite"):
        raise SystemExit(1)


def format_facts(f: dict[str, Any]) -> list[str]:
    """The human-readable report of :func:`eventkit.store.inspect.inspect_store`'s dict."""
    damaged = f.get("damaged") or []
    if f.get("damaged_files") or damaged:
        n = len({(d["split"], d["index"]) for d in damaged})
        status = (f"DAMAGED: {n:,} damaged samples" if damaged else
                  f"DAMAGED: {len(f['damaged_files']):,} chunk files missing or unreadable (--verify lists the samples)")
    elif f["complete"]:
        status = f"complete (finalized {f['finalized']})" if f.get("finalized") else "complete"
        if f.get("verified"):
            status += "; verified: every chunk reads back intact"
    elif f["missing"] == 0:  # every part of a job array has written, none may mark the store complete
        status = (f"INCOMPLETE: all {f['samples']:,} samples written but not marked complete (the parts of a "
                  f"job array finished?): run the same `eventkit convert` with --finalize instead of --part")
    else:
        status = (f"INCOMPLETE: {f['missing']:,} of {f['samples']:,} samples not written "
                  f"(re-run the conversion to finish it)")  # fmt: skip
    params = ", ".join(f"{k}={v}" for k, v in f["params"].items()) or "(none)"
    ratio = f"x{f['compression_ratio']:.1f}" if f["compression_ratio"] else "n/a"
    per_sample = f", {_bytes(f['bytes_per_sample'])}/sample" if f["bytes_per_sample"] else ""
    split_sizes = ", ".join(f"{k} {v['samples']:,}" for k, v in f["splits"].items())
    rows = [
        ("store", f["path"]),
        ("kind", f"{f['kind']} store (format {f['format_version']}, written by eventkit {f['eventkit_version']})"),
        ("dataset", f"{f['dataset']}" + (f" (manifest {f['manifest_version']})" if f["manifest_version"] else "")),
        ("status", status),
        ("samples", f"{f['samples']:,} ({split_sizes})"),
        ("parameters", params),
        ("cache key", f["cache_key"]),
    ]
    if f["kind"] == "frames":
        t, p, h, w = f["frame_shape"]
        rows.append(("frames", f"[T_max={t}, P={p}, H={h}, W={w}] {f['dtype']}"))
    else:
        w, h, p = f["sensor"]
        rows.append(("events", f"{f['dtype']}; sensor {w} x {h}, {p} polarities"))
    rows += [
        ("codec", f"{f['codec']}, {f['samples_per_shard']} samples per shard"),
        ("size on disk", f"{_bytes(f['disk_bytes'])} in {f['disk_files']:,} files"),
        ("raw size", f"{_bytes(f['raw_bytes'])} uncompressed; compression {ratio}{per_sample}"),
    ]
    if f["partial_files"]:
        rows.append(("leftovers", f"{f['partial_files']} *.partial files of a killed writer (removed on resume)"))
    rows.append(("classes", f"{len(f['classes'])}"))
    if f.get("masks"):
        rows.append(("masks", _mask_summary(f["masks"])))
    out = [f"{k:<13} {v}" for k, v in rows]

    # Per-split table.
    out.append("")
    if f["kind"] == "frames":
        head = ["split", "samples", "written", "missing", "T min", "T median", "T max", "T mean"]
        stats = [[v["lengths"][k] for k in ("min", "median", "max", "mean")] for v in f["splits"].values()]
    else:
        head = ["split", "samples", "written", "missing", "events", "ev min", "ev median", "ev max", "ev mean"]
        stats = [[v["events"][k] for k in ("total", "min", "median", "max", "mean")] for v in f["splits"].values()]
    body = [[s, v["samples"], v["written"], v["missing"], *st] for (s, v), st in zip(f["splits"].items(), stats)]
    out += _table(head, body)

    if damaged or f.get("damaged_files"):
        out += ["", *_damage_lines(f)]

    # T distribution (all splits).
    if f["kind"] == "frames" and f["lengths"]["count"]:
        out += ["", f"T distribution ({f['lengths']['count']:,} written samples, T_max {f['t_max']})"]
        out += _histogram(f["lengths"]["histogram"])

    # Segmentation store: pixel shares by class (its per-sample labels mean nothing); else label counts.
    if f.get("masks"):
        out += ["", *_mask_table(f)]
    elif f["classes"]:
        out.append("")
        names = list(next(iter(f["splits"].values()))["label_counts"]) if f["splits"] else f["classes"]
        head = ["label", "class", *f["splits"]]
        counts = [[v["label_counts"].get(name, 0) for v in f["splits"].values()] for name in names]
        body = [[i if i < len(f["classes"]) else "?", name, *c] for i, (name, c) in enumerate(zip(names, counts))]
        more = len(body) - LABEL_ROWS
        out += _table(head, body[:LABEL_ROWS] if more > 1 else body)
        if more > 1:
            out.append(f"... {more} more classes (--json lists all)")
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _mask_summary(m: dict[str, Any]) -> str:
    """One line: a segmentation store's mask classes and ignored share."""
    line = (f"segmentation targets: {m['classes']} classes, {m['ignore_index']} = ignore; "
            f"ignored pixels {_pct(m['ignore_fraction'])}")  # fmt: skip
    if m.get("other_fraction"):
        line += f"; {_pct(m['other_fraction'])} of pixels name no class (damaged or mislabelled masks)"
    if m["sampled"] < m["of"]:
        line += f" (from {m['sampled']:,} of {m['of']:,} masks)"
    return line


def _mask_table(f: dict[str, Any]) -> list[str]:
    """Pixel share per class (rows) and split (columns), and the ignored share."""
    splits = {k: v["masks"] for k, v in f["splits"].items() if "masks" in v}

    def share(s: dict[str, Any], count: int) -> str:
        total = sum(s["pixels"]) + s["ignored"] + s["other"]
        return _pct(count / total) if total else "-"

    head = ["label", "class", *[f"{k} pixels" for k in splits], "all"]
    body: list[list[Any]] = [[i, name, *[share(s, s["pixels"][i]) for s in splits.values()],
                              _pct(f["masks"]["class_fractions"][name])] for i, name in enumerate(f["classes"])]  # fmt: skip
    body.append([f["masks"]["ignore_index"], "(ignore)", *[share(s, s["ignored"]) for s in splits.values()],
                 _pct(f["masks"]["ignore_fraction"])])  # fmt: skip
    more = len(body) - LABEL_ROWS
    return _table(head, body[:LABEL_ROWS] + body[-1:] if more > 1 else body) + (
        [f"... {more} more classes (--json lists all)"] if more > 1 else [])


def _damage_lines(f: dict[str, Any]) -> list[str]:
    """The damaged samples (or missing files) and what to do."""
    damaged = f.get("damaged") or []
    if damaged:
        head = ["split", "index", "sample id", "problem", "file"]
        body = [[d["split"], "all" if d["index"] is None else d["index"], d["sample_id"] or "-", d["problem"],
                 d["file"] or "-"] for d in damaged]  # fmt: skip
        out = [f"damaged samples ({len(damaged):,})", *_table(head, body)]
    else:
        out = ["missing or unreadable chunk files", *[f"  {p}" for p in f["damaged_files"]]]
    return out + ["fix: `eventkit inspect --verify --repair STORE` marks them for rewriting, then re-run the same "
                  "`eventkit convert` command (a plain re-run skips samples marked done)"]


def _table(head: list[str], body: list[list[Any]]) -> list[str]:
    cells = [[_cell(c) for c in row] for row in [head, *body]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    # Text columns flush left, number columns flush right.
    left = [all(isinstance(row[i], str) for row in body) for i in range(len(head))]
    return ["  ".join(c.ljust(w) if lf else c.rjust(w) for c, w, lf in zip(r, widths, left)).rstrip() for r in cells]


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.1f}" if not v.is_integer() else f"{int(v):,}"
    return str(v)


def _histogram(hist: list[list[int]], width: int = 40) -> list[str]:
    """Bar lines for ``[T, count]`` pairs; many distinct T are grouped into about 12 bins."""
    if len(hist) > HIST_ROWS:
        lo, hi = hist[0][0], hist[-1][0]
        step = max(1, math.ceil((hi - lo + 1) / HIST_ROWS))
        bins: dict[int, int] = {}
        for t, c in hist:
            b = lo + (t - lo) // step * step
            bins[b] = bins.get(b, 0) + c
        rows = [(f"{b}-{min(b + step - 1, hi)}", c) for b, c in sorted(bins.items())]
    else:
        rows = [(str(t), c) for t, c in hist]
    peak = max(c for _, c in rows)
    label_w = max(len(k) for k, _ in rows)
    return [f"  T={k:<{label_w}}  {'#' * max(1, round(width * c / peak)):<{width}}  {c:,}" for k, c in rows]


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f} B"


# -- view ------------------------------------------------------------------------------------
@click.command("view", context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--split", default=None, help="Store split to show (default: train, else the first).")
@click.option("--index", "-i", type=int, default=0, show_default=True,
              help="Sample index in the split (negative counts from the end).")
@click.option("--frames", "-T", "n_frames", type=click.IntRange(min=1), default=None,
              help="Frames to integrate a recording (or event-store sample) into [default: 16].")
@click.option("--split-by", type=click.Choice(["number", "time"]), default="number", show_default=True,
              help="Integrate into frames of equal event counts or equal durations.")
@click.option("--format", "fmt", default=None, help="Decode a recording as this format instead of sniffing.")
@click.option("--out", "-o", "prefix", type=click.Path(path_type=Path), default=None,
              help="Output prefix: writes PREFIX.png and PREFIX.gif [default: from the input name, here].")
@click.option("--scale", type=click.IntRange(min=1), default=None,
              help="Integer pixel upscaling [default: tiles about 256 px].")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True,
              help="GIF frame rate.")
@click.option("--cols", type=click.IntRange(min=1), default=None, help="Grid columns [default: about sqrt(T)].")
@click.option("--background", type=click.Choice(["black", "white"]), default="black", show_default=True)
@click.option("--percentile", type=click.FloatRange(min=0, max=100, min_open=True), default=99.5, show_default=True,
              help="Contrast: this percentile of the nonzero counts is full colour (robust to hot pixels).")
@user_errors
def view(path: Path, split: str | None, index: int, n_frames: int | None, split_by: str, fmt: str | None,
         prefix: Path | None, scale: int | None, fps: float, cols: int | None, background: str,
         percentile: float) -> None:  # fmt: skip
    """Render a recording or a store sample as a PNG grid of its frames and an animated GIF.

    PATH is an event recording (decoded and integrated into --frames T frames), a frame store
    (sample --index of --split, its valid frames) or an event store (that sample's events,
    integrated like a recording). ON events are orange-red, OFF events blue; both make white.

    \b
    Examples:
      eventkit view user01_fluorescent.aedat --frames 16 --split-by time
      eventkit view frames-T16-number.zarr --split test --index 3 --out sample3
      eventkit view frames-T16-number.zarr -i 0 --scale 4 --fps 4 --background white
    """
    from eventkit.render import save_gif, save_grid_png
    from eventkit.store.layout import read_root_attrs

    if not path.exists():
        raise click.ClickException(f"{path}: no such file or folder; give a recording or a *.zarr store")
    attrs = read_root_attrs(path) if path.is_dir() else None
    if path.is_dir() and attrs is None:
        raise click.ClickException(f"{path}: is a folder but not an eventkit store (no zarr.json); "
                                   "give a recording file or a *.zarr store made by `eventkit convert`")  # fmt: skip
    if attrs is not None:
        frames, title, about = _store_frames(path, attrs, split, index, n_frames, split_by)
    else:
        if split is not None or index != 0:
            raise click.ClickException(f"{path}: is a recording; --split and --index select a sample of a store, "
                                       "leave them out")  # fmt: skip
        frames, title = _recording_frames(path, fmt, n_frames or 16, split_by)
        about = ""
    if prefix is None:
        prefix = Path(title)
    png = save_grid_png(frames, prefix.with_name(prefix.name + ".png"), cols=cols, scale=scale,
                        background=background, percentile=percentile)  # fmt: skip
    gif = save_gif(frames, prefix.with_name(prefix.name + ".gif"), fps=fps, scale=scale, background=background,
                   percentile=percentile)  # fmt: skip
    t, p, h, w = frames.shape
    if about:
        click.echo(about)
    if frames.dtype.kind == "f":  # a float representation (voxel grid, time surface, HATS): values, not counts
        rep = (attrs or {}).get("params", {}).get("repr", "float")
        lo, hi = (float(frames.min()), float(frames.max())) if frames.size else (0.0, 0.0)
        click.echo(f"{t} frames of {w} x {h} ({p} channels), {rep} values in [{lo:.4g}, {hi:.4g}]")
        events = int(bool(frames.any()))
    else:
        events = int(frames.sum())
        click.echo(f"{t} frames of {w} x {h} ({p} polarities), {events:,} events")
    if events == 0:  # say it, or a blank picture looks like a rendering bug
        click.echo(f"warning: {path}: {'this sample' if about else 'the recording'} holds no events in the "
                   "frames shown; the pictures are blank", err=True)
    click.echo(str(png))
    click.echo(str(gif))


def _store_frames(path: Path, attrs: dict[str, Any], split: str | None, index: int, n_frames: int | None,
                  split_by: str) -> tuple[np.ndarray, str, str]:  # fmt: skip
    """Frames ``[T, P, H, W]`` of one store sample, a default output name and a line naming the sample."""
    kind = attrs.get("eventkit_store")
    names = list(attrs.get("splits", {}))
    if split is None:
        split = "train" if "train" in names else (names[0] if names else "")
    if split not in names:
        raise click.ClickException(f"{path}: no split {split!r}; it has {', '.join(names) or 'none'} (use --split)")
    n = int(attrs["splits"][split])
    if not -n <= index < n:
        raise click.ClickException(f"{path}: sample {index} out of range; split {split!r} has {n} samples "
                                   f"(--index 0..{n - 1}, or negative from the end)")  # fmt: skip
    i = index % n
    if kind == "frames":
        if n_frames is not None:
            raise click.ClickException(f"{path}: holds frames already (T_max {attrs.get('t_max')}); "
                                       "--frames applies to recordings and event stores, leave it out")  # fmt: skip
        from eventkit.store import open_store

        sample = open_store(path, allow_incomplete=True)[split][i]
        frames = sample.frames[: sample.length]
        if frames.shape[0] == 0:  # an empty sample: show its one blank padded frame
            frames = sample.frames[:1]
    elif kind == "events":
        from eventkit.frames import to_frames
        from eventkit.store import open_event_store

        store = open_event_store(path, allow_incomplete=True)
        sample = store[split][i]
        frames = to_frames(sample.events, store.sensor, frames=n_frames or 16, split_by=split_by)
    else:
        raise click.ClickException(f"{path}: unknown store kind {kind!r}")
    stem = path.name[: -len(".zarr")] if path.name.endswith(".zarr") else path.name
    return np.asarray(frames), f"{stem}-{split}-{i}", _describe(attrs, split, i, sample)


def _describe(attrs: dict[str, Any], split: str, i: int, sample: Any) -> str:
    """``split 'test' sample 3 (user07_led_2): class 4 'left_hand_wave'`` for the sample shown."""
    label = int(sample.label)
    classes = attrs.get("classes") or []
    name = f" {classes[label]!r}" if isinstance(classes, list) and 0 <= label < len(classes) else ""
    return f"split {split!r} sample {i} ({sample.sample_id}): class {label}{name}"


def _recording_frames(path: Path, fmt: str | None, n_frames: int, split_by: str) -> tuple[np.ndarray, str]:
    """Decode a recording and integrate it into ``n_frames`` frames ``[T, P, H, W]``."""
    from eventkit import FORMATS, guess_format, read_events
    from eventkit.events import SensorSize
    from eventkit.frames import to_frames

    name = fmt or guess_format(str(path))
    events = read_events(path, format=name)
    spec = FORMATS[name]
    sensor = spec.sensor(path) if spec.sensor is not None else None
    if sensor is None:
        if events.shape[0] == 0:
            raise click.ClickException(f"{path}: no events and no sensor size in the header; nothing to show")
        sensor = SensorSize(int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
    frames = to_frames(events, sensor, frames=n_frames, split_by=split_by)
    return np.asarray(frames), path.name.split(".")[0] or "view"
