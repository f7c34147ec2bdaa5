"""Shared test fixtures: the shared sample corpus (read in place, never copied) and event digests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# The real recordings live beside the checkout (../shared/samples); they are public files under
# their own licences, so tests read them where they are and never copy them into the project.
SAMPLES_DIR = Path(os.environ.get("EVENTKIT_SAMPLES", REPO.parent / "shared" / "samples"))
SHARED_TOOLS = SAMPLES_DIR.parent / "tools"


def sample_names() -> list[str]:
    """Names of the shared sample recordings that have an ``.expect.json`` beside them."""
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p.name[: -len(".expect.json")] for p in SAMPLES_DIR.glob("*.expect.json"))


def load_expect(name: str) -> dict:
    return json.loads((SAMPLES_DIR / f"{name}.expect.json").read_text())


def txyp_digest(events: np.ndarray) -> str:
    """sha256 of t, x, y, p each cast to little-endian int64, concatenated column after column.

    This is the ``hash_definition`` written in every ``.expect.json``.
    """
    cols = [np.asarray(events[k]).astype("<i8") for k in "txyp"]
    return hashlib.sha256(np.concatenate(cols).tobytes()).hexdigest()


def rows(events: np.ndarray) -> list[list[int]]:
    return [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in events]


@pytest.fixture
def samples_dir() -> Path:
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"shared sample corpus not found at {SAMPLES_DIR} (set EVENTKIT_SAMPLES)")
    return SAMPLES_DIR
