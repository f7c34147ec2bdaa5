"""``eventkit convert synthetic-shapes``: the embedded segmentation dataset, converted like any dataset.

synthetic-shapes is a set of images with masks, not event recordings, so ``eventkit convert`` hands
it to ``eventkit synth`` with the saccade emulator (the demo's method) and the options both commands
share: ``--frames``, ``--out``, ``--root``, the executor options, ``--overwrite`` and ``--quiet``. The
default store lands under the data root like any converted dataset
(``<root>/synthetic-shapes/stores/saccade-T<T>-s<size>.zarr``). Options that only make sense for
events (``--repr``, ``--duration``, ``--events``, ...) are refused in one line that points to
``eventkit synth synthetic-shapes``, which also picks the method and size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["NAME", "SHARED", "convert_synthetic_shapes", "list_line"]

NAME = "synthetic-shapes"
#: ``eventkit convert`` options that mean the same for ``eventkit synth``.
SHARED = ("name", "frames", "out", "root", "executor", "workers", "scheduler", "overwrite", "quiet", "manifest_file")
#: Saccade frames per sample when ``--frames`` is left out (``eventkit synth``'s default for saccade).
DEFAULT_FRAMES = 12


def list_line(root: Path | None) -> str:
    """The ``eventkit list`` row of synthetic-shapes (generated on first use under the data root)."""
    from eventkit.datasets.prepare import data_root
    from eventkit.datasets.synthetic_shapes import CLASSES

    base = data_root(root) / NAME
    state = "generated" if any(base.glob("extract*/*/classes.txt")) else "not on disk"
    how = "generated locally"
    return (f"{NAME:<20} {len(CLASSES):>4} classes  {how:<18}  {state:<18}  "
            "Synthetic shapes: segmentation images + masks (eventkit synth)")


def convert_synthetic_shapes(ctx: click.Context, params: dict[str, Any]) -> None:
    """Run ``eventkit synth`` on synthetic-shapes with the shared options of ``eventkit convert``.

    Raises
    ------
    click.UsageError
        An option given on the command line that has no meaning for images.
    """
    from eventkit.datasets.prepare import data_root
    from eventkit.datasets.synthetic_shapes import ensure_synthetic_shapes

    from .synth import synth

    given = [p for p in ctx.command.params
             if p.name not in SHARED and ctx.get_parameter_source(p.name) not in (None, click.core.ParameterSource.DEFAULT)]  # fmt: skip
    if given:
        opts = ", ".join(p.opts[0] for p in given)
        raise click.UsageError(f"{opts}: not for {NAME} (images with masks, not events); `eventkit convert {NAME}` "
                               f"takes --frames, --out, --root and the executor options; for --method, --size and "
                               f"the emulator's options use `eventkit synth {NAME} ...`")  # fmt: skip
    if params.get("manifest_file") is not None:
        raise click.UsageError(f"--manifest does not apply to {NAME} (it is generated, not downloaded)")
    from PIL import Image

    frames = params["frames"] or DEFAULT_FRAMES
    images = ensure_synthetic_shapes(params["root"])
    with Image.open(min((images / "JPEGImages").iterdir())) as first:  # the store keeps the images' side
        size = int(first.size[0])
    out = params["out"] or data_root(params["root"]) / NAME / "stores" / f"saccade-T{frames}-s{size}.zarr"
    ctx.invoke(synth, images=images, method="saccade", out=Path(out), frames=frames, size=size,
               executor=params["executor"], workers=params["workers"], scheduler=params["scheduler"],
               overwrite=params["overwrite"], quiet=params["quiet"])  # fmt: skip
