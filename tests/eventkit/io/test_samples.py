"""Every real recording in the shared corpus decodes exactly to what the peer decoders produced."""

from __future__ import annotations

import numpy as np
import pytest

import eventkit
from tests.conftest import SAMPLES_DIR, load_expect, rows, sample_names, txyp_digest

SAMPLES = sample_names()


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_decodes_exactly(name: str) -> None:
    exp = load_expect(name)
    ev = eventkit.read_events(SAMPLES_DIR / name)  # format sniffed
    assert ev.dtype == eventkit.EVENT_DTYPE
    assert ev.shape == (exp["event_count"],)
    assert rows(ev[:5]) == exp["first_5_events_txyp"]
    assert rows(ev[-5:] if len(ev) else ev) == exp["last_5_events_txyp"]
    counts = np.bincount(ev["p"], minlength=2)
    assert {str(k): int(v) for k, v in enumerate(counts[:2])} == exp["polarity_counts"]
    assert txyp_digest(ev) == exp["sha256_txyp_int64"]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_events_fit_declared_sensor(name: str) -> None:
    exp = load_expect(name)
    ev = eventkit.read_events(SAMPLES_DIR / name)
    w, h = exp["sensor_size_wh"]
    eventkit.validate_events(ev, (w, h, 2))


def test_corpus_is_present() -> None:
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"shared sample corpus not found at {SAMPLES_DIR}")
    assert len(SAMPLES) >= 12
