"""The package list, which pyproject.toml cannot express: found packages plus two mapped folders.

Everything else (metadata, dependencies, the folder mapping, package data) is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PACKAGES = find_packages(include=["eventkit", "eventkit.*", "snnmodels", "snnmodels.*"]) + [
    # cli/ installs as eventkit_cli; data_manifests/ (no __init__.py: data only) as eventkit/data_manifests/
    "eventkit_cli",
    "eventkit.data_manifests",
]


class BuildPy(build_py):
    """build_py that first drops top-level folders of ``build/lib`` this version does not ship.

    An in-tree build reuses ``build/lib``; without this, a package an older version built there
    (the top-level ``cli`` before it became ``eventkit_cli``) would be packed into the new wheel.
    """

    def run(self) -> None:
        tops = {p.split(".")[0] for p in PACKAGES}
        lib = Path(self.build_lib)
        if lib.is_dir():
            for entry in lib.iterdir():
                if entry.is_dir() and entry.name not in tops:
                    shutil.rmtree(entry)
        super().run()


setup(packages=PACKAGES, cmdclass={"build_py": BuildPy})
