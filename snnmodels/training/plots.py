"""PNG training curves and confusion matrices drawn with Pillow (no matplotlib needed)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["plot_curves", "plot_confusion"]

_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
_FONT = ImageFont.load_default()


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 2) if start + i * step <= hi + 1e-9]


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str,
           series: dict[str, tuple[Sequence[float], Sequence[float]]], ylim: tuple[float, float] | None) -> None:
    x0, y0, x1, y1 = box
    left, bottom, top = x0 + 50, y1 - 30, y0 + 22
    right = x1 - 10
    xs_all = [x for xs, _ in series.values() for x in xs]
    ys_all = [y for _, ys in series.values() for y in ys if math.isfinite(y)]
    if not xs_all or not ys_all:
        return
    xlo, xhi = min(xs_all), max(max(xs_all), min(xs_all) + 1)
    ylo, yhi = ylim if ylim else (min(ys_all), max(ys_all))
    if yhi <= ylo:
        yhi = ylo + 1e-3
    px = lambda x: left + (x - xlo) / (xhi - xlo) * (right - left)  # noqa: E731
    py = lambda y: bottom - (y - ylo) / (yhi - ylo) * (bottom - top)  # noqa: E731
    draw.text((left, y0 + 4), title, fill="black", font=_FONT)
    for t in _ticks(ylo, yhi):
        if ylo - 1e-9 <= t <= yhi + 1e-9:
            draw.line([(left, py(t)), (right, py(t))], fill=(230, 230, 230))
            draw.text((x0 + 4, py(t) - 5), f"{t:.3g}", fill="black", font=_FONT)
    for t in _ticks(xlo, xhi, 6):
        if xlo <= t <= xhi and float(t).is_integer():
            draw.text((px(t) - 4, bottom + 6), f"{int(t)}", fill="black", font=_FONT)
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text(((left + right) // 2 - 12, y1 - 14), "epoch", fill="black", font=_FONT)
    for i, (name, (xs, ys)) in enumerate(series.items()):
        color = _COLORS[i % len(_COLORS)]
        pts = [(px(x), py(y)) for x, y in zip(xs, ys) if math.isfinite(y)]
        if len(pts) > 1:
            draw.line(pts, fill=color, width=2)
        for p in pts:
            draw.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=color)
        # The legend sits in the panel's header line, right of its title: never on the data.
        lx = right - 80 * (len(series) - i)
        draw.line([(lx, y0 + 10), (lx + 20, y0 + 10)], fill=color, width=2)
        draw.text((lx + 24, y0 + 4), name, fill="black", font=_FONT)


def plot_curves(history: Sequence[dict], path: str | os.PathLike[str], title: str = "") -> Path:
    """Loss and accuracy per epoch (train and test) side by side, as a PNG.

    Parameters
    ----------
    history
        Rows with ``epoch``, ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` (missing or
        NaN values are skipped; the ``test_*`` columns of runs from before validation splits are drawn
        when there are no ``val_*`` ones).
    path
        The PNG to write.
    title
        The run, drawn above both panels (e.g. model, store and output folder).
    """
    head = 20 if title else 0
    img = Image.new("RGB", (900, 340 + head), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((10, 4), title, fill="black", font=_FONT)
    ep = [float(r["epoch"]) for r in history]

    def col(key: str) -> list[float]:
        return [float(r.get(key, math.nan)) for r in history]

    other = "val" if any("val_loss" in r for r in history) or not history else "test"
    _panel(draw, (0, head, 450, 340 + head), "loss", {"train": (ep, col("train_loss")), other: (ep, col(f"{other}_loss"))}, None)
    _panel(draw, (450, head, 900, 340 + head), "top-1 accuracy",
           {"train": (ep, col("train_acc")), other: (ep, col(f"{other}_acc"))}, (0.0, 1.0))
    out = Path(path)
    img.save(out)
    return out


def plot_confusion(cm: Sequence[Sequence[int]], classes: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """A confusion-matrix heat map (rows: true class, columns: predicted), counts in the cells."""
    k = len(classes)
    cell = max(28, min(48, 560 // max(k, 1)))
    label_w = min(180, 8 + 6 * max(len(c) for c in classes))
    w, h = label_w + cell * k + 20, 40 + cell * k + 36
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    ox, oy = label_w, 40
    draw.text((ox, 6), "confusion matrix (rows: true, columns: predicted)", fill="black", font=_FONT)
    rows = [list(map(int, r)) for r in cm]
    for i, row in enumerate(rows):
        total = max(sum(row), 1)
        draw.text((4, oy + i * cell + cell // 2 - 5), classes[i][: (label_w - 8) // 6], fill="black", font=_FONT)
        for j, v in enumerate(row):
            f = v / total
            color = (int(255 - 220 * f), int(255 - 140 * f), int(255 - 40 * f))
            x, y = ox + j * cell, oy + i * cell
            draw.rectangle([x, y, x + cell, y + cell], fill=color, outline=(200, 200, 200))
            if v:
                draw.text((x + cell // 2 - 3 * len(str(v)), y + cell // 2 - 5), str(v),
                          fill="white" if f > 0.5 else "black", font=_FONT)
    for j in range(k):
        draw.text((ox + j * cell + cell // 2 - 3 * len(str(j)), oy + k * cell + 6), str(j), fill="black", font=_FONT)
    draw.text((ox, oy + k * cell + 18), "predicted class index (row order)", fill="black", font=_FONT)
    out = Path(path)
    img.save(out)
    return out
