"""Stores on object stores (``s3://``, ``gs://``, ``memory://``, ...) through fsspec.

:func:`location` turns what a user gives (a path or a URL) into what the store code works on: a
:class:`~pathlib.Path` for a local store (``file://`` URLs included, so they keep the fast local
read path) or a :class:`RemotePath` for anything else. A ``RemotePath`` offers the few
``Path`` methods the store code uses (``/``, ``name``, ``parent``, ``with_name``, ``exists``,
``is_dir``, ``is_file``, ``iterdir``, ``read_bytes``) on top of a synchronous fsspec filesystem,
and :func:`zarr_store` hands Zarr an ``FsspecStore`` for it. It deliberately has no
``__fspath__``: a local-only operation (``os.walk``, ``os.rename``) on a URL fails loudly instead
of creating a local folder named ``s3:``.

Credentials and endpoints come from the backend's own standard configuration (for S3:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``~/.aws``...), read by
every process that touches the store, Dask workers included. ``EVENTKIT_STORAGE_OPTIONS`` may
hold a JSON object of extra fsspec options (e.g. ``{"endpoint_url": "http://..."}``); it is read
where the location is made and travels with it to workers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union

from .errors import StoreAccessError

__all__ = ["RemotePath", "StoreLocation", "is_url", "location", "zarr_store"]

# ``s3://bucket/x``, ``gs://...``, ``file:///...``: a scheme of RFC 3986 (2+ characters, so never a
# drive letter) then ``:/``, since pathlib (and so click's path options) collapse ``s3://b`` to ``s3:/b``.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)$", re.S)

#: The fsspec backend package and the eventkit extra that installs it, by protocol.
_BACKENDS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
             "az": ("adlfs", "azure"), "abfs": ("adlfs", "azure")}  # fmt: skip
#: Protocols whose first path component is a bucket (checked to give a clear "no such bucket").
_BUCKETED = {"s3", "s3a", "gs", "gcs", "az", "abfs"}
STORAGE_OPTIONS_VAR = "EVENTKIT_STORAGE_OPTIONS"


def is_url(path: Any) -> bool:
    """Whether ``path`` (a str or path-like) is a URL such as ``s3://bucket/x.zarr`` (``file://`` too)."""
    if isinstance(path, RemotePath):
        return True
    try:
        text = os.fspath(path)
    except TypeError:
        return False
    return isinstance(text, str) and _URL.match(text) is not None


def _storage_options() -> dict[str, Any]:
    raw = os.environ.get(STORAGE_OPTIONS_VAR, "").strip()
    if not raw:
        return {}
    try:
        opts = json.loads(raw)
    except ValueError as err:
        raise StoreAccessError(f"${STORAGE_OPTIONS_VAR} is not valid JSON ({err}); give a JSON object such as "
                               f"'{{\"endpoint_url\": \"http://host:9000\"}}'") from None  # fmt: skip
    if not isinstance(opts, dict):
        raise StoreAccessError(f"${STORAGE_OPTIONS_VAR} must hold a JSON object, got {type(opts).__name__}")
    return opts


def location(path: str | os.PathLike[str] | RemotePath) -> Path | RemotePath:
    """A local :class:`~pathlib.Path` (``file://`` URLs included) or a :class:`RemotePath` for ``path``.

    Raises
    ------
    MissingExtraError
        The URL's backend (``s3fs`` for ``s3://``, ...) is not installed; names the extra.
    StoreAccessError
        An unknown URL scheme, or bad ``$EVENTKIT_STORAGE_OPTIONS``.
    """
    if isinstance(path, RemotePath):
        return path
    text = os.fspath(path)
    m = _URL.match(text) if isinstance(text, str) else None
    if m is None:
        return Path(text)
    protocol, rest = m.group(1).lower(), m.group(2)
    if protocol in ("file", "local"):
        return Path("/" + rest.lstrip("/"))  # a file URL's path is absolute
    return RemotePath(f"{protocol}://{rest.rstrip('/')}", _storage_options())


def _filesystem(protocol: str, options: dict[str, Any], **extra: Any) -> Any:
    import fsspec

    from .._extras import require

    if protocol in _BACKENDS:
        module, extra_name = _BACKENDS[protocol]
        require(module, extra_name, f"reading or writing {protocol}:// stores")
    try:
        return fsspec.filesystem(protocol, **_effective(protocol, options), **extra)
    except (ImportError, ValueError) as err:  # unknown protocol, or a backend fsspec names but we do not
        raise StoreAccessError(f"{protocol}:// stores are not available: {err}") from None


def _effective(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    """The fsspec options for ``protocol``: ``options``, without listings cache, plus the S3 endpoint.

    A store is written by other processes while this one reads it (resume, workers, a reader of an
    incomplete store), so a cached listing would hide their new objects: listings are never cached.
    The endpoint of ``$AWS_ENDPOINT_URL`` is passed explicitly because fsspec caches a filesystem by
    its arguments, and one made for another endpoint must not be reused.
    """
    out = dict(options)
    if protocol in _BUCKETED:
        out.setdefault("use_listings_cache", False)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if protocol in ("s3", "s3a") and endpoint and "endpoint_url" not in out:
        out["endpoint_url"] = endpoint
    return out


class RemotePath:
    """A store (or a file in one) on an object store: ``RemotePath("s3://bucket/x.zarr") / "zarr.json"``.

    Every filesystem error other than "not found" (an unreachable endpoint, refused credentials)
    becomes one :class:`StoreAccessError` naming the URL and what to check.
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.protocol, _, self.key = url.partition("://")
        self.storage_options = dict(storage_options or {})
        self._fs: Any = None

    # -- path algebra ------------------------------------------------------------------------
    def __truediv__(self, name: str | os.PathLike[str]) -> RemotePath:
        return self._sibling(f"{self.url}/{os.fspath(name).strip('/')}")

    def _sibling(self, url: str) -> RemotePath:
        """Another location on the same filesystem (sharing its client)."""
        other = RemotePath(url, self.storage_options)
        other._fs = self._fs
        return other

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rpartition("/")[2]

    @property
    def parent(self) -> RemotePath:
        head = self.key.rstrip("/").rpartition("/")[0]
        return self._sibling(f"{self.protocol}://{head}")

    def with_name(self, name: str) -> RemotePath:
        return self.parent / name

    @property
    def bucket(self) -> str:
        return self.key.partition("/")[0]

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemotePath({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __reduce__(self) -> tuple[Any, ...]:  # the filesystem is re-made (from its environment) where unpickled
        return (RemotePath, (self.url, self.storage_options))

    # -- filesystem --------------------------------------------------------------------------
    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = _filesystem(self.protocol, self.storage_options)
        return self._fs

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (FileNotFoundError, FileExistsError, StoreAccessError):
            raise
        except Exception as err:  # noqa: BLE001 - botocore/aiohttp/google errors share no base class
            raise access_error(self, what, err) from None

    def exists(self) -> bool:
        return bool(self._call("check", self.fs.exists, self.key))

    def is_dir(self) -> bool:
        return bool(self._call("check", self.fs.isdir, self.key))

    def is_file(self) -> bool:
        return bool(self._call("check", self.fs.isfile, self.key))

    def is_symlink(self) -> bool:
        return False

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Check the bucket exists; nothing to create: object stores have no folders (a key's prefixes exist with it)."""
        self.check_bucket()

    def iterdir(self) -> Iterator[RemotePath]:
        try:
            names = self._call("list", self.fs.ls, self.key, detail=False)
        except FileNotFoundError:
            names = []
        for n in names:
            n = str(n).rstrip("/")
            if n != self.key:
                yield self._sibling(f"{self.protocol}://{n}")

    def read_bytes(self) -> bytes:
        return self._call("read", self.fs.cat_file, self.key)

    def write_bytes(self, data: bytes) -> None:
        self._call("write", self.fs.pipe_file, self.key, data)

    def create_exclusive(self, data: bytes) -> None:
        """Write ``data`` only if nothing is there yet (S3 ``If-None-Match: *``).

        Raises
        ------
        FileExistsError
            The object exists.
        NotImplementedError
            The backend cannot create an object only if absent.
        """
        fs = self.fs
        if self.protocol in ("s3", "s3a", "gs", "gcs"):
            try:
                fs.pipe_file(self.key, data, mode="create")
            except TypeError:  # an fsspec backend too old to know mode="create"
                raise NotImplementedError(self.protocol) from None
            except (FileNotFoundError, FileExistsError):
                raise
            except Exception as err:  # noqa: BLE001 - as _call
                raise access_error(self, "create the lock", err) from None
            return
        if self.protocol == "memory":  # one process: check-and-write under the GIL is atomic enough
            if fs.exists(self.key):
                raise FileExistsError(self.url)
            fs.pipe_file(self.key, data)
            return
        raise NotImplementedError(self.protocol)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self._call("delete", self.fs.rm_file, self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def mtime(self) -> float:
        """Seconds since the epoch of the object's last change."""
        info = self._call("check", self.fs.info, self.key)
        t = info.get("LastModified") or info.get("mtime") or info.get("updated") or info.get("created")
        if hasattr(t, "timestamp"):
            return float(t.timestamp())
        try:
            return float(t)
        except (TypeError, ValueError):
            import time

            return time.time()  # unknown: treat as just written (never judged stale by age)

    def tree_size(self) -> tuple[int, int]:
        """``(bytes, objects)`` under this prefix."""
        try:
            found = self._call("list", self.fs.find, self.key, detail=True)
        except FileNotFoundError:
            return 0, 0
        return sum(int(v.get("size") or 0) for v in found.values()), len(found)

    def rmtree(self) -> None:
        self._call("delete", self.fs.rm, self.key, recursive=True)

    def check_bucket(self) -> None:
        """Raise a clear :class:`StoreAccessError` when the bucket is missing or the endpoint unreachable."""
        if self.protocol not in _BUCKETED or not self.bucket:
            return
        try:  # not exists(): s3fs answers False for a bucket on an unreachable endpoint
            self._call("check", self.fs.info, self.bucket)
        except FileNotFoundError:
            raise StoreAccessError(
                f"{self.url}: the bucket {self.bucket!r} does not exist (or these credentials cannot see it)"
                f"{_endpoint_note(self)}; create it first, or check the URL"
            ) from None


def _endpoint_note(p: RemotePath) -> str:
    endpoint = p.storage_options.get("endpoint_url") or p.storage_options.get("client_kwargs", {}).get("endpoint_url")
    endpoint = endpoint or (os.environ.get("AWS_ENDPOINT_URL") if p.protocol.startswith("s3") else None)
    return f" at {endpoint}" if endpoint else ""


def access_error(p: RemotePath, what: str, err: BaseException) -> StoreAccessError:
    """One clear error for a failed object-store call (``what``: read, write, list, ...)."""
    if isinstance(err, PermissionError):
        hint = "the credentials in use may not do this (AWS_ACCESS_KEY_ID / AWS_PROFILE, or the bucket policy)"
    else:
        hint = "check the endpoint (AWS_ENDPOINT_URL for S3-compatible servers), the network and the credentials"
    return StoreAccessError(f"{p.url}: cannot {what} on the object store{_endpoint_note(p)} "
                            f"({type(err).__name__}: {err}); {hint}")  # fmt: skip


def zarr_store(path: Path | RemotePath, *, read_only: bool) -> Any:
    """What ``zarr.open_group`` takes for ``path``: the path itself, or an ``FsspecStore``."""
    if not isinstance(path, RemotePath):
        return path
    from zarr.storage import FsspecStore

    _ = path.fs  # the missing-extra error first, in one line
    options = _effective(path.protocol, path.storage_options)
    return FsspecStore.from_url(path.url, storage_options=options or None, read_only=read_only)


StoreLocation = Union[Path, RemotePath]
