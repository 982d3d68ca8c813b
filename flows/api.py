"""Making sure a Prefect API answers before a run starts, and saying so while one starts.

With no ``PREFECT_API_URL`` and no ``hyperfunc server`` running for this home, Prefect starts a
temporary API in a subprocess the first time a client needs one: 15-30 s here, in silence. We
start that same temporary server (Prefect's ``SubprocessASGIServer``, which its client then
reuses) ourselves, first saying what happens and why, with a spinner on a terminal. We do not
start a lasting server behind the user's back: ``hyperfunc server`` is the one that stays and
serves the UI, and the message names it.
"""

from __future__ import annotations

import sys
import time

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
    if console.is_terminal:
        with console.status("starting the temporary Prefect API..."):
            server.start()
    else:
        server.start()
    console.print(f"Temporary Prefect API ready at {server.api_url} after {time.perf_counter() - started:.0f} s.")
    sys.stderr.flush()
