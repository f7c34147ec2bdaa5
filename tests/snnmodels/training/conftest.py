"""Tiny learnable frame stores for the training tests (written with eventkit's store writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventkit.store.writer import create_store

CLASSES = ["up", "down", "left", "right"]
STEPS = {0: (-2, 0), 1: (2, 0), 2: (0, -2), 3: (0, 2)}  # (dy, dx) per frame


def _sample(rng: np.random.Generator, label: int, T: int, size: int = 16) -> np.ndarray:
    """A blob moving in the class' direction (ON at the leading side, OFF behind) plus noise."""
    frames = rng.poisson(0.05, size=(T, 2, size, size)).astype(np.uint16)
    dy, dx = STEPS[label]
    y, x = size // 2 - dy * T // 4 + rng.integers(-1, 2), size // 2 - dx * T // 4 + rng.integers(-1, 2)
    for t in range(T):
        yy, xx = int(np.clip(y + dy * t, 1, size - 2)), int(np.clip(x + dx * t, 1, size - 2))
        frames[t, 1, yy - 1 : yy + 2, xx - 1 : xx + 2] += 3
        py, px = int(np.clip(yy - dy, 0, size - 1)), int(np.clip(xx - dx, 0, size - 1))
        frames[t, 0, py, px] += 3
    return frames


def make_store(path: Path, *, n_train: int = 48, n_test: int = 24, T: int = 4, variable: bool = False,
               seed: int = 0) -> Path:
    """Write a 4-class 16x16 store; ``variable`` gives random lengths 2..T (a duration-style store)."""
    rng = np.random.default_rng(seed)
    params = {"duration": 1000} if variable else {"frames": T, "split_by": "time"}
    w = create_store(path, splits={"train": n_train, "test": n_test}, t_max=T, sensor=(16, 16, 2),
                     params=params, classes=CLASSES, dataset="tiny-moving-blobs", manifest_version=1,
                     lock=False)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            label = i % 4
            length = int(rng.integers(2, T + 1)) if variable else T
            w.write_sample(split, i, _sample(rng, label, T)[:length], label, f"{split}{i}")
    w.finalize()
    w.close()
    return path


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("stores") / "frames-T4-time.zarr")


@pytest.fixture(scope="session")
def tiny_variable_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("stores") / "frames-D1000.zarr", T=6, variable=True, n_train=16,
                      n_test=8)
