"""``python -m snnmodels``: the ``snnmodels`` command, for environments without its console script."""

from __future__ import annotations


def _main() -> None:
    try:
        from eventkit_cli.snnmodels_cli import main
    except ModuleNotFoundError as err:
        if err.name != "eventkit_cli":
            raise
        from cli.snnmodels_cli import main  # a source tree that was never installed
    main(prog_name="python -m snnmodels")


if __name__ == "__main__":
    _main()
