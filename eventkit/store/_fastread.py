"""Read one sample's chunk straight from its shard file, skipping Zarr's per-call machinery.

Zarr 3 spends ~3 ms per ``array[i]`` call (async dispatch plus a shard-index read), which is
more than decoding an N-MNIST-size sample. For the layout eventkit writes (sharding_indexed,
index at the end with bytes+crc32c, inner chunks bytes(little)+one compressor) this reader
caches each shard's index and reads a chunk with one ``pread``; any other layout returns None
and the caller uses Zarr.

It verifies what Zarr verifies, and a little more: the index's crc32c (``google_crc32c``, the
implementation Zarr's ``crc32c`` codec uses), each chunk's own crc32c where the store has one,
every offset and length inside the file, and the decoded size of each chunk. An index is checked once per shard file (cached by path, size and
mtime), so a sample read costs one ``stat`` and one ``pread`` as before. Damage raises
:class:`~.integrity.ChunkDamage` (the reader adds store, split and sample). Paths are built from
the array folder and integers only, never from strings found in metadata.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import google_crc32c
import numcodecs
import numpy as np

from .integrity import ChunkDamage
from ..errors import OptionError

_EMPTY = np.iinfo(np.uint64).max
_BLOSC_HEADER = struct.Struct("<BBBBIII")  # version, versionlz, flags, typesize, nbytes, blocksize, cbytes
_BLOSC, _ZSTD = numcodecs.Blosc(), numcodecs.Zstd()
_CRC32C_RESIDUE = 0x48674BC7  # crc32c(data + le32(crc32c(data))) for any data


def _blosc(raw: bytes, out: np.ndarray) -> None:
    if len(raw) < _BLOSC_HEADER.size:
        raise ValueError(f"{len(raw)} bytes, shorter than a Blosc header")
    _, _, _, _, nbytes, _, cbytes = _BLOSC_HEADER.unpack_from(raw)
    if nbytes != out.nbytes or cbytes != len(raw):  # checked before decoding: no huge allocation
        raise ValueError(f"Blosc header says {nbytes} bytes from {cbytes}, expected {out.nbytes} from {len(raw)}")
    _BLOSC.decode(raw, out=out)


def _zstd(raw: bytes, out: np.ndarray) -> None:
    _copy_exact(_ZSTD.decode(raw), out)


def _gzip(raw: bytes, out: np.ndarray) -> None:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    _copy_exact(d.decompress(raw, out.nbytes + 1), out)  # bounded: a bomb stops one byte past


def _copy_exact(data: Any, out: np.ndarray) -> None:
    buf = memoryview(data).cast("B")
    if buf.nbytes != out.nbytes:
        raise ValueError(f"decodes to {buf.nbytes} bytes, expected {out.nbytes}")
    out.reshape(-1).view(np.uint8)[:] = np.frombuffer(buf, np.uint8)


_DECODERS = {"blosc": _blosc, "zstd": _zstd, "gzip": _gzip}


class ShardReader:
    """Chunk reader for one ``frames`` array (see module docstring).

    Parameters
    ----------
    array_dir
        The array folder (``<store>/<split>/frames``).
    decode
        ``decode(raw, out)``: one of ``_DECODERS``.
    meta
        The array's parsed ``zarr.json`` plus ``_shard`` (S).
    all_stored
        The writer stored every chunk, zeros included: a missing shard file or chunk is damage.
        Older stores leave all-zero chunks out, which then read as zeros.
    checksum
        Each chunk ends in its crc32c (inner codecs ``bytes, <compressor>, crc32c``; stores
        written since the integrity checks), verified before decoding.
    """

    def __init__(
        self, array_dir: Path, decode: Any, meta: dict[str, Any], all_stored: bool = False, checksum: bool = False
    ) -> None:  # fmt: skip
        self.dir = array_dir
        self.checksum = checksum
        self.decode = decode
        self.s = int(meta["_shard"])
        self.chunk_shape = tuple(int(x) for x in meta["codecs"][0]["configuration"]["chunk_shape"][1:])
        self.dtype = np.dtype(meta["data_type"]).newbyteorder("<")
        self.ndim_rest = len(self.chunk_shape)
        self.all_stored = all_stored
        self._index: dict[int, tuple[tuple[int, int, int], np.ndarray]] = {}
        self._paths: dict[int, str] = {}

    @classmethod
    def for_array(cls, array_dir: Path, all_stored: bool = False) -> ShardReader | None:
        try:
            meta = json.loads((array_dir / "zarr.json").read_text())
            (sharding,) = meta["codecs"]
            cfg = sharding["configuration"]
            inner = cfg["codecs"]
            ok = (
                sharding["name"] == "sharding_indexed" and cfg.get("index_location", "end") == "end"
                and [c["name"] for c in cfg["index_codecs"]] == ["bytes", "crc32c"]
                and len(inner) in (2, 3) and inner[0]["name"] == "bytes" and inner[0].get("configuration", {}).get("endian", "little") == "little"
                and inner[1]["name"] in _DECODERS and cfg["chunk_shape"][0] == 1
                and (len(inner) == 2 or inner[2]["name"] == "crc32c")
                and meta["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "/"}}
                and meta["data_type"] in ("uint8", "uint16", "uint32", "int16", "int32", "float16", "float32", "float64")
                and meta["fill_value"] == 0
                and cfg["chunk_shape"][1:] == meta["shape"][1:] == meta["chunk_grid"]["configuration"]["chunk_shape"][1:]
                and all(isinstance(x, int) and x > 0 for x in cfg["chunk_shape"])
            )  # fmt: skip
            if not ok:
                return None
            s = meta["chunk_grid"]["configuration"]["chunk_shape"][0]
            if not (isinstance(s, int) and 0 < s <= 1 << 20):
                return None
            meta["_shard"] = s
            return cls(array_dir, _DECODERS[inner[1]["name"]], meta, all_stored, checksum=len(inner) == 3)
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None  # unusual or damaged metadata: Zarr reads it (and complains in its own words)

    def shard_path(self, shard: int) -> str:
        """The file of shard ``shard`` (from the array folder and integers only)."""
        path = self._paths.get(shard)
        if path is None:  # a plain string, built once per shard (pathlib costs ~20 us a sample)
            path = self._paths[shard] = os.path.join(self.dir, "c", str(int(shard)), *("0" * self.ndim_rest))
        return path

    def read(self, index: int, out: np.ndarray | None = None) -> np.ndarray:
        """Return sample ``index`` (C-ordered, ``chunk_shape``).

        ``out``: a C-contiguous, writable array of ``chunk_shape`` and this array's dtype that the
        chunk is decoded into (no intermediate copy); it is returned.

        Raises
        ------
        ChunkDamage
            The shard file or its index is damaged, or the chunk does not decode to its size.
        """
        if out is not None and (out.shape != self.chunk_shape or out.dtype != self.dtype or not out.flags.c_contiguous
                                or not out.flags.writeable):  # fmt: skip
            raise OptionError(f"out must be a writable C-contiguous {self.dtype} array of shape {self.chunk_shape}")
        shard, j = divmod(int(index), self.s)
        path = self.shard_path(shard)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if self.all_stored:
                raise ChunkDamage(path, "the shard file is missing") from None
            return self._zeros(out)
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        entry = self._index.get(shard)
        if entry is None or entry[0] != key:  # a rewritten shard gets a fresh, verified index
            entry = self._index[shard] = (key, self._read_index(path, st.st_size))
        off, nbytes = (int(x) for x in entry[1][j])
        if off == _EMPTY:  # an all-zero chunk that an older writer left out
            if self.all_stored:
                raise ChunkDamage(path, f"chunk {j} of the shard is missing from its index")
            return self._zeros(out)
        fd = os.open(path, os.O_RDONLY)
        try:
            raw = os.pread(fd, nbytes, off)
        finally:
            os.close(fd)
        if len(raw) != nbytes:
            raise ChunkDamage(path, f"chunk {j} is cut short ({len(raw)} of {nbytes} bytes): the file changed")
        if self.checksum:  # crc32c over data + its own crc is a constant: no slice copy to check it
            if nbytes < 4 or google_crc32c.value(raw) != _CRC32C_RESIDUE:
                raise ChunkDamage(path, f"chunk {j}'s checksum (crc32c) does not match: its bytes are damaged")
            raw = memoryview(raw)[:-4]
        if out is None:
            out = np.empty(self.chunk_shape, self.dtype)  # writable, so torch.from_numpy takes it as is
        try:
            self.decode(raw, out)
        except (ValueError, RuntimeError, TypeError, MemoryError, zlib.error) as exc:
            raise ChunkDamage(path, f"chunk {j} does not decode ({exc})") from None
        return out

    def _read_index(self, path: str, size: int) -> np.ndarray:
        """Read and verify a shard's index: crc32c, then every chunk inside the data part."""
        index_bytes = 16 * self.s + 4
        if size < index_bytes:
            raise ChunkDamage(path, f"the shard file is {size} bytes, shorter than its {index_bytes}-byte index")
        with open(path, "rb") as f:
            f.seek(size - index_bytes)
            tail = f.read(index_bytes)
        body, (crc,) = tail[:-4], struct.unpack("<I", tail[-4:])
        if len(tail) != index_bytes or google_crc32c.value(body) != crc:
            raise ChunkDamage(path, "the shard index checksum (crc32c) does not match: the index is damaged")
        idx = np.frombuffer(body, dtype="<u8").reshape(self.s, 2)
        off, n = idx[:, 0], idx[:, 1]
        empty = (off == _EMPTY) & (n == _EMPTY)
        data_end = size - index_bytes
        inside = ~empty & (off < data_end) & (n > 0) & (n <= data_end) & (off <= data_end - np.minimum(n, data_end))
        bad = np.flatnonzero(~(empty | inside))
        if bad.size:
            j = int(bad[0])
            raise ChunkDamage(path, f"the shard index places chunk {j} at bytes {int(off[j])}+{int(n[j])}, "
                                    f"outside the file's {data_end} data bytes")  # fmt: skip
        return idx

    def _zeros(self, out: np.ndarray | None) -> np.ndarray:
        if out is None:
            return np.zeros(self.chunk_shape, self.dtype)
        out.fill(0)
        return out
