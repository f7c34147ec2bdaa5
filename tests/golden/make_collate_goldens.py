"""Regenerate tests/golden/collate_sj.npz: SpikingJelly 2.0's padded batch and mask on seeded inputs.

Run from the repository root with the peers installed (the product and the tests never import them)::

    .venv/bin/python tests/golden/make_collate_goldens.py

Two batches of variable-length frame samples ``[T_i, 2, 3, 4]`` (``float32`` and ``int16``), stored
as ``<case>_x<i>`` and ``<case>_y``. For each, SpikingJelly's ``pad_sequence_collate`` outputs are
stored as ``<case>_padded``, ``<case>_labels``, ``<case>_lengths`` (with their dtypes), and
``padded_sequence_mask(lengths, T)`` as ``<case>_mask_T<T>`` for ``T=None`` (key ``mask_Tnone``) and
a ``T`` longer than the longest sample.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from bench._peers import import_spikingjelly  # noqa: E402

SEED = 20260501
CASES = {"f32": (np.float32, [3, 1, 5, 2]), "i16": (np.int16, [2, 4, 4, 1, 3])}  # name: (dtype, T_i)


def main() -> None:
    import torch

    sj = import_spikingjelly()
    collate, mask = sj.datasets.pad_sequence_collate, sj.datasets.padded_sequence_mask
    rng = np.random.default_rng(SEED)
    out: dict[str, np.ndarray] = {}
    for name, (dtype, lengths) in CASES.items():
        xs = [(rng.random((t, 2, 3, 4)) * 9 - 2).astype(dtype) for t in lengths]  # negatives too: padding zeros stand out
        ys = rng.integers(0, 11, len(xs)).tolist()
        padded, labels, x_len = collate([(torch.from_numpy(x), y) for x, y in zip(xs, ys)])
        for i, x in enumerate(xs):
            out[f"{name}_x{i}"] = x
        out[f"{name}_y"] = np.asarray(ys, dtype=np.int64)
        out[f"{name}_padded"] = padded.numpy()
        out[f"{name}_labels"] = labels.numpy()
        out[f"{name}_lengths"] = x_len.numpy()
        out[f"{name}_mask_Tnone"] = mask(x_len).numpy()
        t_long = max(lengths) + 2
        out[f"{name}_mask_T{t_long}"] = mask(x_len, t_long).numpy()
    np.savez_compressed(HERE / "collate_sj.npz", **out)
    print(f"wrote {HERE / 'collate_sj.npz'}: {sorted(out)}")


if __name__ == "__main__":
    main()
