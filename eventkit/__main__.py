"""``python -m eventkit``: the ``eventkit`` command, for environments without its console script."""

from __future__ import annotations


def _main() -> None:
    try:
        from eventkit_cli.eventkit_cli import main
    except ModuleNotFoundError as err:
        if err.name != "eventkit_cli":
            raise
        from cli.eventkit_cli import main  # a source tree that was never installed
    main(prog_name="python -m eventkit")


if __name__ == "__main__":
    _main()
