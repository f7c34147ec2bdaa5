"""Hostile and damaged archives: stale versions, duplicate members, cut tars, links of every archive
kind, zip bombs, escaping nested globs, user files in the way, full disks. Every archive is built
here; each test checks the one clean error, that nothing was written outside the target folder and
that the user's files are intact."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import stat
import struct
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from eventkit.datasets import archives, extract_guard, extract_swap
from eventkit.datasets.archives import extract, list_members
from eventkit.datasets.extract_guard import ExpandLimits
from eventkit.datasets.prepare import _extract_nested, _link_into
from eventkit.errors import ArchiveError, ArchiveTooLargeError, DiskWriteError, UnsafeArchiveError


def make_tar(path: Path, files: list[tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, files: list[tuple[str, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names: we want them
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files:
                z.writestr(name, data)
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Visible files under ``folder`` (eventkit's dot-files are bookkeeping)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


V1 = [("DvsGesture/labels.csv", b"a,1\n"), ("DvsGesture/old_only.aedat", b"x" * 600)]
V2 = [("DvsGesture/labels.csv", b"b,2\n"), ("DvsGesture/new.aedat", b"y" * 700)]


# --- 1. versions: keyed to the hash, swapped in as a unit ------------------------------------


def test_new_version_leaves_no_stale_member_and_keeps_user_files(tmp_path) -> None:
    out = tmp_path / "extract"
    arc = tmp_path / "DvsGesture.tar"
    extract(make_tar(arc, V1), out)
    other = extract(make_zip(tmp_path / "other.zip", [("other/o.txt", b"o")]), out)  # a second archive, same folder
    (out / "DvsGesture" / "my_notes.txt").write_bytes(b"mine")
    make_tar(arc, V2)  # new version; labels.csv has the same size as before
    extract(arc, out)
    assert tree(out) == {"DvsGesture/labels.csv": b"b,2\n", "DvsGesture/new.aedat": b"y" * 700,
                         "DvsGesture/my_notes.txt": b"mine", "other/o.txt": b"o"}
    assert [p.read_bytes() for p in other] == [b"o"]
    assert not [p for p in out.iterdir() if p.name.startswith((".eventkit-tmp", ".eventkit-trash"))]
    make_tar(arc, [("Renamed/labels.csv", b"c,3\n")])  # a version with another folder: the old one goes
    extract(arc, out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.name.startswith(".")) == [
        "DvsGesture", "DvsGesture/my_notes.txt", "Renamed", "Renamed/labels.csv", "other", "other/o.txt"]


def test_damaged_new_version_leaves_previous_version_whole(tmp_path) -> None:
    out = tmp_path / "extract"
    arc = tmp_path / "a.zip"
    extract(make_zip(arc, V1), out)
    make_zip(arc, [("DvsGesture/labels.csv", b"b,2\n"), ("DvsGesture/new.aedat", b"y" * 50_000)])
    with zipfile.ZipFile(arc) as z:
        off = z.getinfo("DvsGesture/new.aedat").header_offset
    data = bytearray(arc.read_bytes())
    data[off + 70] ^= 0xFF  # inside the second member's deflate stream
    arc.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=str(arc)):
        extract(arc, out)
    assert tree(out) == dict(V1)


def test_interrupted_swap_is_never_taken_as_complete(tmp_path, monkeypatch) -> None:
    out = tmp_path / "extract"
    arc = tmp_path / "a.tar"
    extract(make_tar(arc, V1), out)
    make_tar(arc, V2)
    real = os.replace

    def dies_midway(a, b):
        if ".eventkit-tmp" in str(a) and not str(a).endswith(".part"):  # first new member moving in: killed
            raise KeyboardInterrupt
        return real(a, b)

    monkeypatch.setattr(extract_swap.os, "replace", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        extract(arc, out)
    monkeypatch.setattr(extract_swap.os, "replace", real)
    rec = json.loads((out / extract_swap.RECORD).read_text())
    assert rec["archives"]["a.tar"]["state"] == "installing"
    assert list(out.glob(".eventkit-trash-*"))  # the stale file was moved out, not yet removed
    extract(arc, out)
    assert tree(out) == dict(V2)
    assert not list(out.glob(".eventkit-t*"))


# --- 2. duplicate members ---------------------------------------------------------------------


def test_tar_duplicate_member_last_wins(tmp_path) -> None:
    arc = make_tar(tmp_path / "a.tar", [("labels.csv", b"old\n"), ("labels.csv", b"new\n")])  # same size
    extract(arc, tmp_path / "out")
    assert tree(tmp_path / "out") == {"labels.csv": b"new\n"}
    assert [m.name for m in list_members(arc)] == ["labels.csv"]


@pytest.mark.parametrize("second", ["labels.csv", "./labels.csv", "labels.csv/inner"])
def test_zip_duplicate_or_clashing_member_refused(tmp_path, second) -> None:
    arc = make_zip(tmp_path / "a.zip", [("labels.csv", b"old\n"), (second, b"new\n")])
    with pytest.raises(ArchiveError, match=r"a\.zip.*(two members|both a file and a folder)"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- 3. truncation ----------------------------------------------------------------------------


def test_plain_tar_cut_at_member_boundary_is_truncated(tmp_path) -> None:
    arc = make_tar(tmp_path / "a.tar", [("a.bin", b"a" * 1000), ("b.bin", b"b" * 1000)])
    with tarfile.open(arc) as t:
        first = t.getmembers()[0]
    boundary = first.offset_data + 1024  # 1000 bytes padded to whole blocks
    arc.write_bytes(arc.read_bytes()[:boundary])
    with pytest.raises(ArchiveError, match=r"a\.tar: truncated tar.*after member 'a\.bin'.*download it again"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_plain_tar_with_a_lying_size_header_is_truncated(tmp_path) -> None:
    arc = make_tar(tmp_path / "a.tar", [("a.bin", b"a" * 1000)])
    data = bytearray(arc.read_bytes())
    data[124:136] = b"%011o\0" % (1 << 30)  # size field: 1 GiB
    data[148:156] = b" " * 8
    data[148:155] = b"%06o\0" % sum(data[:512])  # valid header checksum
    arc.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="truncated"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
@pytest.mark.parametrize("cut", [0.5, 0.9, -4])
def test_compressed_tar_cut_anywhere_is_an_archive_error(tmp_path, mode, cut) -> None:
    arc = make_tar(tmp_path / "a.tgz", [("a.bin", os.urandom(20_000)), ("b.bin", os.urandom(20_000))], mode)
    data = arc.read_bytes()
    arc.write_bytes(data[: int(len(data) * cut)] if cut > 0 else data[:cut])
    with pytest.raises(ArchiveError, match=r"a\.tgz.*(corrupt or truncated|truncated)"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- 4. links and special members of every kind -------------------------------------------------


class _Fake:
    """Stands in for py7zr / rarfile entries (not installed here), with their attribute names."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)


def _rar_entry(name, **kw):
    d = dict(filename=name, file_size=3, is_symlink=lambda: False, is_dir=lambda: False, is_file=lambda: True,
             file_redir=None, mode=stat.S_IFREG | 0o644)
    d.update(kw)
    return _Fake(**d)


def _7z_entry(name, **kw):
    d = dict(filename=name, uncompressed=3, is_directory=False, is_symlink=False, is_junction=False,
             is_socket=False, posix_mode=stat.S_IFREG | 0o644)
    d.update(kw)
    return _Fake(**d)


class _FakeArchive:
    def __init__(self, entries, payload=b"abc") -> None:
        self.entries, self.payload, self.extracted = entries, payload, []

    files = property(lambda self: self.entries)

    def infolist(self):
        return self.entries

    def open(self, info):
        self.extracted.append(info.filename)
        return io.BytesIO(self.payload)

    def extract(self, path, targets):
        self.extracted.extend(targets)

    def close(self) -> None:
        pass


HOSTILE_OTHER = [
    ("rar", _rar_entry("link", is_symlink=lambda: True, is_file=lambda: False)),
    ("rar", _rar_entry("hard", file_redir=(4, 0, "/etc/passwd"))),  # RAR5 hard link / file copy
    ("rar", _rar_entry("dev", mode=stat.S_IFCHR | 0o644)),
    ("rar", _rar_entry("../up")),
    ("rar", _rar_entry("/abs")),
    ("7z", _7z_entry("link", is_symlink=True)),
    ("7z", _7z_entry("junction", is_junction=True)),
    ("7z", _7z_entry("fifo", posix_mode=stat.S_IFIFO | 0o644)),
    ("7z", _7z_entry("..\\up")),
    ("7z", _7z_entry("C:/abs")),
]


@pytest.mark.parametrize("kind,entry", HOSTILE_OTHER, ids=[f"{k}-{e.filename}" for k, e in HOSTILE_OTHER])
def test_7z_and_rar_members_are_vetted_like_tar_and_zip(tmp_path, monkeypatch, kind, entry) -> None:
    magic = b"Rar!\x1a\x07\x01\x00" if kind == "rar" else b"7z\xbc\xaf\x27\x1c"
    arc = tmp_path / f"a.{kind}"
    arc.write_bytes(magic + b"\0" * 100)
    fake = _FakeArchive([_rar_entry("ok.txt") if kind == "rar" else _7z_entry("ok.txt"), entry])
    monkeypatch.setattr(archives, "_other_backend", lambda p, k: fake)
    with pytest.raises(UnsafeArchiveError, match=r"a\.(rar|7z): member .*refusing"):
        extract(arc, tmp_path / "out")
    assert fake.extracted == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name,attr", [
    ("link", (stat.S_IFLNK | 0o777) << 16),
    ("fifo", (stat.S_IFIFO | 0o644) << 16),
    ("..\\..\\evil.txt", 0),
    ("sub\\..\\..\\evil.txt", 0),
    (".eventkit-extracted.json", 0),  # would replace our record of what is ours
    ("MINI/a/.eventkit-tmp-a.zip-0123456789abcdef/x", 0),
])
def test_zip_links_specials_and_backslash_escapes_refused(tmp_path, name, attr) -> None:
    arc = tmp_path / "a.zip"
    with zipfile.ZipFile(arc, "w") as z:
        z.writestr("ok.txt", b"ok")
        info = zipfile.ZipInfo(name)
        info.external_attr = attr
        z.writestr(info, b"/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match=r"a\.zip: member .*refusing"):
        extract(arc, tmp_path / "x" / "out")
    assert not (tmp_path / "x").exists() and not (tmp_path / "evil.txt").exists()


def test_rar_member_yielding_more_than_declared_is_stopped(tmp_path, monkeypatch) -> None:
    arc = tmp_path / "a.rar"
    arc.write_bytes(b"Rar!\x1a\x07\x01\x00" + b"\0" * 100)
    fake = _FakeArchive([_rar_entry("ok.txt")], payload=b"z" * (3 << 20))  # header says 3 bytes
    monkeypatch.setattr(archives, "_other_backend", lambda p, k: fake)
    with pytest.raises(ArchiveTooLargeError, match=r"a\.rar: member 'ok\.txt' expands beyond"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- 5. expansion guard ----------------------------------------------------------------------


def test_zip_bomb_refused_before_writing_and_limit_can_be_raised(tmp_path, monkeypatch) -> None:
    arc = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(20 << 20))])
    assert arc.stat().st_size < 100_000
    with pytest.raises(ArchiveTooLargeError) as exc:
        extract(arc, tmp_path / "out")
    msg = str(exc.value)
    assert "bomb.zip" in msg and "zeros.bin" in msg and "ratio" in msg and "EVENTKIT_MAX_EXPAND_RATIO" in msg
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("EVENTKIT_MAX_EXPAND_RATIO", "100000")
    assert [p.stat().st_size for p in extract(arc, tmp_path / "out")] == [20 << 20]


def test_total_size_limit_counts_many_small_members(tmp_path) -> None:
    arc = make_zip(tmp_path / "many.zip", [(f"f{i}.bin", os.urandom(1000)) for i in range(50)])
    want = r"many\.zip.*48\.8 KiB in all, over the limit 9\.8 KiB.*max-expand-bytes"
    with pytest.raises(ArchiveTooLargeError, match=want):
        extract(arc, tmp_path / "out", limits=ExpandLimits(max_bytes=10_000))
    assert not (tmp_path / "out").exists()


def test_lying_zip_header_cannot_expand_past_it(tmp_path) -> None:
    arc = make_zip(tmp_path / "lie.zip", [("big.bin", bytes(20 << 20))])
    data = bytearray(arc.read_bytes())
    struct.pack_into("<I", data, 22, 1000)  # local header: uncompressed size 1000
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, 1000)  # central directory too
    arc.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"lie\.zip"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_limit_in_environment_is_one_clean_error(monkeypatch) -> None:
    monkeypatch.setenv("EVENTKIT_MAX_EXPAND_BYTES", "lots")
    with pytest.raises(ArchiveError, match="EVENTKIT_MAX_EXPAND_BYTES"):
        ExpandLimits.resolve()


# --- 6. nested extraction stays inside extract/ -------------------------------------------------


def test_nested_glob_cannot_leave_extract(tmp_path) -> None:
    xdir = tmp_path / "extract"
    xdir.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    make_zip(victim / "v.zip", [("thesis.tex", b"overwritten")])
    (victim / "thesis.tex").write_bytes(b"my thesis")
    before = tree(victim)
    for glob in ("../victim/*.zip", str(victim / "*.zip")):
        with pytest.raises(UnsafeArchiveError, match="refusing"):
            _extract_nested(xdir, {"glob": glob, "into": "here"})
    (xdir / "link").symlink_to(victim, target_is_directory=True)  # a symlinked folder inside extract/
    with pytest.raises(UnsafeArchiveError, match="leads outside"):
        _extract_nested(xdir, {"glob": "link/*.zip", "into": "here"})
    assert tree(victim) == before


# --- 7. a user's file at extract/NAME ------------------------------------------------------------


def test_user_file_in_extract_is_moved_aside_not_deleted(tmp_path, caplog) -> None:
    download, xdir = tmp_path / "download", tmp_path / "extract"
    download.mkdir()
    xdir.mkdir()
    (download / "labels.txt").write_bytes(b"from the server")
    (xdir / "labels.txt").write_bytes(b"my own edited labels")
    with caplog.at_level(logging.WARNING, logger="eventkit"):
        _link_into(download / "labels.txt", xdir / "labels.txt")
    assert (xdir / "labels.txt.user-1").read_bytes() == b"my own edited labels"
    assert (xdir / "labels.txt").read_bytes() == b"from the server"
    assert "labels.txt.user-1" in caplog.text
    # our own link to an older download is replaced quietly, nothing more set aside
    (download / "labels.txt").unlink()
    (download / "labels.txt").write_bytes(b"newer")
    _link_into(download / "labels.txt", xdir / "labels.txt")
    assert (xdir / "labels.txt").read_bytes() == b"newer"
    assert sorted(p.name for p in xdir.iterdir() if not p.name.startswith(".")) == ["labels.txt", "labels.txt.user-1"]


def test_user_file_in_the_way_of_an_archive_member_is_moved_aside(tmp_path) -> None:
    out = tmp_path / "extract"
    out.mkdir()
    (out / "DvsGesture").write_bytes(b"a user's file where the archive has a folder")
    extract(make_tar(tmp_path / "a.tar", V1), out)
    assert (out / "DvsGesture.user-1").read_bytes() == b"a user's file where the archive has a folder"
    assert tree(out)["DvsGesture/labels.csv"] == b"a,1\n"


# --- 8. full or read-only disk -------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_disk_full_or_read_only_is_one_error_and_previous_state_intact(tmp_path, monkeypatch, code) -> None:
    out = tmp_path / "extract"
    arc = tmp_path / "a.tar.gz"
    extract(make_tar(arc, V1, "w:gz"), out)
    make_tar(arc, V2, "w:gz")
    real_open = open

    def failing_open(path, mode="r", *a, **k):
        if "w" in mode and str(path).endswith(".part"):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(extract_guard, "open", failing_open, raising=False)
    with pytest.raises(DiskWriteError, match=r"\.part: cannot write") as exc:
        extract(arc, out)
    assert os.strerror(code) in str(exc.value)
    assert tree(out) == dict(V1)


def test_inner_archive_dropped_by_a_new_outer_version_leaves_nothing_stale(tmp_path) -> None:
    inner = {k: make_zip(tmp_path / f"{k}.zip", [(f"{k}/s0.npz", k.encode())]) for k in ("a", "b")}
    outer, xdir = tmp_path / "outer.zip", tmp_path / "extract"
    make_zip(outer, [(f"{k}.zip", p.read_bytes()) for k, p in inner.items()])
    extract(outer, xdir)
    _extract_nested(xdir, {"glob": "*.zip", "into": "here"})
    (xdir / "b" / "mine.txt").write_bytes(b"mine")
    assert tree(xdir)["b/s0.npz"] == b"b"
    make_zip(outer, [("a.zip", inner["a"].read_bytes())])  # new version: b.zip is gone
    extract(outer, xdir)
    _extract_nested(xdir, {"glob": "*.zip", "into": "here"})
    assert tree(xdir) == {"a.zip": inner["a"].read_bytes(), "a/s0.npz": b"a", "b/mine.txt": b"mine"}


BOMB_MANIFEST = """
name = "bomb-demo"
version = 1
title = "t"
homepage = "h"
license = "l"
citation = "c"
decoder = "npz"
sensor = {{ width = 4, height = 4 }}
classes = ["a"]
splits = ["train"]

[samples]
rule = "label_lists"
root = "MINI"
lists = {{ train = "train_label.txt" }}
suffix = ".npz"
label_from = "parent_dir"

[[files]]
name = "MINI.zip"
urls = ["{url}"]
md5 = "{md5}"
archive = "zip"
"""


def test_cli_download_of_a_served_bomb_is_one_error_line_and_the_flag_raises_it(tmp_path) -> None:
    import hashlib

    from click.testing import CliRunner

    from eventkit_cli.eventkit_cli import main
    from tests.helpers.http_server import LocalServer, Route

    bomb = make_zip(tmp_path / "MINI.zip", [("MINI/a/zeros.npz", bytes(20 << 20))]).read_bytes()
    with LocalServer() as server:
        url = server.add("/MINI.zip", Route(bomb))
        mpath = tmp_path / "bomb-demo.toml"
        mpath.write_text(BOMB_MANIFEST.format(url=url, md5=hashlib.md5(bomb).hexdigest()))
        args = ["download", "--manifest", str(mpath), "--root", str(tmp_path / "root"), "--quiet"]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1
        assert res.output.startswith("Error: ") and "Traceback" not in res.output
        assert "MINI.zip" in res.output and "--max-expand-ratio" in res.output
        xdir = tmp_path / "root" / "bomb-demo" / "extract"
        assert tree(xdir) == {}
        res = CliRunner().invoke(main, args + ["--max-expand-ratio", "100000"])
        assert res.exit_code == 0, res.output
    assert tree(xdir) == {"MINI/a/zeros.npz": bytes(20 << 20)}
