"""Safe extraction: hostile members refused before any write, resumable and verified."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile

import pytest

from eventkit.datasets.archives import archive_kind, extract, list_members
from eventkit.errors import ArchiveError, UnsafeArchiveError

FILES = {"DvsGesture/user01_led.aedat": os.urandom(70_000), "DvsGesture/trials_to_train.txt": b"user01_led.aedat\n"}


def make_zip(path, files=FILES, extra=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        if extra:
            extra(z)
    return path


def make_tar(path, mode="w:gz", files=FILES, extra=None):
    with tarfile.open(path, mode) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        if extra:
            extra(t)
    return path


@pytest.mark.parametrize("mode,suffix", [("w", ".tar"), ("w:gz", ".tar.gz"), ("w:bz2", ".tar.bz2"), ("w:xz", ".tar.xz")])
def test_tar_variants_extract(tmp_path, mode, suffix) -> None:
    arc = make_tar(tmp_path / f"a{suffix}", mode)
    assert archive_kind(arc) == "tar"
    files = extract(arc, tmp_path / "out")
    assert {f.relative_to(tmp_path / "out").as_posix(): f.read_bytes() for f in files} == FILES


def test_zip_extracts_and_second_call_is_instant(tmp_path) -> None:
    arc = make_zip(tmp_path / "a.zip")
    out = tmp_path / "out"
    files = extract(arc, out)
    assert {f.relative_to(out).as_posix(): f.read_bytes() for f in files} == FILES
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert extract(arc, out) == files
    assert [f.stat().st_mtime_ns for f in files] == mtimes


def test_resume_rewrites_only_missing_or_short_members(tmp_path) -> None:
    arc = make_tar(tmp_path / "a.tar.gz")
    out = tmp_path / "out"
    extract(arc, out)
    big = out / "DvsGesture/user01_led.aedat"
    small = out / "DvsGesture/trials_to_train.txt"
    big.write_bytes(FILES["DvsGesture/user01_led.aedat"][:100])  # as if killed mid-write
    small_mtime = small.stat().st_mtime_ns
    extract(arc, out)
    assert big.read_bytes() == FILES["DvsGesture/user01_led.aedat"]
    assert small.stat().st_mtime_ns == small_mtime


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt", "C:/evil.txt", "..\\evil.txt"])
def test_zip_path_escape_refused_and_nothing_written(tmp_path, name) -> None:
    arc = make_zip(tmp_path / "a.zip", extra=lambda z: z.writestr(name, b"x"))
    out = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        extract(arc, out)
    assert not out.exists()
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_refused(tmp_path) -> None:
    def add_link(z):
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")

    with pytest.raises(UnsafeArchiveError, match="link"):
        extract(make_zip(tmp_path / "a.zip", extra=add_link), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_links_and_devices_refused(tmp_path, kind) -> None:
    def add(t):
        info = tarfile.TarInfo("bad")
        info.type = kind
        info.linkname = "/etc/passwd"
        t.addfile(info)

    with pytest.raises(UnsafeArchiveError, match="refusing"):
        extract(make_tar(tmp_path / "a.tar", "w", extra=add), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_parent_path_refused(tmp_path) -> None:
    arc = make_tar(tmp_path / "a.tar", "w", files={"../../evil": b"x"})
    with pytest.raises(UnsafeArchiveError):
        list_members(arc)


def test_truncated_archive_is_archive_error(tmp_path) -> None:
    arc = make_tar(tmp_path / "a.tar.gz")
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        extract(arc, tmp_path / "out")


def test_corrupt_zip_member_is_archive_error(tmp_path) -> None:
    arc = make_zip(tmp_path / "a.zip", files={"f.bin": b"A" * 50_000})
    with zipfile.ZipFile(arc) as z:
        off = z.getinfo("f.bin").header_offset
    data = bytearray(arc.read_bytes())
    data[off + 60] ^= 0xFF  # inside the compressed stream: CRC or inflate must fail
    arc.write_bytes(bytes(data))
    with pytest.raises(ArchiveError):
        extract(arc, tmp_path / "out")


def test_not_an_archive(tmp_path) -> None:
    f = tmp_path / "x.zip"
    f.write_bytes(b"hello world")
    with pytest.raises(ArchiveError, match="not a zip"):
        extract(f, tmp_path / "out")


def test_rar_without_backend_says_how_to_extract_by_hand(tmp_path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_rarfile(name, *a, **k):
        if name == "rarfile":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_rarfile)
    f = tmp_path / "ES-imagenet-0.18.part01.rar"
    f.write_bytes(b"Rar!\x1a\x07\x01\x00" + b"\0" * 100)
    with pytest.raises(ArchiveError, match="by hand.*--from DIR"):
        extract(f, tmp_path / "out")


def test_extraction_made_before_the_record_is_adopted_without_rewriting(tmp_path) -> None:
    import json

    arc = make_zip(tmp_path / "a.zip")
    out = tmp_path / "out"
    files = extract(arc, out)
    (out / ".eventkit-extracted.json").unlink()  # as an older eventkit left it: one record per archive
    legacy = out / ".eventkit-extracted-a.zip.json"
    legacy.write_text(json.dumps({"archive": "a.zip", "archive_size": arc.stat().st_size, "members": 2}))
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert extract(arc, out) == files
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    assert not legacy.exists()
    assert json.loads((out / ".eventkit-extracted.json").read_text())["archives"]["a.zip"]["state"] == "complete"


def test_same_archive_again_is_not_hashed_again(tmp_path, monkeypatch) -> None:
    from eventkit.datasets import archives

    arc = make_tar(tmp_path / "a.tar.gz")
    out = tmp_path / "out"
    extract(arc, out)
    monkeypatch.setattr(archives, "_sha256", lambda p: pytest.fail("hashed again"))
    extract(arc, out)  # same size, mtime and inode: the recorded hash is used
