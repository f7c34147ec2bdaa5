"""Downloads from a local server: resume, mirrors, retries, verification, and files kept aside."""

from __future__ import annotations

import hashlib
import os

import pytest

from eventkit.datasets.fetch import RemoteFile, download, verify_file
from eventkit.errors import ChecksumMismatchError, DownloadError
from tests.helpers.http_server import LocalServer, Route

BODY = os.urandom(3 * (1 << 20) + 12345)  # a few MiB, several read chunks
MD5 = hashlib.md5(BODY).hexdigest()
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def server():
    with LocalServer() as s:
        yield s


def remote(*urls: str, **kw) -> RemoteFile:
    kw.setdefault("size", len(BODY))
    kw.setdefault("hashes", {"md5": MD5, "sha256": SHA})
    return RemoteFile("data.bin", tuple(urls), **kw)


def test_plain_download_verifies(server, tmp_path) -> None:
    url = server.add("/data.bin", Route(BODY))
    path = download(remote(url), tmp_path, progress=False)
    assert path.read_bytes() == BODY
    assert not (tmp_path / "data.bin.part").exists()


def test_cut_connection_resumes_with_range(server, tmp_path) -> None:
    route = Route(BODY, cut_after=1_000_000, cuts_left=2)
    url = server.add("/data.bin", route)
    path = download(remote(url), tmp_path, progress=False, backoff=0.01)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    # first request from 0, then two resumed requests that each continue near where the cut left off
    assert len(route.requests) == 3 and route.requests[0] == ""
    starts = [int(r[len("bytes="):-1]) for r in route.requests[1:]]
    assert 900_000 <= starts[0] <= 1_000_000 and starts[0] + 900_000 <= starts[1] <= starts[0] + 1_000_000


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path) -> None:
    route = Route(BODY)
    url = server.add("/data.bin", route)
    (tmp_path / "data.bin.part").write_bytes(BODY[:777])
    download(remote(url), tmp_path, progress=False)
    assert route.requests == ["bytes=777-"]
    assert (tmp_path / "data.bin").read_bytes() == BODY


def test_server_without_range_support_restarts_cleanly(server, tmp_path) -> None:
    url = server.add("/data.bin", Route(BODY, honour_range=False))
    (tmp_path / "data.bin.part").write_bytes(b"x" * 5000)
    path = download(remote(url), tmp_path, progress=False)
    assert path.read_bytes() == BODY


def test_404_on_first_mirror_falls_through_to_second(server, tmp_path) -> None:
    dead = server.url("/gone.bin")
    good = server.add("/data.bin", Route(BODY))
    path = download(remote(dead, good), tmp_path, progress=False)
    assert path.read_bytes() == BODY


def test_wrong_content_is_kept_aside_with_both_hashes(server, tmp_path) -> None:
    bad = BODY[:-1] + bytes([BODY[-1] ^ 0xFF])
    url = server.add("/data.bin", Route(bad))
    with pytest.raises(ChecksumMismatchError) as exc:
        download(remote(url, size=None), tmp_path, progress=False)
    msg = str(exc.value)
    assert MD5 in msg and hashlib.md5(bad).hexdigest() in msg
    kept = tmp_path / "data.bin.part.mismatch"
    assert kept.read_bytes() == bad  # never deleted
    assert not (tmp_path / "data.bin").exists()


def test_wrong_mirror_then_good_mirror(server, tmp_path) -> None:
    bad_url = server.add("/bad.bin", Route(b"\0" * len(BODY)))
    good_url = server.add("/data.bin", Route(BODY))
    path = download(remote(bad_url, good_url), tmp_path, progress=False)
    assert path.read_bytes() == BODY
    assert (tmp_path / "data.bin.part.mismatch").exists()


def test_existing_bad_file_is_moved_aside_not_deleted(server, tmp_path) -> None:
    url = server.add("/data.bin", Route(BODY))
    (tmp_path / "data.bin").write_bytes(b"my own edits")
    download(remote(url), tmp_path, progress=False)
    assert (tmp_path / "data.bin.mismatch").read_bytes() == b"my own edits"
    assert (tmp_path / "data.bin").read_bytes() == BODY


def test_verified_file_is_not_fetched_again(server, tmp_path) -> None:
    route = Route(BODY)
    url = server.add("/data.bin", route)
    download(remote(url), tmp_path, progress=False)
    download(remote(url), tmp_path, progress=False)
    assert len(route.requests) == 1


def test_all_urls_failing_lists_each(server, tmp_path) -> None:
    u1, u2 = server.url("/a"), server.url("/b")
    server.add("/b", Route(BODY, status=503))
    with pytest.raises(DownloadError) as exc:
        download(remote(u1, u2, instructions="Fetch it from example.org."), tmp_path, progress=False,
                 retries=2, backoff=0.01)
    msg = str(exc.value)
    assert "/a: HTTP 404" in msg and "/b:" in msg and "503" in msg and "example.org" in msg


def test_manual_file_explains_what_to_do(tmp_path) -> None:
    r = RemoteFile("DvsGesture.tar.gz", (), size=1, hashes={}, manual=True,
                   instructions="Download DvsGesture.tar.gz from IBM and place it in the folder.")
    with pytest.raises(DownloadError, match="by hand.*IBM"):
        download(r, tmp_path, progress=False)


def test_verify_file_reports_size_then_hash(tmp_path) -> None:
    f = tmp_path / "data.bin"
    f.write_bytes(BODY[:10])
    assert "size is 10 bytes" in verify_file(f, remote("u"))[0]
    f.write_bytes(BODY)
    assert verify_file(f, remote("u")) == []
