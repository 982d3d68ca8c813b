"""A training run for the resume tests: ``python es_training_job.py RUN_NAME DB_URL OUT [--local]``.

With CRASH_AFTER_CALLS=N in the environment the process dies (os._exit(17)) on the N-th
metric call, mid-epoch, as a killed worker would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "es"))
import affine  # noqa: E402

CALLS = {"n": 0}
CRASH_AFTER = int(os.environ.get("CRASH_AFTER_CALLS", "0"))


def metric(preds, expected):
    CALLS["n"] += 1
    if CRASH_AFTER and CALLS["n"] == CRASH_AFTER:
        os._exit(17)
    return affine.mse_metric(preds, expected)


if __name__ == "__main__":
    run_name, url, out = sys.argv[1:4]
    system = affine.AffineSystem()
    result = system.optimize(
        affine.TRAIN,
        metric,
        steps=40,
        steps_per_epoch=10,
        batch_size=16,
        run_name=run_name,
        storage=url,
        orchestrate="--local" not in sys.argv,
    )
    torch.save(
        {
            "theta": system.get_hp_state(),
            "resumed_from_epoch": result["resumed_from_epoch"],
            "history": result["history"],
        },
        out,
    )
