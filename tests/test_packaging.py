"""What users install: the wheel's contents, the installed manifests, missing extras in one line.

The wheel is built once per session (a few seconds) from a clean copy of the working tree by
``scripts/build_wheel.sh``, the same script CI uses before its installed-wheel smoke test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from eventkit._extras import MissingExtraError, require
from eventkit.errors import EventkitError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "build_wheel.sh"), str(out)], env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked: on ``PYTHONPATH`` it shadows the editable install, as site-packages would."""
    root = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(root)
    return root


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def _run_installed(unpacked: Path, tmp_path: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` from outside the checkout with only the unpacked wheel importable first."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EVENTKIT_MANIFESTS")}
    env["PYTHONPATH"] = str(unpacked)
    env["EVENTKIT_ROOT"] = str(tmp_path / "root")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_wheel_ships_packages_cli_manifests_and_kernels(wheel: Path) -> None:
    names = _names(wheel)
    tops = {n.split("/")[0] for n in names}
    assert tops == {"eventkit", "snnmodels", "eventkit_cli", wheel.name.split("-py3")[0] + ".dist-info"}
    for toml in sorted((REPO / "data_manifests").glob("*.toml")):
        assert f"eventkit/data_manifests/{toml.name}" in names
    for cu in sorted((REPO / "snnmodels").rglob("*.cu")):
        assert cu.relative_to(REPO).as_posix() in names
    for py in sorted((REPO / "cli").glob("*.py")):
        assert f"eventkit_cli/{py.name}" in names
    assert wheel.name.split("-py3")[0] + ".dist-info/licenses/LICENSE" in names  # the MIT text, not only its name
    # every package of the source tree, not only those that happened to be found
    for init in sorted([*(REPO / "eventkit").rglob("__init__.py"), *(REPO / "snnmodels").rglob("__init__.py")]):
        assert init.relative_to(REPO).as_posix() in names


def test_wheel_entry_points_and_dependencies(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        entry = zf.read(info).decode()
        meta = zf.read(info.replace("entry_points.txt", "METADATA")).decode()
    assert "eventkit = eventkit_cli.eventkit_cli:main" in entry
    assert "snnmodels = eventkit_cli.snnmodels_cli:main" in entry
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    base = [r for r in requires if "extra ==" not in r]
    assert not any(r.startswith(("torch", "dask", "distributed", "cupy")) for r in base), base
    torch_reqs = [r for r in requires if r.startswith("torch")]
    assert torch_reqs and all(r.split(";")[0] == "torch>=2.3" for r in torch_reqs), torch_reqs  # a range
    extras = {line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Provides-Extra:")}
    assert {"torch", "train", "gpu-cuda12", "gpu-cuda13", "cluster", "archives"} <= extras


def test_installed_wheel_lists_every_bundled_dataset_and_has_no_cli(unpacked: Path, tmp_path: Path) -> None:
    code = ("import eventkit, eventkit_cli; from eventkit.datasets.registry import list_datasets, manifest_dir;"
            "print(eventkit.__file__); print(manifest_dir()); print(len(list_datasets()))")
    proc = _run_installed(unpacked, tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    where, folder, count = proc.stdout.split("\n")[:3]
    assert where.startswith(str(unpacked)) and folder == str(unpacked / "eventkit" / "data_manifests")
    assert int(count) == len(list((REPO / "data_manifests").glob("*.toml")))
    proc = _run_installed(unpacked, tmp_path, "import cli")
    assert proc.returncode != 0 and "No module named 'cli'" in proc.stderr


def test_manifest_dir_override_still_wins(unpacked: Path, tmp_path: Path) -> None:
    own = tmp_path / "mine"
    own.mkdir()
    code = "import os; from eventkit.datasets.registry import manifest_dir; print(manifest_dir())"
    proc = _run_installed(unpacked, tmp_path, f"import os; os.environ['EVENTKIT_MANIFESTS'] = {str(own)!r}; {code}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(own)


@pytest.mark.parametrize("module", ["eventkit", "snnmodels"])
def test_python_dash_m_runs_the_cli(module: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Usage: python -m {module} ")


def test_require_names_the_extra() -> None:
    with pytest.raises(MissingExtraError) as info:
        require("eventkit_no_such_module", "cluster", "the thing")
    err = info.value
    assert isinstance(err, EventkitError) and isinstance(err, ImportError)
    assert str(err) == ("the thing needs eventkit_no_such_module, which is not installed; install the 'cluster' "
                        "extra: pip install 'eventkit[cluster]'")
    assert "\n" not in str(err)


def test_require_keeps_other_missing_modules_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A module of the extra that itself imports something missing is a broken install, not a missing extra.
    (tmp_path / "ek_probe_pkg.py").write_text("import ek_probe_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("ek_probe_pkg", "train", "probe")
    assert not isinstance(info.value, MissingExtraError)
    assert info.value.name == "ek_probe_missing_dependency"


def test_dask_executor_without_dask_names_the_cluster_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventkit.pipeline.executors.dask import DaskExecutor

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # what `import` sees when it is not installed
    with pytest.raises(MissingExtraError, match=r"Dask executor .*pip install 'eventkit\[cluster\]'"):
        DaskExecutor(workers=1)


@pytest.mark.parametrize(("statement", "extra"), [
    ("import snnmodels", "train"),
    ("from eventkit.torch import FrameDataset", "torch"),
])
def test_without_torch_import_names_the_extra(statement: str, extra: str, tmp_path: Path) -> None:
    code = ("import sys; sys.modules['torch'] = None\n"  # torch not installed
            "from eventkit._extras import MissingExtraError\n"
            f"try:\n    {statement}\nexcept MissingExtraError as e:\n    print(e)\nelse:\n    print('imported')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(f"needs torch, which is not installed; install the '{extra}' extra: "
                                        f"pip install 'eventkit[{extra}]'")


def test_base_eventkit_and_its_cli_import_without_torch_or_dask(tmp_path: Path) -> None:
    code = ("import sys\n"
            "for m in ('torch', 'dask', 'distributed', 'cupy'): sys.modules[m] = None\n"
            "import eventkit, eventkit.pipeline, eventkit.store, eventkit.datasets.registry\n"
            "from eventkit_cli.eventkit_cli import main\n"
            "main(['list'])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "EVENTKIT_ROOT": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "synthetic-gestures" in proc.stdout


def test_pyproject_torch_is_a_range_and_scripts_pin_it() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("torch") for d in project["dependencies"])
    pin = (REPO / "scripts" / "constraints-cpu.txt").read_text()
    assert "torch==" in pin
    for script in ("test.sh", "demo.sh"):
        assert "-c scripts/constraints-cpu.txt" in (REPO / "scripts" / script).read_text()


def test_in_tree_build_drops_a_stale_cli_left_in_build_lib(tmp_path: Path) -> None:
    """`pip wheel .` in a checkout that an older version built in (build/lib/cli) ships no `cli`."""
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for f in filter(None, files):
        if (REPO / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_bytes((REPO / f).read_bytes())
    (src / "build" / "lib" / "cli").mkdir(parents=True)
    (src / "build" / "lib" / "cli" / "__init__.py").write_text("")  # what the old layout left behind
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                           str(out), str(src)], capture_output=True, text=True, timeout=240, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("eventkit-*.whl")
    assert {n.split("/")[0] for n in _names(built)} == {"eventkit", "snnmodels", "eventkit_cli",
                                                        built.name.split("-py3")[0] + ".dist-info"}
