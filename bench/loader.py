"""DataLoader benchmark: ``python -m bench.loader [--quick] [--store PATH]``.

Samples/s through ``torch.utils.data.DataLoader`` (batch 16, shuffled, 0 and 2 workers) for
eventkit's :class:`~eventkit.torch.FrameDataset` against the two caches users have today, on the
same frames, in the same run:

* **SpikingJelly 2.0**: one ``np.savez_compressed`` file of float64 ``frames`` per sample, read
  with SpikingJelly's own ``load_npz_frames`` (``np.load(...)["frames"].astype(float32)``, what
  its ``DatasetFolder`` loader calls), returning ``(frames, label)``;
* **Tonic 1.7**: ``tonic.DiskCachedDataset`` (one lzf-compressed HDF5 file per sample), filled
  from an in-memory dataset of int16 frames (``ToFrame``'s dtype) before timing.

Data: DVS128-Gesture-size samples (T=16, 2x128x128) of synthetic DVS-like counts (~300k events,
``bench/_synthetic_frames.py``), or the samples of an existing frame store with ``--store``
(e.g. ``eventkit convert synthetic-gestures -T 16``'s store).

Method: one process pinned to one compute thread (torch, Blosc), so 0 workers is one core and 2
workers use the machine's two cores. Loaders are persistent (``persistent_workers=True``); each
gets one untimed warm-up epoch (worker start, page cache), then ``--repeat`` rounds in which every
loader runs one epoch (interleaved, so load spikes hit all of them); the median epoch gives
samples/s. eventkit is measured both ways: the default (``FrameDataset(path)``: float32
tensors, cast in the worker) and the opt-in integer fast path (``dtype=None``: the stored uint16,
or int16 for a store converted with ``--dtype int16``), which the model casts on its device.
eventkit's rows load the recommended way, ``collate_fn=pad_collate`` (FrameDataset's
``__getitems__`` decodes the batch into one tensor that pad_collate returns without a copy); the
peers use the default collate. The DESIGN.md §8 target is >= 3x Tonic. The last row (a dataset
that returns one preallocated uint16 tensor) is the DataLoader's own ceiling: with workers, every batch is copied
into fresh shared memory (~0.7 ms per 1 MB sample on our VM), which bounds every loader alike.
"""

from __future__ import annotations

from bench._timing import force_single_thread, limit_torch_threads

force_single_thread()

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numcodecs  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from bench._peers import import_spikingjelly  # noqa: E402
from bench._synthetic_frames import dvs_like_frames  # noqa: E402
from eventkit.store import create_store, open_store  # noqa: E402
from eventkit.torch import FrameDataset, pad_collate  # noqa: E402

BATCH = 16
T, H, W = 16, 128, 128
N_EVENTS = 300_000
TARGET_VS_TONIC = 3.0


def make_frames(n: int, distinct: int = 32) -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng(0)
    pool = [dvs_like_frames(rng, t=T, height=H, width=W, n_events=N_EVENTS) for _ in range(min(n, distinct))]
    return [pool[i % len(pool)] for i in range(n)], [i % 11 for i in range(n)]


def frames_from_store(path: Path, n: int) -> tuple[list[np.ndarray], list[int]]:
    view = open_store(path)["train"]
    idx = range(min(n, len(view)))
    samples = [view[i] for i in idx]
    return [s.frames[: s.length] for s in samples], [s.label for s in samples]


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class _NpzFolder(Dataset):
    """SpikingJelly's frame folder as its DatasetFolder reads it: ``(loader(path), target)``."""

    def __init__(self, files: list[Path], labels: list[int], loader: Callable[[Path], np.ndarray]) -> None:
        self.files, self.labels, self.loader = files, labels, loader

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.loader(self.files[i]), self.labels[i]


class _Ceiling(Dataset):
    """No I/O at all: one preallocated uint16 sample, returned every time (the DataLoader's own cost)."""

    def __init__(self, sample: np.ndarray, n: int) -> None:
        self.x, self.n = torch.from_numpy(np.ascontiguousarray(sample, dtype=np.uint16)), n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x, 0


class _InMemory(Dataset):
    """What Tonic's DiskCachedDataset wraps: samples computed in memory (int16, like ToFrame)."""

    def __init__(self, frames: list[np.ndarray], labels: list[int]) -> None:
        self.frames, self.labels = frames, labels

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.frames[i].astype(np.int16), self.labels[i]


DEFAULT_ROW = "eventkit FrameDataset (default: float32)"
RAW_ROW = "eventkit FrameDataset (dtype=None: raw uint16)"


class _Rows(dict):
    """``{row name: (dataset, bytes)}`` that also answers to the row names used before issue 12
    (``bench.loader_readpath`` and the older RESULTS.md tables): uint16 was the default then."""

    OLD_NAMES = {"eventkit FrameDataset (uint16, default)": RAW_ROW, "eventkit FrameDataset (dtype=float32)": DEFAULT_ROW}

    def __missing__(self, key: str) -> tuple[Dataset, int]:
        if key in self.OLD_NAMES:
            return self[self.OLD_NAMES[key]]
        raise KeyError(key)


def build(tmp: Path, frames: list[np.ndarray], labels: list[int]) -> dict[str, tuple[Dataset, int]]:
    """Write the three caches; return ``{name: (dataset, bytes on disk)}``.

    Without the peers (``pip install -e .[bench]``) only eventkit's rows and the ceiling are built.
    """
    try:
        import tonic

        sj = import_spikingjelly()
    except ImportError as exc:
        print(f"peers not installed ({exc}): eventkit rows and the ceiling only")
        tonic = sj = None
    n = len(frames)
    t_max = max(f.shape[0] for f in frames)
    p, h, w = frames[0].shape[1:]
    stores = {}
    for dtype in ("uint16", "int16"):  # the default store, and one converted with --dtype int16
        stores[dtype] = tmp / f"frames-T16-number-{dtype}.zarr"
        wr = create_store(stores[dtype], splits={"train": n}, t_max=t_max, sensor=(w, h, p), dtype=dtype,
                          params={"frames": t_max, "split_by": "number"}, classes=[str(c) for c in range(11)],
                          dataset="bench")  # fmt: skip
        for s in range(wr.n_shards("train")):
            wr.write_shard("train", s, [(frames[i], labels[i], str(i)) for i in wr.shard_range("train", s)])
        wr.finalize()
    fs = {k: du(v / "train" / "frames") for k, v in stores.items()}
    ours = {  # the default (float32 tensors) and the opt-in integer fast path (dtype=None: the stored dtype)
        DEFAULT_ROW: (FrameDataset(stores["uint16"]), fs["uint16"]),
        RAW_ROW: (FrameDataset(stores["uint16"], dtype=None), fs["uint16"]),
        "eventkit FrameDataset (int16 store, dtype=None)": (FrameDataset(stores["int16"], dtype=None), fs["int16"]),
    }
    ceiling = {"ceiling: in-memory uint16 tensor, no I/O": (_Ceiling(frames[0], n), 0)}
    if tonic is None:
        return _Rows({**ours, **ceiling})
    npz = tmp / "sj_frames"
    npz.mkdir()
    files = []
    for i, f in enumerate(frames):
        files.append(npz / f"{i}.npz")
        np.savez_compressed(files[-1], frames=f.astype(np.float64))  # SpikingJelly's frame cache
    cache = tmp / "tonic_cache"
    tonic_ds = tonic.DiskCachedDataset(_InMemory(frames, labels), cache_path=str(cache))
    for i in range(n):  # fill the cache (untimed)
        tonic_ds[i]
    return _Rows({
        **ours,
        "SpikingJelly npz (float32)": (_NpzFolder(files, labels, sj.datasets.load_npz_frames), du(npz)),
        "Tonic DiskCachedDataset (int16)": (tonic_ds, du(cache)),
        **ceiling,
    })


def run(datasets: dict[str, tuple[Dataset, int]], workers: int, repeat: int) -> dict[str, float]:
    """Median samples/s per dataset for one worker count (persistent loaders, interleaved epochs)."""
    loaders = {}
    for name, (ds, _) in datasets.items():
        collate = pad_collate if name.startswith("eventkit") else None  # FrameDataset's recommended (fast) collate
        loaders[name] = DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=workers, collate_fn=collate,
                                   persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))  # fmt: skip
    times: dict[str, list[float]] = {k: [] for k in loaders}
    for r in range(repeat + 1):
        for name, loader in loaders.items():
            t0 = time.perf_counter()
            n = sum(len(batch[1]) for batch in loader)
            if r:  # round 0 is the warm-up
                times[name].append(time.perf_counter() - t0)
    out = {name: n / statistics.median(ts) for name, ts in times.items()}
    del loaders
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64 samples, 3 rounds")
    ap.add_argument("--samples", type=int, default=320, help="samples per epoch")
    ap.add_argument("--repeat", type=int, default=5, help="timed epochs per loader")
    ap.add_argument("--store", type=Path, default=None, help="take the samples from this frame store's train split")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = ap.parse_args()
    n, repeat = (64, 3) if args.quick else (args.samples, args.repeat)
    limit_torch_threads()
    numcodecs.blosc.set_nthreads(1)
    frames, labels = frames_from_store(args.store, n) if args.store else make_frames(n)
    src = f"store {args.store}" if args.store else f"synthetic DVS-like counts, ~{N_EVENTS:,} events/sample"
    raw = frames[0].nbytes / 1e3
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, one compute thread per process; batch {BATCH}, shuffled")
    print(f"data: {len(frames)} samples [{frames[0].shape[0]}, 2, {frames[0].shape[2]}, {frames[0].shape[3]}] "
          f"({src}), raw uint16 {raw:.0f} kB/sample; {repeat} timed epochs, median")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="eventkit-bench-loader-"))
    try:
        datasets = build(tmp, frames, labels)
        res = {w: run(datasets, w, repeat) for w in (0, 2)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tonic = {w: res[w].get("Tonic DiskCachedDataset (int16)", float("nan")) for w in res}
    lines = [
        "| loader | kB/sample on disk | samples/s, 0 workers | samples/s, 2 workers | vs Tonic (0 / 2) | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, (_, nbytes) in datasets.items():
        r0, r2 = res[0][name], res[2][name]
        ratio = f"{r0 / tonic[0]:.1f}x / {r2 / tonic[2]:.1f}x" if tonic[0] == tonic[0] else "n/a"
        target = ""
        if name.startswith("eventkit") and tonic[0] == tonic[0]:  # not NaN: Tonic was measured
            verdict = ["PASS" if r / tonic[w] >= TARGET_VS_TONIC else "MISS" for w, r in ((0, r0), (2, r2))]
            target = f">= {TARGET_VS_TONIC:g}x Tonic: {' / '.join(verdict)}"
        lines.append(f"| {name} | {nbytes / len(frames) / 1e3:.1f} | {r0:.0f} | {r2:.0f} | {ratio} | {target} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
