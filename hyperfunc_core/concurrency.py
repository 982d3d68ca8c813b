"""Running a coroutine to completion from sync code, whether or not a loop is running."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
from typing import Any


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion, also when called from inside a running event loop
    (Prefect tasks, notebooks): then it runs on a fresh loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with cf.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
