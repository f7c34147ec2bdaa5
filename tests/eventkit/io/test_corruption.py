"""Truncated and corrupted copies of every real sample: a DecodeError or sane events, nothing else.

Properties checked with hypothesis, for each sample in the shared corpus:

* a copy cut at any byte either raises :class:`DecodeError` (with an offset inside the file) or
  decodes to a prefix of the full decode (a decoder never invents events at a cut);
* a copy with bytes overwritten anywhere (or inside the header) either raises DecodeError or
  yields valid events: the event dtype, p in {0, 1}, coordinates inside the sensor the file's
  header declares (when it declares one);
* no other exception type escapes, and nothing hangs (pytest-timeout guards the module).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventkit
from eventkit.io import FORMATS
from tests.conftest import SAMPLES_DIR, load_expect, sample_names

pytestmark = pytest.mark.timeout(600)

SAMPLES = sample_names()
_FULL: dict[str, tuple[str, np.ndarray, bytes]] = {}


def _full(name: str) -> tuple[str, np.ndarray, bytes]:
    if name not in _FULL:
        path = SAMPLES_DIR / name
        fmt = eventkit.guess_format(path)
        _FULL[name] = (fmt, eventkit.read_events(path, format=fmt), path.read_bytes())
    return _FULL[name]


def _decode(tmp_path, name: str, data: bytes, fmt: str):
    path = tmp_path / f"mutant_{name}"
    path.write_bytes(data)
    try:
        return path, eventkit.read_events(path, format=fmt), None
    except eventkit.DecodeError as err:
        return path, None, err


def _check_error(err: eventkit.DecodeError, path, size: int) -> None:
    assert err.path == str(path)
    assert err.reason
    if err.offset is not None:
        assert 0 <= err.offset <= size, f"offset {err.offset} outside a file of {size} bytes"


def _check_events(ev: np.ndarray, path, fmt: str) -> None:
    assert ev.dtype == eventkit.EVENT_DTYPE and ev.ndim == 1
    if ev.size:
        assert ev["p"].max() <= 1
    spec = FORMATS[fmt]
    sensor = spec.sensor(path) if spec.sensor is not None else None
    if sensor is not None and ev.size:
        assert int(ev["x"].max()) < sensor.width and int(ev["y"].max()) < sensor.height


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@pytest.mark.parametrize("name", SAMPLES)
@SETTINGS
@given(cut=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_truncated_copy_raises_or_decodes_a_prefix(tmp_path, name: str, cut: float) -> None:
    fmt, full, data = _full(name)
    n = int(cut * len(data))
    path, ev, err = _decode(tmp_path, name, data[:n], fmt)
    if err is not None:
        _check_error(err, path, n)
        return
    assert ev.dtype == eventkit.EVENT_DTYPE
    assert ev.size <= full.size
    assert np.array_equal(ev, full[: ev.size]), "a truncated file decoded to events that are not a prefix"


@pytest.mark.parametrize("name", SAMPLES)
@SETTINGS
@given(data=st.data())
def test_corrupted_bytes_raise_or_decode_sanely(tmp_path, name: str, data) -> None:
    fmt, _, raw = _full(name)
    buf = bytearray(raw)
    k = data.draw(st.integers(1, 16), label="bytes changed")
    for _ in range(k):
        i = data.draw(st.integers(0, len(buf) - 1), label="position")
        buf[i] = data.draw(st.integers(0, 255), label="value")
    path, ev, err = _decode(tmp_path, name, bytes(buf), fmt)
    if err is not None:
        _check_error(err, path, len(buf))
    else:
        _check_events(ev, path, fmt)


@pytest.mark.parametrize("name", SAMPLES)
@SETTINGS
@given(data=st.data())
def test_corrupted_header_raises_or_decodes_sanely(tmp_path, name: str, data) -> None:
    fmt, _, raw = _full(name)
    buf = bytearray(raw)
    head = min(len(buf), 1024)
    for _ in range(data.draw(st.integers(1, 8), label="bytes changed")):
        i = data.draw(st.integers(0, head - 1), label="position")
        buf[i] = data.draw(st.integers(0, 255), label="value")
    path, ev, err = _decode(tmp_path, name, bytes(buf), fmt)
    if err is not None:
        _check_error(err, path, len(buf))
    else:
        _check_events(ev, path, fmt)


def test_expectations_match_sample_names() -> None:
    for name in SAMPLES:
        assert load_expect(name)["file"] == name
