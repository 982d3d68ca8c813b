"""Module-level objectives: picklable for executor='process' and importable by subprocesses."""

from __future__ import annotations

import math
import os
import time

from hyperfunc_core import ObjectiveResult


def quadratic(ctx, x: float, y: float = 0.0) -> ObjectiveResult:
    for step in range(3):
        ctx.report(step=step, loss=(x - 1) ** 2 + step)
    return ObjectiveResult(score=-((x - 1) ** 2) - (y - 2) ** 2, metrics={"loss": (x - 1) ** 2})


def branin(ctx, x1: float, x2: float) -> float:
    return (
        (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
        + 10
    )


def logged(ctx, a: int, b: int) -> float:
    """Appends its parameters to $TUNING_LOG, so tests can count real evaluations."""
    with open(os.environ["TUNING_LOG"], "a") as f:
        f.write(f"{a},{b},{os.getpid()}\n")
    if os.environ.get("CRASH_AT") and int(os.environ["CRASH_AT"]) == a * 10 + b:
        os._exit(17)  # a hard crash mid-sweep
    time.sleep(float(os.environ.get("TRIAL_SLEEP", "0")))
    return float(a * 10 + b)


def sleepy(ctx, seconds: float) -> float:
    time.sleep(seconds)
    return seconds
