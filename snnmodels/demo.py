"""The end-to-end demo: the whole product on the embedded synthetic-gestures dataset, on the CPU.

``snnmodels demo --out out/demo`` (and ``bash scripts/demo.sh``) runs, printing each step:

1. generate the seeded synthetic-gestures recordings (DVS128 Gesture's file format) and pack them
   into a ``.tar.gz`` with :func:`eventkit.datasets.mirror.pack_tree`;
2. serve that archive from a local mirror (``http.server`` on 127.0.0.1, a free port, a
   background thread) and write a manifest for it with its size, md5 and sha256;
3. ``eventkit download --manifest <mirror manifest>``: fetch, verify and extract through the real
   download path;
4. ``eventkit convert ... --executor dask``: T=8 time-split frames, 4x downsampled to 32x32;
5. train :class:`~snnmodels.models.SmallNet` with the fused numba neurons, choosing ``best.pt`` on a
   validation split carved from the training users (never on the test split), and evaluate that
   checkpoint once on the test split: test accuracy, curves, confusion matrix.

Everything lands under ``out``: ``mirror/``, ``data/`` (the eventkit root), ``run/`` (checkpoints,
``log.csv``, ``curves.png``, ``confusion_test.png``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from snnmodels.errors import ConfigError, SnnmodelsError

__all__ = ["DemoSettings", "DEFAULT", "QUICK", "run_demo", "serve_directory"]


@dataclass(frozen=True)
class DemoSettings:
    """Dataset size, frames and training schedule of the demo."""

    train_users: int = 8
    test_users: int = 4
    lightings_per_user: int = 2
    frames: int = 8
    downsample: int = 4
    epochs: int = 20
    batch_size: int = 16
    lr: float = 2e-3
    seed: int = 0


DEFAULT = DemoSettings()
QUICK = DemoSettings(train_users=2, test_users=1, lightings_per_user=1, epochs=2)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_directory(directory: str | os.PathLike[str]) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port) in a background thread.

    Yields the base URL (``http://127.0.0.1:PORT``); the server stops when the block exits.
    """
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-mirror", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _eventkit(*args: str) -> None:
    """Run the ``eventkit`` command (the same interpreter), echoing it first."""
    print("$ eventkit " + " ".join(args), flush=True)
    exe = Path(sys.executable).with_name("eventkit")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "eventkit"]
    proc = subprocess.run(cmd + list(args), check=False)
    if proc.returncode != 0:
        raise SnnmodelsError(
            f"`eventkit {' '.join(args)}` failed with exit status {proc.returncode} (its message is above)"
        )


#: Written into ``out`` by the demo: only then are ``out``'s demo sub-folders the demo's to remove.
DEMO_MARKER = ".snnmodels-demo"
DEMO_FOLDERS = ("mirror", "data", "run", "mirror_src")


def clear_demo_folders(out: Path) -> None:
    """Remove an earlier demo run's folders under ``out``; never a folder the demo did not make.

    Raises
    ------
    ConfigError
        ``out`` holds ``mirror/``, ``data/``, ``run/`` or ``mirror_src/`` but no demo marker (a
        user's own folders): nothing is removed.
    """
    present = [out / name for name in DEMO_FOLDERS if (out / name).exists() or (out / name).is_symlink()]
    if present and not (out / DEMO_MARKER).is_file():
        raise ConfigError(
            f"{out}: already holds {', '.join(p.name + '/' for p in present)} that the demo did not make; "
            f"they will not be removed: choose another --out (an empty or new folder)"
        )
    for d in present:
        if d.is_symlink() or not d.is_dir():
            d.unlink()  # a link is removed, never what it points to
        else:
            shutil.rmtree(d)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("made by `snnmodels demo`; its mirror/, data/ and run/ are removed on a re-run\n")


def run_demo(out: str | os.PathLike[str] = "out/demo", *, epochs: int | None = None, quick: bool = False,
             settings: DemoSettings | None = None) -> dict[str, object]:
    """Run the demo (see the module docstring); return accuracy, timings and output paths.

    A re-run starts from scratch: ``out/mirror``, ``out/data`` and ``out/run`` are removed first,
    but only when ``out`` holds the demo's marker file (:func:`clear_demo_folders`).
    """
    from eventkit.datasets.mirror import mirror_manifest_text, pack_tree
    from eventkit.datasets.registry import get_manifest
    from eventkit.datasets.synthetic_gestures import SyntheticGesturesConfig, generate_synthetic_gestures
    from snnmodels.training import TrainConfig, evaluate_checkpoint, fit, format_report

    s = settings or (QUICK if quick else DEFAULT)
    if epochs is not None:
        s = DemoSettings(**{**s.__dict__, "epochs": epochs})
    out = Path(out).resolve()
    mirror, root, run = out / "mirror", out / "data", out / "run"
    clear_demo_folders(out)
    t_start = time.perf_counter()
    steps: dict[str, float] = {}

    def step(name: str, t0: float) -> None:
        steps[name] = time.perf_counter() - t0
        print(f"  [{name}: {steps[name]:.1f} s]", flush=True)

    print(f"== 1/5 generate synthetic gestures ({s.train_users} train + {s.test_users} test users x "
          f"{s.lightings_per_user} lightings x 11 gestures) and pack them", flush=True)
    t0 = time.perf_counter()
    cfg = SyntheticGesturesConfig(train_users=s.train_users, test_users=s.test_users,
                                  lightings_per_user=s.lightings_per_user, seed=s.seed)
    src = generate_synthetic_gestures(out / "mirror_src", cfg)
    archive = pack_tree(src, mirror / "synthetic-gestures.tar.gz")
    shutil.rmtree(out / "mirror_src", ignore_errors=True)
    print(f"  {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    step("generate", t0)

    with serve_directory(mirror) as url:
        print(f"== 2/5 local mirror at {url}/", flush=True)
        manifest = out / "synthetic-gestures-mirror.toml"
        manifest.write_text(mirror_manifest_text(get_manifest("synthetic-gestures"), archive,
                                                 [f"{url}/{archive.name}"]))
        print(f"  manifest with size, md5 and sha256: {manifest}")
        print("== 3/5 download, verify and extract from the mirror", flush=True)
        t0 = time.perf_counter()
        _eventkit("download", "--manifest", str(manifest), "--root", str(root), "--quiet")
        step("download", t0)

    print("== 4/5 convert to frames with Dask", flush=True)
    t0 = time.perf_counter()
    _eventkit("convert", "synthetic-gestures", "--manifest", str(manifest), "-T", str(s.frames), "--split-by",
              "time", "--downsample", str(s.downsample), "--root", str(root), "--executor", "dask", "--quiet")
    stores = sorted((root / "synthetic-gestures" / "stores").glob("frames-*.zarr"))
    if not stores:
        raise SnnmodelsError(f"no frame store under {root / 'synthetic-gestures' / 'stores'}")
    store = stores[0]
    step("convert", t0)

    print(f"== 5/5 train the small spiking network on the CPU (numba neurons, {s.epochs} epochs)", flush=True)
    print(f"$ snnmodels train --store {store} --model small --epochs {s.epochs} --batch-size {s.batch_size} "
          f"--lr {s.lr} --backend numba --device cpu --out {run}", flush=True)
    t0 = time.perf_counter()
    import torch

    threads = torch.get_num_threads()
    result = fit(TrainConfig(store=str(store), model="small", out=str(run), epochs=s.epochs,
                             batch_size=s.batch_size, lr=s.lr, backend="numba", device="cpu", seed=s.seed,
                             progress=True, test_split=""))  # test: once, by evaluate_checkpoint below
    step("train", t0)
    t0 = time.perf_counter()
    report = evaluate_checkpoint(run / "best.pt", store, samples=[0, 1, 2], out=run)
    print(format_report(report))
    step("evaluate", t0)
    total = time.perf_counter() - t_start
    print("== result")
    val = result.validation
    print(f"test accuracy {report.accuracy:.2%} on {report.num_samples} test samples, of the model selected on "
          f"the validation split (best.pt, epoch {result.best_epoch}, validation accuracy {result.best_acc:.2%} on "
          f"{len(val.val_indices) if val else 0} held-out training samples); the test split was used once, "
          f"at the end, and never to pick the model")
    print(f"wall time: {total:.1f} s total ({', '.join(f'{k} {v:.1f} s' for k, v in steps.items())}); "
          f"torch threads: {threads}")
    print(f"curves: {run / 'curves.png'}")
    print(f"confusion matrix: {report.confusion_png}")
    print(f"log: {run / 'log.csv'}  checkpoints: {run / 'best.pt'}, {run / 'last.pt'}")
    return {"accuracy": report.accuracy, "val_accuracy": result.best_acc, "best_epoch": result.best_epoch,
            "seconds": total, "steps": steps,
            "store": store, "run": run}


if __name__ == "__main__":  # python -m snnmodels.demo [OUT]
    run_demo(sys.argv[1] if len(sys.argv) > 1 else "out/demo")
