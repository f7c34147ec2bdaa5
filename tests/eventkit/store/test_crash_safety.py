"""Kill a writer with SIGKILL mid-write, resume, and compare with an uninterrupted run byte for byte."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _store_helpers import SPLITS, content, create, files, sample

from eventkit.store import IncompleteStoreError, open_store

CHILD = Path(__file__).with_name("_crash_writer.py")


def _run(path: Path, mode: str, kill_on: str = "", kill_at: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHILD), str(path), mode, kill_on, str(kill_at)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "s.zarr"
    done = _run(path, "sample")
    assert done.returncode == 0 and "finalized" in done.stdout, done.stderr
    return path


@pytest.mark.parametrize(
    ("mode", "kill_on", "kill_at"),
    [
        ("sample", "train/frames/c", 6),  # rewriting a shard that already holds 1 done sample
        ("sample", "train/done/c", 7),  # after the data, while setting the flag
        ("sample", "test/labels/c", 2),
        ("shard", "train/frames/c", 2),  # writing a whole shard
        ("shard", "train/sample_ids/c", 3),
        ("shard", "complete", 1),  # while setting `complete` in finalize
        ("shard", "zarr.json", 6),  # while creating the arrays
    ],
)
def test_killed_writer_resumes_to_identical_store(tmp_path, reference, mode, kill_on, kill_at):
    path = tmp_path / "s.zarr"
    killed = _run(path, mode, kill_on, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "finalized" not in killed.stdout
    assert list(path.rglob("*.partial")), "the kill should leave a half-written temporary file"

    with pytest.raises(IncompleteStoreError):
        open_store(path)
    partial = open_store(path, allow_incomplete=True)
    for split in SPLITS:  # whatever is flagged done reads back exactly
        try:
            partial[split]
        except IncompleteStoreError:
            continue
        for i in partial[split].available:
            frames, label, sid = sample(split, int(i))
            got = partial[split][int(i)]
            assert (got.label, got.sample_id, got.length) == (label, sid, len(frames))
            np.testing.assert_array_equal(got.frames[: got.length], frames)

    w = create(path)  # resume: the dead writer's lock is stale and taken over
    written = {s: SPLITS[s] - len(w.missing(s)) for s in SPLITS}
    for split in SPLITS:
        for i in w.missing(split):
            w.write_sample(split, int(i), *sample(split, int(i)))
    w.finalize()

    assert not list(path.rglob("*.partial"))
    assert content(path) == content(reference)
    assert files(path) == files(reference)
    assert sum(written.values()) < sum(SPLITS.values()) or kill_on == "complete"


def test_kill_at_a_random_moment(tmp_path, reference):
    """A real SIGKILL from outside, while the child is busy writing."""
    path = tmp_path / "s.zarr"
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path), "sample", "", "0"],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    for _ in range(5):  # let it write five samples, then kill it during the next writes
        assert proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    w = create(path)
    assert 0 < len(w.missing("train")) <= SPLITS["train"] - 5
    for split in SPLITS:
        for i in w.missing(split):
            w.write_sample(split, int(i), *sample(split, int(i)))
    w.finalize()
    assert content(path) == content(reference)
    assert files(path) == files(reference)
