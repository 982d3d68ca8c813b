"""Checks of a request pace, at the pacer and at the server that received the requests."""

from __future__ import annotations

from collections.abc import Iterable


def assert_paced(
    starts: Iterable[float], arrivals: Iterable[float], *, n: int, interval: float, jitter_s: float = 0.2
) -> None:
    """Assert that ``n`` requests were paced ``interval`` seconds apart.

    At the pacer the gaps are exact: its start times are stamped under its lock. At the
    server they are not: each arrival time is read after an HTTP hop and a thread switch,
    which on a loaded machine can move one request by tens of milliseconds towards the next.
    So the server side is held to what a provider's limit counts: the span the requests took
    and the most that reached it within any one second, both allowing ``jitter_s`` of delay.
    """
    starts, arrivals = sorted(starts), sorted(arrivals)
    assert len(starts) == n, f"the pacer took {len(starts)} starts, expected {n}"
    assert len(arrivals) == n, f"the server received {len(arrivals)} requests, expected {n}"
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= interval - 1e-9, f"starts closer than {interval} s: {gaps}"

    span = arrivals[-1] - arrivals[0]
    assert span >= (n - 1) * interval - jitter_s, f"{n} arrivals within {span:.3f} s"
    window = 1.0
    allowed = int((window + jitter_s) / interval + 1e-9) + 1
    most = max(sum(1 for t in arrivals if t0 <= t < t0 + window) for t0 in arrivals)
    assert most <= allowed, f"{most} arrivals within one second, at most {allowed} allowed"
