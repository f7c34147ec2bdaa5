"""The pre-flight probe run once on every Dask worker before any sample is sent.

Sent by value (cloudpickle), not by reference: a worker without eventkit must still run it and
answer "cannot import eventkit" instead of failing to unpickle it. So it imports only the standard
library at module level, and nothing in this module may refer to the rest of eventkit.
"""

from __future__ import annotations

from typing import Any


def probe(read_dirs: list[str], write_dirs: list[str]) -> dict[str, Any]:
    """What this worker has: eventkit's version (or why it cannot import it) and the folders it lacks.

    Parameters
    ----------
    read_dirs
        Folders the worker must be able to list (the input).
    write_dirs
        Folders the worker must be able to write into (the store).

    Returns
    -------
    dict
        ``version`` (None when eventkit does not import), ``import_error``, ``missing`` (folders
        not visible) and ``unwritable`` (visible, but no write permission).
    """
    import os

    out: dict[str, Any] = {"version": None, "import_error": None, "missing": [], "unwritable": []}
    try:
        import eventkit

        out["version"] = eventkit.__version__
    except Exception as err:  # not installed, or broken there: reported, never raised
        out["import_error"] = f"{type(err).__name__}: {err}"
    for d in read_dirs:
        if not (os.path.isdir(d) and os.access(d, os.R_OK | os.X_OK)):
            out["missing"].append(d)
    out["object_store"] = []
    for d in write_dirs:
        if "://" in d:  # a store on an object store: this worker's credentials and endpoint must reach it
            if out["version"] is not None:
                out["object_store"] += _object_store_problem(d)
        elif not os.path.isdir(d):
            out["missing"].append(d)
        elif not os.access(d, os.W_OK | os.X_OK):
            out["unwritable"].append(d)
    return out


def _object_store_problem(url: str) -> list[str]:
    """Why this worker cannot use the object store at ``url`` (its bucket), or nothing."""
    try:
        from eventkit.store._remote import location

        location(url).check_bucket()
    except Exception as err:  # reported, never raised: a missing extra, no credentials, no endpoint, no bucket
        return [str(err)]
    return []
