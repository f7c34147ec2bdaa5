"""Render event frames as pictures: ON/OFF colour images, a PNG grid and an animated GIF.

Frames are ``[T, P, H, W]`` counts as :func:`eventkit.to_frames` returns them (channel 0 = OFF,
channel 1 = ON; ``P == 1`` is merged polarity), or the float representations rendered the same
way: time surfaces and HATS grids (values in [0, 1] or averages) per polarity, and signed voxel
grids (``P == 1`` with negative values) with positive values in the ON colour and negative ones
in the OFF colour. Pillow writes the files.

>>> rgb = frames_to_rgb(frames)                     # [T, H, W, 3] uint8
>>> save_grid_png(frames, "sample.png")             # all T frames side by side
>>> save_gif(frames, "sample.gif", fps=8)           # one GIF frame per frame

Colour
------
Each polarity's counts become an intensity in [0, 1]: ``min(count / s, 1) ** gamma`` where the
scale ``s`` is a high percentile (99.5 by default) of the *nonzero* counts of all frames
together (at least 1 for integer counts; any positive value for floats), so one hot pixel
cannot darken the rest and every frame of a sample shares a scale.
The intensity blends the background towards the polarity's colour; where both polarities fire
the two blends add up (towards white on black).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import OptionError

__all__ = ["BACKGROUNDS", "PALETTES", "contrast_scale", "default_scale", "frames_to_rgb", "grid_image", "save_gif",
           "save_grid_png"]

Background = Literal["black", "white"]
RGB = tuple[int, int, int]

# Per background: ON, OFF, merged-polarity colour, background, grid separator, label text.
PALETTES: dict[str, dict[str, RGB]] = {
    "black": {"on": (255, 80, 40), "off": (40, 160, 255), "merged": (255, 255, 255), "bg": (0, 0, 0),
              "sep": (70, 70, 70), "text": (200, 200, 200)},
    "white": {"on": (215, 30, 30), "off": (20, 80, 220), "merged": (0, 0, 0), "bg": (255, 255, 255),
              "sep": (170, 170, 170), "text": (90, 90, 90)},
}  # fmt: skip
BACKGROUNDS = tuple(PALETTES)
TILE_TARGET = 256  # pixels along a tile's longer side when the scale is automatic
BAR = 3  # height of the GIF progress bar, in output pixels


def _check_frames(frames: np.ndarray) -> np.ndarray:
    f = np.asarray(frames)
    if f.ndim != 4 or f.shape[1] not in (1, 2):
        raise OptionError(f"frames must be [T, P, H, W] with P in (1, 2), got shape {f.shape}")
    if f.dtype.kind not in "biuf":
        raise OptionError(f"frames must be numeric counts, got dtype {f.dtype}")
    return f


def contrast_scale(frames: np.ndarray, percentile: float = 99.5) -> float:
    """The count that maps to full colour: ``percentile`` of the nonzero counts (at least 1).

    Parameters
    ----------
    frames
        Counts of any shape.
    percentile
        In (0, 100]; 100 is the plain maximum (not robust to hot pixels).
    """
    if not 0 < percentile <= 100:
        raise OptionError(f"percentile must be in (0, 100], got {percentile}")
    a = np.asarray(frames)
    nz = a[a > 0]
    if nz.size == 0:
        return 1.0
    value = float(np.percentile(nz.astype(np.float64), percentile))
    # integer counts: at least 1, so a sparse sample is not blown up; floats (time surfaces,
    # averaged histograms) may all be below 1 and keep their own scale
    return max(1.0, value) if a.dtype.kind in "biu" else value


def _split_signed(f: np.ndarray) -> np.ndarray:
    """A one-channel signed grid (a voxel grid) as two channels: OFF = negative part, ON = positive part."""
    if f.shape[1] == 1 and f.dtype.kind in "if" and bool((f < 0).any()):
        return np.concatenate([np.maximum(-f, 0), np.maximum(f, 0)], axis=1)
    return f


def frames_to_rgb(
    frames: np.ndarray,
    *,
    background: Background = "black",
    percentile: float = 99.5,
    gamma: float = 0.5,
    scale: float | None = None,
) -> np.ndarray:
    """Colour count frames: ON in one colour, OFF in another, on a black or white background.

    Parameters
    ----------
    frames
        ``[T, P, H, W]`` counts or floats; channel 0 = OFF, 1 = ON (``P == 1``: one neutral colour,
        or ON/OFF colours for the positive/negative values of a signed grid).
    background
        ``"black"`` (ON orange-red, OFF sky blue) or ``"white"`` (ON red, OFF blue).
    percentile
        Contrast: this percentile of the nonzero counts is full colour (robust to hot pixels).
    gamma
        Applied to the intensity; below 1 lifts the many pixels with 1-2 events.
    scale
        Use this count as full colour instead of the percentile (e.g. to compare samples).

    Returns
    -------
    numpy.ndarray
        ``[T, H, W, 3]`` uint8.
    """
    f = _split_signed(_check_frames(frames))
    pal = PALETTES[_background(background)]
    s = contrast_scale(f, percentile) if scale is None else float(scale)
    if s <= 0:
        raise OptionError(f"scale must be positive, got {scale}")
    level = np.clip(f.astype(np.float32) / np.float32(s), 0.0, 1.0) ** np.float32(gamma)  # [T, P, H, W]
    bg = np.array(pal["bg"], dtype=np.float32)
    colours = [pal["merged"]] if f.shape[1] == 1 else [pal["off"], pal["on"]]
    out = np.broadcast_to(bg, (f.shape[0], f.shape[2], f.shape[3], 3)).copy()
    for c, colour in enumerate(colours):
        out += level[:, c, :, :, None] * (np.array(colour, dtype=np.float32) - bg)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def default_scale(height: int, width: int) -> int:
    """Integer upscaling that makes a tile's longer side about 256 pixels (at least 1)."""
    return max(1, round(TILE_TARGET / max(1, height, width)))


def grid_image(
    rgb: np.ndarray,
    *,
    cols: int | None = None,
    scale: int = 1,
    labels: bool | Sequence[str] = True,
    background: Background = "black",
    gap: int = 2,
):
    """Tile ``[T, H, W, 3]`` uint8 images into one Pillow image, ``cols`` per row.

    ``labels``: True writes each tile's index in its corner, a sequence gives the texts, False none.
    """
    from PIL import Image, ImageDraw

    rgb = np.asarray(rgb)
    if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise OptionError(f"expected [T, H, W, 3] uint8 images, got {rgb.shape} {rgb.dtype}")
    t, h, w, _ = rgb.shape
    pal = PALETTES[_background(background)]
    cols = max(1, min(int(cols), max(t, 1))) if cols else max(1, math.ceil(math.sqrt(t)))
    rows = max(1, math.ceil(t / cols))
    th, tw = h * scale, w * scale
    canvas = np.empty((rows * th + (rows + 1) * gap, cols * tw + (cols + 1) * gap, 3), dtype=np.uint8)
    canvas[:] = pal["sep"]
    for i in range(t):
        r, c = divmod(i, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        canvas[y : y + th, x : x + tw] = _upscale(rgb[i], scale)
    for i in range(t, rows * cols):  # empty cells of the last row: plain background
        r, c = divmod(i, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        canvas[y : y + th, x : x + tw] = pal["bg"]
    img = Image.fromarray(canvas, "RGB")
    texts = _labels(labels, t)
    if texts and min(th, tw) >= 16:  # no room for text on tiny tiles
        draw = ImageDraw.Draw(img)
        for i, text in enumerate(texts):
            r, c = divmod(i, cols)
            draw.text((gap + c * (tw + gap) + 3, gap + r * (th + gap) + 2), text, fill=pal["text"])
    return img


def save_grid_png(
    frames: np.ndarray,
    path: str | os.PathLike[str],
    *,
    cols: int | None = None,
    scale: int | None = None,
    labels: bool | Sequence[str] = True,
    background: Background = "black",
    percentile: float = 99.5,
    gamma: float = 0.5,
) -> Path:
    """Write the T frames of ``[T, P, H, W]`` counts as one PNG grid.

    Parameters
    ----------
    frames
        Counts (see :func:`frames_to_rgb`).
    path
        The PNG file (parent folders are created).
    cols
        Tiles per row (default ``ceil(sqrt(T))``).
    scale
        Integer nearest-neighbour upscaling per tile (default: tiles about 256 px).
    labels
        Frame indices in the tile corners (True), custom texts, or none (False).
    background, percentile, gamma
        As :func:`frames_to_rgb`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    f = _check_frames(frames)
    scale = _scale(scale, f)
    rgb = frames_to_rgb(f, background=background, percentile=percentile, gamma=gamma)
    img = grid_image(rgb, cols=cols, scale=scale, labels=labels, background=background)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, format="PNG", optimize=True)
    return out


def save_gif(
    frames: np.ndarray,
    path: str | os.PathLike[str],
    *,
    fps: float = 8.0,
    scale: int | None = None,
    loop: int = 0,
    background: Background = "black",
    percentile: float = 99.5,
    gamma: float = 0.5,
    progress: bool = True,
) -> Path:
    """Write ``[T, P, H, W]`` counts as an animated GIF, one GIF frame per frame.

    Parameters
    ----------
    frames
        Counts (see :func:`frames_to_rgb`); T >= 1.
    path
        The GIF file (parent folders are created).
    fps
        Frames per second (GIF delays are whole 10 ms; most viewers clamp very short ones).
    scale
        Integer nearest-neighbour upscaling (default: about 256 px along the longer side).
    loop
        0 loops forever, n plays n + 1 times.
    background, percentile, gamma
        As :func:`frames_to_rgb`.
    progress
        Draw a thin bar under the picture showing the frame's position. It also keeps identical
        consecutive frames (empty ones, say) apart: GIF writers merge those into one.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from PIL import Image

    f = _check_frames(frames)
    if f.shape[0] == 0:
        raise OptionError("no frames to animate (T == 0)")
    if fps <= 0:
        raise OptionError(f"fps must be positive, got {fps}")
    scale = _scale(scale, f)
    pal = PALETTES[_background(background)]
    rgb = frames_to_rgb(f, background=background, percentile=percentile, gamma=gamma)
    t, h, w, _ = rgb.shape
    images = []
    for i in range(t):
        tile = _upscale(rgb[i], scale)
        if progress:
            bar = np.empty((BAR, tile.shape[1], 3), dtype=np.uint8)
            bar[:] = pal["sep"]
            bar[:, : max(1, round(tile.shape[1] * (i + 1) / t))] = pal["text"]
            tile = np.concatenate([tile, bar], axis=0)
        images.append(Image.fromarray(tile, "RGB"))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=max(20, round(1000 / fps)),
                   loop=loop, disposal=1)  # fmt: skip
    return out


# -- helpers ---------------------------------------------------------------------------------
def _background(background: str) -> str:
    if background not in PALETTES:
        raise OptionError(f"background must be one of {list(PALETTES)}, got {background!r}")
    return background


def _scale(scale: int | None, f: np.ndarray) -> int:
    if scale is None:
        return default_scale(f.shape[2], f.shape[3])
    if int(scale) != scale or scale < 1:
        raise OptionError(f"scale must be a positive integer, got {scale}")
    return int(scale)


def _upscale(img: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return img
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


def _labels(labels: bool | Sequence[str], t: int) -> list[str]:
    if labels is True:
        return [str(i) for i in range(t)]
    if labels is False or labels is None:
        return []
    texts = [str(s) for s in labels]
    if len(texts) != t:
        raise OptionError(f"got {len(texts)} labels for {t} frames")
    return texts
