"""Read one sample's chunk straight from its shard file, skipping Zarr's per-call machinery.

Zarr 3 spends ~3 ms per ``array[i]`` call (async dispatch plus a shard-index read), which is
more than decoding an N-MNIST-size sample. For the layout eventkit writes (sharding_indexed,
index at the end with bytes+crc32c, inner chunks bytes(little)+one compressor) this reader
caches each shard's index and reads a chunk with one ``pread``; any other layout returns None
and the caller uses Zarr.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np

_EMPTY = np.iinfo(np.uint64).max
_DECODERS = {"blosc": lambda c: numcodecs.Blosc(), "zstd": lambda c: numcodecs.Zstd(),
             "gzip": lambda c: numcodecs.GZip()}  # fmt: skip


class ShardReader:
    """Chunk reader for one ``frames`` array (see module docstring)."""

    def __init__(self, array_dir: Path, decoder: Any, meta: dict[str, Any]) -> None:
        self.dir = array_dir
        self.decoder = decoder
        self.s = int(meta["_shard"])
        self.chunk_shape = tuple(meta["codecs"][0]["configuration"]["chunk_shape"][1:])
        self.dtype = np.dtype(meta["data_type"]).newbyteorder("<")
        self.ndim_rest = len(self.chunk_shape)
        self._index: dict[int, tuple[tuple[int, int], np.ndarray]] = {}
        self._paths: dict[int, str] = {}

    @classmethod
    def for_array(cls, array_dir: Path) -> ShardReader | None:
        try:
            meta = json.loads((array_dir / "zarr.json").read_text())
            (sharding,) = meta["codecs"]
            cfg = sharding["configuration"]
            inner = cfg["codecs"]
            ok = (
                sharding["name"] == "sharding_indexed" and cfg.get("index_location", "end") == "end"
                and [c["name"] for c in cfg["index_codecs"]] == ["bytes", "crc32c"]
                and len(inner) == 2 and inner[0]["name"] == "bytes" and inner[0].get("configuration", {}).get("endian", "little") == "little"
                and inner[1]["name"] in _DECODERS and cfg["chunk_shape"][0] == 1
                and meta["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "/"}}
                and meta["data_type"] in ("uint8", "uint16", "uint32", "int16", "int32", "float32", "float64")
                and meta["fill_value"] == 0
            )  # fmt: skip
            if not ok:
                return None
            meta["_shard"] = meta["chunk_grid"]["configuration"]["chunk_shape"][0]
            return cls(array_dir, _DECODERS[inner[1]["name"]](inner[1]), meta)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def read(self, index: int, out: np.ndarray | None = None) -> np.ndarray:
        """Return sample ``index`` (C-ordered, ``chunk_shape``).

        ``out``: a C-contiguous, writable array of ``chunk_shape`` and this array's dtype that the
        chunk is decoded into (no intermediate copy); it is returned.
        """
        if out is not None and (out.shape != self.chunk_shape or out.dtype != self.dtype or not out.flags.c_contiguous
                                or not out.flags.writeable):  # fmt: skip
            raise ValueError(f"out must be a writable C-contiguous {self.dtype} array of shape {self.chunk_shape}")
        shard, j = divmod(index, self.s)
        path = self._paths.get(shard)
        if path is None:  # a plain string, built once per shard (pathlib costs ~20 us a sample)
            path = self._paths[shard] = os.path.join(self.dir, "c", str(shard), *("0" * self.ndim_rest))
        entry = self._index.get(shard)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return self._zeros(out)
        if entry is None or entry[0] != (st.st_ino, st.st_mtime_ns):  # a rewritten shard gets a fresh index
            with open(path, "rb") as f:
                f.seek(-(16 * self.s + 4), os.SEEK_END)
                idx = np.frombuffer(f.read(16 * self.s), dtype="<u8").reshape(self.s, 2)
            entry = ((st.st_ino, st.st_mtime_ns), idx)
            self._index[shard] = entry
        off, nbytes = entry[1][j]
        if off == _EMPTY:  # an all-zero chunk is not stored
            return self._zeros(out)
        fd = os.open(path, os.O_RDONLY)
        try:
            raw = os.pread(fd, int(nbytes), int(off))
        finally:
            os.close(fd)
        if out is None:
            out = np.empty(self.chunk_shape, self.dtype)  # writable, so torch.from_numpy takes it as is
        self.decoder.decode(raw, out=out)
        return out

    def _zeros(self, out: np.ndarray | None) -> np.ndarray:
        if out is None:
            return np.zeros(self.chunk_shape, self.dtype)
        out.fill(0)
        return out
