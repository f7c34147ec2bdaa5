"""DVS-like synthetic count frames for the store benchmark (plain NumPy, no eventkit.frames).

A "hand" blob moves along a circle while a little uniform noise fires everywhere, which gives the
spatially clustered, mostly-zero uint16 counts that real DVS128 Gesture frames have.
"""

from __future__ import annotations

import numpy as np


def dvs_like_frames(
    rng: np.random.Generator, *, t: int, height: int, width: int, n_events: int, noise: float = 0.05
) -> np.ndarray:
    """Return ``[t, 2, height, width]`` uint16 counts built from ``n_events`` synthetic events."""
    n_noise = int(n_events * noise)
    n_blob = n_events - n_noise
    phase = np.sort(rng.random(n_blob))  # event time in [0, 1)
    angle = 2 * np.pi * (phase + rng.random())
    r = 0.25 * min(height, width)
    sigma = 0.12 * min(height, width)
    cx = width / 2 + r * np.cos(angle) + rng.normal(0, sigma, n_blob)
    cy = height / 2 + r * np.sin(angle) + rng.normal(0, sigma, n_blob)
    x = np.concatenate([cx, rng.random(n_noise) * width]).astype(np.int64).clip(0, width - 1)
    y = np.concatenate([cy, rng.random(n_noise) * height]).astype(np.int64).clip(0, height - 1)
    p = rng.integers(0, 2, n_events)
    f = np.minimum((np.concatenate([phase, rng.random(n_noise)]) * t).astype(np.int64), t - 1)
    flat = ((f * 2 + p) * height + y) * width + x
    counts = np.bincount(flat, minlength=t * 2 * height * width)
    return np.minimum(counts, np.iinfo(np.uint16).max).astype(np.uint16).reshape(t, 2, height, width)
