"""The end-to-end demo: the local mirror server, and a quick whole run (slow)."""

from __future__ import annotations

from pathlib import Path
from urllib.request import urlopen

import pytest

from snnmodels.demo import run_demo, serve_directory


def test_mirror_serves_files_on_localhost(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc" * 1000)
    with serve_directory(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        assert urlopen(f"{url}/a.bin", timeout=10).read() == b"abc" * 1000


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_demo(tmp_path / "demo", quick=True)
    out = capsys.readouterr().out
    for step in ("generate", "download", "convert", "train"):
        assert step in result["steps"]
    assert "$ eventkit download --manifest" in out and "--executor dask" in out
    assert (Path(result["run"]) / "curves.png").is_file()
    assert (Path(result["run"]) / "confusion_test.png").is_file()
    assert 0.0 <= result["accuracy"] <= 1.0
    # the reported number is the test accuracy of the validation-selected model, and says so
    assert "of the model selected on the validation split" in out and "never to pick the model" in out
    assert "validation: " in out and "carved out by user" in out


def test_demo_never_removes_folders_it_did_not_make(tmp_path: Path) -> None:
    from snnmodels.errors import ConfigError

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match=r"data/ that the demo did not make.*another --out"):
        run_demo(tmp_path, quick=True)
    assert (tmp_path / "data" / "thesis.tex").read_text() == "years of work"


def test_demo_clears_its_own_earlier_run(tmp_path: Path) -> None:
    from snnmodels.demo import DEMO_MARKER, clear_demo_folders

    clear_demo_folders(tmp_path)  # a fresh folder: marked as the demo's
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"old")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    (tmp_path / "data").symlink_to(elsewhere, target_is_directory=True)
    clear_demo_folders(tmp_path)
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()
    assert (elsewhere / "keep.txt").read_text() == "mine" and (tmp_path / DEMO_MARKER).is_file()
