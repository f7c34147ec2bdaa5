"""Dataset conversion: ``eventkit.convert`` against SpikingJelly 2.0's DVS128Gesture pipeline.

    python -m bench.convert [--scale S] [--peer-recordings K] [--workers N] [--skip-peer] [--before-fix]
                            [--json out.json]

Data: a DVS128 Gesture-format set from ``/work/shared/tools/make_synthetic_dvsgesture.py OUT
--scale S`` under ``bench/_data/convert_s<S>/`` (git-ignored; generated once). ``--scale 1`` is
the full size (122 recordings, ~600 M events, ~4.8 GB); the default ``--scale 0.1`` is 12
recordings (~60 M events, ~485 MB), which fits the 2-core benchmark machine's time budget.

Rows (each run in a fresh child process, so peak RSS is that run's alone):

* ``eventkit serial`` / ``eventkit dask local`` / ``eventkit dask external``:
  ``eventkit.convert("dvs128-gesture", frames=16, split_by="number", from_dir=<data>, executor=...)``
  into a fresh store: in this process; on the local cluster it starts (``--workers`` processes,
  default 2 = the cores); on a separate ``dask scheduler`` + ``--workers`` ``dask worker``
  processes the bench starts on 127.0.0.1 first (``scheduler=``). ``start s`` is the cluster's
  start-up (local: ``DaskExecutor`` construction inside the run; external: from launching the
  scheduler until every worker has joined), ``convert s`` the conversion without it, ``vs serial``
  their ratio to the serial row. ``--before-fix`` runs every row with ``EVENTKIT_MALLOC_TUNE=0``
  (Dask's ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker, no malloc tuning in the task: the
  behaviour before issue 13);
* ``spikingjelly``: the pipeline of ``DVS128Gesture(root, data_type='frame', frames_number=16,
  split_by='number')`` from a fresh root whose ``extract/DvsGesture`` holds ``--peer-recordings``
  of the same files (symlinks; the trial lists name only those). Its constructor would md5-check
  ``root/download`` (the synthetic set has no IBM tarball) and it subclasses torchvision's
  ``DatasetFolder`` (not loadable beside our CPU torch), so its two stages are called exactly as
  the constructor calls them: ``DVS128Gesture.create_raw_from_extracted(extract, events_np)``
  (pure-Python AEDAT decode, savez_compressed, ThreadPool) then
  ``FrameFixedNumberBuilder(cfg, events_np, 128, 128).build()`` (16 threads) ->
  ``frames_number_16_split_by_number``. It decodes ~0.4 M ev/s, so it runs on a subset and its time is extrapolated to
  the whole set by event count (marked ``extrapolated``).

Peak RSS: ``per process`` is the largest peak of any one process of the run (the coordinator or
one worker: ``ru_maxrss`` of self and of waited-for children); ``total`` is the largest sum of
RSS over the run's process tree, sampled every 0.1 s with psutil. ``ratio`` = SpikingJelly's
(extrapolated) seconds / our conversion seconds (start-up apart). Frames are also checked value for value against SpikingJelly's
for the samples both converted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "bench" / "_data"
TOOL = Path("/work/shared/tools/make_synthetic_dvsgesture.py")
FRAMES = 16


def dataset(scale: float) -> Path:
    out = DATA_DIR / f"convert_s{scale:g}"
    if not (out / "synthetic_summary.json").is_file():
        print(f"generating {out} (scale {scale}) ...", file=sys.stderr)
        if out.exists():
            shutil.rmtree(out)
        subprocess.run([sys.executable, str(TOOL), str(out), "--scale", str(scale)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    return out


def _recordings(data: Path) -> list[tuple[str, str]]:
    base = data / "DvsGesture"
    return [(split, name) for split in ("train", "test") for name in (base / f"trials_to_{split}.txt").read_text().split()]


def _events_in(data: Path, names: list[str]) -> int:
    from eventkit.io import read_events

    return sum(int(read_events(data / "DvsGesture" / n, format="aedat31").size) for n in names)


def _sample_events(data: Path, names: list[str]) -> int:
    """Events inside the labelled windows (what a conversion integrates)."""
    import numpy as np

    from eventkit.io import read_events

    total = 0
    for n in names:
        t = read_events(data / "DvsGesture" / n, format="aedat31")["t"]
        rows = np.loadtxt(data / "DvsGesture" / (n[: -len(".aedat")] + "_labels.csv"), dtype=np.int64,
                          delimiter=",", skiprows=1, ndmin=2)  # fmt: skip
        total += sum(int(((t >= s) & (t < e)).sum()) for _, s, e in rows)
    return total


# -- child runs ------------------------------------------------------------------------------


def _rss_self_children() -> int:
    import resource

    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024


def run_ours(data: Path, out: Path, executor: str, workers: int, scheduler: str | None = None) -> dict:
    import eventkit
    from eventkit.pipeline.executors import dask as dask_executor

    if out.exists():
        shutil.rmtree(out)
    startup = [0.0]
    init = dask_executor.DaskExecutor.__init__

    def timed_init(self, *a, **kw) -> None:  # the local cluster's start-up, timed apart
        t = time.perf_counter()
        init(self, *a, **kw)
        startup[0] += time.perf_counter() - t

    dask_executor.DaskExecutor.__init__ = timed_init
    kw = {"scheduler": scheduler} if scheduler else {"workers": workers}
    t0 = time.perf_counter()
    r = eventkit.convert("dvs128-gesture", frames=FRAMES, split_by="number", from_dir=data, out=out,
                         executor=executor, progress=False, **kw)  # fmt: skip
    dt = time.perf_counter() - t0
    return {"seconds": dt, "startup": None if scheduler or executor == "serial" else startup[0],
            "convert": dt - (0.0 if scheduler else startup[0]), "samples": sum(r.samples.values()),
            "complete": r.complete, "failures": len(r.failures), "peak_rss_process": _rss_self_children()}  # fmt: skip


def start_external(workers: int, env: dict) -> tuple[str, list[subprocess.Popen], float]:
    """``dask scheduler`` + ``workers`` single-threaded ``dask worker`` processes on 127.0.0.1.

    Returns the scheduler address, the processes and the seconds until every worker had joined.
    """
    import socket

    from dask.distributed import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    dask_cli = str(Path(sys.executable).with_name("dask"))
    quiet = {"env": env, "cwd": REPO, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              **quiet)]  # fmt: skip
    procs += [subprocess.Popen([dask_cli, "worker", addr, "--nthreads", "1", "--no-dashboard"], **quiet)
              for _ in range(workers)]  # fmt: skip
    try:
        with Client(addr, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
    except BaseException:
        stop_external(procs)
        raise
    return addr, procs, time.perf_counter() - t0


def stop_external(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_spikingjelly(data: Path, root: Path, names: list[tuple[str, str]]) -> dict:
    from bench._peers import import_spikingjelly

    import_spikingjelly()
    from spikingjelly.datasets.base import FrameFixedNumberBuilder, NeuromorphicDatasetConfig
    from spikingjelly.datasets.dvs128_gesture import DVS128Gesture

    if root.exists():
        shutil.rmtree(root)
    (root / "download").mkdir(parents=True)
    ext = root / "extract" / "DvsGesture"
    ext.mkdir(parents=True)
    for split, n in names:
        stem = n[: -len(".aedat")]
        for f in (n, f"{stem}_labels.csv"):
            (ext / f).symlink_to(data / "DvsGesture" / f)
    for split in ("train", "test"):
        (ext / f"trials_to_{split}.txt").write_text("".join(f"{n}\n" for s, n in names if s == split))
    shutil.copy(data / "gesture_mapping.csv", root / "extract" / "gesture_mapping.csv")
    # DVS128Gesture(root, data_type="frame", frames_number=16, split_by="number") would first
    # md5-check root/download (the synthetic set has no IBM tarball) and subclasses torchvision's
    # DatasetFolder (not loadable here), so its two stages are called as its __init__ calls them:
    # prepare_raw_dataset -> create_raw_from_extracted (extract/ -> events_np/), then the frame
    # builder FrameFixedNumberBuilder(cfg, raw_root, H, W).build() (events_np/ -> frames_number_16_split_by_number/).
    cfg = NeuromorphicDatasetConfig(root=root, train=True, data_type="frame", frames_number=FRAMES, split_by="number")
    t0 = time.perf_counter()
    raw = root / "events_np"
    raw.mkdir()
    DVS128Gesture.create_raw_from_extracted(root / "extract", raw)
    t1 = time.perf_counter()
    H, W = DVS128Gesture.get_H_W()
    FrameFixedNumberBuilder(cfg, raw, H=H, W=W).build()
    dt = time.perf_counter() - t0
    n = sum(1 for _ in (root / f"frames_number_{FRAMES}_split_by_number").rglob("*.npz"))
    return {"seconds": dt, "raw_seconds": t1 - t0, "samples": n, "peak_rss_process": _rss_self_children()}


def _child(argv: list[str]) -> None:
    kind, data, out = argv[0], Path(argv[1]), Path(argv[2])
    if kind == "spikingjelly":
        res = run_spikingjelly(data, out, [tuple(x.split("/", 1)) for x in argv[3].split(",")])
    elif kind.startswith("tcp://"):
        res = run_ours(data, out, "dask", int(argv[3]), scheduler=kind)
    else:
        res = run_ours(data, out, kind, int(argv[3]))
    print("RESULT " + json.dumps(res), flush=True)


def _measure(args: list[str], env: dict | None = None, also: list[int] = ()) -> dict:
    """Run one child; sample the RSS of its whole process tree (and of the trees of ``also``) meanwhile."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "bench.convert", "--_child", *args], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    peak = [0]
    peak_one = [0]  # the largest single process seen (external workers are not the child's children)

    def sample() -> None:
        try:
            roots = [psutil.Process(proc.pid), *(psutil.Process(pid) for pid in also)]
            while proc.poll() is None:
                total = 0
                for q in [x for r in roots for x in (r, *r.children(recursive=True))]:
                    try:
                        rss = q.memory_info().rss
                    except psutil.Error:
                        continue
                    total += rss
                    peak_one[0] = max(peak_one[0], rss)
                peak[0] = max(peak[0], total)
                time.sleep(0.1)
        except psutil.Error:
            pass

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, _ = proc.communicate()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {args[0]} failed ({proc.returncode})")
    res = json.loads([line for line in stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
    res["peak_rss_total"] = peak[0]
    res["peak_rss_process"] = max(res["peak_rss_process"], peak_one[0])
    return res


def _compare_frames(data: Path, store: Path, sj_root: Path, names: list[tuple[str, str]]) -> tuple[int, int]:
    """(samples compared, samples equal): our store's frames vs SpikingJelly's npz frames."""
    import numpy as np

    from eventkit.store import open_store

    st = open_store(store)
    index = {s: {str(sid): i for i, sid in enumerate(st[s].sample_ids)} for s in st}
    n = same = 0
    for split, name in names:
        stem = name[: -len(".aedat")]
        rows = np.loadtxt(data / "DvsGesture" / f"{stem}_labels.csv", dtype=np.int64, delimiter=",", skiprows=1,
                          ndmin=2)  # fmt: skip
        per_label = [0] * 11
        for r, (cls, _, _) in enumerate(rows):
            lab = int(cls) - 1
            f = sj_root / f"frames_number_{FRAMES}_split_by_number" / split / str(lab) / f"{stem}_{per_label[lab]}.npz"
            per_label[lab] += 1
            theirs = np.load(f)["frames"]
            ours = st[split][index[split][f"{stem}_{r}"]]
            n += 1
            same += bool(ours.label == lab and np.array_equal(ours.frames[: ours.length].astype(np.float64), theirs))
    return n, same


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_child":
        _child(argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1, help="fraction of the 122 recordings (default 0.1)")
    ap.add_argument("--peer-recordings", type=int, default=2,
                    help="recordings SpikingJelly converts (1 train + 1 test by default); extrapolated by events")
    ap.add_argument("--workers", type=int, default=2, help="Dask workers (default 2)")
    ap.add_argument("--skip-peer", action="store_true", help="no SpikingJelly row")
    ap.add_argument("--before-fix", action="store_true",
                    help="EVENTKIT_MALLOC_TUNE=0: Dask's MALLOC_TRIM_THRESHOLD_ in workers, no malloc tuning")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)

    data = dataset(a.scale)
    recs = _recordings(data)
    names = [n for _, n in recs]
    events = _events_in(data, names)
    work = DATA_DIR / "convert_work"
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "EVENTKIT_MALLOC_TUNE": "0" if a.before_fix else "1"}
    rows = {}
    rows["eventkit serial"] = _measure(["serial", str(data), str(work / "serial.zarr"), "1"], env)
    rows["eventkit dask local"] = _measure(["dask", str(data), str(work / "dask.zarr"), str(a.workers)], env)
    addr, procs, startup = start_external(a.workers, env)
    try:
        ext = _measure([addr, str(data), str(work / "external.zarr"), str(a.workers)], env, [p.pid for p in procs])
    finally:
        stop_external(procs)
    ext["startup"] = startup
    rows["eventkit dask external"] = ext
    for r in rows.values():
        r["vs_serial"] = r["convert"] / rows["eventkit serial"]["convert"]
    peer_note = ""
    if not a.skip_peer:
        k = max(1, a.peer_recordings)
        sub = [next(r for r in recs if r[0] == "train")] + ([next(r for r in recs if r[0] == "test")] if k > 1 else [])
        sub += [r for r in recs if r not in sub][: max(0, k - len(sub))]
        sj_root = work / "sj_root"
        sj = _measure(["spikingjelly", str(data), str(sj_root), ",".join(f"{s}/{n}" for s, n in sub)])
        sub_events = _events_in(data, [n for _, n in sub])
        sj["measured_seconds"] = sj["seconds"]
        sj["measured_samples"] = sj["samples"]
        sj["measured_events"] = sub_events
        sj["seconds"] = sj["seconds"] * events / sub_events
        sj["samples"] = rows["eventkit serial"]["samples"]
        sj["extrapolated"] = True
        rows["spikingjelly"] = sj
        n, same = _compare_frames(data, work / "serial.zarr", sj_root, sub)
        peer_note = (f"SpikingJelly ran {len(sub)} of {len(recs)} recordings ({sub_events / 1e6:.1f} M of "
                     f"{events / 1e6:.1f} M events, {sj['measured_samples']} samples) in "
                     f"{sj['measured_seconds']:.1f} s; its row is extrapolated by event count. "
                     f"Frames equal to SpikingJelly's: {same}/{n} samples.")  # fmt: skip
        for k2 in ("eventkit serial", "eventkit dask local", "eventkit dask external"):
            rows[k2]["ratio"] = sj["seconds"] / rows[k2]["convert"]

    sample_events = _sample_events(data, names)
    print(f"\nDVS128 Gesture-format synthetic set, scale {a.scale:g}: {len(recs)} recordings, "
          f"{events / 1e6:.1f} M events ({sample_events / 1e6:.1f} M inside labelled windows), "
          f"T={FRAMES} split_by=number; {os.cpu_count()} cores; {a.workers} Dask workers; "
          f"{'BEFORE the allocator fix (EVENTKIT_MALLOC_TUNE=0)' if a.before_fix else 'allocator fix on'}\n")  # fmt: skip
    head = f"{'run':<24}{'samples':>8}{'events':>10}{'start s':>9}{'convert s':>11}{'vs serial':>10}{'M ev/s':>9}" \
           f"{'samples/s':>11}{'RSS/proc':>10}{'RSS total':>11}{'vs SJ':>8}"  # fmt: skip
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        label = name + (" (extrap.)" if r.get("extrapolated") else "")
        ratio = f"{r['ratio']:.1f}x" if "ratio" in r else "1x" if name == "spikingjelly" else "-"
        conv = r.get("convert", r["seconds"])
        start = f"{r['startup']:.2f}" if r.get("startup") is not None else "-"
        vs = f"{r['vs_serial']:.2f}x" if "vs_serial" in r else "-"
        print(f"{label:<24}{r['samples']:>8}{events / 1e6:>9.1f}M{start:>9}{conv:>11.2f}{vs:>10}"
              f"{events / conv / 1e6:>9.2f}{r['samples'] / conv:>11.1f}{r['peak_rss_process'] / 2**20:>8.0f}MB"
              f"{r['peak_rss_total'] / 2**20:>9.0f}MB{ratio:>8}")  # fmt: skip
    if peer_note:
        print("\n" + peer_note + " SpikingJelly's RSS is that of its subset run.")
    if a.json:
        a.json.write_text(json.dumps({"scale": a.scale, "before_fix": a.before_fix, "recordings": len(recs), "events": events,
                                      "sample_events": sample_events, "rows": rows, "note": peer_note}, indent=1))


if __name__ == "__main__":
    main()
