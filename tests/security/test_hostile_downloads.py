"""Hostile download servers and disks (issue 11, item 5): each one ends in correct data or one clean error.

Every server here is built by the test on 127.0.0.1: it lies about ranges and sizes, sends error
pages, stalls, trickles, redirects into loops or to other schemes. Every test also checks that no
byte on disk was lost: files that cannot be used are moved aside and named, never deleted.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from eventkit.datasets import fetch
from eventkit.datasets.fetch import RemoteFile, download
from eventkit.errors import ChecksumMismatchError, DiskWriteError, DownloadError

BODY = os.urandom(200_000)
SHA = hashlib.sha256(BODY).hexdigest()
HTML = b"<!DOCTYPE html><html><body>Please log in</body></html>"

Reply = Callable[["_Handler", int], None]  # (handler, index of this request for its path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the connection closes after each reply: bodies need no length

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        seen = srv.seen.setdefault(self.path, [])  # type: ignore[attr-defined]
        seen.append(self.headers.get("Range", ""))
        reply = srv.replies.get(self.path)  # type: ignore[attr-defined]
        try:
            if reply is None:
                self.send(404, b"not found", ctype="text/plain")
            else:
                reply(self, len(seen) - 1)
        except OSError:  # the client gave up on us: expected for stalls
            pass

    def send(self, status: int, body: bytes = b"", *, ctype: str = "application/octet-stream",
             length: bool = True, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def range_start(self) -> int:
        r = self.headers.get("Range", "")
        return int(r[len("bytes="):-1]) if r else 0


class HostileServer:
    """Routes of hand-written replies on 127.0.0.1; ``seen[path]`` lists the Range headers asked for."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.replies, self.httpd.seen = {}, {}  # type: ignore[attr-defined]
        self.stop = threading.Event()  # released at teardown so stalled replies end

    def add(self, path: str, reply: Reply) -> str:
        self.httpd.replies[path] = reply  # type: ignore[attr-defined]
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def seen(self, path: str) -> list[str]:
        return self.httpd.seen.get(path, [])  # type: ignore[attr-defined]


@pytest.fixture
def server() -> Iterator[HostileServer]:
    s = HostileServer()
    t = threading.Thread(target=s.httpd.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield s
    s.stop.set()
    s.httpd.shutdown()
    s.httpd.server_close()


def honest(h: _Handler, i: int) -> None:
    """A correct server with Range support."""
    start = h.range_start()
    if start:
        h.send(206, BODY[start:], headers={"Content-Range": f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"})
    else:
        h.send(200, BODY)


def remote(url: str, *, size: int | None = len(BODY), hashed: bool = True, name: str = "data.bin") -> RemoteFile:
    return RemoteFile(name, (url,), size=size, hashes={"sha256": SHA} if hashed else {})


def get(url: str, dest: Path, **kw) -> Path:
    kw.setdefault("retries", 3)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("stall_timeout", 5)
    return download(kw.pop("remote", None) or remote(url), dest, progress=False, **kw)


# --- 1. bytes on disk are never destroyed -------------------------------------------------------------

def test_oversize_part_is_moved_aside_and_named(server, tmp_path, caplog) -> None:
    url = server.add("/data.bin", honest)
    mine = os.urandom(len(BODY) + 10)
    (tmp_path / "data.bin.part").write_bytes(mine)
    with caplog.at_level(logging.WARNING, logger="eventkit"):
        path = get(url, tmp_path)
    assert path.read_bytes() == BODY
    aside = tmp_path / "data.bin.part.oversize"
    assert aside.read_bytes() == mine  # not deleted
    assert str(aside) in caplog.text and "more than" in caplog.text
    assert server.seen("/data.bin") == [""]  # fetched afresh, not resumed from the bad part


def test_part_that_is_not_a_prefix_is_kept_when_server_ignores_range(server, tmp_path) -> None:
    url = server.add("/data.bin", lambda h, i: h.send(200, BODY))  # 200 to every Range request
    mine = b"not the file" * 100
    (tmp_path / "data.bin.part").write_bytes(mine)
    assert get(url, tmp_path).read_bytes() == BODY
    assert (tmp_path / "data.bin.part.mismatch").read_bytes() == mine


def test_good_prefix_and_200_to_range_is_not_doubled(server, tmp_path) -> None:
    url = server.add("/data.bin", lambda h, i: h.send(200, BODY))
    (tmp_path / "data.bin.part").write_bytes(BODY[:5000])
    assert get(url, tmp_path).read_bytes() == BODY  # not 5000 bytes + the whole body
    assert not list(tmp_path.glob("*.mismatch*"))


# --- 2. 206 replies that do not continue our bytes ------------------------------------------------------

@pytest.mark.parametrize("content_range", ["bytes 0-{last}/{n}", None, "bytes garbage", "bytes 777-{last}/*x"])
def test_bad_206_is_never_appended(server, tmp_path, content_range) -> None:
    def reply(h: _Handler, i: int) -> None:
        if h.range_start():  # claims 206 but sends the file from byte 0
            cr = content_range and content_range.format(last=len(BODY) - 1, n=len(BODY))
            h.send(206, BODY, headers={"Content-Range": cr} if cr else {})
        else:
            h.send(200, BODY)

    url = server.add("/data.bin", reply)
    (tmp_path / "data.bin.part").write_bytes(BODY[:777])
    assert get(url, tmp_path).read_bytes() == BODY
    assert server.seen("/data.bin") == ["bytes=777-", ""]  # restarted cleanly without Range


def test_206_total_disagreeing_with_manifest_is_refused(server, tmp_path) -> None:
    def reply(h: _Handler, i: int) -> None:
        start = h.range_start()
        h.send(206, BODY[start:], headers={"Content-Range": f"bytes {start}-{len(BODY) - 1}/{len(BODY) + 99}"})

    url = server.add("/data.bin", reply)
    (tmp_path / "data.bin.part").write_bytes(BODY[:777])
    with pytest.raises(DownloadError) as exc:
        get(url, tmp_path)
    assert url in str(exc.value) and "Content-Range" in str(exc.value)
    assert (tmp_path / "data.bin.part").read_bytes() == BODY[:777]  # untouched
    assert "Partial data (777 bytes) is kept" in str(exc.value)


# --- 3. an HTML page instead of the file ----------------------------------------------------------------

@pytest.mark.parametrize("ctype", ["text/html; charset=utf-8", "application/octet-stream"])
def test_html_page_is_refused_without_size_or_hash(server, tmp_path, ctype) -> None:
    route = server.add("/data.bin", lambda h, i: h.send(200, HTML, ctype=ctype))
    with pytest.raises(DownloadError) as exc:
        get(route, tmp_path, remote=remote(route, size=None, hashed=False))
    msg = str(exc.value)
    assert "HTML page" in msg and route in msg and "login" in msg
    assert server.seen("/data.bin") == [""]  # not retried
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_text_reply_for_a_text_file_is_accepted(server, tmp_path) -> None:
    url = server.add("/labels.txt", lambda h, i: h.send(200, b"0 hand_clap\n1 wave\n", ctype="text/plain"))
    path = get(url, tmp_path, remote=remote(url, size=None, hashed=False, name="labels.txt"))
    assert path.read_bytes() == b"0 hand_clap\n1 wave\n"


# --- 4. stalls and trickles -----------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_stalled_server_is_abandoned_and_resumed(server, tmp_path) -> None:
    def reply(h: _Handler, i: int) -> None:
        if i == 0:
            h.send_response(200)
            h.send_header("Content-Length", str(len(BODY)))
            h.end_headers()
            h.wfile.write(BODY[:1000])
            h.wfile.flush()
            server.stop.wait(30)  # then nothing more
        else:
            honest(h, i)

    url = server.add("/data.bin", reply)
    t0 = time.monotonic()
    path = get(url, tmp_path, stall_timeout=0.5)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    assert server.seen("/data.bin") == ["", "bytes=1000-"]  # the 1000 bytes received were kept
    assert time.monotonic() - t0 < 10


@pytest.mark.timeout(60)
@pytest.mark.parametrize("held", [0, 5000])  # 5000: the trickle is still being compared with our part
def test_trickling_server_is_abandoned_and_resumed(server, tmp_path, monkeypatch, held) -> None:
    def reply(h: _Handler, i: int) -> None:
        if i == 0:  # the whole file from byte 0, one byte every 0.1 s: never silent long enough for a read timeout
            h.send_response(200)
            h.send_header("Content-Length", str(len(BODY)))
            h.end_headers()
            for b in BODY:
                h.wfile.write(bytes([b]))
                h.wfile.flush()
                if server.stop.wait(0.1):
                    return
        else:
            honest(h, i)

    monkeypatch.setenv("EVENTKIT_STALL_TIMEOUT", "1")
    url = server.add("/data.bin", reply)
    if held:
        (tmp_path / "data.bin.part").write_bytes(BODY[:held])
    path = download(remote(url), tmp_path, progress=False, backoff=0.01, timeout=30)
    assert path.read_bytes() == BODY
    seen = server.seen("/data.bin")
    assert len(seen) == 2 and int(seen[1][len("bytes="):-1]) > 0  # resumed after the trickled bytes


def test_bad_stall_timeout_variable_is_one_clean_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVENTKIT_STALL_TIMEOUT", "soon")
    with pytest.raises(DownloadError, match="EVENTKIT_STALL_TIMEOUT"):
        download(remote("http://127.0.0.1:1/x"), tmp_path, progress=False)


# --- 5. full or read-only disks -------------------------------------------------------------------------

def _failing_writes(monkeypatch, code: int) -> None:
    """Make every write to a download part fail with ``code``, as a full or read-only disk does."""
    real_open = builtins.open

    class Failing:
        def __init__(self, f) -> None:
            self.f = f

        def write(self, data: bytes) -> int:
            raise OSError(code, os.strerror(code))

        def __getattr__(self, name: str):
            return getattr(self.f, name)

    def fake_open(file, mode="r", *args, **kw):
        f = real_open(file, mode, *args, **kw)
        return Failing(f) if str(file).endswith(".part") and ("w" in mode or "+" in mode) else f

    monkeypatch.setattr(fetch, "open", fake_open, raising=False)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_disk_full_is_one_error_not_retried(server, tmp_path, monkeypatch, code) -> None:
    url = server.add("/data.bin", honest)
    _failing_writes(monkeypatch, code)
    with pytest.raises(DiskWriteError) as exc:
        get(url, tmp_path, retries=4)
    msg = str(exc.value)
    assert str(tmp_path / "data.bin.part") in msg and os.strerror(code) in msg and "--root" in msg
    assert exc.value.errno == code
    assert server.seen("/data.bin") == [""]  # no retry


def test_read_only_download_folder_is_one_error(server, tmp_path, monkeypatch) -> None:
    url = server.add("/data.bin", honest)
    ddir = tmp_path / "download"
    ddir.mkdir()
    if os.geteuid() == 0:  # root ignores permissions: simulate the refusal instead
        _failing_writes(monkeypatch, errno.EACCES)
    else:
        ddir.chmod(0o555)
    try:
        with pytest.raises(DiskWriteError) as exc:
            get(url, ddir, retries=4)
    finally:
        ddir.chmod(0o755)
    assert "permission" in str(exc.value).lower() and str(ddir) in str(exc.value)
    assert len(server.seen("/data.bin")) <= 1


# --- 6. messages state only what is true ----------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_host_message_claims_no_partial_data(tmp_path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/data.bin"
    with pytest.raises(DownloadError) as exc:
        get(url, tmp_path, retries=2)
    msg = str(exc.value)
    assert url in msg and "No partial data was kept" in msg and "Partial data" not in msg
    assert not (tmp_path / "data.bin.part").exists()


def test_404_message_claims_no_partial_data_unless_there_is(server, tmp_path) -> None:
    url = server.url("/data.bin")  # no route: 404
    with pytest.raises(DownloadError) as exc:
        get(url, tmp_path)
    assert "HTTP 404" in str(exc.value) and "Partial data" not in str(exc.value)
    (tmp_path / "data.bin.part").write_bytes(b"x" * 10)
    with pytest.raises(DownloadError) as exc:
        get(url, tmp_path)
    assert f"Partial data (10 bytes) is kept in {tmp_path / 'data.bin.part'}" in str(exc.value)


# --- 7. redirects, sizes and hashes ---------------------------------------------------------------------

def test_redirect_to_another_scheme_is_refused(server, tmp_path) -> None:
    url = server.add("/data.bin", lambda h, i: h.send(302, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(DownloadError, match="not http"):
        get(url, tmp_path)
    assert server.seen("/data.bin") == [""]  # not retried
    assert list(tmp_path.iterdir()) == []


def test_redirect_loop_is_refused(server, tmp_path) -> None:
    url = server.add("/data.bin", lambda h, i: h.send(302, headers={"Location": "/data.bin"}))
    with pytest.raises(DownloadError, match="redirect loop"):
        get(url, tmp_path)
    assert len(server.seen("/data.bin")) <= 31  # one round of redirects, no retries


def test_content_length_above_manifest_size_writes_nothing(server, tmp_path) -> None:
    def reply(h: _Handler, i: int) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(50 << 30))  # 50 GiB announced...
        h.end_headers()
        h.wfile.write(BODY)  # ...and never sent: we must stop before reading

    url = server.add("/data.bin", reply)
    with pytest.raises(DownloadError, match="announces"):
        get(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_more_bytes_than_manifest_size_stops_and_keeps_them_aside(server, tmp_path) -> None:
    url = server.add("/data.bin", lambda h, i: h.send(200, BODY + os.urandom(300_000), length=False))
    with pytest.raises(DownloadError) as exc:
        get(url, tmp_path)
    aside = tmp_path / "data.bin.part.oversize"
    assert "more than" in str(exc.value) and str(aside) in str(exc.value)
    assert aside.stat().st_size == len(BODY)  # stopped at the manifest's size
    assert not (tmp_path / "data.bin").exists()


def test_hash_mismatch_is_kept_aside(server, tmp_path) -> None:
    bad = bytes(len(BODY))
    url = server.add("/data.bin", lambda h, i: h.send(200, bad))
    with pytest.raises(ChecksumMismatchError) as exc:
        get(url, tmp_path)
    kept = tmp_path / "data.bin.part.mismatch"
    assert kept.read_bytes() == bad and str(kept) in str(exc.value) and SHA in str(exc.value)
    assert not (tmp_path / "data.bin").exists()


# --- links and mirrors ----------------------------------------------------------------------------------

def test_part_that_is_a_link_is_never_written_through(server, tmp_path) -> None:
    url = server.add("/data.bin", honest)
    victim = tmp_path / "victim" / "thesis.tex"
    victim.parent.mkdir()
    victim.write_bytes(b"my thesis")
    ddir = tmp_path / "download"
    ddir.mkdir()
    (ddir / "data.bin.part").symlink_to(victim)
    assert get(url, ddir).read_bytes() == BODY
    assert victim.read_bytes() == b"my thesis"  # nothing written outside the folder
    assert (ddir / "data.bin.part.not-a-file").is_symlink()  # the link itself kept aside
    assert server.seen("/data.bin") == [""]


def test_mirror_manifest_cannot_be_injected_by_a_name_or_url(tmp_path) -> None:
    import tomllib
    from types import SimpleNamespace

    from eventkit.datasets.mirror import mirror_manifest_text, pack_tree

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    archive = tmp_path / "out" / "mirror.tar.gz"
    archive.parent.mkdir()
    (archive.parent / "mirror.tar.gz.part").write_bytes(b"someone else's bytes")
    pack_tree(src, archive)
    assert (archive.parent / "mirror.tar.gz.part").read_bytes() == b"someone else's bytes"  # not truncated
    assert sorted(p.name for p in archive.parent.iterdir()) == ["mirror.tar.gz", "mirror.tar.gz.part"]
    evil = 'http://127.0.0.1/x"\nmanual = true\n\x7f'
    base = SimpleNamespace(
        name="d", version="1", title="t", homepage="h", license="l", citation="c", decoder="npy",
        sensor=SimpleNamespace(width=2, height=2, polarities=2), classes=("a",), splits=("train",), samples={},
    )
    doc = tomllib.loads(mirror_manifest_text(base, archive, [evil]))
    assert doc["files"][0]["urls"] == [evil] and "manual" not in doc["files"][0]
