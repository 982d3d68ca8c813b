"""A Bayesian sweep on the Branin function (minimum 0.397887), run by the README's main command:

    .venv/bin/hyperfunc tune examples/tuning/branin.py:objective

The study is stored in this project's database; running the command again resumes it.
"""

import math

from hyperfunc_core import Float, ObjectiveResult

SPACE = {"x1": Float(-5.0, 10.0), "x2": Float(0.0, 15.0)}
TUNE_OPTIONS = {
    "strategy": "bayesian",
    "max_trials": 30,
    "max_concurrent": 2,
    "mode": "min",
    "study_name": "branin-demo",
    "seed": 0,
}


def objective(ctx, x1: float, x2: float) -> ObjectiveResult:
    value = (
        (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
        + 10
    )
    return ObjectiveResult(score=value, metrics={"distance_to_optimum": value - 0.397887})
