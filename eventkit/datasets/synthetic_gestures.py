"""synthetic-gestures: a seeded, learnable dataset in DVS128 Gesture's exact on-disk format.

It is the embedded default dataset: the demo, the tests and the benchmarks run on it when no real
dataset is present. The layout is that of IBM's extracted ``DvsGesture.tar.gz``::

    <out>/DvsGesture/userNN_<lighting>.aedat          AEDAT 3.1 (polarity packets)
    <out>/DvsGesture/userNN_<lighting>_labels.csv     class,startTime_usec,endTime_usec (class 1..11)
    <out>/DvsGesture/trials_to_train.txt              one recording file name per line
    <out>/DvsGesture/trials_to_test.txt
    <out>/gesture_mapping.csv                         action,label

Each of the 11 classes is a distinct motion of one or two "hands" (discs on a 128 x 128
sensor): a clap, a wave on either side, arm circles in both directions on either side, an arm
roll, air drums, air guitar and a random walk. A moving disc fires ON events along its leading
edge and OFF events along its trailing edge, as a DVS does for a bright object on a dark
background, so the direction of motion is visible in every frame and a small network can learn
the classes. Users differ in position, size and speed, lighting in noise level, all drawn from
the seed: the same arguments give the same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..events import EventArray, make_events
from ..errors import OptionError

__all__ = ["CLASSES", "LIGHTINGS", "SyntheticGesturesConfig", "generate_synthetic_gestures", "recording_events"]

CLASSES = (
    "hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
    "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise",
    "arm_roll", "air_drums", "air_guitar", "other_gestures",
)
LIGHTINGS = ("fluorescent", "fluorescent_led", "lab", "led", "natural")
SENSOR = 128


@dataclass(frozen=True)
class SyntheticGesturesConfig:
    """Size and seed of a synthetic-gestures dataset.

    Attributes
    ----------
    train_users, test_users
        Number of users in each split (users are numbered from 01; test users follow train users).
    lightings_per_user
        Recordings per user, one per lighting condition (at most 5).
    gesture_us
        Length of one gesture in microseconds.
    gap_us
        Idle time between gestures.
    rate
        Events per second during a gesture (idle periods get 5 % of it).
    seed
        Seed of everything random.
    """

    train_users: int = 6
    test_users: int = 2
    lightings_per_user: int = 2
    gesture_us: int = 1_500_000
    gap_us: int = 300_000
    rate: float = 40_000.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.train_users < 1 or self.test_users < 1:
            raise OptionError("train_users and test_users must be >= 1")
        if not 1 <= self.lightings_per_user <= len(LIGHTINGS):
            raise OptionError(f"lightings_per_user must be in 1..{len(LIGHTINGS)}")
        if self.gesture_us < 10_000 or self.gap_us < 0 or self.rate <= 0:
            raise OptionError("gesture_us >= 10000, gap_us >= 0 and rate > 0 are required")

    def trials(self) -> tuple[list[str], list[str]]:
        """Recording names (without suffix) of the train and test splits."""
        def names(users: range) -> list[str]:
            return [f"user{u:02d}_{LIGHTINGS[k]}" for u in users for k in range(self.lightings_per_user)]

        n = self.train_users
        return names(range(1, n + 1)), names(range(n + 1, n + self.test_users + 1))


@dataclass(frozen=True)
class _Style:
    """How one user performs one gesture: where, how big, how fast."""

    cx: float
    cy: float
    amp: float
    w: float
    radius: float
    walk: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Style:
        walk = rng.normal(0, 1.0, size=(2, 64)).cumsum(axis=1)
        return cls(
            cx=64 + rng.normal(0, 4), cy=64 + rng.normal(0, 4), amp=rng.uniform(14, 20),
            w=2 * np.pi * rng.uniform(1.6, 2.4),  # 1.6-2.4 cycles per gesture
            radius=rng.uniform(5, 8), walk=walk - walk.mean(axis=1, keepdims=True),
        )


def _tracks(cls: int, s: np.ndarray, st: _Style) -> list[tuple[np.ndarray, np.ndarray]]:
    """Centre positions (x, y) of the hands for class ``cls`` (0-based) at phases ``s`` in [0, 1)."""
    cx, cy, amp, w = st.cx, st.cy, st.amp, st.w
    sin, cos = np.sin(w * s), np.cos(w * s)
    right, left = cx + 28, cx - 28
    if cls == 0:  # clap: two hands meet in the middle
        d = 8 + amp * (0.5 + 0.5 * cos)
        return [(cx - d, cy + 0 * s), (cx + d, cy + 0 * s)]
    if cls == 1:  # right hand wave
        return [(right + amp * sin, cy - 20 + 0 * s)]
    if cls == 2:
        return [(left + amp * sin, cy - 20 + 0 * s)]
    if cls in (3, 4, 5, 6):  # arm circles; image y grows downwards, so clockwise is (+cos, +sin)
        x0 = right if cls in (3, 4) else left
        direction = 1.0 if cls in (3, 5) else -1.0
        return [(x0 + amp * cos, cy + direction * amp * sin)]
    if cls == 7:  # arm roll: two hands orbiting each other
        r = 0.6 * amp
        return [(cx + r * cos, cy + r * sin), (cx - r * cos, cy - r * sin)]
    if cls == 8:  # air drums: hands beating up and down in antiphase
        return [(cx - 22 + 0 * s, cy + amp * sin), (cx + 22 + 0 * s, cy - amp * sin)]
    if cls == 9:  # air guitar: strumming hand low on the right, fretting hand still on the left
        return [(cx + 18 + 0.3 * amp * sin, cy + 18 + amp * np.sin(2 * w * s)), (cx - 30 + 0 * s, cy - 8 + 0 * s)]
    # other: a smooth random walk
    grid = np.linspace(0, 1, st.walk.shape[1])
    return [(cx + 2.0 * np.interp(s, grid, st.walk[0]), cy + 2.0 * np.interp(s, grid, st.walk[1]))]


def _gesture(rng: np.random.Generator, style: _Style, cls: int, t0: int, dur: int, rate: float):
    n = rng.poisson(rate * dur / 1e6)
    t = np.sort(rng.integers(t0, t0 + dur, n))
    s = (t - t0) / dur
    tracks = _tracks(cls, s, style)
    hand = rng.integers(0, len(tracks), n)
    radius = style.radius
    eps = 1e-3
    xs = np.empty(n)
    ys = np.empty(n)
    p = np.empty(n, dtype=np.uint8)
    for h, (tx, ty) in enumerate(tracks):
        sel = hand == h
        later = _tracks(cls, s[sel] + eps, style)[h]
        vx, vy = later[0] - tx[sel], later[1] - ty[sel]
        speed = np.hypot(vx, vy) + 1e-9
        ux, uy = vx / speed, vy / speed
        # a point on the disc's rim; the half facing the motion brightens (ON), the other darkens (OFF)
        ang = rng.uniform(0, 2 * np.pi, sel.sum())
        ex, ey = np.cos(ang), np.sin(ang)
        facing = ex * ux + ey * uy
        p[sel] = (facing > 0).astype(np.uint8)
        r = radius + rng.normal(0, 0.8, sel.sum())
        xs[sel] = tx[sel] + r * ex
        ys[sel] = ty[sel] + r * ey
    return t, xs, ys, p


def recording_events(cfg: SyntheticGesturesConfig, name: str) -> tuple[EventArray, list[tuple[int, int, int]]]:
    """Events and label rows ``(class 1..11, start_us, end_us)`` of one recording.

    Every recording holds each of the 11 gestures once, in a shuffled order.
    """
    user_id = int(name[4:6])
    lighting = LIGHTINGS.index(name[7:])
    rng = np.random.default_rng([cfg.seed, user_id, lighting])
    noise_level = (0.02, 0.04, 0.03, 0.05, 0.08)[lighting]
    order = rng.permutation(len(CLASSES))
    t_cursor = int(rng.integers(100_000, 400_000))
    cols: list[tuple[np.ndarray, ...]] = []
    labels: list[tuple[int, int, int]] = []
    for cls in order:
        style = _Style.draw(np.random.default_rng([cfg.seed, user_id, 1000 + int(cls)]))
        t, x, y, p = _gesture(rng, style, int(cls), t_cursor, cfg.gesture_us, cfg.rate)
        cols.append((t, x, y, p))
        labels.append((int(cls) + 1, t_cursor, t_cursor + cfg.gesture_us))
        t_cursor += cfg.gesture_us + cfg.gap_us
    end = t_cursor
    n_noise = rng.poisson(cfg.rate * noise_level * end / 1e6 + cfg.rate * 0.05 * cfg.gap_us * len(CLASSES) / 1e6)
    cols.append((
        rng.integers(0, end, n_noise), rng.uniform(0, SENSOR, n_noise), rng.uniform(0, SENSOR, n_noise),
        rng.integers(0, 2, n_noise).astype(np.uint8),
    ))
    t = np.concatenate([c[0] for c in cols]).astype(np.int64)
    x = np.clip(np.rint(np.concatenate([c[1] for c in cols])), 0, SENSOR - 1).astype(np.uint16)
    y = np.clip(np.rint(np.concatenate([c[2] for c in cols])), 0, SENSOR - 1).astype(np.uint16)
    p = np.concatenate([c[3] for c in cols]).astype(np.uint8)
    order_t = np.argsort(t, kind="stable")
    return make_events(t[order_t], x[order_t], y[order_t], p[order_t]), labels


def generate_synthetic_gestures(out_dir: str | os.PathLike[str], cfg: SyntheticGesturesConfig | None = None) -> Path:
    """Write a synthetic-gestures dataset under ``out_dir`` (DVS128 Gesture's extracted layout).

    Parameters
    ----------
    out_dir
        Target folder; ``out_dir/DvsGesture`` and ``out_dir/gesture_mapping.csv`` are written.
    cfg
        Size and seed; the defaults give 16 recordings, 176 samples, about 12 MB.

    Returns
    -------
    Path
        ``out_dir``.
    """
    from ..io.aedat31_writer import write_aedat31

    cfg = cfg or SyntheticGesturesConfig()
    out = Path(out_dir)
    gdir = out / "DvsGesture"
    gdir.mkdir(parents=True, exist_ok=True)
    train, test = cfg.trials()
    for name in train + test:
        events, labels = recording_events(cfg, name)
        write_aedat31(gdir / f"{name}.aedat", events, source="DVS128")
        rows = "".join(f"{c},{a},{b}\n" for c, a, b in labels)
        (gdir / f"{name}_labels.csv").write_text("class,startTime_usec,endTime_usec\n" + rows)
    (gdir / "trials_to_train.txt").write_text("".join(f"{n}.aedat\n" for n in train))
    (gdir / "trials_to_test.txt").write_text("".join(f"{n}.aedat\n" for n in test))
    (out / "gesture_mapping.csv").write_text("action,label\n" + "".join(f"{c},{i + 1}\n" for i, c in enumerate(CLASSES)))
    return out
