"""``eventkit convert synthetic-shapes`` and ``eventkit list``: the embedded segmentation dataset like any other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.eventkit_cli import main
from eventkit.datasets import synthetic_shapes
from eventkit.store import open_store


def test_list_shows_synthetic_shapes(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["list", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("synthetic-shapes"))
    assert f"{len(synthetic_shapes.CLASSES)} classes" in line and "not on disk" in line


def test_convert_dispatches_to_synth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = synthetic_shapes.SyntheticShapesConfig(train=3, test=2, size=16)
    made: list[Path | None] = []

    def small(root=None, cfg_=None):  # the same dataset layout, small enough for a fast test
        made.append(root)
        return synthetic_shapes.generate_synthetic_shapes(tmp_path / "gen", cfg) / synthetic_shapes.FOLDER

    monkeypatch.setattr(synthetic_shapes, "ensure_synthetic_shapes", small)
    r = CliRunner()
    res = r.invoke(main, ["convert", "synthetic-shapes", "--frames", "2", "--root", str(tmp_path), "--quiet",
                          "--executor", "serial"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = tmp_path / "synthetic-shapes" / "stores" / "saccade-T2-s16.zarr"
    assert made == [tmp_path] and f"store: {out}" in res.output
    s = open_store(out)
    assert s.has_masks and s.classes == list(synthetic_shapes.CLASSES) and s.t_max == 2
    assert s.params["method"] == "saccade" and {k: len(s[k]) for k in s} == {"train": 3, "test": 2}
    mask = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(
        tmp_path / "gen" / synthetic_shapes.FOLDER / "SegmentationClass" / f"{s['test'].sample_ids[0]}.png"))
    assert np.array_equal(s["test"].read_mask(0), mask)  # masks of the generated images, unresized at 16x16


@pytest.mark.parametrize("opt", [["--repr", "voxel"], ["--duration", "1000"], ["--events"], ["--downsample", "2"]])
def test_convert_refuses_event_options(opt: list[str], tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["convert", "synthetic-shapes", *opt, "--root", str(tmp_path)])
    assert res.exit_code != 0 and "Traceback" not in res.output
    err = [ln for ln in res.output.splitlines() if "Error" in ln]
    assert len(err) == 1 and opt[0] in err[0] and "eventkit synth synthetic-shapes" in err[0]
    assert not (tmp_path / "synthetic-shapes").exists()  # nothing generated before the refusal
