"""What a replay needs that the database does not hold: an ES run's code target and options."""

from __future__ import annotations

import json
from pathlib import Path

INPUTS_FILE = "inputs.json"


def training_run_dir(run_name: str) -> Path:
    from hyperfunc_core.hyper.checkpoints import CheckpointStore
    from hyperfunc_core.settings import get_settings

    return CheckpointStore(None, get_settings().outputs_dir / "es").run_dir(run_name)


def record_training_inputs(run_name: str, inputs: dict) -> Path:
    """``{target, train_var, metric_var, options}`` beside the run's checkpoints."""
    folder = training_run_dir(run_name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / INPUTS_FILE
    path.write_text(json.dumps(inputs, indent=2, default=str))
    return path


def load_training_inputs(output_dir: str | Path) -> dict | None:
    path = Path(output_dir) / INPUTS_FILE
    return json.loads(path.read_text()) if path.exists() else None
