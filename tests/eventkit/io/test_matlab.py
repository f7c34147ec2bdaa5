"""MATLAB .mat decoder: ASL-DVS columns, ST-MNIST spiketrain, MAT 7.3, refusals."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

import eventkit
from eventkit import EVENT_DTYPE, DecodeError
from eventkit.io import FORMATS
from eventkit.io.matlab import FORMAT, read_matlab


def _asl(n: int = 6, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "ts": np.sort(rng.integers(0, 10**6, n)).astype(dtype).reshape(-1, 1),  # column vectors, like MATLAB
        "x": rng.integers(0, 240, n).astype(dtype).reshape(-1, 1),
        "y": rng.integers(0, 180, n).astype(dtype).reshape(-1, 1),
        "pol": rng.integers(0, 2, n).astype(dtype).reshape(-1, 1),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint8, np.int64])
def test_asl_dvs_raw_values_no_flip(tmp_path, dtype) -> None:
    cols = _asl(dtype=np.float64)
    if dtype is np.uint8:
        cols["ts"] = cols["ts"] % 256
        cols["x"] = cols["x"] % 256
    cols = {k: v.astype(dtype) for k, v in cols.items()}
    path = tmp_path / "a_0001.mat"
    scipy.io.savemat(path, cols)
    ev = read_matlab(path)
    assert ev.dtype == EVENT_DTYPE
    for f, name in zip("txyp", ("ts", "x", "y", "pol")):
        assert ev[f].tolist() == cols[name].reshape(-1).astype(np.int64).tolist()
    assert eventkit.guess_format(path) == "mat"
    assert FORMAT.sensor(path) == (240, 180, 2)


def test_row_vectors_compressed_and_generic_names(tmp_path) -> None:
    cols = {k: v.reshape(1, -1) for k, v in _asl().items()}
    generic = {"t": cols["ts"], "x": cols["x"], "y": cols["y"], "p": cols["pol"] * 2 - 1, "note": np.array(["hi"])}
    scipy.io.savemat(tmp_path / "g.mat", generic, do_compression=True)
    ev = read_matlab(tmp_path / "g.mat")
    assert ev["p"].tolist() == cols["pol"].reshape(-1).astype(int).tolist()
    assert FORMAT.sensor(tmp_path / "g.mat") is None


def test_single_event_and_empty(tmp_path) -> None:
    scipy.io.savemat(tmp_path / "one.mat", {"ts": 7.0, "x": 1.0, "y": 2.0, "pol": 1.0})
    assert read_matlab(tmp_path / "one.mat").tolist() == [(7, 1, 2, 1)]
    scipy.io.savemat(tmp_path / "none.mat", {k: np.zeros((0, 1)) for k in ("ts", "x", "y", "pol")})
    assert read_matlab(tmp_path / "none.mat").shape == (0,)


def _stmnist(n: int = 50, seed: int = 1) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    rng = np.random.default_rng(seed)
    st = np.zeros((101, n))
    taxel = rng.integers(0, 100, n)
    sign = rng.choice([-1.0, 1.0], n)
    st[taxel, np.arange(n)] = sign
    st[100] = np.sort(rng.uniform(0.1, 0.9, n)).round(8)
    expected = [(int(st[100, i] * 1e6), int(taxel[i] % 10), int(taxel[i] // 10), int(sign[i] > 0)) for i in range(n)]
    return st, expected


def test_stmnist_spiketrain(tmp_path) -> None:
    st, expected = _stmnist()
    st[100, 3] = 0.19662648  # 196626.48 us -> truncated to 196626
    expected[3] = (196626, *expected[3][1:])
    scipy.io.savemat(tmp_path / "s.mat", {"spiketrain": st})
    ev = read_matlab(tmp_path / "s.mat")
    assert ev.tolist() == expected
    assert FORMAT.sensor(tmp_path / "s.mat") == (10, 10, 2)


def test_stmnist_truncates_not_rounds(tmp_path) -> None:
    st = np.zeros((101, 2))
    st[5, 0], st[99, 1] = 1, -1
    st[100] = [0.0000019, 0.9999999999]
    scipy.io.savemat(tmp_path / "r.mat", {"spiketrain": st})
    assert read_matlab(tmp_path / "r.mat").tolist() == [(1, 5, 0, 1), (999999, 9, 9, 0)]


def test_stmnist_two_taxels_in_one_column_follow_column_then_taxel_order(tmp_path) -> None:
    st = np.zeros((101, 2))
    st[[40, 7], 0] = [1, -1]
    st[3, 1] = 1
    st[100] = [0.5, 0.6]
    scipy.io.savemat(tmp_path / "two.mat", {"spiketrain": st})
    assert read_matlab(tmp_path / "two.mat").tolist() == [(500000, 7, 0, 0), (500000, 0, 4, 1), (600000, 3, 0, 1)]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda st: st.__setitem__((4, 0), 2.0), r"holds 2\.0 at taxel 4"),
        (lambda st: st.__setitem__((100, 0), np.nan), "time row"),
    ],
)
def test_stmnist_bad_values(tmp_path, mutate, match) -> None:
    st, _ = _stmnist()
    st[4, 0] = 1.0
    mutate(st)
    scipy.io.savemat(tmp_path / "b.mat", {"spiketrain": st})
    with pytest.raises(DecodeError, match=match):
        read_matlab(tmp_path / "b.mat")


def test_stmnist_wrong_shape(tmp_path) -> None:
    scipy.io.savemat(tmp_path / "w.mat", {"spiketrain": np.zeros((100, 5))})
    with pytest.raises(DecodeError, match=r"101 x N"):
        read_matlab(tmp_path / "w.mat")


def test_column_errors(tmp_path) -> None:
    cols = _asl()
    scipy.io.savemat(tmp_path / "m.mat", {k: v for k, v in cols.items() if k != "pol"})
    with pytest.raises(DecodeError, match=r"missing event field\(s\) \['p'\]"):
        read_matlab(tmp_path / "m.mat")
    bad = dict(cols, x=cols["x"] - 1000)
    scipy.io.savemat(tmp_path / "n.mat", bad)
    with pytest.raises(DecodeError, match=r"field 'x' \(stored as 'x'\).*negative"):
        read_matlab(tmp_path / "n.mat")
    bad = dict(cols, ts=cols["ts"] / 3.0)
    scipy.io.savemat(tmp_path / "f.mat", bad)
    with pytest.raises(DecodeError, match=r"field 't' \(stored as 'ts'\).*non-integer"):
        read_matlab(tmp_path / "f.mat")
    bad = dict(cols, y=cols["y"][:3])
    scipy.io.savemat(tmp_path / "l.mat", bad)
    with pytest.raises(DecodeError, match="unequal lengths"):
        read_matlab(tmp_path / "l.mat")
    bad = dict(cols, x=np.zeros((3, 2)))
    scipy.io.savemat(tmp_path / "s.mat", bad)
    with pytest.raises(DecodeError, match=r"'x' has shape \(3, 2\)"):
        read_matlab(tmp_path / "s.mat")
    scipy.io.savemat(tmp_path / "o.mat", {"frames": np.zeros((3, 3))})
    with pytest.raises(DecodeError, match=r"no event variables.*\['frames'\]"):
        read_matlab(tmp_path / "o.mat")


@pytest.mark.parametrize("compress", [False, True])
def test_corrupt_and_truncated(tmp_path, compress) -> None:
    scipy.io.savemat(tmp_path / "ok.mat", _asl(200), do_compression=compress)
    data = (tmp_path / "ok.mat").read_bytes()
    for cut in (0, 50, 128, 200, len(data) // 2, len(data) - 3):
        (tmp_path / "cut.mat").write_bytes(data[:cut])
        with pytest.raises(DecodeError) as err:
            read_matlab(tmp_path / "cut.mat")
        assert err.value.path == str(tmp_path / "cut.mat")
        assert FORMAT.sensor(tmp_path / "cut.mat") in (None, (240, 180, 2))  # never raises
    (tmp_path / "junk.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 200 + b"\xff" * 64)
    with pytest.raises(DecodeError):
        read_matlab(tmp_path / "junk.mat")


def _write_v73(path, variables: dict[str, np.ndarray]) -> None:
    """A MAT 7.3 file as MATLAB writes it: a 512-byte text user block, then HDF5 (arrays transposed)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            f.create_dataset(name, data=np.asarray(value).T)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def test_mat_v73(tmp_path) -> None:
    st, expected = _stmnist(20, seed=3)
    _write_v73(tmp_path / "s73.mat", {"spiketrain": st})
    assert eventkit.guess_format(tmp_path / "s73.mat") == "mat"
    assert read_matlab(tmp_path / "s73.mat").tolist() == expected
    assert FORMAT.sensor(tmp_path / "s73.mat") == (10, 10, 2)
    cols = _asl()
    _write_v73(tmp_path / "a73.mat", cols)
    assert read_matlab(tmp_path / "a73.mat")["x"].tolist() == cols["x"].reshape(-1).astype(int).tolist()


def test_format_description() -> None:
    assert FORMATS["mat"] is FORMAT
    assert FORMAT.title == "MATLAB .mat (ASL-DVS, ST-MNIST)"
    assert FORMAT.suffixes == (".mat",)
    assert FORMAT.sniff(b"MATLAB 5.0 MAT-file, Platform: PCWIN64")
    assert not FORMAT.sniff(b"\x89HDF\r\n\x1a\n")
