"""Run the commands of docs/training.md (the blocks marked ``<!-- training: NAME -->``) on a tiny store.

Only what this machine cannot do is changed, always the same way (:data:`SUBSTITUTIONS`): the
small network on the torch backend and the CPU instead of plif-gesture on CuPy/CUDA, one epoch of
two batches a pass, at most 2 processes per command (the machine's cores). The multi-node
command runs twice at once on this machine (two "nodes" of one process each, meeting at a local
rendezvous endpoint); the SLURM script runs under stand-ins for ``srun`` (one process per task with
``SLURM_PROCID``/``SLURM_LOCALID`` set, as srun does) and ``scontrol``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ._ddp import free_port

DOC = Path(__file__).resolve().parents[3] / "docs" / "training.md"

#: (pattern, replacement) applied to every documented command.
SUBSTITUTIONS = [
    (r"--model plif-gesture", "--model small"),
    (r"--backend cupy", "--backend torch"),
    (r"--device cuda", "--device cpu"),
    (r"--epochs \d+", "--epochs 1"),
    (r"--batch-size \d+", "--batch-size 8"),
    (r"snnmodels train ", "snnmodels train --max-batches 2 --quiet "),
]


def _blocks() -> dict[str, str]:
    """``{name: bash text}`` of the marked blocks."""
    text = DOC.read_text()
    found = re.findall(r"<!-- training: (\w+) -->\s*```bash\n(.*?)```", text, re.S)
    return dict(found)


def _adapt(block: str, **extra: str) -> str:
    for pattern, repl in SUBSTITUTIONS + list(extra.items()):
        block = re.sub(pattern, repl, block)
    return block


def _env(tmp_path: Path, store: Path) -> dict[str, str]:
    env = dict(os.environ, STORE=str(store), OMP_NUM_THREADS="1")
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    # the venv's torchrun, snnmodels and python first; stand-ins for srun and scontrol
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "srun").write_text(
        "#!/bin/bash\npids=()\nfor ((i = 0; i < SLURM_NTASKS; i++)); do\n"
        "  SLURM_PROCID=$i SLURM_LOCALID=$i \"$@\" & pids+=($!)\ndone\n"
        "rc=0\nfor p in \"${pids[@]}\"; do wait \"$p\" || rc=$?; done\nexit $rc\n")
    (bindir / "scontrol").write_text("#!/bin/bash\necho localhost\n")
    for name in ("srun", "scontrol"):
        (bindir / name).chmod(0o755)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(bindir), env.get("PATH", "")])
    return env


def _run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"timed out:\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    return out


def _check_run(out_dir: Path, output: str, processes: int, commands: int = 1) -> None:
    assert (out_dir / "last.pt").is_file() and (out_dir / "log.csv").is_file(), output[-2000:]
    if processes > 1:
        assert f"distributed: {processes} processes (gloo)" in output
    assert output.count("final test accuracy") == commands  # rank 0 alone reports


def test_the_doc_has_the_tested_blocks() -> None:
    assert set(_blocks()) == {"one", "node", "nodes", "slurm"}


@pytest.mark.slow
def test_one_process(tiny_store: Path, tmp_path: Path) -> None:
    out = _finish(_run(_adapt(_blocks()["one"]), tmp_path, _env(tmp_path, tiny_store)))
    _check_run(tmp_path / "runs" / "plif", out, 1)


@pytest.mark.slow
def test_several_gpus_on_one_node_and_resume(tiny_store: Path, tmp_path: Path) -> None:
    script = _adapt(_blocks()["node"], **{r"--nproc-per-node \d+": "--nproc-per-node 2"})
    out = _finish(_run(script, tmp_path, _env(tmp_path, tiny_store)))
    _check_run(tmp_path / "runs" / "plif-4gpu", out, 2, commands=2)
    assert "resumed from" in out and "nothing to do" in out  # the second command: --resume on 2 processes


@pytest.mark.slow
def test_several_nodes_with_a_rendezvous(tiny_store: Path, tmp_path: Path) -> None:
    port = free_port()
    script = _adapt(_blocks()["nodes"], **{r"--nproc-per-node \d+": "--nproc-per-node 1",
                                           r"--rdzv-endpoint \S+": f"--rdzv-endpoint 127.0.0.1:{port}"})
    env = _env(tmp_path, tiny_store)
    nodes = [_run(script, tmp_path, env) for _ in range(2)]
    outputs = [_finish(p) for p in nodes]
    _check_run(tmp_path / "runs" / "plif-8gpu", "".join(outputs), 2)


@pytest.mark.slow
def test_slurm_script(tiny_store: Path, tmp_path: Path) -> None:
    script = _adapt(_blocks()["slurm"], **{r"MASTER_PORT=\d+": f"MASTER_PORT={free_port()}"})
    env = dict(_env(tmp_path, tiny_store), SLURM_NTASKS="2", SLURM_JOB_NODELIST="localhost", SLURM_CPUS_PER_TASK="1")
    out = _finish(_run(script, tmp_path, env))
    _check_run(tmp_path / "runs" / "plif-slurm", out, 2)
