"""``eventkit convert --cluster slurm|pbs|sge|lsf`` (issue 13): Dask workers as batch jobs through dask-jobqueue.

The batch system is stood in for by tests/helpers/fake_hpc (sbatch/squeue/scancel, qsub/qstat/qdel
first on PATH): a submitted job script runs at once on this machine in its own session, so a real
Dask worker joins; a cancel stops the job's whole process group. What was submitted, started and
cancelled is recorded in ``$FAKE_HPC_DIR``. The stores are compared with a serial conversion.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from .conftest import FRAMES, REPO, assert_same_store, child_env, done_count

FAKE_HPC = Path(__file__).resolve().parents[2] / "helpers" / "fake_hpc"
EVENTKIT = Path(sys.executable).parent / "eventkit"
JOB = ["--jobs", "2", "--cores", "1", "--memory", "1GB", "--walltime", "00:10:00", "--interface", "lo"]


def _cli(args: list[str]):
    from eventkit_cli.eventkit_cli import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


def _convert_args(data: Path, out: Path) -> list[str]:
    return ["convert", "synthetic-gestures", "--frames", str(FRAMES), "--from", str(data), "--out", str(out),
            "--quiet"]


@pytest.fixture
def hpc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in batch system first on PATH; its records folder is returned."""
    records = tmp_path / "hpc"
    monkeypatch.setenv("FAKE_HPC_DIR", str(records))
    monkeypatch.setenv("PATH", f"{FAKE_HPC}:{os.environ['PATH']}")
    monkeypatch.setenv("EVENTKIT_SCHEDULER_TIMEOUT", "30")
    return records


def _jobs(records: Path) -> list[str]:
    return sorted(p.stem for p in records.glob("*.sh"))


def _running(pgid: int) -> list[int]:
    """Processes (zombies aside) of the job's process group."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(pid))
    return out


def _assert_all_cancelled(records: Path, n: int) -> None:
    """``n`` jobs were submitted, each was cancelled, and none left a process running."""
    jobs = _jobs(records)
    assert len(jobs) == n, jobs
    assert all((records / f"{j}.cancelled").exists() for j in jobs), jobs
    for j in jobs:
        pid_file = records / f"{j}.pid"
        if pid_file.exists():
            pgid = int(pid_file.read_text())
            deadline = time.monotonic() + 10  # scancel has returned; the last process may still be exiting
            while _running(pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _running(pgid), f"job {j} left processes behind"


# ----------------------------------------------------------------------------------------------------
# option checks (no cluster is started)


def test_walltime_and_memory_parsing() -> None:
    from eventkit.errors import OptionError
    from eventkit.pipeline.executors.jobqueue import parse_memory, parse_walltime

    assert parse_walltime("01:30:00") == 5400 and parse_walltime("48:00:05") == 48 * 3600 + 5
    assert parse_memory("16GB") == 16 * 10**9 and parse_memory("4GiB") == 4 * 2**30
    assert parse_memory("1.5g") == 1_500_000_000 and parse_memory("512 MiB") == 512 * 2**20
    for bad in ("1:30", "01:60:00", "1h", "00:00:00", ""):
        with pytest.raises(OptionError, match="walltime"):
            parse_walltime(bad)
    for bad in ("16", "GB", "16XB", "0GB", "-1GB"):
        with pytest.raises(OptionError, match="memory"):
            parse_memory(bad)


@pytest.mark.parametrize("system, account_key", [("slurm", "account"), ("pbs", "account"), ("sge", "project"),
                                                 ("lsf", "project")])  # fmt: skip
def test_cluster_keywords(system: str, account_key: str) -> None:
    from eventkit.pipeline.executors.jobqueue import JobSpec, cluster_kwargs

    kw = cluster_kwargs(JobSpec(system, jobs=3, cores=4, memory="8GiB", walltime="01:00:30", queue="q",
                                account="acct", job_extra=("-x",), prologue=("module load x",)))  # fmt: skip
    assert kw["cores"] == kw["processes"] == 4  # one single-threaded worker process per core
    assert kw["memory"] == 8 * 2**30 and kw["queue"] == "q" and kw[account_key] == "acct"
    assert kw["job_extra_directives"] == ["-x"] and kw["job_script_prologue"] == ["module load x"]
    # LSF's -W is HH:MM: the seconds round up, never down
    assert kw["walltime"] == ("01:01" if system == "lsf" else "01:00:30")
    assert set(cluster_kwargs(JobSpec(system))) == {"scheduler_options"}  # the rest from the Dask config


@pytest.mark.parametrize("extra, says", [
    (["--scheduler", "tcp://127.0.0.1:1"], "--cluster cannot be combined with --scheduler"),
    (["--workers", "2"], "--cluster cannot be combined with --workers"),
    (["--executor", "serial"], "--cluster cannot be combined with --executor serial"),
    (["--part", "0/2"], "--cluster cannot be combined with --part"),
    (["--walltime", "90"], "--walltime '90' is not HH:MM:SS"),
    (["--memory", "16"], "--memory '16' is not a memory size with a unit"),
    (["--jobs", "0"], "Invalid value for '--jobs'"),
])  # fmt: skip
def test_bad_cluster_options_are_usage_errors(extra: list[str], says: str, tmp_path: Path) -> None:
    res = _cli([*_convert_args(tmp_path, tmp_path / "out.zarr"), "--cluster", "slurm", *extra])
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out.zarr").exists()


def test_job_options_need_cluster(tmp_path: Path) -> None:
    res = _cli([*_convert_args(tmp_path, tmp_path / "out.zarr"), "--jobs", "2", "--queue", "q"])
    assert res.exit_code == 2 and "--jobs, --queue set(s) the batch jobs of --cluster" in res.output


def test_missing_extra_is_one_line(gestures_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import fails as if not installed
    res = _cli([*_convert_args(gestures_data, tmp_path / "out.zarr"), "--cluster", "pbs", *JOB])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        "Error: --cluster pbs (Dask workers as PBS jobs) needs dask_jobqueue, which is not installed; install the "
        "'cluster' extra: pip install 'eventkit[cluster]'"]
    assert not (tmp_path / "out.zarr").exists()


# ----------------------------------------------------------------------------------------------------
# the batch system says no, or never starts the jobs

pytest.importorskip("dask_jobqueue")


@pytest.mark.parametrize("system, want", [
    ("slurm", ["#SBATCH -t 01:00:30", "#SBATCH -p q", "#SBATCH -A acct", "#SBATCH --cpus-per-task=2",
               "#SBATCH --mem=8G", "#SBATCH --exclusive", "module load x"]),
    ("pbs", ["#PBS -l walltime=01:00:30", "#PBS -q q", "#PBS -A acct", "#PBS -l select=1:ncpus=2:mem=8192MB",
             "#PBS --exclusive"]),
    ("sge", ["#$ -l h_rt=01:00:30", "#$ -q q", "#$ -P acct", "#$ --exclusive"]),
    ("lsf", ["#BSUB -W 01:01", "#BSUB -q q", '#BSUB -P "acct"', "#BSUB -n 2", "#BSUB --exclusive"]),
])  # fmt: skip
def test_each_batch_system_gets_the_job_it_was_asked_for(system: str, want: list[str]) -> None:
    """dask-jobqueue accepts every keyword for each system, and they reach the job script's header."""
    from eventkit.pipeline.executors.jobqueue import JobSpec, SYSTEMS, cluster_kwargs

    cls = getattr(__import__("dask_jobqueue"), SYSTEMS[system].cluster_class)
    kw = cluster_kwargs(JobSpec(system, cores=2, memory="8GiB", walltime="01:00:30", queue="q", account="acct",
                                job_extra=("--exclusive",), prologue=("module load x",), interface="lo"))  # fmt: skip
    if system == "lsf":
        kw["lsf_units"] = "mb"  # else read from the LSF installation's lsf.conf
    cluster = cls(**kw)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in want:
        assert line + "\n" in script, (line, script)
    assert "--nworkers 2" in script and "--nthreads 1" in script and "--memory-limit 4.00GiB" in script


@pytest.mark.parametrize("extra, says", [
    (["--interface", "nosuch"], "Error: could not start the Dask scheduler for --cluster slurm: 'nosuch' is not a "
                                "valid network interface"),
    (["--job-log-dir", "/proc/nope"], "Error: --job-log-dir /proc/nope: cannot create it (No such file or directory)"),
])  # fmt: skip
def test_cluster_that_cannot_start_is_one_line(extra: list[str], says: str, gestures_data: Path, tmp_path: Path,
                                                hpc: Path) -> None:
    res = _cli([*_convert_args(gestures_data, tmp_path / "out.zarr"), "--cluster", "slurm", "--cores", "1",
                "--memory", "1GB", *extra])  # fmt: skip
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert res.output.startswith(says), res.output
    assert _jobs(hpc) == []


def test_job_size_is_needed(gestures_data: Path, tmp_path: Path, hpc: Path) -> None:
    res = _cli([*_convert_args(gestures_data, tmp_path / "out.zarr"), "--cluster", "sge", "--cores", "4"])
    assert res.exit_code == 1
    assert res.output.strip() == ("Error: --cluster sge needs the size of a job: --cores and --memory (or "
                                  "jobqueue.sge.cores and .memory in the Dask configuration)")


def test_submission_failure_shows_what_the_batch_system_said(gestures_data: Path, tmp_path: Path, hpc: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    said = "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified"
    monkeypatch.setenv("FAKE_HPC_FAIL", said)
    res = _cli([*_convert_args(gestures_data, tmp_path / "out.zarr"), "--cluster", "slurm", *JOB, "--account", "x"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"Error: the SLURM job could not be submitted: sbatch failed (exit status 1): {said}"]
    assert _jobs(hpc) == [] and not (tmp_path / "out.zarr").exists()


def test_missing_submit_command(gestures_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no sbatch anywhere
    res = _cli([*_convert_args(gestures_data, tmp_path / "out.zarr"), "--cluster", "slurm", *JOB])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        "Error: the SLURM job could not be submitted: sbatch is not on PATH; run this on a SLURM login node, or "
        "choose the batch system this cluster runs with --cluster"]


def test_jobs_never_starting_time_out_and_are_cancelled(gestures_data: Path, tmp_path: Path, hpc: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_HPC_HOLD", "1")  # accepted, queued forever
    monkeypatch.setenv("EVENTKIT_WORKER_TIMEOUT", "2")
    res = _cli([*_convert_args(gestures_data, tmp_path / "out.zarr"), "--cluster", "slurm", *JOB])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no Dask worker joined tcp://127.0.0.1:")
    assert "within 2 s: none of the 2 SLURM job(s) (1001, 1002) started a worker, so they are cancelled" in lines[0]
    _assert_all_cancelled(hpc, 2)
    assert not (tmp_path / "out.zarr").exists()


# ----------------------------------------------------------------------------------------------------
# conversions through the stand-in batch systems


def test_slurm_conversion_equals_serial_and_cancels_its_jobs(gestures_data: Path, reference_store: Path,
                                                             tmp_path: Path, hpc: Path) -> None:
    out = tmp_path / "out.zarr"
    res = _cli([*_convert_args(gestures_data, out), "--cluster", "slurm", *JOB, "--queue", "debug",
                "--account", "proj42", "--job-extra", "--constraint=avx2",
                "--job-prologue", "export EVENTKIT_TEST_PROLOGUE=1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert_same_store(out, reference_store)
    _assert_all_cancelled(hpc, 2)
    script = (hpc / f"{_jobs(hpc)[0]}.sh").read_text()
    for line in ("#SBATCH -t 00:10:00", "#SBATCH -p debug", "#SBATCH -A proj42", "#SBATCH --cpus-per-task=1",
                 "#SBATCH --mem=954M", "#SBATCH --constraint=avx2", "export EVENTKIT_TEST_PROLOGUE=1"):
        assert line + "\n" in script, (line, script)
    assert "--nthreads 1 --memory-limit 0.93GiB" in script and "--interface lo" in script


def test_complete_store_submits_no_job(gestures_data: Path, reference_store: Path, tmp_path: Path,
                                       hpc: Path) -> None:
    """A re-run on a finished store has nothing to do: no batch job is submitted (they cost queue time)."""
    import shutil

    out = tmp_path / "out.zarr"
    shutil.copytree(reference_store, out)
    n = done_count(out)
    res = _cli([*_convert_args(gestures_data, out), "--cluster", "slurm", *JOB])
    assert res.exit_code == 0, res.output
    assert f"converted 0, already there {n}" in res.output and n > 0
    assert _jobs(hpc) == []  # the stand-in sbatch records every script it is given


@pytest.mark.parametrize("mode", [{"frames": FRAMES}, {"duration": 200_000}], ids=["frames", "duration"])
def test_complete_store_starts_no_local_dask_cluster(mode: dict, gestures_data: Path, manifest, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Not even to measure T in duration mode: a complete store keeps its T (decoding every recording is the cost)."""
    import eventkit.pipeline.executors.dask as dask_executor
    from eventkit.pipeline import convert

    out = tmp_path / "out.zarr"
    first = convert(manifest, **mode, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert first.complete

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask cluster was started for a complete store")

    monkeypatch.setattr(dask_executor, "DaskExecutor", refuse)
    r = convert(manifest, **mode, from_dir=gestures_data, out=out, executor="dask", workers=2, progress=False)
    assert r.complete and r.converted == 0 and r.skipped == done_count(out) == first.converted > 0


@pytest.mark.slow
def test_pbs_conversion_equals_serial_and_cancels_its_jobs(gestures_data: Path, reference_store: Path,
                                                           tmp_path: Path, hpc: Path) -> None:
    """The real command in its own process, as a user runs it."""
    out = tmp_path / "out.zarr"
    res = subprocess.run([str(EVENTKIT), *_convert_args(gestures_data, out), "--cluster", "pbs", "--jobs", "2",
                          "--cores", "2", "--memory", "2GB", "--walltime", "00:20:00", "--queue", "workq",
                          "--account", "proj7", "--interface", "lo", "--job-log-dir", str(tmp_path / "logs")],
                         env=child_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert_same_store(out, reference_store)
    _assert_all_cancelled(hpc, 2)
    script = (hpc / f"{_jobs(hpc)[0]}.sh").read_text()
    for line in ("#PBS -l walltime=00:20:00", "#PBS -q workq", "#PBS -A proj7", "#PBS -l select=1:ncpus=2:mem=1908MB",
                 f"#PBS -o {tmp_path / 'logs'}/"):  # fmt: skip
        assert line + "\n" in script, (line, script)
    assert "--nworkers 2" in script and "--nthreads 1" in script


# The real command with slow shard tasks (0.4 s each, 2 samples per shard: 17 tasks), so that a
# signal lands mid-run; the patches are those of test_pipeline_faults' slow cluster.
SLOW_CHILD = """
import signal
import sys
import cloudpickle
from tests.eventkit.pipeline import _slow_tasks
from tests.eventkit.pipeline.conftest import small_shards
import eventkit.pipeline.convert as conv
from eventkit_cli.eventkit_cli import main

signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job inherits SIGINT ignored
cloudpickle.register_pickle_by_value(_slow_tasks)
conv.convert_shard = _slow_tasks.slow_convert_shard
with small_shards():
    main(sys.argv[1:])
"""
# ... and a job that has lost its workers counts as ended after 2 s (30 s in real use); Dask drops
# it first (after 0.5 s instead of 15 s), as it does in real use
FAST_REPLACE = """
import dask
import eventkit.pipeline.executors.jobqueue as jq
jq.REPLACE_CHECK_S, jq.ENDED_AFTER_S = 0.5, 2.0
dask.config.set({"distributed.deploy.lost-worker-timeout": "0.5s"})
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig, status, says", [(signal.SIGTERM, 143, "Aborted (SIGTERM)"),
                                               (signal.SIGINT, 130, "Aborted:")])  # fmt: skip
def test_signal_mid_run_cancels_the_jobs(sig: int, status: int, says: str, gestures_data: Path, tmp_path: Path,
                                         hpc: Path) -> None:
    """A time limit (SIGTERM) or Ctrl-C while converting: one Aborted line, every job cancelled, store resumable."""
    out = tmp_path / "out.zarr"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_CHILD, *_convert_args(gestures_data, out), "--cluster",
                             "slurm", *JOB], env=child_env(), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while done_count(out) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert says in err and "Traceback" not in err, err
    _assert_all_cancelled(hpc, 2)
    assert 0 < done_count(out) < 33  # cut mid-run: re-running resumes (tested in test_signals)


@pytest.mark.slow
def test_signal_while_queued_cancels_the_jobs(gestures_data: Path, tmp_path: Path, hpc: Path) -> None:
    """SIGTERM while waiting for the jobs to start: they are cancelled all the same."""
    env = dict(child_env(), FAKE_HPC_HOLD="1", EVENTKIT_WORKER_TIMEOUT="120")
    proc = subprocess.Popen([str(EVENTKIT), *_convert_args(gestures_data, tmp_path / "out.zarr"), "--cluster",
                             "pbs", *JOB], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_jobs(hpc)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Aborted (SIGTERM)" in err and "Traceback" not in err, err
    _assert_all_cancelled(hpc, 2)


def test_importing_dask_jobqueue_keeps_the_ctrl_c_handler() -> None:
    """dask_jobqueue's import sets SIGINT to sys.exit() (Ctrl-C would exit 0, no clean-up line): undone."""
    code = ("import signal, sys\n"
            "from eventkit.pipeline.executors.jobqueue import _import_jobqueue\n"
            "before = signal.getsignal(signal.SIGINT)\n"
            "_import_jobqueue('x')\n"
            "assert 'dask_jobqueue.runner' in sys.modules\n"
            "assert signal.getsignal(signal.SIGINT) is before, signal.getsignal(signal.SIGINT)\n")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


@pytest.mark.slow
def test_a_job_that_ends_mid_run_is_replaced(gestures_data: Path, reference_small_store: Path, tmp_path: Path,
                                             hpc: Path) -> None:
    """The only job is killed mid-run (its time limit): a new one is submitted and the conversion completes."""
    out = tmp_path / "out.zarr"
    proc = subprocess.Popen([sys.executable, "-c", FAST_REPLACE + SLOW_CHILD, *_convert_args(gestures_data, out),
                             "--cluster", "slurm", "--jobs", "1", "--cores", "1", "--memory", "1GB", "--interface",
                             "lo"], env=child_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while done_count(out) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(int((hpc / "1001.pid").read_text()), signal.SIGKILL)  # as the batch system does at the limit
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "SLURM job(s) 1001 ended before the conversion did (their time limit?): submitting 1 new one(s)" in err
    assert_same_store(out, reference_small_store)
    _assert_all_cancelled(hpc, 2)
