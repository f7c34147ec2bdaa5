"""The ``snnmodels`` command: train and evaluate spiking networks on eventkit stores."""

from __future__ import annotations

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="eventkit")
def main() -> None:
    """Train and evaluate spiking neural networks on eventkit frame stores."""
