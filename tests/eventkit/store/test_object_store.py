"""Stores on an object store (``s3://``) through fsspec, against moto's S3 server on 127.0.0.1.

The server runs in its own process and everything reaches it over HTTP, configured only through
the standard environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), as on a real cluster.
References are the same stores written to a local folder (the fast local read path).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

from eventkit.errors import OptionError  # noqa: E402
from eventkit.store import (  # noqa: E402
    StoreAccessError,
    StoreCorruptError,
    StoreLockedError,
    create_store,
    open_store,
)
from eventkit.store._remote import RemotePath, location  # noqa: E402
from tests.helpers.s3_server import s3_server  # noqa: E402

BIN = Path(sys.executable).parent
SENSOR = (6, 5, 2)  # width, height, polarities
SPLITS = {"train": 10, "test": 3}
S = 8  # samples per shard: train has shards 0 (full) and 1 (2 samples), test one shard
TIMESTAMPS = ("created", "finalized")


@pytest.fixture(scope="module")
def server():
    with s3_server() as srv:
        yield srv


def _env(server, mp: pytest.MonkeyPatch) -> None:
    """The server's environment in this process (all a user sets)."""
    for k, v in server.env().items():
        mp.setenv(k, v)
    mp.delenv("EVENTKIT_STORAGE_OPTIONS", raising=False)


def _use(server, mp: pytest.MonkeyPatch) -> str:
    """The server's environment and a fresh bucket; returns ``s3://<bucket>``."""
    _env(server, mp)
    bucket = f"ek-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    return f"s3://{bucket}"


@pytest.fixture
def s3(server, monkeypatch):
    return _use(server, monkeypatch)


@pytest.fixture(scope="module")
def built_once(server, tmp_path_factory):
    ref = tmp_path_factory.mktemp("ref") / "ref.zarr"
    _build(ref)
    with pytest.MonkeyPatch.context() as mp:
        url = _use(server, mp) + "/x.zarr"
        _build(url)
    return url, ref


@pytest.fixture
def built(built_once, server, monkeypatch):
    """One complete store on S3 and its local twin, for the tests that only read: ``(url, local path)``."""
    _env(server, monkeypatch)
    return built_once


def _samples(split: str, n: int) -> list[tuple[np.ndarray, int, str]]:
    rng = np.random.default_rng(len(split) * 1000 + n)
    w, h, p = SENSOR
    return [(rng.integers(0, 50, (int(rng.integers(1, 5)), p, h, w)).astype(np.uint16), i % 3, f"{split}-{i}")
            for i in range(n)]  # fmt: skip


def _create(path, **kw):
    return create_store(path, splits=SPLITS, t_max=4, sensor=SENSOR, params={"frames": 4}, classes=["a", "b", "c"],
                        dataset="toy", manifest_version="1", samples_per_shard=S, **kw)  # fmt: skip


def _write(writer, shards=None) -> None:
    for split, n in SPLITS.items():
        data = _samples(split, n)
        for shard in writer.missing_shards(split):
            if shards is None or (split, int(shard)) in shards:
                rng = writer.shard_range(split, int(shard))
                writer.write_shard(split, int(shard), data[rng.start : rng.stop])


def _build(path) -> None:
    w = _create(path)
    _write(w)
    w.finalize()


def _assert_same(a, b) -> None:
    """Two stores hold the same samples and attributes (creation times aside)."""
    strip = lambda attrs: {k: v for k, v in attrs.items() if k not in TIMESTAMPS}  # noqa: E731
    assert strip(a.attrs) == strip(b.attrs)
    assert list(a) == list(b)
    for split in a:
        x, y = a[split], b[split]
        for k in ("labels", "lengths", "sample_ids", "done"):
            assert np.array_equal(getattr(x, k), getattr(y, k)), (split, k)
        assert np.array_equal(x.read_frames(slice(None)), y.read_frames(slice(None))), split


# -- read back ---------------------------------------------------------------------------------
def test_store_on_s3_reads_back_identical_to_local(built):
    url, local_ref = built
    remote = open_store(url)
    assert isinstance(remote.path, RemotePath) and remote["train"]._fast is None
    assert open_store(local_ref)["train"]._fast is not None  # local stores keep the fast path
    _assert_same(remote, open_store(local_ref))
    assert remote.complete and str(remote.path) == url


def test_frame_dataset_reads_s3_like_local(built):
    torch = pytest.importorskip("torch")
    import pickle

    from eventkit.torch import FrameDataset

    url, local_ref = built
    a, b = FrameDataset(url, "train"), FrameDataset(local_ref, "train")
    a = pickle.loads(pickle.dumps(a))  # DataLoader workers re-open the store from the pickle
    assert len(a) == len(b) == SPLITS["train"]
    for i in range(len(a)):
        xa, xb = a[i], b[i]
        assert torch.equal(xa[0], xb[0]) and xa[1:] == xb[1:]


def test_memory_url_store_round_trip(built):
    """fsspec's in-process ``memory://`` filesystem (one process only): write, lock, read back."""
    url = f"memory://ek-{uuid.uuid4().hex[:8]}/x.zarr"
    w = _create(url)
    with pytest.raises(StoreLockedError):
        _create(url)
    _write(w)
    w.finalize()
    _assert_same(open_store(url), open_store(built[1]))


def test_file_url_is_a_local_store_with_the_fast_path(built):
    store = open_store(f"file://{built[1]}")
    assert isinstance(store.path, Path) and store["train"]._fast is not None


# -- resume and the lock -------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_killed_writer_is_resumed_and_its_lock_taken_over(s3, built, caplog):
    local_ref = built[1]
    url = f"{s3}/x.zarr"
    w = _create(url)
    _write(w, shards={("train", 0)})
    # The writer dies without releasing: its lock object stays, naming a dead process of this host.
    lock = location(url + ".lock")
    owner = json.loads(lock.read_bytes())
    lock.unlink()
    lock.write_bytes(json.dumps({**owner, "pid": _dead_pid(), "start": None}).encode())
    w2 = _create(url)  # resumes: same key, stale lock taken over
    assert "taking over the lock" in caplog.text
    assert w2.missing("train").tolist() == list(range(S, 10))
    # a reader of the incomplete store lists its chunk objects; later ones must not look missing to it
    assert open_store(url, allow_incomplete=True)["train"].available.tolist() == list(range(S))
    _write(w2)
    w2.finalize()
    assert not lock.exists()
    _assert_same(open_store(url), open_store(local_ref))


def test_second_writer_is_refused_by_the_conditional_create(s3):
    url = f"{s3}/x.zarr"
    w = _create(url)
    try:
        with pytest.raises(StoreLockedError, match=r"another writer \(process \d+ on host .*holds the lock "
                                                   r"s3://.*x\.zarr\.lock"):  # fmt: skip
            _create(url)
    finally:
        w.close()
    _create(url).close()  # released: a new writer gets it


def test_lock_from_another_host_is_explained(s3):
    url = f"{s3}/x.zarr"
    location(url + ".lock").write_bytes(json.dumps({"pid": 1, "host": "node-17", "since": 0}).encode())
    with pytest.raises(StoreLockedError, match="node-17.*delete the lock file s3://"):
        _create(url)


def test_backend_without_conditional_create_is_refused(s3, monkeypatch):
    def no_exclusive(self, data):
        raise NotImplementedError(self.protocol)

    monkeypatch.setattr(RemotePath, "create_exclusive", no_exclusive)
    with pytest.raises(StoreAccessError, match="no conditional create.*EVENTKIT_OBJECT_STORE_LOCK=best-effort"):
        _create(f"{s3}/x.zarr")
    monkeypatch.setenv("EVENTKIT_OBJECT_STORE_LOCK", "best-effort")  # the documented escape: check-then-write
    w = _create(f"{s3}/x.zarr")
    try:
        with pytest.raises(StoreLockedError, match="holds the lock"):  # a later second writer is still refused
            _create(f"{s3}/x.zarr")
    finally:
        w.close()
    assert not location(f"{s3}/x.zarr.lock").exists()


# -- writers kept open by pipeline workers ----------------------------------------------------------
@pytest.fixture
def requests_made(monkeypatch):
    """Count the S3 calls this process makes (every s3fs call goes through ``_make_api_call``)."""
    from aiobotocore.client import AioBaseClient

    calls: list[str] = []
    real = AioBaseClient._make_api_call

    async def counted(self, operation_name, api_params):
        calls.append(f"{operation_name}:{api_params.get('Key', api_params.get('Prefix', ''))}")
        return await real(self, operation_name, api_params)

    monkeypatch.setattr(AioBaseClient, "_make_api_call", counted)
    return calls


def _puts(calls: list[str]) -> int:
    return sum(c.startswith("PutObject") for c in calls)


def _worker_write(url, key, split, shard):
    from eventkit.store._worker_cache import worker_store_writer

    w = worker_store_writer(url, key, split, shard)
    rng = w.shard_range(split, shard)
    w.write_shard(split, shard, _samples(split, SPLITS[split])[rng.start : rng.stop])
    return w


def test_worker_writer_is_opened_once_per_process(s3, built, requests_made):
    from eventkit.store import _worker_cache

    _worker_cache.clear()
    url = f"{s3}/x.zarr"
    coordinator = _create(url)  # holds the lock, as convert does; workers write unlocked
    requests_made.clear()
    first = _worker_write(url, coordinator.cache_key, "train", 0)
    opened = len(requests_made) - _puts(requests_made)
    requests_made.clear()
    again = _worker_write(url, coordinator.cache_key, "train", 1)
    assert again is first
    # the next shard costs its generation check and a read of its done flags, then only its writes
    kept = len(requests_made) - _puts(requests_made)
    assert _puts(requests_made) == 5 and kept <= 5 and 3 * kept < opened, (" ".join(requests_made), opened)
    _worker_write(url, coordinator.cache_key, "test", 0)
    coordinator.close()
    from eventkit.store import open_store_writer

    w = open_store_writer(url)  # as the coordinator's re-run would: everything is there
    assert all(len(w.missing(split)) == 0 for split in SPLITS)
    w.finalize()
    _assert_same(open_store(url), open_store(built[1]))


def test_worker_writer_sees_other_writers_and_rebuilt_stores(s3, monkeypatch):
    from eventkit.store import _common, _worker_cache, open_store_writer
    from eventkit.store._worker_cache import worker_store_writer

    _worker_cache.clear()
    url = f"{s3}/x.zarr"
    w = _create(url, lock=False)
    cached = worker_store_writer(url, w.cache_key, "train", 0)
    # another process writes shard 1: the kept writer re-reads that shard's done flags before writing it
    other = open_store_writer(url, lock=False)
    rng = other.shard_range("train", 1)
    other.write_shard("train", 1, _samples("train", SPLITS["train"])[rng.start : rng.stop])
    assert not cached._done["train"][rng.start : rng.stop].any()
    assert worker_store_writer(url, w.cache_key, "train", 1) is cached
    assert cached._done["train"][rng.start : rng.stop].all()
    # the same store rebuilt (same cache key, a new generation) is opened afresh, never served stale
    monkeypatch.setattr(_common, "now", lambda: "2001-01-01T00:00:00+00:00")
    rebuilt = _create(url, lock=False, overwrite=True)
    assert rebuilt.cache_key == w.cache_key
    fresh = worker_store_writer(url, w.cache_key, "train", 1)
    assert fresh is not cached and not fresh._done["train"].any()
    # another store with the same parameters is another entry
    elsewhere = f"{s3}/y.zarr"
    _create(elsewhere, lock=False)
    assert worker_store_writer(elsewhere, w.cache_key, "train", 0) is not fresh


def test_worker_writer_of_an_event_store_is_kept_too(s3):
    from eventkit.events import EVENT_DTYPE
    from eventkit.store import _worker_cache
    from eventkit.store.event_store import create_event_store, open_event_store
    from eventkit.store._worker_cache import worker_store_writer

    _worker_cache.clear()
    url = f"{s3}/ev.zarr"
    w = create_event_store(url, splits={"train": 5}, sensor=SENSOR, classes=["a", "b"], dataset="toy",
                           samples_per_shard=3, lock=False)  # fmt: skip
    rng = np.random.default_rng(0)
    samples = []
    for i in range(5):
        ev = np.zeros(int(rng.integers(1, 6)), EVENT_DTYPE)
        ev["t"], ev["x"], ev["y"], ev["p"] = np.arange(ev.size) * 10, i % 6, 1, 1
        samples.append((ev, i % 2, f"s{i}"))
    first = worker_store_writer(url, w.cache_key, "train", 0, kind="events")
    first.write_shard("train", 0, samples[:3])
    again = worker_store_writer(url, w.cache_key, "train", 1, kind="events")
    assert again is first
    again.write_shard("train", 1, samples[3:])
    w.finalize()
    store = open_event_store(url)["train"]
    for i, (ev, label, sid) in enumerate(samples):
        got = store[i]
        assert np.array_equal(got.events, ev) and (got.label, got.sample_id) == (label, sid)


def test_worker_writer_of_a_local_store_is_opened_each_time(tmp_path):
    from eventkit.store._worker_cache import worker_store_writer

    w = _create(tmp_path / "x.zarr", lock=False)
    assert worker_store_writer(tmp_path / "x.zarr", w.cache_key, "train", 0) is not worker_store_writer(
        tmp_path / "x.zarr", w.cache_key, "train", 0
    )


# -- integrity -------------------------------------------------------------------------------------
def test_damaged_shard_on_s3_is_reported_and_repaired(s3):
    from eventkit.store.inspect import inspect_store, mark_for_rewrite, verify_store

    url = f"{s3}/x.zarr"
    _build(url)
    shard = location(f"{url}/train/frames/c/1/0/0/0/0")  # samples 8, 9
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside a chunk: its crc32c no longer matches
    shard.write_bytes(bytes(data))
    split = open_store(url)["train"]
    bad = []
    for i in range(len(split)):
        try:
            split[i]
        except StoreCorruptError as err:
            assert f"sample {i} of split 'train' is damaged" in str(err) and "checksum" in str(err)
            bad.append(i)
    assert bad and set(bad) <= set(range(S, 10))  # only shard 1's samples
    damaged = verify_store(url)
    assert damaged and {d["index"] // S for d in damaged} == {1}
    assert inspect_store(url)["path"] == url
    assert mark_for_rewrite(url, damaged) == {"train": 10 - S}
    w = _create(url)
    assert w.missing_shards("train").tolist() == [1]
    _write(w)
    w.finalize()
    assert verify_store(url) == []
    location(f"{url}/train/labels/c/1").unlink()  # a deleted object of a written sample is damage too
    with pytest.raises(StoreCorruptError, match="labels chunk file is missing"):
        open_store(url)["train"]


# -- clear errors ----------------------------------------------------------------------------------
def test_missing_bucket_is_one_clear_error(s3):
    with pytest.raises(StoreAccessError, match="the bucket 'no-such-bucket-x' does not exist.*at http://127.0.0.1"):
        _create("s3://no-such-bucket-x/x.zarr")
    with pytest.raises(StoreAccessError, match="no-such-bucket-x' does not exist"):
        open_store("s3://no-such-bucket-x/x.zarr")


def test_unreachable_endpoint_is_one_clear_error(s3, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    # one attempt (botocore retries for seconds otherwise); the option reaches s3fs as given
    monkeypatch.setenv("EVENTKIT_STORAGE_OPTIONS", json.dumps({"config_kwargs": {"retries": {"max_attempts": 1}}}))
    with pytest.raises(StoreAccessError, match=rf"cannot check on the object store at http://127.0.0.1:{port} "
                                               r"\(EndpointConnectionError.*check the endpoint"):  # fmt: skip
        open_store(f"{s3}/x.zarr")


def test_bad_storage_options_are_one_clear_error(monkeypatch):
    monkeypatch.setenv("EVENTKIT_STORAGE_OPTIONS", "{not json")
    with pytest.raises(StoreAccessError, match="EVENTKIT_STORAGE_OPTIONS is not valid JSON"):
        open_store("s3://bucket/x.zarr")


def test_missing_s3fs_names_the_extra(monkeypatch):
    from eventkit._extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs now fails as if not installed
    with pytest.raises(MissingExtraError, match=r"s3fs, which is not installed; install the 's3' extra"):
        open_store("s3://bucket/x.zarr")


def test_overwrite_of_a_store_on_s3_is_refused(s3):
    from eventkit.store._replace import replace_store

    url = f"{s3}/x.zarr"
    _build(url)
    with pytest.raises(OptionError, match="cannot replace a store on an object store.*aws s3 rm --recursive"):
        with replace_store(url, overwrite=True):
            pass


def test_root_and_from_must_be_local():
    from eventkit.pipeline.convert import convert

    with pytest.raises(OptionError, match=r"--root \(root=\) must be a local or shared-filesystem folder"):
        convert("synthetic-gestures", frames=4, root="s3://bucket/data", out="s3://bucket/x.zarr")
    with pytest.raises(OptionError, match=r"--from \(from_dir=\) must be a local"):
        convert("synthetic-gestures", frames=4, from_dir="gs://bucket/extract")


def test_cli_download_root_url_is_refused_without_creating_a_folder(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cli.eventkit_cli import main

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["download", "synthetic-gestures", "--root", "s3://bucket/data"])
    assert res.exit_code == 1 and "Error: --root s3://bucket/data: the data root must be a local or shared-" \
                                  "filesystem folder, not a URL" in res.output
    assert not (tmp_path / "s3:").exists()


def test_cli_inspect_reads_a_store_on_s3(built):
    from click.testing import CliRunner

    from cli.eventkit_cli import main

    url = built[0]
    res = CliRunner().invoke(main, ["inspect", url, "--json"])
    assert res.exit_code == 0, res.output
    facts = json.loads(res.output)
    assert facts["path"] == url and facts["complete"] and facts["written"] == sum(SPLITS.values())
    assert facts["disk_bytes"] > 0 and facts["disk_files"] > 0


# -- a whole conversion with Dask workers, killed and resumed (slow) ----------------------------
def _eventkit(*args: str, env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "eventkit"), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)  # fmt: skip


@pytest.mark.slow
def test_dask_conversion_to_s3_killed_resumed_identical(s3, server, tmp_path):
    env = dict(os.environ, **server.env(), EVENTKIT_ROOT=str(tmp_path / "root"))  # workers inherit it
    subprocess.run([str(BIN / "eventkit"), "download", "synthetic-gestures", "--quiet"], env=env, check=True)
    ref = tmp_path / "ref.zarr"
    subprocess.run([str(BIN / "eventkit"), "convert", "synthetic-gestures", "-T", "8", "--executor", "serial",
                    "--quiet", "--out", str(ref)], env=env, check=True)  # fmt: skip
    url = f"{s3}/gestures.zarr"
    args = ["convert", "synthetic-gestures", "-T", "8", "--executor", "dask", "--workers", "2", "--out", url]
    first = _eventkit(*args, env=env)
    done0 = location(f"{url}/train/done/c/0")
    end = time.monotonic() + 120
    while not done0.exists() and first.poll() is None and time.monotonic() < end:
        time.sleep(0.1)
    assert first.poll() is None, first.communicate()[0]  # still converting: the first shard is in
    os.killpg(first.pid, signal.SIGSTOP)  # frozen mid-run (alive, holding the lock) while a second writer starts
    try:
        second = subprocess.run([str(BIN / "eventkit"), *args], env=env, capture_output=True, text=True)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # then killed: no handler runs, the lock stays behind
    first.wait()
    assert second.returncode == 1, second
    assert "another writer (process" in second.stderr and "holds the lock" in second.stderr, second.stderr
    assert location(url + ".lock").exists()
    assert not open_store(url, allow_incomplete=True)["train"].done.all()  # the kill left work to resume
    resumed = subprocess.run([str(BIN / "eventkit"), *args], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Traceback" not in resumed.stdout + resumed.stderr
    assert "taking over the lock" in resumed.stderr or "taking over the lock" in resumed.stdout
    _assert_same(open_store(url), open_store(ref))


@pytest.mark.slow
def test_job_array_parts_on_s3_then_finalize(s3, server, tmp_path):
    """``--part K/N`` writes one store on S3 from N processes (per-part lock objects), ``--finalize`` completes it."""
    env = dict(os.environ, **server.env(), EVENTKIT_ROOT=str(tmp_path / "root"))
    subprocess.run([str(BIN / "eventkit"), "download", "synthetic-gestures", "--quiet"], env=env, check=True)
    ref = tmp_path / "ref.zarr"
    base = ["convert", "synthetic-gestures", "-T", "8", "--executor", "serial", "--quiet"]
    subprocess.run([str(BIN / "eventkit"), *base, "--out", str(ref)], env=env, check=True)
    url = f"{s3}/parts.zarr"
    parts = [_eventkit(*base, "--out", url, "--part", f"{k}/2", env=env) for k in range(2)]
    for p in parts:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    assert not open_store(url, allow_incomplete=True).complete  # a part never marks the store complete
    fin = subprocess.run([str(BIN / "eventkit"), *base, "--out", url, "--finalize"], env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert fin.returncode == 0, fin.stdout + fin.stderr
    _assert_same(open_store(url), open_store(ref))
    assert not [p for p in location(s3).iterdir() if ".lock" in p.name]


@pytest.mark.slow
def test_worker_without_the_object_store_settings_is_named_before_any_sample(s3, server, tmp_path):
    """An external Dask worker lacking the endpoint and credentials: the pre-flight names it, one line."""
    from tests.helpers.dask_cluster import cluster

    env = dict(os.environ, **server.env(), EVENTKIT_ROOT=str(tmp_path / "root"))
    subprocess.run([str(BIN / "eventkit"), "download", "synthetic-gestures", "--quiet"], env=env, check=True)
    bare = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    bare["AWS_EC2_METADATA_DISABLED"] = "true"  # no credential lookup on a cloud metadata service
    url = f"{s3}/gestures.zarr"
    with cluster(tmp_path, env, worker_env=bare) as (addr, _):
        res = subprocess.run([str(BIN / "eventkit"), "convert", "synthetic-gestures", "-T", "8", "--scheduler", addr,
                              "--out", url, "--quiet"], env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: ") and "cannot use the object store" in lines[0], lines[0]
    assert not open_store(url, allow_incomplete=True)["train"].done.any()  # nothing was converted
