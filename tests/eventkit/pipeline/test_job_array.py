"""Job arrays: ``eventkit convert --part K/N`` in N processes at once into one store, then ``--finalize``.

The parts run the real CLI in child processes (``_part_child.py``: 2 samples per shard, so the
tiny dataset has 17 shards, 6/6/5 per part of 3) started together; the store they make must equal
an uninterrupted serial conversion, whichever part finishes last.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zarr

from .conftest import FRAMES, HERE, PYTHON, assert_same_store, child_env, done_count, small_shards

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and signals")

ARRAY_VARS = ("SLURM_ARRAY_TASK_ID", "PBS_ARRAY_INDEX", "LSB_JOBINDEX")


def _start(data: Path, out: Path, *args: str, sleep_s: float = 0.0) -> subprocess.Popen:
    env = {k: v for k, v in child_env().items() if k not in ARRAY_VARS}
    return subprocess.Popen([PYTHON, str(HERE / "_part_child.py"), str(sleep_s), "--from", str(data), "--out",
                             str(out), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _parts(data: Path, out: Path, ks, n: int = 3) -> None:
    """Run parts ``ks`` of ``n`` all at once; each must succeed and leave the store incomplete."""
    procs = {k: _start(data, out, "--part", f"{k}/{n}") for k in ks}  # started together: they race to create
    for k, p in procs.items():
        rc, stdout, stderr = _finish(p)
        assert rc == 0, stderr[-3000:]
        assert f"part {k}/{n}: wrote " in stdout and "--finalize" in stdout
    assert zarr.open_group(out, mode="r").attrs["complete"] is False  # a part never marks it complete


def _finalize(data: Path, out: Path) -> tuple[int, str, str]:
    return _finish(_start(data, out, "--finalize"))


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error:")]


def test_three_parts_at_once_then_finalize_equal_serial(reference_small_store, gestures_data, tmp_path) -> None:
    out = tmp_path / "array.zarr"
    _parts(gestures_data, out, range(3))
    assert not list(tmp_path.glob("array.zarr.lock*"))  # every lock released
    rc, stdout, stderr = _finalize(gestures_data, out)
    assert rc == 0, stderr
    assert "marked complete" in stdout
    assert_same_store(out, reference_small_store)  # frames, labels, lengths, sample_ids, done, attrs


def test_finalize_before_every_part_lists_what_is_missing_and_the_last_part_completes(
    reference_small_store, gestures_data, tmp_path
) -> None:
    out = tmp_path / "array.zarr"
    _parts(gestures_data, out, (0, 1))
    rc, _, stderr = _finalize(gestures_data, out)
    assert rc == 1
    [line] = _error_lines(stderr)
    assert "Traceback" not in stderr
    # part 2 of 3 owns global shards 2, 5, 8, 11, 14 (10 samples): each is named, with the fix
    assert str(out) in line and "cannot finalize, 10 sample(s) in 5 shard(s) not written" in line
    assert "global shard 2:" in line and "global shard 14:" in line and "global shard 0:" not in line
    assert "--part K/N" in line
    assert zarr.open_group(out, mode="r").attrs["complete"] is False
    _parts(gestures_data, out, (2,))  # the last part, alone, finishes after the others
    rc, _, stderr = _finalize(gestures_data, out)
    assert rc == 0, stderr
    assert_same_store(out, reference_small_store)


def test_a_killed_part_resumes(reference_small_store, gestures_data, tmp_path) -> None:
    out = tmp_path / "array.zarr"
    part_lock = tmp_path / "array.zarr.lock-part-0-of-3"
    victim = _start(gestures_data, out, "--part", "0/3", sleep_s=0.3)
    try:
        end = time.monotonic() + 60
        while done_count(out) < 2:
            assert victim.poll() is None, victim.stderr.read()[-3000:]
            assert time.monotonic() < end, "timed out waiting for a shard"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)  # no clean-up at all: the part lock stays behind
        victim.wait(30)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert part_lock.exists()
    written = done_count(out)
    assert 2 <= written < 12
    rc, stdout, stderr = _finish(_start(gestures_data, out, "--part", "0/3"))
    assert rc == 0, stderr
    assert "taking over the lock" in stderr  # the dead part's lock, same host
    assert "already there" in stdout and f"converted {12 - written}," in stdout
    _parts(gestures_data, out, (1, 2))
    rc, _, stderr = _finalize(gestures_data, out)
    assert rc == 0, stderr
    assert_same_store(out, reference_small_store)


def _cli(args: list[str], monkeypatch) -> tuple[int, str]:
    from click.testing import CliRunner

    from cli.eventkit_cli import main

    r = CliRunner().invoke(main, args)
    return r.exit_code, r.output


@pytest.mark.parametrize(("part", "extra", "env", "words"), [
    ("3/3", [], {}, "part number 3 is outside 0..2"),
    ("-1/3", [], {}, "part number -1 is outside 0..2"),
    ("0/0", [], {}, "N (the number of parts) must be at least 1"),
    ("x/3", [], {}, "K (the part number) must be a whole number"),
    ("1/y", [], {}, "N (the number of parts) must be a whole number"),
    ("3", [], {}, "expected K/N"),
    ("auto/3", [], {}, "none of $SLURM_ARRAY_TASK_ID, $PBS_ARRAY_INDEX, $LSB_JOBINDEX is set"),
    ("/3", [], {"SLURM_ARRAY_TASK_ID": "3"}, "part number 3 (from $SLURM_ARRAY_TASK_ID) is outside 0..2"),
    ("0/3", ["--overwrite"], {}, "--part cannot be combined with --overwrite"),
    ("0/3", ["--scheduler", "tcp://127.0.0.1:9"], {}, "--part cannot be combined with --scheduler"),
    ("0/3", ["--finalize"], {}, "--finalize cannot be combined with --part"),
])  # fmt: skip
def test_bad_part_values_are_one_error_line(part, extra, env, words, gestures_data, tmp_path, monkeypatch) -> None:
    for var in ARRAY_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    out = tmp_path / "s.zarr"
    code, output = _cli(["convert", "synthetic-gestures", "-T", "8", "--from", str(gestures_data), "--out", str(out),
                         "--executor", "serial", "--quiet", f"--part={part}", *extra], monkeypatch)  # fmt: skip
    assert code != 0
    [line] = _error_lines(output)
    assert words in line and "--part" in line, output
    assert "Traceback" not in output
    assert not out.exists() and list(tmp_path.iterdir()) == []  # refused before anything is written


def test_part_from_the_array_environment(monkeypatch) -> None:
    from eventkit.errors import OptionError
    from eventkit.pipeline.convert import parse_part

    for var in ARRAY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PBS_ARRAY_INDEX", "2")
    assert parse_part("auto/3") == parse_part("/3") == parse_part((None, 3)) == (2, 3)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")  # SLURM first
    assert parse_part("auto/3") == (1, 3)
    for var in ARRAY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LSB_JOBINDEX", "3")  # LSF: bsub -J "conv[1-3]" -> parts 0..2
    assert parse_part("auto/3") == (2, 3) and parse_part("2/3") == (2, 3)
    monkeypatch.setenv("LSB_JOBINDEX", "4")
    with pytest.raises(OptionError, match=r"part number 3 \(from \$LSB_JOBINDEX - 1"):
        parse_part("auto/3")
    assert parse_part(" 0 / 1 ") == (0, 1) and parse_part(None) is None


def test_api_parts_and_a_plain_run_refused_while_a_part_writes(
    reference_small_store, gestures_data, manifest, tmp_path
) -> None:
    from eventkit.errors import OptionError
    from eventkit.pipeline import convert
    from eventkit.store.errors import IncompleteStoreError, StoreLockedError, StoreNotFoundError

    out = tmp_path / "api.zarr"
    kw = dict(frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
    with small_shards():
        with pytest.raises(StoreNotFoundError, match="no store to finalize"):
            convert(manifest, finalize=True, **kw)
        r = convert(manifest, part=(1, 2), **kw)
        assert (r.part, r.part_shards, r.part_written, r.complete) == ((1, 2), 8, 8, False)
        with pytest.raises(IncompleteStoreError, match=r"17 sample\(s\) in 9 shard\(s\)"):
            convert(manifest, finalize=True, **kw)
        # a live part (this very process, recorded in its lock) -> a plain run must not write beside it
        lock = tmp_path / "api.zarr.lock-part-0-of-2"
        lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "start": None}))
        with pytest.raises(StoreLockedError, match=r"job-array part 0/2 .* is writing this store"):
            convert(manifest, **kw)
        with pytest.raises(StoreLockedError, match="another number of parts"):
            convert(manifest, part=(0, 3), **kw)
        lock.unlink()
        assert not (tmp_path / "api.zarr.lock").exists()  # the refused runs released the store lock
        with pytest.raises(OptionError, match="outside 0..1"):
            convert(manifest, part=(2, 2), **kw)
        r = convert(manifest, part=(0, 2), **kw)
        assert r.part_written == 9 and not r.complete
        r = convert(manifest, finalize=True, **kw)
        assert r.complete and r.skipped == 33
    assert_same_store(out, reference_small_store)


def test_event_store_parts_then_a_plain_run_completes(gestures_data, manifest, tmp_path) -> None:
    """Event-store blocks are split the same way; a plain run (instead of --finalize) verifies and marks complete."""
    from eventkit.pipeline import convert

    ref, out = tmp_path / "ref.zarr", tmp_path / "parts.zarr"
    kw = dict(events=True, from_dir=gestures_data, executor="serial", progress=False)
    assert convert(manifest, out=ref, **kw).complete
    r0 = convert(manifest, out=out, part=(0, 2), **kw)
    r1 = convert(manifest, out=out, part=(1, 2), **kw)
    assert not r0.complete and not r1.complete and r0.converted + r1.converted == 33
    r = convert(manifest, out=out, **kw)  # nothing left to convert: it only checks and marks complete
    assert r.complete and r.converted == 0 and r.skipped == 33
    assert convert(manifest, out=out, part=(0, 2), **kw).complete  # a part re-run after that: nothing to do
    assert_same_store(out, ref)
