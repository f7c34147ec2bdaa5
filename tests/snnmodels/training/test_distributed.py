"""Data-parallel training (``snnmodels train`` under torchrun): 2 gloo processes on the CPU against 1 process.

The reference is the plain one-process ``fit``; the distributed runs are real processes (spawned,
each joining a gloo group through the launcher variables, as ``torchrun`` starts them). The
network has no dropout, so the two setups compute the same function of the same samples and only
float rounding differs (summation order of batch-norm statistics and of the gradient average).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from snnmodels.training import TrainConfig, fit, load_checkpoint
from snnmodels.training.data import FrameBatches
from snnmodels.training.distributed import (
    SINGLE, DistributedError, GlobalBatchNorm, launch_env, require_launch_env, shard_indices, sync_batch_norm,
)

from ._ddp import run_ranks

SMALL = {"widths": [8, 16], "dropout": 0.0}
TOL = 1e-5  # float32 rounding of a different summation order, over 12 steps


def _cfg(store: Path, out: Path, **kw) -> dict:
    base = dict(store=str(store), model="small", out=str(out), epochs=2, batch_size=8, lr=1e-2, backend="torch",
                device="cpu", seed=1, model_kwargs=dict(SMALL))
    base.update(kw)
    return base


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def reference(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory):
    """The one-process run (1 thread, as each spawned rank)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fit(TrainConfig(**_cfg(tiny_store, tmp_path_factory.mktemp("ref"))), log=None)
    finally:
        torch.set_num_threads(threads)


# -- pieces, no processes ------------------------------------------------------------------------------
def test_shards_are_disjoint_and_cover_everything() -> None:
    for n, world in [(0, 2), (1, 2), (5, 2), (24, 3), (7, 4)]:
        parts = [shard_indices(n, r, world) for r in range(world)]
        assert sorted(itertools.chain(*parts)) == list(range(n))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_rank_batches_together_are_the_one_process_batch(tiny_store: Path) -> None:
    """Every step, the ranks' parts (in rank order) are exactly the one-process batch, for 1..3 ranks."""
    kw = dict(batch_size=8, shuffle=True, seed=3, indices=list(range(43)), dtype=None)
    one = FrameBatches(tiny_store, "train", **kw)
    one.set_epoch(2)
    ref = list(one)
    assert ref[0][0].dtype == torch.uint16  # integer frames: converted to float on the device by the loop
    for world in (2, 3):
        ranks = [FrameBatches(tiny_store, "train", rank=r, world_size=world, **kw) for r in range(world)]
        for b in ranks:
            b.set_epoch(2)
        steps = list(zip(*ranks))
        assert len(steps) == len(ref) == 6
        for (x, y, lengths), parts in zip(ref, steps):
            assert torch.equal(torch.cat([p[0] for p in parts], 1), x)
            assert torch.equal(torch.cat([p[1] for p in parts]), y)
        assert sum(b.num_samples for b in ranks) == 43


def test_global_batch_norm_is_batch_norm_without_a_group() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4))
    plain = [p.detach().clone() for p in model.parameters()]
    converted = sync_batch_norm(model, torch.device("cpu"))
    assert isinstance(converted[1], GlobalBatchNorm)
    assert [p.data_ptr() for p in converted.parameters()] == [p.data_ptr() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(plain, converted.parameters()))
    ref = torch.nn.BatchNorm2d(4)
    x = torch.randn(5, 4, 6, 6)
    assert torch.allclose(converted[1](x), ref(x))
    assert set(converted.state_dict()) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                           "1.running_var", "1.num_batches_tracked"}


def test_launch_env_and_its_errors() -> None:
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    got = launch_env(env)
    assert (got.rank, got.world_size, got.local_rank) == (1, 2, 1)
    assert launch_env({"RANK": "0"}) is None  # not all set: a plain run, not a launcher's
    with pytest.raises(DistributedError, match="MASTER_PORT is not set.*torchrun"):
        require_launch_env({k: v for k, v in env.items() if k != "MASTER_PORT"})
    with pytest.raises(DistributedError, match="not within"):
        launch_env(dict(env, RANK="2"))
    assert not SINGLE.enabled and SINGLE.sum([1.0, 2.0]).tolist() == [1.0, 2.0]


def test_cli_distributed_without_a_launcher_is_one_error_line(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from cli.snnmodels_cli import main

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    res = CliRunner().invoke(main, ["train", "--store", str(tmp_path), "--distributed"])
    assert res.exit_code == 1
    assert res.output.count("Error:") == 1 and "torchrun" in res.output and "Traceback" not in res.output


# -- real processes ------------------------------------------------------------------------------------
def test_two_processes_train_like_one_with_the_same_global_batch(tiny_store: Path, tmp_path: Path,
                                                                reference) -> None:
    codes = run_ranks(2, _cfg(tiny_store, tmp_path / "run"), tmp_path / "res")
    errors = [f.read_text() for f in (tmp_path / "res").glob("*.err")]
    assert codes == [0, 0] and not errors, errors
    r0, r1 = (torch.load(tmp_path / "res" / f"rank{r}.pt") for r in (0, 1))

    ref_steps = list(itertools.chain(*reference.step_losses))
    steps = list(itertools.chain(*r0["steps"]))
    assert len(steps) == len(ref_steps) == 12  # 43 samples, batch 8: 6 steps (the last 3 samples split 1 + 2)
    assert max(ref_steps) - min(ref_steps) > 1e-3  # the network spikes and learns: the comparison means something
    np.testing.assert_allclose(steps, ref_steps, rtol=0, atol=TOL)
    ref_state = reference.model.state_dict()
    assert _max_diff(r0["state"], ref_state) < TOL
    # DDP keeps the ranks bit-identical, the PLIF time constants (parameters named "w") included ...
    assert all(torch.equal(r0["state"][k], r1["state"][k]) for k in ref_state)
    taus = [k for k in ref_state if k.endswith(".w")]
    assert taus and all(float(ref_state[k].abs().max()) > 1e-4 for k in taus)  # ... and they were learnt
    # validation and test metrics over the whole split, each sample once (5 + 24 samples, sharded 2/3, 12/12)
    for a, b in zip(reference.history, r0["history"]):
        assert a["val_acc"] == b["val_acc"] and a["train_acc"] == b["train_acc"]
        assert abs(a["val_loss"] - b["val_loss"]) < TOL
    assert r0["test_n"] == reference.test.samples == 24 and r0["test_acc"] == reference.test_acc
    # only rank 0 wrote the run, and its checkpoint is the plain network's (no "module." prefix)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert set(ckpt["model_state"]) == set(ref_state)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.pt", "curves.png", "last.pt", "log.csv"]


@pytest.mark.slow
def test_a_dead_rank_ends_the_others_with_one_error_and_one_process_resumes(tiny_store: Path, tmp_path: Path,
                                                                            reference) -> None:
    """Rank 1 is SIGKILLed in epoch 2: rank 0 fails with DistributedError at once; 1 process resumes."""
    cfg = _cfg(tiny_store, tmp_path / "run", dist_timeout=60.0)
    codes = run_ranks(2, cfg, tmp_path / "res", kill=(1, 1))
    assert codes[1] == -9 and codes[0] == 0  # rank 0 ended by itself (its error recorded), no hang
    message = (tmp_path / "res" / "rank0.err").read_text()
    assert message.startswith("DistributedError: rank 0 of 2: a collective with the other ranks failed")
    assert "--resume" in message and str(tmp_path / "run" / "last.pt") in message
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 0  # epoch 1 finished and saved

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resumed = fit(TrainConfig(**cfg), resume=True, log=None)  # one process, no launcher
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(resumed.step_losses[0], reference.step_losses[1], rtol=0, atol=TOL)
    assert _max_diff(resumed.model.state_dict(), reference.model.state_dict()) < TOL
    assert [r["epoch"] for r in resumed.history] == [1, 2]


@pytest.mark.slow
def test_resume_on_two_processes_from_a_one_process_checkpoint(tiny_store: Path, tmp_path: Path, reference,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """One process is interrupted (Ctrl-C) in epoch 2; two processes resume and end like the reference."""
    cfg = _cfg(tiny_store, tmp_path / "run")
    original = FrameBatches.__iter__

    def interrupted(self):  # type: ignore[no-untyped-def]
        if self.shuffle and self.epoch == 1:
            raise KeyboardInterrupt
        yield from original(self)

    monkeypatch.setattr(FrameBatches, "__iter__", interrupted)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(KeyboardInterrupt):
            fit(TrainConfig(**cfg), log=None)
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(FrameBatches, "__iter__", original)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 0
    codes = run_ranks(2, cfg, tmp_path / "res", resume=True)
    assert codes == [0, 0], [f.read_text() for f in (tmp_path / "res").glob("*.err")]
    r0 = torch.load(tmp_path / "res" / "rank0.pt")
    np.testing.assert_allclose(r0["steps"][0], reference.step_losses[1], rtol=0, atol=TOL)
    assert _max_diff(r0["state"], reference.model.state_dict()) < TOL


@pytest.mark.slow
def test_an_error_of_rank_0_reaches_every_rank(tiny_store: Path, tmp_path: Path) -> None:
    """--resume without a checkpoint: rank 0 finds out, and rank 1 ends with the same error instead of waiting."""
    codes = run_ranks(2, _cfg(tiny_store, tmp_path / "run", dist_timeout=60.0), tmp_path / "res", resume=True)
    assert codes == [0, 0]
    r0, r1 = ((tmp_path / "res" / f"rank{r}.err").read_text() for r in (0, 1))
    assert r0.startswith("FileNotFoundError:") and "last.pt" in r0
    assert r1.startswith("FileNotFoundError: (from rank 0)") and "last.pt" in r1
