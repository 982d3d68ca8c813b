"""Running a coroutine to completion from sync code, and telling whether another process still lives."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import os
import threading
from typing import Any

_threads = threading.local()


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion on this thread's own event loop, kept from call to call, in a copy of
    the caller's context (so what the caller tallies, ``llm.tally``, counts the coroutine's calls).

    One loop per thread, not one per call: litellm keeps an HTTP client per event loop, and a loop
    made and closed for every call left that client's connection open, two file descriptors a call,
    until a long process ran out of them. Called from inside a running event loop (Prefect tasks,
    notebooks), it runs on a fresh loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        runner = getattr(_threads, "runner", None)
        if runner is None:
            runner = _threads.runner = asyncio.Runner()
        return runner.run(coro, context=contextvars.copy_context())
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
