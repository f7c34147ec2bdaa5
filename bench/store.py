"""Store benchmark: ``python -m bench.store [--quick]``.

Write and read throughput (samples/s, one process) and bytes/sample of the eventkit frame store on
DVS128-Gesture-size samples (T=16, 2x128x128 uint16 counts from ~300k synthetic events) and
N-MNIST-size ones (T=16, 2x34x34, ~4k events), against SpikingJelly's frame cache run side by side:
one ``np.savez_compressed`` file of float64 frames per sample, read with ``np.load`` + float32 cast
(what ``load_npz_frames`` does). Also the codec comparison behind the default and a shard-size sweep.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

from bench._synthetic_frames import dvs_like_frames
from eventkit.store import create_store, open_store

SIZES = {  # name: (height, width, events per sample, samples written)
    "DVS128-Gesture": (128, 128, 300_000, 128),
    "N-MNIST": (34, 34, 4_000, 2048),
}
CODECS = {
    "zstd 1": ZstdCodec(level=1),
    "zstd 3": ZstdCodec(level=3),
    "zstd 9": ZstdCodec(level=9),
    "gzip 6": GzipCodec(level=6),
    "blosc lz4 shuffle": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
    "blosc lz4 bitshuffle": BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"),
    "blosc zstd1 bitshuffle": BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle"),
    "blosc zstd3 shuffle": BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),
    "blosc zstd3 bitshuffle (default)": BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
}


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def samples_for(h: int, w: int, n_events: int, n: int, distinct: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    pool = [dvs_like_frames(rng, t=16, height=h, width=w, n_events=n_events) for _ in range(min(n, distinct))]
    return [pool[i % len(pool)] for i in range(n)]


def bench_store(tmp: Path, frames: list[np.ndarray], codec=None, shard: int | None = None) -> dict[str, float]:
    n = len(frames)
    p, h, w = frames[0].shape[1:]
    path = tmp / "frames-T16-number.zarr"
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    wr = create_store(path, splits={"train": n}, t_max=16, sensor=(w, h, p), params={"frames": 16, "split_by": "number"},
                      classes=["a"], dataset="synthetic", samples_per_shard=shard, compressor=codec)  # fmt: skip
    for s in range(wr.n_shards("train")):
        wr.write_shard("train", s, [(frames[i], 0, str(i)) for i in wr.shard_range("train", s)])
    wr.finalize()
    t_write = time.perf_counter() - t0
    view = open_store(path)["train"]
    order = np.random.default_rng(1).permutation(n)
    t0 = time.perf_counter()
    for i in order:
        view[int(i)]
    t_rand = time.perf_counter() - t0
    t0 = time.perf_counter()
    view.read_frames(slice(None))
    t_bulk = time.perf_counter() - t0
    frame_bytes = du(path / "train" / "frames")
    return {
        "S": wr.samples_per_shard, "files": sum(1 for _ in (path / "train" / "frames").rglob("c/*/*/*/*/*")),
        "kB": frame_bytes / n / 1e3, "write": n / t_write, "rand": n / t_rand, "bulk": n / t_bulk,
    }  # fmt: skip


def bench_npz(tmp: Path, frames: list[np.ndarray]) -> dict[str, float]:
    n = len(frames)
    d = tmp / "sj_frames"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    t0 = time.perf_counter()
    for i, f in enumerate(frames):
        np.savez_compressed(d / f"{i}.npz", frames=f.astype(np.float64))  # SpikingJelly's cache
    t_write = time.perf_counter() - t0
    order = np.random.default_rng(1).permutation(n)
    t0 = time.perf_counter()
    for i in order:
        np.load(d / f"{int(i)}.npz", allow_pickle=True)["frames"].astype(np.float32)
    t_read = time.perf_counter() - t0
    return {"kB": du(d) / n / 1e3, "write": n / t_write, "rand": n / t_read}


def codec_table(frames: list[np.ndarray]) -> list[tuple[str, float, float, float]]:
    x = np.stack(frames)
    rows = []
    for name, c in CODECS.items():
        store = zarr.storage.MemoryStore()
        a = zarr.create_array(store, shape=x.shape, dtype=x.dtype, chunks=(1, *x.shape[1:]), shards=x.shape,
                              compressors=c, fill_value=0)  # fmt: skip
        t0 = time.perf_counter()
        a[:] = x
        tw = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert (a[:] == x).all()
        tr = time.perf_counter() - t0
        nbytes = sum(len(v.to_bytes()) for k, v in store._store_dict.items() if "/c" in "/" + k)
        rows.append((name, nbytes / len(x) / 1e3, len(x) / tw, len(x) / tr))
    b = [io.BytesIO() for _ in frames]
    t0 = time.perf_counter()
    for f, buf in zip(frames, b):
        np.savez_compressed(buf, frames=f.astype(np.float64))
    tw = time.perf_counter() - t0
    t0 = time.perf_counter()
    for buf in b:
        buf.seek(0)
        np.load(buf)["frames"].astype(np.float32)
    tr = time.perf_counter() - t0
    rows.append(("SpikingJelly npz float64", sum(len(x.getvalue()) for x in b) / len(b) / 1e3, len(b) / tw, len(b) / tr))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples, no shard sweep")
    args = ap.parse_args()
    print(f"zarr {zarr.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs; one process; synthetic DVS-like counts")
    with tempfile.TemporaryDirectory(prefix="eventkit-bench-store-") as tmpdir:
        tmp = Path(tmpdir)
        for name, (h, w, n_events, n) in SIZES.items():
            n = n // 4 if args.quick else n
            frames = samples_for(h, w, n_events, n)
            raw_kb = frames[0].nbytes / 1e3
            print(f"\n== {name}: T=16, 2x{h}x{w}, ~{n_events:,} events/sample, {n} samples, raw uint16 {raw_kb:.1f} kB ==")
            print(f"{'codec (inner chunk, 32 samples)':34s} {'kB/sample':>10s} {'write/s':>9s} {'read/s':>9s}")
            for row in codec_table(frames[:32]):
                print(f"{row[0]:34s} {row[1]:10.1f} {row[2]:9.0f} {row[3]:9.0f}")
            sj = bench_npz(tmp, frames)
            st = bench_store(tmp, frames)
            print(f"\n{'store':34s} {'kB/sample':>10s} {'write/s':>9s} {'rand read/s':>12s} {'bulk read/s':>12s}")
            print(f"{'SpikingJelly npz float64 (files)':34s} {sj['kB']:10.1f} {sj['write']:9.0f} {sj['rand']:12.0f} {'-':>12s}")
            print(f"{'eventkit zarr (S=%d)' % st['S']:34s} {st['kB']:10.1f} {st['write']:9.0f} {st['rand']:12.0f} {st['bulk']:12.0f}")
            print(f"{'ratio eventkit / SpikingJelly':34s} {sj['kB'] / st['kB']:9.2f}x {st['write'] / sj['write']:8.1f}x "
                  f"{st['rand'] / sj['rand']:11.1f}x   (size: smaller by)")  # fmt: skip
            if not args.quick:
                print(f"\n{'shard sweep: S (files)':34s} {'kB/sample':>10s} {'write/s':>9s} {'rand read/s':>12s}")
                for s in (8, 32, 128) if h > 64 else (64, 256, 1024):
                    r = bench_store(tmp, frames, shard=s)
                    print(f"{'S=%d (%d shard files)' % (s, r['files']):34s} {r['kB']:10.1f} {r['write']:9.0f} {r['rand']:12.0f}")


if __name__ == "__main__":
    main()
