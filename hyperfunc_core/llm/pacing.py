"""Request pacing and concurrency bounds shared by every call through one gateway."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

from hyperfunc_core.validation import InvalidInput


class RequestPacer:
    """Spaces request starts at least ``60 / requests_per_minute`` seconds apart.

    A caller takes a start only when it is free at the moment it would go (``try_start``);
    otherwise it sleeps until the next free start and asks again. Checking at wake-up time,
    not reserving ahead, keeps the spacing when the event loop or the thread was held up
    (a slow first call, an import): late wakers do not all go at once. The bound holds
    across threads and event loops alike, and for retried attempts as well as first tries.

    ``recent_starts`` keeps the monotonic times of the last starts taken, stamped under the
    lock: the pace as the pacer kept it, which a server's arrival times only blur (its
    clock reads happen after the HTTP hop and a thread switch).
    """

    def __init__(self, requests_per_minute: float | None = None) -> None:
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise InvalidInput(f"requests_per_minute: expected a positive number or None, got {requests_per_minute!r}")
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next_start = 0.0
        self._lock = threading.Lock()
        self.recent_starts: deque[float] = deque(maxlen=1024)

    def try_start(self) -> float:
        """Take the start now if it is free (returns 0.0), else return how long until it may be."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = time.monotonic()
            if now >= self._next_start:
                self._next_start = now + self.interval
                self.recent_starts.append(now)
                return 0.0
            return self._next_start - now

    def hold_from_now(self) -> None:
        """No start before one interval from now (used once a loop's first request is answered,
        when its real send time is unknown but known to be past)."""
        with self._lock:
            self._next_start = max(self._next_start, time.monotonic() + self.interval)

    def wait(self) -> None:
        while (delay := self.try_start()) > 0:
            time.sleep(delay)

    async def await_slot(self) -> None:
        while (delay := self.try_start()) > 0:
            await asyncio.sleep(delay)


class ConcurrencyBound:
    """At most ``limit`` calls in flight, counted across sync and async callers."""

    def __init__(self, limit: int) -> None:
        if not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"max_concurrency: expected an integer >= 1, got {limit!r}")
        self.limit = limit
        self._sem = threading.BoundedSemaphore(limit)

    def __enter__(self) -> None:
        self._sem.acquire()

    def __exit__(self, *exc: object) -> None:
        self._sem.release()

    async def __aenter__(self) -> None:
        # A threading semaphore is shared by every loop and thread; poll it without blocking the loop.
        while not self._sem.acquire(blocking=False):
            await asyncio.sleep(0.005)

    async def __aexit__(self, *exc: object) -> None:
        self._sem.release()
