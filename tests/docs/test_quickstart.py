"""docs/quickstart.md runs as written: its ```python blocks, executed in order on synthetic-gestures.

The registered synthetic-gestures generator is swapped for a tiny configuration (and the data root
for a temporary folder), so the page's code runs unchanged in a few seconds, offline.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventkit.datasets import generators
from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures

DOCS = Path(__file__).resolve().parents[2] / "docs"
TINY = SyntheticGesturesConfig(train_users=2, test_users=1, lightings_per_user=1, gesture_us=300_000, gap_us=50_000,
                               rate=20_000, seed=2)  # fmt: skip


def python_blocks(page: Path) -> list[str]:
    """The ```python fenced blocks of a Markdown page, in order."""
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_quickstart_code_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(generators.GENERATORS, "synthetic-gestures", lambda out: generate_synthetic_gestures(out, TINY))
    monkeypatch.setenv("EVENTKIT_ROOT", str(tmp_path / "root"))
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOCS / "quickstart.md")
    assert len(blocks) >= 4 and any("padded_mask" in b and "pad_collate" in b for b in blocks)
    namespace: dict = {"__name__": "__main__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"docs/quickstart.md block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that broke
            pytest.fail(f"docs/quickstart.md python block {i + 1} raised {type(exc).__name__}: {exc}")
    out = capsys.readouterr().out
    assert "torch.float32" in out and "torch.uint16 torch.float32" in out and "real frames of" in out
    assert namespace["loss"].isfinite() and namespace["mask"].dtype.is_floating_point is False
    assert (tmp_path / "root" / "synthetic-gestures" / "stores" / "frames-T16-number.zarr").is_dir()


def test_doc_links_resolve():
    for page in ("quickstart.md", "store.md", "migration.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", text):
            if target != "errors.md":  # written by the error-contract work; may land separately
                assert (DOCS / target).is_file(), f"{page} links to missing {target}"
