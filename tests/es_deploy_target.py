"""An ES target a deployment can name (``tests/es_deploy_target.py:AffineSystem``): the affine example,
its metric slowed and logged to $ES_METRIC_LOG so a test can kill the run mid-epoch and count calls."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "es"))
from affine import TRAIN, AffineSystem, mse_metric  # noqa: E402, F401

TRAIN_OPTIONS = {"batch_size": 16}


def METRIC(preds, expected):  # noqa: N802 - the name a target's file gives its metric
    with open(os.environ["ES_METRIC_LOG"], "a") as log:
        log.write(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get("ES_METRIC_SLEEP", "0")))
    return mse_metric(preds, expected)
