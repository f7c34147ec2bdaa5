"""Stand-ins for a batch system's commands (sbatch/squeue/scancel, qsub/qstat/qdel) on one machine.

A submitted job script runs at once, locally, in the background, in its own session (so that a
cancel can stop the whole job, as a batch system would). Everything is recorded in the folder
``$FAKE_HPC_DIR``:

- ``<id>.sh`` the job script as submitted, ``<id>.pid`` its process (group) id, ``<id>.log`` its output;
- ``<id>.cancelled`` once the job was cancelled;
- ``submit.log`` one line per submission: ``<system> <id> <arguments>``.

Set ``FAKE_HPC_FAIL`` to a message to make submission fail (the message on stderr, exit 1), as a
batch system refusing a job does; set ``FAKE_HPC_HOLD=1`` to accept jobs but never start them
(queued forever). Standard library only: any ``python3`` runs it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time

GRACE_S = 5.0  # a cancelled job gets this long to exit after SIGTERM, then SIGKILL


def _dir() -> str:
    d = os.environ.get("FAKE_HPC_DIR")
    if not d:
        sys.exit("fake batch system: set FAKE_HPC_DIR to a folder for its records")
    os.makedirs(d, exist_ok=True)
    return d


def _next_id(d: str) -> int:
    with open(os.path.join(d, "counter.lock"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        n = int(f.read() or 1000) + 1
        f.seek(0)
        f.truncate()
        f.write(str(n))
    return n


def _alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` still runs (zombies do not count)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def submit(system: str, args: list[str]) -> int:
    d = _dir()
    fail = os.environ.get("FAKE_HPC_FAIL")
    if fail:
        print(fail, file=sys.stderr)
        return 1
    script = args[-1] if args else ""
    if not os.path.isfile(script):
        print(f"{system}: error: no job script {script!r}", file=sys.stderr)
        return 1
    job = _next_id(d)
    shutil.copy(script, os.path.join(d, f"{job}.sh"))
    with open(os.path.join(d, "submit.log"), "a") as f:
        f.write(f"{system} {job} {' '.join(args)}\n")
    if os.environ.get("FAKE_HPC_HOLD") != "1":
        env = dict(os.environ, SLURM_JOB_ID=str(job), PBS_JOBID=f"{job}.fake")
        with open(os.path.join(d, f"{job}.log"), "w") as log:
            proc = subprocess.Popen(["bash", os.path.join(d, f"{job}.sh")], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        with open(os.path.join(d, f"{job}.pid"), "w") as f:
            f.write(str(proc.pid))
    print(f"Submitted batch job {job}" if system == "slurm" else f"{job}.fake")
    return 0


def cancel(system: str, args: list[str]) -> int:
    d = _dir()
    status = 0
    for arg in args:
        job = arg.split(".")[0]
        if not os.path.exists(os.path.join(d, f"{job}.sh")):
            print(f"{system}: error: unknown job id {arg}", file=sys.stderr)
            status = 1
            continue
        open(os.path.join(d, f"{job}.cancelled"), "w").close()
        try:
            with open(os.path.join(d, f"{job}.pid")) as f:
                pgid = int(f.read())
        except FileNotFoundError:  # held, never started
            continue
        _stop(pgid)
    return status


def _stop(pgid: int) -> None:
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if not _alive(pgid):
                return
            time.sleep(0.05)


def status(system: str, args: list[str]) -> int:
    d = _dir()
    print("JOBID STATE")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".sh"):
            continue
        job = name[:-3]
        pid_file = os.path.join(d, f"{job}.pid")
        if os.path.exists(os.path.join(d, f"{job}.cancelled")):
            continue
        if not os.path.exists(pid_file):
            print(f"{job} PENDING")
        else:
            with open(pid_file) as f:
                if _alive(int(f.read())):
                    print(f"{job} RUNNING")
    return 0


if __name__ == "__main__":
    system, verb, *rest = sys.argv[1:]
    sys.exit({"submit": submit, "cancel": cancel, "status": status}[verb](system, rest))
