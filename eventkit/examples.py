"""Small seeded example recordings, generated on the spot (no download needed)."""

from __future__ import annotations

import numpy as np

from ._renamed import renamed_keyword
from .events import EventArray, SensorSize, make_events


@renamed_keyword("sensor_size", "sensor")
def moving_bar_events(
    seconds: float = 2.0,
    sensor: SensorSize | tuple[int, int] | tuple[int, int, int] = (128, 128),
    *,
    rate: float = 200_000.0,
    noise_fraction: float = 0.05,
    seed: int = 0,
) -> EventArray:
    """Events of a bright vertical bar sweeping left to right and back.

    The leading edge emits ON events, the trailing edge OFF events (a DVS pixel sees the
    brightness rise, then fall); a small fraction of uniform noise is mixed in.

    Parameters
    ----------
    seconds
        Recording length.
    sensor
        ``(width, height[, polarities])``.
    rate
        Mean event rate in events per second.
    noise_fraction
        Fraction of events that are uniform background noise.
    seed
        Seed of the random generator; the same seed gives the same events.

    Returns
    -------
    EventArray
        Time-sorted events starting at t = 0.
    """
    s = SensorSize.of(sensor)
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.sort(rng.integers(0, int(seconds * 1e6), n)).astype(np.int64)
    period = 1e6  # one sweep per second, alternating direction
    phase = (t % int(period)) / period
    forward = (t // int(period)) % 2 == 0
    centre = np.where(forward, phase, 1.0 - phase) * (s.width - 1)
    bar = max(2, s.width // 16)
    leading = rng.random(n) < 0.5
    sign = np.where(forward, 1.0, -1.0)
    x = centre + np.where(leading, sign, -sign) * bar / 2 + rng.normal(0, 0.7, n)
    y = rng.integers(0, s.height, n).astype(np.float64)
    p = leading.astype(np.uint8)
    noise = rng.random(n) < noise_fraction
    x[noise] = rng.integers(0, s.width, int(noise.sum()))
    p[noise] = rng.integers(0, 2, int(noise.sum()))
    x = np.clip(np.rint(x), 0, s.width - 1).astype(np.uint16)
    return make_events(t, x, y.astype(np.uint16), p)
