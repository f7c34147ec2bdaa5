"""ES-ImageNet pos/neg .npz samples, built with np.savez as the dataset ships them."""

from __future__ import annotations

import numpy as np
import pytest

import eventkit
from eventkit.errors import DecodeError


def _write(path, pos, neg, **extra):
    np.savez(path, pos=np.asarray(pos, dtype=np.float64), neg=np.asarray(neg, dtype=np.float64), **extra)
    return path


def test_columns_polarity_and_step_order(tmp_path) -> None:
    f = _write(tmp_path / "s.npz", pos=[[5, 7, 3], [1, 2, 0]], neg=[[9, 8, 0], [4, 4, 7]])
    assert eventkit.guess_format(f) == "es_imagenet"
    ev = eventkit.read_events(f)
    # sorted by step (stable: pos rows before neg rows within a step), x = col 1, y = col 0
    assert ev.tolist() == [(0, 2, 1, 1), (0, 8, 9, 0), (3, 7, 5, 1), (7, 4, 4, 0)]


def test_empty_sample(tmp_path) -> None:
    ev = eventkit.read_events(_write(tmp_path / "e.npz", pos=np.zeros((0, 3)), neg=np.zeros((0, 3))))
    assert ev.size == 0 and ev.dtype == eventkit.EVENT_DTYPE


@pytest.mark.parametrize("pos", [[[1.5, 2, 0]], [[-1, 2, 0]], [[1, 2]]])
def test_bad_values_are_decode_errors(tmp_path, pos) -> None:
    with pytest.raises(DecodeError):
        eventkit.read_events(_write(tmp_path / "b.npz", pos=pos, neg=np.zeros((0, 3))), format="es_imagenet")


def test_missing_array(tmp_path) -> None:
    f = tmp_path / "m.npz"
    np.savez(f, pos=np.zeros((1, 3)))
    with pytest.raises(DecodeError, match="'neg'"):
        eventkit.read_events(f, format="es_imagenet")


def test_truncated_file(tmp_path) -> None:
    f = _write(tmp_path / "t.npz", pos=np.ones((100, 3)), neg=np.ones((100, 3)))
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(DecodeError):
        eventkit.read_events(f, format="es_imagenet")


def test_plain_spikingjelly_npz_is_not_claimed(tmp_path) -> None:
    f = tmp_path / "sj.npz"
    np.savez(f, t=np.arange(3), x=np.arange(3), y=np.arange(3), p=np.array([0, 1, 0]))
    assert eventkit.guess_format(f) == "npz"
