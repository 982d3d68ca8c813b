"""Running a coroutine to completion from sync code, and telling whether another process still lives."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import os
from typing import Any


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion, also when called from inside a running event loop
    (Prefect tasks, notebooks): then it runs on a fresh loop in a helper thread, in a copy of the
    caller's context (so what the caller tallies, ``llm.tally``, counts the coroutine's calls)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with cf.ThreadPoolExecutor(1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, coro).result()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists (one we may not signal exists too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
