"""The package list, which pyproject.toml cannot express: found packages plus two mapped folders.

Everything else (metadata, dependencies, the folder mapping, package data) is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["eventkit", "eventkit.*", "snnmodels", "snnmodels.*"])
    # cli/ installs as eventkit_cli; data_manifests/ (no __init__.py: data only) as eventkit/data_manifests/
    + ["eventkit_cli", "eventkit.data_manifests"],
)
