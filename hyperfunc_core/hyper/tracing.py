"""Call records: one per hyperfunction call, and the summaries built from them.

The record format is the stable, public way to read what an evaluation did:
``HyperSystem.evaluate(..., collect_trace=True)`` keeps them, ``system.call_history()``
returns them, and ``summarize_calls`` turns them into per-function statistics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class CallRecord:
    """One call of one hyperfunction."""

    hyperfunction: str
    example_index: int | None  # None inside a batched forward, which serves many examples at once
    candidate_index: int | None
    started_at: float  # time.time()
    latency_s: float
    attempts: int = 1
    error: str | None = None
    batched: bool = False  # True when the call served a whole vmapped batch
    batch_size: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallSummary:
    hyperfunction: str
    calls: int
    errors: int
    error_rate: float
    retries: int
    latency_p50_s: float
    latency_p90_s: float
    latency_p99_s: float
    latency_mean_s: float


def summarize_calls(records: list[CallRecord]) -> dict[str, CallSummary]:
    """Per hyperfunction: call count, errors and error rate, retries, latency percentiles."""
    by_name: dict[str, list[CallRecord]] = {}
    for record in records:
        by_name.setdefault(record.hyperfunction, []).append(record)
    out = {}
    for name, rs in sorted(by_name.items()):
        lat = np.array([r.latency_s for r in rs])
        errors = sum(not r.ok for r in rs)
        out[name] = CallSummary(
            hyperfunction=name,
            calls=len(rs),
            errors=errors,
            error_rate=errors / len(rs),
            retries=sum(r.attempts - 1 for r in rs),
            latency_p50_s=float(np.percentile(lat, 50)),
            latency_p90_s=float(np.percentile(lat, 90)),
            latency_p99_s=float(np.percentile(lat, 99)),
            latency_mean_s=float(lat.mean()),
        )
    return out
