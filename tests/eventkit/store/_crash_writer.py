"""Child process for the crash-safety test: writes a store and SIGKILLs itself mid-write.

Usage: python _crash_writer.py PATH MODE KILL_ON KILL_AT
  MODE     "sample" (write_sample per index) or "shard" (write_shard per shard)
  KILL_ON  substring of the store file path whose write is interrupted ("" = never), or
           "complete" for the root metadata write that sets ``complete: true``
  KILL_AT  the n-th matching write (1-based) dies after writing half of its temporary file,
           exactly where a power cut or OOM kill would hit a non-atomic writer
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import zarr.storage._local as local  # noqa: E402
from _store_helpers import SPLITS, create, sample  # noqa: E402


def main() -> None:
    path, mode, kill_on, kill_at = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    real_put = local._put
    seen = 0

    def put(p, value, exclusive=False):
        nonlocal seen
        hit = kill_on in str(p) if kill_on != "complete" else b'"complete": true' in bytes(value.as_buffer_like())
        if kill_on and hit:
            seen += 1
            if seen == kill_at:
                data = bytes(value.as_buffer_like())
                tmp = p.with_suffix(".deadbeef.partial")
                tmp.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(data[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
        return real_put(p, value, exclusive)

    local._put = put
    w = create(path)
    for split in SPLITS:
        if mode == "sample":
            for i in range(SPLITS[split]):
                w.write_sample(split, i, *sample(split, i))
                print(f"{split} {i}", flush=True)
        else:
            for shard in range(w.n_shards(split)):
                w.write_shard(split, shard, [sample(split, i) for i in w.shard_range(split, shard)])
                print(f"{split} shard {shard}", flush=True)
    w.finalize()
    print("finalized", flush=True)


if __name__ == "__main__":
    main()
