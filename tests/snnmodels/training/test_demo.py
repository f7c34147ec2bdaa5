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
