"""Static-image conversion benchmark: ``python -m bench.synth [--quick] [--png DIR]``.

Images/s of each :mod:`eventkit.synth` method (saccade, odg, diff) at 128x128 and 224x224, on one
core, for the method alone (``method.frames(image, T)`` on a prepared float image) and end to end
per image (``prepare_image`` from a 256x320 RGB uint8 array + method + frames). Also events per
image. The images are deterministic synthetic "natural-like" scenes (smooth 1/f-ish background,
bright and dark boxes and discs) so the event counts resemble a photograph's, not white noise's.

There is no peer to run side by side (SpikingJelly and Tonic have no image-to-event conversion; the
ES-ImageNet generator needs a GPU torch and the N-MNIST recordings a pan-tilt unit), so the table
gives absolute numbers on this machine; they move by about ±30 % between runs on shared cores.

``--png DIR`` also writes a picture of one converted image per method (ON red, OFF blue, frames side
by side) with Pillow, for the documentation.
"""

from __future__ import annotations

from bench._timing import force_single_thread

force_single_thread()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from eventkit.synth import ODG, FrameDiff, Saccade, prepare_image  # noqa: E402

METHODS = {"saccade": (Saccade(), 12), "odg": (ODG(), 8), "diff": (FrameDiff(), 8)}
SIZES = (128, 224)


def scene(seed: int, h: int = 256, w: int = 320) -> np.ndarray:
    """A deterministic RGB uint8 natural-like scene."""
    rng = np.random.default_rng(seed)
    # smooth background: sum of a few low-frequency cosines
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.zeros((h, w), np.float32)
    for _ in range(6):
        fx, fy, ph = rng.uniform(0.5, 4, 2).tolist() + [rng.uniform(0, 6.28)]
        bg += np.cos(2 * np.pi * (fx * xx / w + fy * yy / h) + ph) * rng.uniform(0.05, 0.15)
    img = 0.45 + bg
    for _ in range(8):  # boxes
        x0, y0 = rng.integers(0, w - 40), rng.integers(0, h - 40)
        bw, bh = rng.integers(15, 80, 2)
        img[y0 : y0 + bh, x0 : x0 + bw] = rng.uniform(0, 1)
    for _ in range(6):  # discs
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(8, 40)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(0, 1)
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)  # sensor-like grain
    rgb = np.clip(np.stack([img, img * 0.9 + 0.05, img * 1.1 - 0.05], -1), 0, 1)
    return (rgb * 255).astype(np.uint8)


def bench(n_images: int, rounds: int) -> list[dict]:
    raw = [scene(i) for i in range(n_images)]
    rows = []
    for size in SIZES:
        for name, (m, t) in METHODS.items():
            prepared = [prepare_image(r, size, gray=m.gray, resample=m.resample) for r in raw]
            m.frames(prepared[0], t, 0)  # warm-up: numba compile / caches
            n_ev = int(np.mean([m.events(p, 0).size for p in prepared]))
            alone, full = [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                for i, p in enumerate(prepared):
                    m.frames(p, t, i)
                alone.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for i, r in enumerate(raw):
                    m.frames(prepare_image(r, size, gray=m.gray, resample=m.resample), t, i)
                full.append(time.perf_counter() - t0)
            rows.append({
                "method": name, "size": size, "frames": t, "events_per_image": n_ev,
                "images_per_s": n_images / float(np.median(alone)),
                "images_per_s_end_to_end": n_images / float(np.median(full)),
            })  # fmt: skip
    return rows


def table(rows: list[dict]) -> str:
    head = f"{'method':<8} {'size':>9} {'T':>3} {'events/image':>13} {'images/s':>10} {'images/s (+prepare)':>20}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['method']:<8} {r['size']:>4}x{r['size']:<4} {r['frames']:>3} {r['events_per_image']:>13,} "
                     f"{r['images_per_s']:>10.1f} {r['images_per_s_end_to_end']:>20.1f}")  # fmt: skip
    return "\n".join(lines)


def render_png(path: Path, size: int = 128) -> list[Path]:
    """One PNG per method: the frames of one scene side by side (ON red, OFF blue, gray = none)."""
    from PIL import Image

    path.mkdir(parents=True, exist_ok=True)
    raw = scene(0)
    out = []
    for name, (m, t) in METHODS.items():
        img = prepare_image(raw, size, gray=m.gray, resample=m.resample)
        fr = m.frames(img, t, 0).astype(np.float32)
        tiles = []
        for k in range(fr.shape[0]):
            on, off = fr[k, 1], fr[k, 0]
            scale = max(float(np.percentile(np.maximum(on, off)[np.maximum(on, off) > 0], 99)) if (on + off).any()
                        else 1.0, 1.0)  # fmt: skip
            rgb = np.full((*on.shape, 3), 32, np.float32)
            rgb[..., 0] += 223 * np.clip(on / scale, 0, 1)
            rgb[..., 2] += 223 * np.clip(off / scale, 0, 1)
            tiles.append(rgb)
            tiles.append(np.full((size, 2, 3), 255, np.float32))
        src = np.repeat((img * 255)[..., None], 3, -1)
        strip = np.concatenate([src, np.full((size, 4, 3), 255, np.float32), *tiles[:-1]], axis=1)
        p = path / f"synth_{name}_{size}.png"
        Image.fromarray(strip.astype(np.uint8)).save(p)
        out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 images, 1 round")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="write the rows as JSON")
    ap.add_argument("--png", type=Path, default=None, help="write one picture per method into this folder")
    a = ap.parse_args()
    n, rounds = (4, 1) if a.quick else (a.images, a.rounds)
    rows = bench(n, rounds)
    print(f"eventkit.synth, one core, {n} images x {rounds} rounds (median)")
    print(table(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    if a.png:
        for p in render_png(a.png):
            print(f"picture: {p}")


if __name__ == "__main__":
    main()
