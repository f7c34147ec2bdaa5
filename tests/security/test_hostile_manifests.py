"""Hostile manifests: a manifest is data a user may have been sent; it must never choose code to run,
escape the dataset folder or be read loosely."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from eventkit.datasets.manifest import load_manifest
from eventkit.datasets.prepare import download_dataset
from eventkit.errors import DatasetNotFoundError, ManifestError

GENERATED = """
name = "evil"
version = 1
title = "t"
homepage = "h"
license = "l"
citation = "c"
decoder = "aedat31"
classes = ["a", "b"]
splits = ["train", "test"]
generator = "{generator}"
[sensor]
width = 128
height = 128
[samples]
rule = "dvs128_gesture"
"""


def _manifest(tmp_path: Path, generator: str) -> Path:
    p = tmp_path / "evil.toml"
    p.write_text(GENERATED.format(generator=generator))
    return p


@pytest.mark.parametrize("generator", [
    "site:addsitedir",
    "os:system",
    "eventkit.datasets.synthetic_gestures:generate_synthetic_gestures",  # even our own code, by path
    "builtins:exec",
])
def test_generator_naming_python_code_is_refused_when_read(tmp_path, generator):
    p = _manifest(tmp_path, generator)
    modules_before = set(sys.modules)
    with pytest.raises(ManifestError) as err:
        load_manifest(p)
    msg = str(err.value)
    assert str(p) in msg and "'generator'" in msg and "synthetic-gestures" in msg
    # Nothing was imported on the manifest's say-so.
    assert "site" not in set(sys.modules) - modules_before


def test_registered_generator_is_accepted(tmp_path):
    p = _manifest(tmp_path, "synthetic-gestures")
    try:
        m = load_manifest(p)
    except ManifestError as err:  # the rule's own checks may object to the toy manifest; not the generator
        assert "'generator'" not in str(err)
    else:
        assert m.generator == "synthetic-gestures"


def test_manifest_built_in_code_with_unknown_generator_is_refused_before_running(tmp_path):
    from dataclasses import replace

    from eventkit.datasets.registry import get_manifest

    m = replace(get_manifest("synthetic-gestures"), generator="os:system")
    with pytest.raises(ManifestError, match="unknown generator"):
        download_dataset(m, root=tmp_path)
    assert not (tmp_path / "synthetic-gestures" / "extract" / ".eventkit-generated").exists()


# -- one validation pass: paths, types, URLs, the file itself (issue 11 item 3) -----------------

TEMPLATE = """
name = "hostile"
version = 1
title = "t"
homepage = "https://example.org"
license = "l"
citation = "c"
decoder = "npz"
sensor = {{ width = 4, height = 4, polarities = 2 }}
classes = ["a", "b"]
splits = ["train", "test"]
{top}

[samples]
{samples}

[[files]]
name = "first.zip"
urls = ["https://example.org/first.zip"]
md5 = "00000000000000000000000000000000"
archive = "zip"

[[files]]
name = "second.txt"
urls = ["https://example.org/second.txt"]
role = "labels"

[[files]]
{third}
"""
SAMPLES = 'rule = "label_lists"\nroot = "data"\nlists = { train = "train.txt", test = "test.txt" }\nsuffix = ".npz"'
FOLDERS = 'rule = "class_folders"\nsuffix = ".npz"\nsplit_dirs = { train = "Train", test = "Test" }'
THIRD = ('name = "third.zip"\nurls = ["https://example.org/third.zip"]\nsize = 10\narchive = "zip"\n'
         'nested = { glob = "**/*.zip", into = "here" }')


def _write(tmp_path: Path, top: str = "", samples: str = SAMPLES, third: str = THIRD) -> Path:
    p = tmp_path / "hostile.toml"
    p.write_text(TEMPLATE.format(top=top, samples=samples, third=third), encoding="utf-8")
    return p


def _third(**fields: str) -> str:
    """THIRD with some ``key = value`` lines replaced (value: TOML text) or removed (value: None)."""
    lines = dict(line.split(" = ", 1) for line in THIRD.splitlines())
    lines.update(fields)
    return "\n".join(f"{k} = {v}" for k, v in lines.items() if v is not None)


def _refused(p: Path, field: str) -> str:
    with pytest.raises(ManifestError) as err:
        load_manifest(p)
    msg = str(err.value)
    assert str(p) in msg, msg
    assert f"'{field}'" in msg, msg
    return msg


def test_template_is_valid(tmp_path):
    m = load_manifest(_write(tmp_path))
    assert m.files[2].nested == {"glob": "**/*.zip", "into": "here"}


PATHS = [  # (third's or samples' replacement, field)
    ({"name": '"' + "n" * 300 + '.zip"'}, "files[2].name"),
    ({"name": '"a\\u0000b.zip"'}, "files[2].name"),
    ({"name": '"../escape.zip"'}, "files[2].name"),
    ({"name": '"/etc/passwd"'}, "files[2].name"),
    ({"name": '"C:\\\\Windows\\\\x.zip"'}, "files[2].name"),
    ({"name": '"C:x.zip"'}, "files[2].name"),
    ({"name": '"\\\\\\\\server\\\\share\\\\x.zip"'}, "files[2].name"),
    ({"name": '""'}, "files[2].name"),
    ({"name": '".."'}, "files[2].name"),
    ({"name": '"x.zip.part"'}, "files[2].name"),
    ({"name": '"x.zip.mismatch"'}, "files[2].name"),
    ({"name": '"x.zip.part.oversize"'}, "files[2].name"),  # fetch's kept-aside names
    ({"name": '"x.zip.user-1"'}, "files[2].name"),  # extract's moved-aside user files
    ({"name": '".eventkit-extracted.json"'}, "files[2].name"),  # extract's own record
    ({"name": '"\\u001b[2J.zip"'}, "files[2].name"),  # terminal escape
    ({"name": '"\\u202egpj.zip"'}, "files[2].name"),  # right-to-left override
    ({"name": '"FIRST.ZIP"'}, "files[2].name"),  # one file with first.zip on Windows / macOS
    ({"name": '"x.zip "'}, "files[2].name"),
    ({"name": '"a|b.zip"'}, "files[2].name"),
    ({"name": "5"}, "files[2].name"),
    ({"nested": '{ glob = "../../../victim/*.zip", into = "here" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "/tmp/*.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "C:/x/*.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "a//*.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "sub\\\\*.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "**/../../*.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "./*.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "a**/*.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "*\\u0000.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "' + "a/" * 600 + '*.zip" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = ["*.zip"] }'}, "files[2].nested.glob"),
    ({"nested": '{ into = "here" }'}, "files[2].nested.glob"),
    ({"nested": '{ glob = "*.zip", into = "../elsewhere" }'}, "files[2].nested.into"),
    ({"nested": '{ glob = "*.zip", into = 1 }'}, "files[2].nested.into"),
    ({"nested": '{ glob = "*.zip", onto = "here" }'}, "files[2].nested.onto"),
    ({"nested": '"*.zip"'}, "files[2].nested"),
    ({"archive": '"none"'}, "files[2].nested"),
]


@pytest.mark.parametrize(("fields", "field"), PATHS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(PATHS)])
def test_file_paths_outside_the_folder_are_refused(tmp_path, fields, field):
    _refused(_write(tmp_path, third=_third(**fields)), field)


SAMPLE_PATHS = [  # (samples table, field)
    (SAMPLES.replace('root = "data"', 'root = "../outside"'), "samples.root"),
    (SAMPLES.replace('root = "data"', 'root = "/abs/data"'), "samples.root"),
    (SAMPLES.replace('root = "data"', 'root = "data/"'), "samples.root"),
    (SAMPLES.replace('root = "data"', 'root = ""'), "samples.root"),
    (SAMPLES.replace('root = "data"', "root = 3"), "samples.root"),
    (SAMPLES.replace('train = "train.txt"', 'train = "../../etc/passwd"'), "samples.lists.train"),
    (SAMPLES.replace('train = "train.txt"', 'train = "a\\\\..\\\\..\\\\x"'), "samples.lists.train"),
    (SAMPLES.replace('train = "train.txt"', 'train = ["x"]'), "samples.lists.train"),
    (SAMPLES.replace('suffix = ".npz"', 'suffix = "/../../../*"'), "samples.suffix"),
    (SAMPLES.replace('suffix = ".npz"', "suffix = 1"), "samples.suffix"),
    (SAMPLES.replace('suffix = ".npz"', 'suffix = ".npz"\nlabel_from = 1'), "samples.label_from"),
    (FOLDERS.replace('train = "Train"', 'train = "/home"'), "samples.split_dirs.train"),
    (FOLDERS + '\nclass_dirs = ["../a", "b"]', "samples.class_dirs[0]"),
    (FOLDERS + "\nclass_dirs = [1, 2]", "samples.class_dirs[0]"),
    ('rule = "h5_samples"\nfiles = { train = "..\\\\x.h5", test = "t.h5" }', "samples.files.train"),
    ('rule = "dvs128_gesture"\nroot = "r"\ntrain_list = "../x.txt"\ntest_list = "t.txt"', "samples.train_list"),
    ('rule = "per_split"\n[samples.train]\n' + FOLDERS.replace("Train", "../../Train")
     + '\n[samples.test]\n' + FOLDERS, "samples.train.split_dirs.train"),
    ('rule = "per_split"\nroot = "/x"\n[samples.train]\n' + FOLDERS + "\n[samples.test]\n" + FOLDERS, "samples.root"),
    ('rule = ["per_split"]', "samples.rule"),
]


@pytest.mark.parametrize(("samples", "field"), SAMPLE_PATHS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(SAMPLE_PATHS)])
def test_sample_paths_outside_the_folder_are_refused(tmp_path, samples, field):
    _refused(_write(tmp_path, samples=samples), field)


def test_class_names_used_as_folders_are_confined(tmp_path):
    p = _write(tmp_path, samples=FOLDERS)
    p.write_text(p.read_text().replace('classes = ["a", "b"]', 'classes = ["../../a", "b"]'))
    msg = _refused(p, "classes[0]")
    assert "class_dirs" in msg
    p.write_text(p.read_text().replace('suffix = ".npz"', 'suffix = ".npz"\nclass_dirs = ["a", "b"]'))
    assert load_manifest(p).classes[0] == "../../a"  # a label, not a path, once class_dirs names the folders


TYPES = [  # (top-level lines, third's fields, samples, field)
    ('manual = "false"', {}, SAMPLES, "manual"),
    ("manual = 0", {}, SAMPLES, "manual"),
    ("", {"manual": '"false"'}, SAMPLES, "files[2].manual"),
    ("", {"size": "true"}, SAMPLES, "files[2].size"),
    ("", {"size": '"10"'}, SAMPLES, "files[2].size"),
    ("", {"size": "-1"}, SAMPLES, "files[2].size"),
    ("", {"size": "1.5"}, SAMPLES, "files[2].size"),
    ("", {"urls": '"https://example.org/third.zip"'}, SAMPLES, "files[2].urls"),
    ("", {"urls": "[1]"}, SAMPLES, "files[2].urls[0]"),
    ("", {"urls": "[]"}, SAMPLES, "files[2].urls"),
    ("", {"role": "5"}, SAMPLES, "files[2].role"),
    ("", {"instructions": '["x"]'}, SAMPLES, "files[2].instructions"),
    ("", {"archive": '["zip"]'}, SAMPLES, "files[2].archive"),
    ("", {"md5": "5"}, SAMPLES, "files[2].md5"),
    ("", {"sha265": '"00"'}, SAMPLES, "files[2].sha265"),  # a typo must not drop the check silently
    ('instructions = ["x"]', {}, SAMPLES, "instructions"),
    ("notes = 1", {}, SAMPLES, "notes"),
    ('notes = "\\u001b]0;owned\\u0007"', {}, SAMPLES, "notes"),
    ("generator = 5", {}, SAMPLES, "generator"),
    ("manaul = true", {}, SAMPLES, "manaul"),
    ("schema = true", {}, SAMPLES, "schema"),
    ('files = "x"', {}, SAMPLES, "files"),
    ("", {}, SAMPLES + "\ntransform = { flip_x = \"false\" }", "samples.transform.flip_x"),
    ("", {}, SAMPLES + "\ntransform = { rotate = true }", "samples.transform.rotate"),
    ("", {}, SAMPLES + "\ntransform = true", "samples.transform"),
    ("", {}, FOLDERS.replace("split_dirs", "x_split_dirs") + "\nsplit = { by = \"every_nth\", n = 0 }",
     "samples.split.n"),
    ("", {}, 'rule = "class_folders"\nsuffix = ".npz"\nsplit = { by = "index_in_class", test_first = "100" }',
     "samples.split.test_first"),
    ("", {}, 'rule = "class_folders"\nsuffix = ".npz"\nsplit = { by = "every_nth" }', "samples.split.n"),
    ("", {}, 'rule = "class_folders"\nsuffix = ".npz"\nsplit = "every_nth"', "samples.split"),
]


@pytest.mark.parametrize(("top", "fields", "samples", "field"), TYPES,
                         ids=[f"{f}-{i}" for i, (*_, f) in enumerate(TYPES)])
def test_types_are_checked_strictly(tmp_path, top, fields, samples, field):
    if field == "files":  # a top-level `files` key cannot sit beside [[files]] tables
        p = tmp_path / "hostile.toml"
        p.write_text(TEMPLATE.split("[[files]]")[0].format(top=top, samples=samples), encoding="utf-8")
    else:
        p = _write(tmp_path, top=top, samples=samples, third=_third(**fields))
    _refused(p, field)


TOP_FIELDS = [  # (old text, new text, field)
    ('title = "t"', "title = 1", "title"),
    ('title = "t"', 'title = "\\u001b[2J"', "title"),
    ('classes = ["a", "b"]', 'classes = ["a", 2]', "classes[1]"),
    ('classes = ["a", "b"]', 'classes = "ab"', "classes"),
    ('classes = ["a", "b"]', 'classes = ["a\\nb", "c"]', "classes[0]"),
    ('splits = ["train", "test"]', 'splits = ["train", "train"]', "splits"),
    ("polarities = 2", 'polarities = "2"', "sensor.polarities"),
    ("polarities = 2", "polarities = true", "sensor.polarities"),
    ("polarities = 2", "polarities = 3", "sensor.polarities"),
    ("width = 4", "width = 1.5", "sensor.width"),
    ("width = 4", "width = 100000", "sensor.width"),
    ("polarities = 2", "polarities = 2, depth = 3", "sensor.depth"),
    ("version = 1", "version = true", "version"),
    ("version = 1", 'version = "1"', "version"),
    ('name = "hostile"', 'name = ""', "name"),
    ('name = "hostile"', 'name = "-rf"', "name"),
    ('name = "hostile"', 'name = "' + "a" * 101 + '"', "name"),
    ('name = "hostile"', 'name = "../hostile"', "name"),
    ('name = "hostile"', 'name = "Hostile"', "name"),
]


@pytest.mark.parametrize(("old", "new", "field"), TOP_FIELDS, ids=[f"{f}-{i}" for i, (*_, f) in enumerate(TOP_FIELDS)])
def test_top_level_fields_are_checked_strictly(tmp_path, old, new, field):
    p = _write(tmp_path)
    text = p.read_text(encoding="utf-8")
    assert old in text
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    _refused(p, field)


BAD_URLS = [
    "file:///etc/passwd",
    "ftp://example.org/x.zip",
    "javascript:alert(1)",
    "http:///x.zip",
    "https://user:pw@example.org/x.zip",
    "https://example.org/a b.zip",
    "https://example.org/x.zip\\u0000",
    "https://example.org/x.zip\\r\\nX-Injected: 1",
    "http://example.org:99999/x.zip",
    "//example.org/x.zip",
    "example.org/x.zip",
    "https://example.org/" + "x" * 5000,
]


@pytest.mark.parametrize("url", BAD_URLS, ids=range(len(BAD_URLS)))
def test_only_http_urls_with_a_host(tmp_path, url):
    msg = _refused(_write(tmp_path, third=_third(urls=f'["https://example.org/ok.zip", "{url}"]')), "files[2].urls[1]")
    assert "http(s) URL" in msg and "manual" in msg and "<root>/hostile/download/third.zip" in msg


@pytest.mark.parametrize(("fields", "check"), [
    ({"nested": '{ glob = "MINI/action_*.zip", into = "stem" }'}, lambda m: m.files[2].nested["into"] == "stem"),
    ({"nested": '{ glob = "sub/[ab]?.zip" }'}, lambda m: m.files[2].nested == {"glob": "sub/[ab]?.zip", "into": "here"}),
    ({"urls": '["HTTPS://Example.org:8443/x.zip?dl=1#frag", "http://127.0.0.1:1/x"]'}, lambda m: len(m.files[2].remote.urls) == 2),
    ({"name": '"données [v2].zip"'}, lambda m: m.files[2].filename == "données [v2].zip"),
    ({"manual": "true", "urls": None, "instructions": '"ask"'}, lambda m: m.files[2].remote.manual),
], ids=["nested-stem", "glob-classes", "urls", "unicode-name", "manual-file"])
def test_legitimate_values_still_load(tmp_path, fields, check):
    assert check(load_manifest(_write(tmp_path, third=_third(**fields))))


# -- the manifest file itself ------------------------------------------------------------------

def test_huge_manifest_file_is_refused_unread(tmp_path):
    p = tmp_path / "huge.toml"
    p.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    with pytest.raises(ManifestError, match="larger than") as err:
        load_manifest(p)
    assert str(p) in str(err.value)


@pytest.mark.parametrize(("content", "problem"), [
    (b'name = "caf\xe9"\n', "not UTF-8"),
    (b"\xff\xfe" + 'name = "x"'.encode("utf-16-le"), "not UTF-8"),
    (b"a = " + b"[" * 50_000, "not valid TOML"),
    (b"a = " + b"{ b = " * 50_000, "not valid TOML"),
])
def test_unreadable_manifest_text_is_one_clean_error(tmp_path, content, problem):
    p = tmp_path / "bad.toml"
    p.write_bytes(content)
    with pytest.raises(ManifestError, match=problem) as err:
        load_manifest(p)
    assert str(p) in str(err.value)


@pytest.mark.parametrize("kind", ["missing", "folder", "device"])
def test_manifest_path_that_is_not_a_file(tmp_path, kind):
    p = {"missing": tmp_path / "nope.toml", "folder": tmp_path, "device": Path("/dev/zero")}[kind]
    if kind == "device" and not p.exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(ManifestError, match="cannot read manifest") as err:
        load_manifest(p)
    assert str(p) in str(err.value)


# -- the registry ------------------------------------------------------------------------------

def test_registry_file_name_must_match_dataset_name(tmp_path):
    from eventkit.datasets import registry

    (tmp_path / "other-name.toml").write_text(TEMPLATE.format(top="", samples=SAMPLES, third=THIRD))
    with pytest.raises(ManifestError, match="rename the file") as err:
        registry._load_all.__wrapped__(str(tmp_path))  # uncached: the bundled registry stays as loaded
    assert "other-name.toml" in str(err.value) and "'name'" in str(err.value)


def test_manifest_path_without_toml_suffix_is_a_file_not_a_name(tmp_path, monkeypatch):
    from eventkit.datasets.registry import get_manifest

    (tmp_path / "mine").write_text(TEMPLATE.format(top="", samples=SAMPLES, third=THIRD), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert get_manifest(Path("mine")).name == "hostile"


# -- end to end: `eventkit download --manifest` with a climbing nested glob ---------------------

def test_download_with_climbing_nested_glob_is_refused_before_any_write(tmp_path):
    import hashlib
    import io
    import zipfile

    from click.testing import CliRunner

    from eventkit_cli.eventkit_cli import main
    from tests.helpers.http_server import LocalServer, Route

    victim = tmp_path / "victim"  # a user's folder three levels above <root>/hostile/extract
    victim.mkdir()
    (victim / "thesis.tex").write_text("my thesis")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("thesis.tex", "overwritten")
    inner_bytes = inner.getvalue()
    (victim / "payload.zip").write_bytes(inner_bytes)  # what the glob would find and extract there
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("inner.zip", inner_bytes)
    body = outer.getvalue()
    before = {p.name: p.read_bytes() for p in victim.iterdir()}
    root = tmp_path / "root"
    with LocalServer() as server:
        route = Route(body)
        url = server.add("/outer.zip", route)
        third = (f'name = "outer.zip"\nurls = ["{url}"]\nsize = {len(body)}\n'
                 f'sha256 = "{hashlib.sha256(body).hexdigest()}"\narchive = "zip"\n'
                 'nested = { glob = "../../../victim/*.zip", into = "here" }')
        p = tmp_path / "evil.toml"  # the outer archive is its only file: nothing else stops the attack
        p.write_text(TEMPLATE.split("[[files]]")[0].format(top="", samples=SAMPLES) + "[[files]]\n" + third,
                     encoding="utf-8")
        res = CliRunner().invoke(main, ["download", "--manifest", str(p), "--root", str(root), "--quiet"])
    assert res.exit_code == 1, res.output
    assert res.output.startswith("Error: ") and "Traceback" not in res.output
    assert "files[0].nested.glob" in res.output and str(p) in res.output
    assert route.requests == []  # refused when read: nothing was even fetched
    assert not root.exists()
    assert {p.name: p.read_bytes() for p in victim.iterdir()} == before


def test_download_with_missing_manifest_file_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from eventkit_cli.eventkit_cli import main

    res = CliRunner().invoke(main, ["download", "--manifest", str(tmp_path / "nope.toml"), "--root", str(tmp_path)])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output


# -- list files inside a download: their lines name samples, and must stay inside the folder ---

@pytest.mark.parametrize("line", ["../../outside.npz 0", "/etc/passwd 0", "a/../../x.npz 1", "C:/x.npz 0"])
def test_label_list_line_outside_the_folder_is_refused(tmp_path, line):
    from eventkit.datasets.layouts import iter_samples

    m = load_manifest(_write(tmp_path))
    root = tmp_path / "extract"
    (root / "data").mkdir(parents=True)
    (root / "train.txt").write_text(f"good.npz 0\n{line}\n")
    (root / "test.txt").write_text("good.npz 1\n")
    with pytest.raises(ManifestError) as err:
        list(iter_samples(m, root))
    msg = str(err.value)
    assert str(root / "train.txt") in msg and "entry 2" in msg and "not a file inside the dataset folder" in msg


def test_gesture_trial_list_line_outside_the_folder_is_refused(tmp_path):
    from eventkit.datasets.layouts import iter_samples
    from eventkit.datasets.registry import get_manifest

    m = get_manifest("dvs128-gesture")
    root = tmp_path / "extract"
    base = root / m.samples["root"]
    base.mkdir(parents=True)
    (base / m.samples["train_list"]).write_text("../../../../victim.aedat\n")
    (base / m.samples["test_list"]).write_text("")
    with pytest.raises(ManifestError, match="entry 1"):
        list(iter_samples(m, root))


def test_cli_flags_reach_the_download_and_the_decoders(tmp_path, monkeypatch):
    """--stall-timeout reaches download(); --max-events / --max-decode-ratio reach read_events in workers."""
    from click.testing import CliRunner

    import eventkit.datasets.prepare as prepare
    from eventkit_cli.eventkit_cli import main

    seen = {}

    def fake_download_dataset(m, root, **kw):
        seen.update(kw)
        return tmp_path

    monkeypatch.setattr(prepare, "download_dataset", fake_download_dataset)
    res = CliRunner().invoke(main, ["download", "nmnist", "--root", str(tmp_path), "--stall-timeout", "7.5", "--quiet"])
    assert res.exit_code == 0, res.output
    assert seen["stall_timeout"] == 7.5
    res = CliRunner().invoke(main, ["download", "nmnist", "--root", str(tmp_path), "--stall-timeout", "0"])
    assert res.exit_code == 2 and "--stall-timeout" in res.output

    import eventkit.pipeline as pipeline

    for var in ("EVENTKIT_MAX_EVENTS", "EVENTKIT_MAX_DECODE_RATIO"):  # set, then unset: restored after the test
        monkeypatch.setenv(var, "1")
        monkeypatch.delenv(var)
    got = {}

    def fake_convert(m, **kw):
        import os

        from eventkit.io._common import current_limits

        got["limits"] = current_limits()
        got["env"] = os.environ.get("EVENTKIT_MAX_EVENTS")
        raise DatasetNotFoundError("stop here")

    monkeypatch.setattr(pipeline, "convert", fake_convert)
    res = CliRunner().invoke(main, ["convert", "nmnist", "--frames", "4", "--root", str(tmp_path),
                                    "--max-events", "1000", "--max-decode-ratio", "7"])
    assert res.exit_code == 1 and "stop here" in res.output
    assert got["limits"].max_events == 1000 and got["limits"].max_expand_ratio == 7.0 and got["env"] == "1000"
