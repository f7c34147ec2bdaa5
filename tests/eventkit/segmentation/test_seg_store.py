"""Segmentation stores: per-sample masks next to the frames, in the cache key, read back verified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventkit.errors import OptionError
from eventkit.store import StoreCorruptError, StoreMismatchError, create_store, open_store


def _write(path: Path, masks: bool, rng: np.random.Generator, n: int = 5):
    w = create_store(path, splits={"train": n}, t_max=3, sensor=(7, 5, 2), params={"frames": 3}, classes=["bg", "a", "b"],
                     dataset="toy", samples_per_shard=4, masks=masks)  # fmt: skip
    fr = rng.integers(0, 9, (n, 3, 2, 5, 7)).astype(np.uint16)
    ms = rng.integers(0, 3, (n, 5, 7)).astype(np.uint8)
    ms[:, 0, 0] = 255  # ignore
    for shard in range(w.n_shards("train")):
        rg = w.shard_range("train", shard)
        w.write_shard("train", shard, [(fr[i], 1, f"s{i}", ms[i] if masks else None)[: 4 if masks else 3] for i in rg])
    w.finalize()
    return fr, ms, w.cache_key


def test_roundtrip_and_key(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    fr, ms, key = _write(tmp_path / "seg.zarr", True, rng)
    _, _, plain_key = _write(tmp_path / "plain.zarr", False, np.random.default_rng(0))
    assert key != plain_key  # masks are part of the cache key
    s = open_store(tmp_path / "seg.zarr")
    assert s.has_masks and not open_store(tmp_path / "plain.zarr").has_masks
    sp = s["train"]
    for i in range(5):
        assert np.array_equal(sp.read_mask(i), ms[i]) and np.array_equal(sp[i].frames, fr[i])
    assert sp.masks.shape == (5, 5, 7) and sp.verify_sample(4) is None
    with pytest.raises(KeyError, match="not a segmentation store"):
        open_store(tmp_path / "plain.zarr")["train"].read_mask(0)
    # the same path asked for without masks is another store
    with pytest.raises(StoreMismatchError):
        create_store(tmp_path / "seg.zarr", splits={"train": 5}, t_max=3, sensor=(7, 5, 2), params={"frames": 3},
                     classes=["bg", "a", "b"], dataset="toy", samples_per_shard=4)  # fmt: skip


def test_masks_required_and_checked(tmp_path: Path) -> None:
    w = create_store(tmp_path / "s.zarr", splits={"train": 2}, t_max=1, sensor=(4, 3, 2), params={}, classes=["a"],
                     dataset="toy", masks=True)  # fmt: skip
    f = np.zeros((1, 2, 3, 4), np.uint16)
    with pytest.raises(OptionError, match="needs a mask"):
        w.write_sample("train", 0, f, 0, "x")
    with pytest.raises(OptionError, match="needs a mask"):
        w.write_sample("train", 0, f, 0, "x", np.zeros((4, 3), np.uint8))  # transposed
    with pytest.raises(OptionError, match="needs a mask"):
        w.write_sample("train", 0, f, 0, "x", np.full((3, 4), 300))
    w.close()
    p = create_store(tmp_path / "p.zarr", splits={"train": 1}, t_max=1, sensor=(4, 3, 2), params={}, classes=["a"], dataset="toy")
    with pytest.raises(OptionError, match="holds no masks"):
        p.write_sample("train", 0, f, 0, "x", np.zeros((3, 4), np.uint8))
    p.close()


def test_damaged_mask_chunk_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "seg.zarr", True, np.random.default_rng(1))
    shard = tmp_path / "seg.zarr" / "train" / "mask" / "c" / "0" / "0" / "0"
    data = bytearray(shard.read_bytes())
    data[5] ^= 0xFF
    shard.write_bytes(bytes(data))
    sp = open_store(tmp_path / "seg.zarr")["train"]
    with pytest.raises(StoreCorruptError):
        sp.read_mask(0)
    assert sp.verify_sample(0) is not None


def test_inspect_reports_mask_classes_and_ignored_share(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from eventkit.store.inspect import inspect_store
    from eventkit_cli.eventkit_cli import main

    _, ms, _ = _write(tmp_path / "seg.zarr", True, np.random.default_rng(1))
    _write(tmp_path / "plain.zarr", False, np.random.default_rng(1))
    m = inspect_store(tmp_path / "seg.zarr")["masks"]
    count = {v: int((ms == v).sum()) for v in (0, 1, 2, 255)}  # independent count over all masks
    assert m["classes"] == 3 and m["sampled"] == m["of"] == 5 and m["pixels"] == ms.size
    assert m["ignore_fraction"] == pytest.approx(count[255] / ms.size, abs=1e-6) and m["other_fraction"] == 0
    assert [m["class_fractions"][c] for c in ("bg", "a", "b")] == pytest.approx(
        [count[k] / ms.size for k in (0, 1, 2)], abs=1e-6)
    assert "masks" not in inspect_store(tmp_path / "plain.zarr")
    out = CliRunner().invoke(main, ["inspect", str(tmp_path / "seg.zarr")]).output
    assert "3 classes, 255 = ignore" in out and f"ignored pixels {100 * count[255] / ms.size:.1f}%" in out
    assert "(ignore)" in out and "train pixels" in out
    assert "ignore" not in CliRunner().invoke(main, ["inspect", str(tmp_path / "plain.zarr")]).output
