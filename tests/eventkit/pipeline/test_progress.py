"""The one progress-bar helper (eventkit._progress) used by convert/synth, downloads and training."""

from __future__ import annotations

import io
import subprocess
import sys

from eventkit._progress import NullBar, progress_bar


def test_off_is_a_null_bar_and_does_not_import_tqdm() -> None:
    code = ("import sys; from eventkit._progress import progress_bar, NullBar\n"
            "with progress_bar(10, enabled=False, desc='x') as b:\n"
            "    b.update(3); b.set_postfix(loss='1')\n"
            "b.close(); assert isinstance(b, NullBar); assert 'tqdm' not in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


def test_on_draws_a_transient_bar_with_the_options() -> None:
    out = io.StringIO()
    with progress_bar(2048, enabled=True, desc="file.bin", unit="B", unit_scale=True, unit_divisor=1024,
                      initial=1024, file=out, mininterval=0) as bar:  # fmt: skip
        assert not isinstance(bar, NullBar)
        bar.update(1024)
        assert bar.n == 2048 and not bar.leave
    assert "file.bin" in out.getvalue()


def test_terminal_only_draws_nothing_into_a_pipe() -> None:
    out = io.StringIO()  # not a terminal
    with progress_bar(5, enabled=True, desc="train", terminal_only=True, file=out) as bar:
        bar.set_postfix(loss="0.1")
        bar.update(5)
    assert out.getvalue() == ""


def test_the_three_callers_use_it() -> None:
    import inspect

    import eventkit.datasets.fetch as fetch
    import eventkit.pipeline.run as run

    loop = __import__("snnmodels.training.loop", fromlist=["_Progress"])
    assert run.progress_bar is progress_bar
    for mod in (fetch, loop):
        src = inspect.getsource(mod)
        assert "progress_bar(" in src and "import tqdm" not in src and "from tqdm" not in src
