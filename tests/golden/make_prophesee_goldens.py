"""Regenerate ``tests/golden/prophesee_expelliarmus.json`` (bench/test-golden use only).

expelliarmus 1.1.12 (``pip install expelliarmus==1.1.12``, the ``bench`` extra) writes three small
recordings of the same pseudo-random events, one per encoding (DAT, EVT 2.0, EVT 3.0), and
decodes them again. The JSON keeps each file's bytes (base64) and expelliarmus's decode as digests,
so the tests compare eventkit's decoders with expelliarmus without importing it.

For EVT 3.0 only x, y and p are kept from expelliarmus (its EVT 3.0 timestamps are wrong: it
counts a TIME_LOW decrease as a 12-bit overflow); the tests check t against a literal walk of the
word stream instead.

Run from the repository root::

    .venv/bin/python tests/golden/make_prophesee_goldens.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("prophesee_expelliarmus.json")
N_EVENTS = 400


def _digest(cols: list[np.ndarray]) -> str:
    return hashlib.sha256(np.concatenate([np.asarray(c).astype("<i8") for c in cols]).tobytes()).hexdigest()


def _events(seed: int, t_span: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    a = np.zeros(N_EVENTS, dtype=dt)
    a["t"] = np.sort(rng.integers(1000, 1000 + t_span, N_EVENTS))
    a["x"] = rng.integers(0, 640, N_EVENTS)
    a["y"] = rng.integers(0, 480, N_EVENTS)
    a["p"] = rng.integers(0, 2, N_EVENTS)
    return a


def main() -> None:
    import expelliarmus
    from expelliarmus import Wizard

    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        # (encoding, suffix, seed, time span in µs): the EVT 3.0 span crosses the 24-bit TIME_HIGH wrap.
        for enc, suffix, seed, span in (("dat", ".dat", 1, 3_000_000), ("evt2", ".raw", 2, 3_000_000), ("evt3", ".raw", 3, 40_000_000)):
            ev = _events(seed, span)
            path = Path(tmp) / f"golden_{enc}{suffix}"
            Wizard(encoding=enc).save(path, ev)
            dec = Wizard(encoding=enc).read(path)
            case = {
                "encoding": enc,
                "file_b64": base64.b64encode(path.read_bytes()).decode("ascii"),
                "event_count": int(dec.shape[0]),
                "sha256_xyp_int64": _digest([dec["x"], dec["y"], dec["p"]]),
            }
            if enc != "evt3":
                case["sha256_txyp_int64"] = _digest([dec["t"], dec["x"], dec["y"], dec["p"]])
            cases[enc] = case
    doc = {
        "generator": "tests/golden/make_prophesee_goldens.py",
        "peer": {"name": "expelliarmus", "version": expelliarmus.__version__ if hasattr(expelliarmus, "__version__") else "1.1.12"},
        "digest_definition": "sha256 of the listed columns, each cast to little-endian int64, concatenated column after column",
        "note": "expelliarmus EVT 3.0 timestamps are wrong (TIME_LOW decrease counted as overflow): only x, y, p are kept for evt3",
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
