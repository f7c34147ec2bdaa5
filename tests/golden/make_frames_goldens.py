"""Regenerate tests/golden/frames_sj_*.npz: SpikingJelly 2.0 frame outputs on seeded inputs.

Run from the repository root with the peers installed (the product and the tests never import them)::

    .venv/bin/python tests/golden/make_frames_goldens.py

Each file holds the input events (``t, x, y, p`` int64 columns, plus ``width``/``height``) and, per
call, SpikingJelly's frames as uint16 under a key such as ``number_T10`` / ``time_T10`` /
``duration_D40000``. SpikingJelly returns float64; the script checks every value is an exact
integer below 2**16 before casting. Calls where SpikingJelly raises are listed under ``raises``
(key names joined by ``,``), which the tests use to check that eventkit returns a defined result there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from bench._peers import import_spikingjelly  # noqa: E402

SEED = 20240603


def _inputs() -> dict[str, tuple[dict[str, np.ndarray], int, int, list[tuple[str, int]]]]:
    rng = np.random.default_rng(SEED)
    cases = {}
    # N-MNIST-sized sensor, bursty sorted timestamps with a few exact duplicates.
    n = 3000
    t = np.sort(rng.integers(0, 300_000, n))
    t[100:110] = t[100]
    ev = {"t": t, "x": rng.integers(0, 34, n), "y": rng.integers(0, 34, n), "p": rng.integers(0, 2, n)}
    calls = [("number", 10), ("time", 10), ("number", 7), ("time", 7), ("duration", 40_000), ("duration", 37_500)]
    cases["random34"] = (ev, 34, 34, calls)
    # Hot pixels (counts > 255 on one pixel) over a small sensor.
    n = 4000
    ev = {"t": np.sort(rng.integers(0, 50_000, n)), "x": rng.integers(0, 4, n), "y": rng.integers(0, 3, n),
          "p": rng.integers(0, 2, n)}
    cases["hot4x3"] = (ev, 4, 3, [("number", 3), ("time", 3), ("duration", 10_000)])
    # The hand-crafted table (tonic_and_decoders.md §1.5): t = 0, 10, ..., 100 on a 16x1 sensor.
    t = np.arange(0, 101, 10)
    ev = {"t": t, "x": np.arange(11), "y": np.zeros(11, np.int64), "p": np.arange(11) % 2}
    cases["table11"] = (ev, 16, 1, [("number", 3), ("time", 3), ("duration", 30), ("duration", 25)])
    # Edge cases: N < T, exact multiples, gaps and too-short spans (where SpikingJelly raises).
    def mk(ts):
        ts = np.asarray(ts, np.int64)
        k = ts.size
        return {"t": ts, "x": np.arange(k) % 16, "y": np.zeros(k, np.int64), "p": np.arange(k) % 2}
    cases["two_events"] = (mk([0, 1]), 16, 1, [("number", 3), ("time", 3), ("duration", 2)])
    cases["gap"] = (mk([0, 1, 2, 100]), 16, 1, [("number", 3), ("time", 3), ("duration", 30)])
    cases["t0to4"] = (mk([0, 1, 2, 3, 4]), 16, 1, [("duration", 2), ("time", 2), ("number", 2)])
    cases["t0to5"] = (mk([0, 1, 2, 3, 4, 5]), 16, 1, [("duration", 2), ("time", 2)])
    cases["t019"] = (mk([0, 1, 9]), 16, 1, [("duration", 2)])
    cases["same_t"] = (mk([7, 7, 7]), 16, 1, [("duration", 5), ("time", 3), ("number", 3)])
    return cases


def main() -> None:
    sj = import_spikingjelly()
    from spikingjelly.datasets import integrate_events_by_fixed_duration, integrate_events_by_fixed_frames_number

    total = 0
    for name, (ev, w, h, calls) in _inputs().items():
        out: dict[str, np.ndarray] = {k: np.asarray(v, np.int64) for k, v in ev.items()}
        out["width"], out["height"] = np.int64(w), np.int64(h)
        raises = []
        for mode, arg in calls:
            key = f"duration_D{arg}" if mode == "duration" else f"{mode}_T{arg}"
            try:
                if mode == "duration":
                    fr = integrate_events_by_fixed_duration(dict(ev), arg, h, w)
                else:
                    fr = integrate_events_by_fixed_frames_number(dict(ev), mode, arg, h, w)
            except (IndexError, ValueError):
                raises.append(key)
                continue
            assert np.all(fr == np.round(fr)) and fr.max(initial=0) < 2**16, key
            out[key] = fr.astype(np.uint16)
        out["raises"] = np.array(",".join(raises))
        path = HERE / f"frames_sj_{name}.npz"
        np.savez_compressed(path, **out)
        total += path.stat().st_size
        print(f"{path.name}: {len(calls) - len(raises)} outputs, SpikingJelly raised on {raises or 'none'}")
    print(f"total {total} bytes (spikingjelly {sj.__version__ if hasattr(sj, '__version__') else '?'})")


if __name__ == "__main__":
    main()
