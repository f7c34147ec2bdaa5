"""Image motion for the synthetic sensors: translation paths and sub-pixel shifts.

A *path* is a sequence of waypoints ``(dx, dy)`` in output pixels: the displacement of the image
on the sensor (``x`` to the right, ``y`` down). The image moves on straight lines between
consecutive waypoints at constant speed, one *segment* per pair of waypoints.

Sub-pixel translation is bilinear interpolation. For a displacement ``(dx, dy)`` the shifted image is

.. math::

    I_d(x, y) = I(x - d_x, y - d_y), \\qquad
    I(u, v) = (1 - f_v)\\,[(1 - f_u) I_{v_0 u_0} + f_u I_{v_0 u_1}]
            + f_v\\,[(1 - f_u) I_{v_1 u_0} + f_u I_{v_1 u_1}]

with ``u0 = floor(u)``, ``u1 = u0 + 1``, ``f_u = u - u0`` (same for ``v``). Samples outside the
image take the nearest edge pixel (``border="edge"``, no artificial border edge) or 0
(``border="zero"``, the image moves over a black background as on a monitor). Because the
displacement is uniform, ``f_u`` and ``f_v`` are scalars and the shift is two vectorised
gathers per axis.

The default saccade path approximates the three micro-saccades with which N-MNIST and
N-Caltech101 were recorded (Orchard, Jayawant, Cohen & Thakor, "Converting static image datasets
to spiking neuromorphic datasets using saccades", Front. Neurosci. 9:437, 2015): an ATIS on a
pan-tilt unit made three ~100 ms movements tracing a triangle and returning to the start. The
paper gives the motion in degrees of pan/tilt, not pixels; :data:`NMNIST_SACCADES` is an
isosceles triangle of ``amplitude`` pixels (down-right, left, up-right), which a user can replace
with any path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..errors import OptionError

import numpy as np

__all__ = [
    "NMNIST_SACCADES",
    "Waypoints",
    "as_path",
    "resample_path",
    "saccade_triangle",
    "shift_image",
]

Waypoints = tuple[tuple[float, float], ...]


def saccade_triangle(amplitude: float = 3.0) -> Waypoints:
    """The three-saccade triangle: ``(0,0) -> (a/2, a) -> (-a/2, a) -> (0,0)`` in pixels.

    Parameters
    ----------
    amplitude
        Height ``a`` of the triangle and length of its horizontal side, in output pixels.
    """
    a = float(amplitude)
    return ((0.0, 0.0), (a / 2, a), (-a / 2, a), (0.0, 0.0))


NMNIST_SACCADES: Waypoints = saccade_triangle(3.0)


def as_path(path: Sequence[Sequence[float]]) -> Waypoints:
    """Validate and normalise a path: at least two ``(dx, dy)`` waypoints of finite floats."""
    out = tuple((float(p[0]), float(p[1])) for p in path)
    if len(out) < 2 or any(len(p) != 2 for p in path):
        raise OptionError(f"a path needs at least two (dx, dy) waypoints, got {path!r}")
    if not np.all(np.isfinite(np.asarray(out))):
        raise OptionError(f"path waypoints must be finite, got {path!r}")
    return out


def resample_path(path: Waypoints, n: int) -> np.ndarray:
    """``n`` points equally spaced along the path's length (first and last waypoints included).

    Returns
    -------
    numpy.ndarray
        ``[n, 2]`` float64 ``(dx, dy)``. A path of zero length gives ``n`` copies of its start.
    """
    pts = np.asarray(path, dtype=np.float64)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] == 0:
        return np.repeat(pts[:1], n, axis=0)
    s = np.linspace(0.0, cum[-1], n)
    return np.stack([np.interp(s, cum, pts[:, 0]), np.interp(s, cum, pts[:, 1])], axis=1)


def _axis_taps(n: int, d: float, border: str) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
    """Source indices i0, i1, the weight of i1, and (zero border) the validity masks."""
    src = np.arange(n, dtype=np.float64) - d
    base = np.floor(src[0])
    f = float(src[0] - base)
    i0 = np.arange(n, dtype=np.int64) + int(base)
    i1 = i0 + 1
    if border == "zero":
        valid = np.stack([(i0 >= 0) & (i0 < n), (i1 >= 0) & (i1 < n)]).astype(np.float32)
    else:
        valid = None
    return np.clip(i0, 0, n - 1), np.clip(i1, 0, n - 1), f, valid


def shift_image(
    image: np.ndarray, dx: float, dy: float, border: Literal["edge", "zero"] = "edge"
) -> np.ndarray:
    """Translate a 2-D image by ``(dx, dy)`` pixels with bilinear interpolation.

    Parameters
    ----------
    image
        ``[H, W]`` float array.
    dx, dy
        Displacement (right, down), any real numbers.
    border
        ``"edge"`` (replicate the nearest edge pixel) or ``"zero"`` (black outside the image).

    Returns
    -------
    numpy.ndarray
        ``[H, W]`` float32, ``out[y, x] = image(x - dx, y - dy)``. Integer shifts are exact copies.
    """
    if border not in ("edge", "zero"):
        raise OptionError(f"border must be 'edge' or 'zero', got {border!r}")
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape
    x0, x1, fx, vx = _axis_taps(w, dx, border)
    y0, y1, fy, vy = _axis_taps(h, dy, border)
    a, b = img[:, x0], img[:, x1]
    if vx is not None:
        a = a * vx[0]
        b = b * vx[1]
    cols = a if fx == 0 else (1 - fx) * a + fx * b
    c, d = cols[y0], cols[y1]
    if vy is not None:
        c = c * vy[0][:, None]
        d = d * vy[1][:, None]
    out = c if fy == 0 else (1 - fy) * c + fy * d
    return np.ascontiguousarray(out, dtype=np.float32)
