"""Making sure a Prefect API answers before a run starts, and saying so while one starts.

With no ``PREFECT_API_URL`` and no ``hyperfunc server`` running for this home, Prefect starts a
temporary API in a subprocess the first time a client needs one: 15-30 s here, in silence. We
start that same temporary server (Prefect's ``SubprocessASGIServer``, which its client then
reuses) ourselves, first saying what happens and why, with a spinner on a terminal. We do not
start a lasting server behind the user's back: ``hyperfunc server`` is the one that stays and
serves the UI, and the message names it.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED


def ensure_api() -> None:
    """Start Prefect's temporary API now, visibly, when a run would otherwise wait for it silently."""
    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    server = SubprocessASGIServer()
    if server.running:
        return
    from rich.console import Console

    console = Console(stderr=True)
    console.print(
        "No Prefect server is running for this home; starting a temporary one (15-30 s). "
        "[bold]hyperfunc server[/] starts one that stays, with the UI, and every run then starts at once."
    )
    started = time.perf_counter()
    with _own_session():
        if console.is_terminal:
            with console.status("starting the temporary Prefect API..."):
                server.start()
        else:
            server.start()
    console.print(f"Temporary Prefect API ready at {server.api_url} after {time.perf_counter() - started:.0f} s.")
    sys.stderr.flush()


@contextmanager
def _own_session() -> Iterator[None]:
    """The temporary server's process in a session of its own while it starts. Ctrl-C in the terminal
    goes to the whole foreground process group: the server would die with the run it serves, and the
    interrupted run could not record that it crashed (its client retries a dead API for minutes).
    Started apart, it gets the interrupt from no one and is stopped by this process on its way out."""
    popen = subprocess.Popen
    subprocess.Popen = functools.partial(popen, start_new_session=True)  # type: ignore[misc]
    try:
        yield
    finally:
        subprocess.Popen = popen  # type: ignore[misc]
