"""On-disk layout of eventkit stores: this docstring is the specification.

Frame store (``kind = "frames"``)
=================================
One Zarr v3 group per conversion, named from its parameters by :func:`store_name`
(``frames-T16-number.zarr``, ``frames-D50000.zarr``; other parameters add an 8-hex suffix)::

    <name>.zarr/                     group; attrs below
      <split>/                       one group per split: train, test, ...
        frames      [N, T_max, P, H, W]  dtype from attrs (default uint16), fill 0
                    chunk (1, T_max, P, H, W): one sample per chunk, inside shards of
                    (S, T_max, P, H, W) so a shard is one file holding S samples
        labels      [N] int64, fill -1   chunk (S,)
        lengths     [N] int64, fill 0    chunk (S,): valid frames; mask = arange(T_max) < length
        sample_ids  [N] string (Zarr v3 ``string``, vlen-utf8), fill ""   chunk (S,)
        done        [N] uint8, fill 0    chunk (S,): 1 once the sample is fully written
        mask        [N, H, W] uint8, fill 0   segmentation stores only (root attr ``masks: true``):
                    class index per pixel, 255 = ignore; chunked and sharded like ``frames``
    <name>.zarr.lock                 beside the store while a writer holds it (JSON: pid, host);
                                     on an object store (s3://...) an object made by conditional write

Sample ``i`` of a split lives in shard ``i // S`` of ``frames`` and in chunk ``i // S`` of the four
1-D arrays, so one shard index names every file a sample touches. Frames beyond ``lengths[i]`` are
zero padding.

Group attrs (``zarr.json`` of the root):

=================  ==============================================================
eventkit_store     ``"frames"`` (``"events"`` for the event store)
format_version     :data:`FORMAT_VERSION`; bumped on any incompatible layout change
eventkit_version   version of eventkit that created the store
dataset            dataset name; ``manifest_version``: its manifest version
decoder_versions   ``{decoder: version}`` used to read the recordings
params             frame parameters (``frames``, ``split_by``, ``duration``, ...)
dtype, sensor      frame dtype; sensor ``[width, height, polarities]``
classes            class names, label ``k`` is ``classes[k]``
t_max, splits      padded length; ``{split: N}``; ``samples_per_shard``: S
compressor         the inner-chunk codec (JSON of its Zarr config)
key_inputs         the dict that was hashed; ``cache_key``: its sha256 (:mod:`.cache_key`)
created            ISO-8601 time of creation; ``finalized`` once complete
complete           ``false`` until every sample of every split has ``done == 1``, set last
masks              ``true`` in a segmentation store (absent otherwise); the cache key then
                   holds ``targets: "mask"``
chunks_stored      ``"all"``: every chunk was written, all-zero ones included, so a missing
                   chunk or shard file is damage (stores without it leave zero chunks out)
=================  ==============================================================

Crash safety
------------
Zarr's ``LocalStore`` writes every file to ``<file>.<uuid>.partial`` and renames it into place, so
a file on disk is always whole: a killed writer leaves at worst a stray ``.partial`` file (removed
when a writer resumes) and never a torn shard. A sample's data (frames, label, length, id) is
written before its ``done`` flag, so a reader that trusts only ``done == 1`` never sees a
half-written sample, and a resumed writer redoes exactly the samples whose flag is 0.

Integrity
---------
Readers verify what they read (:mod:`.integrity`): ``zarr.json`` files parse and give the shapes
and dtypes the root attrs imply; each shard index matches its crc32c and points inside its file;
each chunk decodes to exactly its size; in a complete store every ``done`` flag is 1, labels name a
class and lengths lie in ``0..t_max``. Any failure is a ``StoreCorruptError`` naming the store,
split, sample and file; ``eventkit inspect --verify`` reads every chunk and lists them all.

Concurrency rule: **one writer per shard.** Writing a sample into a shard reads, merges and
replaces the whole shard file; two processes doing that to one shard would lose one update.
Pipelines give each worker whole shards (``StoreWriter.write_shard``); a lock file beside the
store stops two *conversions* (two coordinating writers) from targeting one store.

Event store (``kind = "events"``)
=================================
Same root attrs (``params`` describe the event transform, ``t_max``/``dtype`` absent) and the same
``done``/``labels``/``sample_ids`` arrays per split, plus ``counts [N] int64`` (events per
sample). Events are written a shard of S samples at a time: shard ``b`` holds the concatenated
events of samples ``b*S ... b*S+S-1`` as four 1-D arrays ``<split>/events/<b>/{t,x,y,p}``
(int64, uint16, uint16, uint8). Offsets come from ``counts``: sample ``i`` is
``[sum(counts[b*S:i]), + counts[i])`` inside its shard.

Compression (measured by ``python -m bench.store``)
===================================================
Inner chunks are compressed with Blosc(zstd, clevel 3, bitshuffle): the smallest of the candidates
on DVS-like uint16 count frames at a read speed close to the fastest. Bytes/sample and single-process
throughput on this machine (synthetic frames, T=16):

==========================  ===========  =========  ==========
codec                       DVS128-size  N-MNIST    bulk read
                            kB/sample    kB/sample  DVS128 /s
==========================  ===========  =========  ==========
zstd 1                      120.8        4.4        788
zstd 3                      119.9        4.2        619
zstd 9                      106.5        3.7        141
blosc lz4 shuffle           182.3        7.7        378
blosc lz4 bitshuffle        105.9        4.7        823
blosc zstd3 shuffle          99.9        3.5        678
**blosc zstd3 bitshuffle**   **76.6**    **2.8**    660
gzip 6                      105.2        3.7        394
SpikingJelly npz float64    144.2        5.4        (np.load)
==========================  ===========  =========  ==========
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zarr.codecs import BloscCodec

from .cache_key import canonical_json

__all__ = [
    "FORMAT_VERSION",
    "ONE_D_ARRAYS",
    "choose_samples_per_shard",
    "default_compressor",
    "lock_path",
    "read_root_attrs",
    "remove_partial_files",
    "store_name",
]

FORMAT_VERSION = 1
ONE_D_ARRAYS = ("labels", "lengths", "sample_ids", "done")
# Raw (uncompressed) bytes a shard aims at: big enough that a million N-MNIST samples are a few
# thousand files, small enough that a worker holds a shard in memory (see bench.store).
SHARD_TARGET_BYTES = 32 * 2**20
MAX_SAMPLES_PER_SHARD = 1024


def default_compressor() -> BloscCodec:
    """The inner-chunk codec chosen by measurement (see the table above)."""
    return BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")


def choose_samples_per_shard(sample_nbytes: int, n_samples: int | None = None) -> int:
    """Pick S, the samples per shard: a power of two with S * sample_nbytes <= 32 MiB, 1..1024.

    Parameters
    ----------
    sample_nbytes
        Raw bytes of one padded sample (``T_max * P * H * W * itemsize``).
    n_samples
        Largest split size; S never exceeds the next power of two above it.
    """
    s = 1
    while s * 2 * max(1, sample_nbytes) <= SHARD_TARGET_BYTES and s * 2 <= MAX_SAMPLES_PER_SHARD:
        s *= 2
    if n_samples is not None:
        while s > 1 and s // 2 >= n_samples:
            s //= 2
    return s


def store_name(params: Mapping[str, Any], kind: str = "frames") -> str:
    """Name a store from its parameters: ``frames-T16-number.zarr``, ``frames-D50000.zarr``.

    Parameters other than ``frames``, ``split_by`` and ``duration`` add the first 8 hex digits
    of their hash, so different conversions never share a name.
    """
    parts = [kind]
    rest = dict(params)
    if "frames" in rest:
        parts.append(f"T{rest.pop('frames')}")
        if "split_by" in rest:
            parts.append(str(rest.pop("split_by")))
    if "duration" in rest:
        parts.append(f"D{rest.pop('duration')}")
    rest = {k: v for k, v in rest.items() if v is not None}
    if rest:
        parts.append(hashlib.sha256(canonical_json(rest).encode()).hexdigest()[:8])
    return "-".join(parts) + ".zarr"


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The writer lock file of a store: beside it, so the store's own content stays clean."""
    from ._remote import location

    p = location(path)
    return p.with_name(p.name + ".lock")


def read_root_attrs(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the root group attrs of a Zarr v3 store at ``path``, or None if there is none.

    Read straight from ``zarr.json`` (no Zarr machinery), which is cheap and works on stores
    that are still being written.

    Raises
    ------
    StoreCorruptError
        If ``zarr.json`` exists but is not a JSON object (a damaged store).
    """
    from ._remote import location
    from .integrity import load_json

    p = location(path)  # a local folder, or a store on an object store (s3://...)
    meta = p / "zarr.json"
    if not meta.exists():
        return None
    doc = load_json(p, meta)
    if doc.get("node_type") != "group":
        return None
    attrs = doc.get("attributes", {})
    return attrs if isinstance(attrs, dict) else None


def remove_partial_files(path: str | os.PathLike[str]) -> int:
    """Delete ``*.partial`` files that a killed writer left under ``path``; return how many.

    Object stores have none: an object appears whole or not at all."""
    from ._remote import RemotePath

    if isinstance(path, RemotePath):
        return 0
    n = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name.endswith(".partial"):
                os.unlink(os.path.join(root, name))
                n += 1
    return n
