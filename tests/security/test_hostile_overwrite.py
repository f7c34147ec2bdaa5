"""``--overwrite`` on what is not a store (issue 11 item 4): refused, never deleted; stores swapped safely.

Every target is built here: a folder holding a user's ``thesis.tex``, a folder whose ``zarr.json``
claims to be an eventkit store but also holds a user file, a plain file, symbolic links to a user
folder and to a store, a user's own ``<name>.new``. Each must end in one ``StoreMismatchError``
(one ``Error:`` line from the CLI) with every user file intact. A real store is replaced by one
equal to a fresh conversion, and a crash during the replacement leaves the old store readable.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eventkit_cli.eventkit_cli import main
from eventkit.store import StoreMismatchError, open_store
from eventkit.store.writer import create_store
from tests.eventkit.pipeline.conftest import CFG_KW, assert_same_store, store_content

THESIS = "\\documentclass{article}\\begin{document}four years of work\\end{document}"


@pytest.fixture(scope="module")
def gestures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic-gestures dataset of the pipeline tests (33 samples, read-only)."""
    from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures

    return Path(generate_synthetic_gestures(tmp_path_factory.mktemp("gestures") / "data",
                                            SyntheticGesturesConfig(**CFG_KW)))


@pytest.fixture(scope="module")
def fresh8(gestures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh T=8 conversion: what an overwrite must produce."""
    out = tmp_path_factory.mktemp("fresh") / "frames.zarr"
    assert _convert(gestures, out, 8).complete
    return out


def _convert(data: Path, out: Path, frames: int, **kw):
    from eventkit.pipeline import convert

    return convert("synthetic-gestures", frames=frames, from_dir=data, out=out, executor="serial", progress=False,
                   **kw)


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (links not followed) and its bytes."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath, name)
            out[str(p.relative_to(root))] = b"<link>" if p.is_symlink() else p.read_bytes()
    return out


# Each builder makes a hostile --out under ``tmp`` and returns (out, folder whose files must survive, phrase).
def _user_folder(tmp: Path) -> tuple[Path, Path, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / "papers"
    (out / "figures").mkdir(parents=True)
    (out / "thesis.tex").write_text(THESIS)
    (out / "figures" / "fig1.pdf").write_bytes(b"%PDF-1.4")
    return out, out, "not an eventkit store"


def _fake_store_marker(tmp: Path) -> tuple[Path, Path, str]:
    """A zarr.json that claims to be an eventkit store, beside a user's file."""
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / "claims-store"
    out.mkdir()
    (out / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group",
                                               "attributes": {"eventkit_store": "frames"}}))
    (out / "thesis.tex").write_text(THESIS)
    return out, out, "holds other files besides an eventkit store (thesis.tex)"


def _damaged_metadata(tmp: Path) -> tuple[Path, Path, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / "broken"
    out.mkdir()
    (out / "zarr.json").write_text("{not json")
    (out / "notes.txt").write_text("mine")
    return out, out, "not an eventkit store"


def _plain_file(tmp: Path) -> tuple[Path, Path, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / "thesis.tex"
    out.write_text(THESIS)
    return out, tmp, "is a file"


def _link_to_user_folder(tmp: Path) -> tuple[Path, Path, str]:
    target, _, _ = _user_folder(tmp)
    out = tmp / "link.zarr"
    out.symlink_to(target, target_is_directory=True)
    return out, target, "symbolic link"


HOSTILE: list[Callable[[Path], tuple[Path, Path, str]]] = [
    _user_folder, _fake_store_marker, _damaged_metadata, _plain_file, _link_to_user_folder,
]
IDS = [f.__name__.strip("_") for f in HOSTILE]


@pytest.mark.parametrize("build", HOSTILE, ids=IDS)
def test_convert_overwrite_refuses_and_keeps_user_files(build, gestures: Path, tmp_path: Path) -> None:
    out, keep, phrase = build(tmp_path / "user")
    before = _snapshot(tmp_path / "user")
    with pytest.raises(StoreMismatchError) as info:
        _convert(gestures, out, 4, overwrite=True)
    msg = str(info.value)
    assert str(out) in msg and phrase in msg, msg
    if "symbolic" not in phrase and "file" != phrase.split()[-1]:
        assert "will not be overwritten" in msg and "another --out" in msg, msg
    assert _snapshot(tmp_path / "user") == before  # every user file intact, nothing added beside them
    assert keep.exists()


@pytest.mark.parametrize("build", HOSTILE, ids=IDS)
def test_store_writer_overwrite_refuses(build, tmp_path: Path) -> None:
    """The low-level writer's ``overwrite=True`` deletes only an eventkit store too."""
    out, _, phrase = build(tmp_path / "user")
    before = _snapshot(tmp_path / "user")
    with pytest.raises(StoreMismatchError, match=re.escape(phrase)):
        create_store(out, splits={"train": 2}, t_max=2, sensor=(4, 4, 2), params={"frames": 2}, classes=["a"],
                     dataset="tiny", overwrite=True)
    assert _snapshot(tmp_path / "user") == before


def test_cli_convert_overwrite_refuses_a_thesis_folder(gestures: Path, tmp_path: Path) -> None:
    out, _, _ = _user_folder(tmp_path)
    before = _snapshot(out)
    res = CliRunner().invoke(main, ["convert", "synthetic-gestures", "--from", str(gestures), "--out", str(out),
                                    "--frames", "4", "--executor", "serial", "--quiet", "--overwrite"])
    assert res.exit_code != 0
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert str(out) in lines[0] and "thesis.tex" in lines[0] and "not an eventkit store" in lines[0]
    assert _snapshot(out) == before


def test_cli_synth_overwrite_refuses_a_thesis_folder(tmp_path: Path) -> None:
    from eventkit_cli.synth import synth

    np.save(tmp_path / "digits.npy", np.random.default_rng(1).random((3, 8, 8)).astype(np.float32))
    np.save(tmp_path / "digits.labels.npy", np.array([0, 1, 0]))
    out, _, _ = _user_folder(tmp_path)
    before = _snapshot(out)
    res = CliRunner().invoke(synth, [str(tmp_path / "digits.npy"), "--out", str(out), "--size", "8",
                                     "--executor", "serial", "--quiet", "--overwrite"])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "thesis.tex" in res.output and "not an eventkit store" in res.output, res.output
    assert _snapshot(out) == before


def test_link_to_a_store_is_refused_and_the_store_kept(gestures: Path, tmp_path: Path) -> None:
    store = tmp_path / "real.zarr"
    _convert(gestures, store, 4)
    before = store_content(store)
    link = tmp_path / "link.zarr"
    link.symlink_to(store, target_is_directory=True)
    with pytest.raises(StoreMismatchError, match="symbolic link"):
        _convert(gestures, link, 8, overwrite=True)
    assert store_content(store) == before and link.is_symlink()


def test_a_users_own_staging_name_is_refused(gestures: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames.zarr"
    _convert(gestures, out, 4)
    mine = tmp_path / "frames.zarr.new"
    mine.mkdir()
    (mine / "thesis.tex").write_text(THESIS)
    with pytest.raises(StoreMismatchError, match=r"frames\.zarr\.new.*thesis\.tex"):
        _convert(gestures, out, 8, overwrite=True)
    assert (mine / "thesis.tex").read_text() == THESIS
    assert open_store(out).t_max == 4


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(name) and p.name != name)


def test_overwrite_replaces_a_store_like_a_fresh_conversion(gestures: Path, fresh8: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames.zarr"
    _convert(gestures, out, 4)
    r = _convert(gestures, out, 8, overwrite=True)
    assert r.complete and r.converted == 33 and r.store == out
    assert_same_store(fresh8, out)
    assert _leftovers(tmp_path, "frames.zarr") == []  # no .new, .old-*, or .lock left behind


def test_overwrite_reuses_an_empty_folder(gestures: Path, fresh8: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty.zarr"
    out.mkdir()
    assert _convert(gestures, out, 8, overwrite=True).complete
    assert_same_store(fresh8, out)


class _Killed(Exception):
    pass


def test_crash_during_overwrite_keeps_the_old_store_then_rerun_finishes(
    gestures: Path, fresh8: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = importlib.import_module("eventkit.pipeline.run")  # convert and synth both run their shards through it

    out = tmp_path / "frames.zarr"
    _convert(gestures, out, 4)
    before = store_content(out)
    real = run.run_shard_tasks

    def crash_half_way(ex, fn, tasks, writer, report, **kw):
        for _ in ex.map_unordered(fn, tasks[: len(tasks) // 2]):  # some shards written, then "killed"
            pass
        raise _Killed

    monkeypatch.setattr(run, "run_shard_tasks", crash_half_way)
    with pytest.raises(_Killed):
        _convert(gestures, out, 8, overwrite=True)
    assert store_content(out) == before  # the old store is intact ...
    assert open_store(out).t_max == 4 and len(open_store(out)["train"]) == 22  # ... and readable
    assert not out.with_name(out.name + ".lock").exists()

    monkeypatch.setattr(run, "run_shard_tasks", real)
    r = _convert(gestures, out, 8, overwrite=True)  # resumes the half-written new store, then swaps
    assert r.complete and 0 < r.skipped < 33
    assert_same_store(fresh8, out)
    assert _leftovers(tmp_path, "frames.zarr") == []


def test_failed_samples_during_overwrite_keep_the_old_store(gestures: Path, fresh8: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(gestures, data)
    rec = data / "DvsGesture" / "user03_fluorescent.aedat"
    good = rec.read_bytes()
    out = tmp_path / "frames.zarr"
    _convert(data, out, 4)
    before = store_content(out)
    rec.write_bytes(good[:1000])  # the test recording is now cut: its 11 samples fail
    r = _convert(data, out, 8, overwrite=True)
    assert not r.complete and len(r.failures) == 11 and r.store == out.with_name("frames.zarr.new")
    assert store_content(out) == before  # an incomplete new store never replaces a complete old one
    rec.write_bytes(good)
    r = _convert(data, out, 8, overwrite=True)
    assert r.complete and r.converted == 11 and r.store == out
    assert_same_store(fresh8, out)
