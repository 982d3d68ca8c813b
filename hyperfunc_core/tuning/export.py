"""A study's trials as rows: for pandas (``trials_dataframe``, like Optuna's), CSV and JSON.

One row per trial, Optuna's column names: ``number``, ``state``, ``value``, ``params_<name>``
(dotted for nested parameters), plus ``score``, ``metrics_<name>``, ``duration_s``, ``pruned_by``
and the first line of ``error``. A row comes from a ``tune()`` result or from a stored study.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from hyperfunc_core.tuning.strategies.base import TrialRecord
from hyperfunc_core.validation import InvalidInput

FORMATS = ("table", "csv", "json")


def _flat(values: dict, prefix: str) -> dict:
    out: dict = {}
    for key, value in (values or {}).items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def trial_row(trial: dict | TrialRecord) -> dict:
    """One trial (a result's trial dict, or a stored ``TrialRecord``) as a flat row."""
    t = trial if isinstance(trial, dict) else vars(trial)
    error = t.get("error") or ""
    return {
        "number": t["number"],
        "trial_id": t["trial_id"],
        "state": t["state"],
        "value": t.get("value"),
        "score": t.get("score"),
        "duration_s": t.get("duration_s"),
        **{f"params_{k}": v for k, v in _flat(t.get("params") or {}, "").items()},
        **{f"metrics_{k}": v for k, v in _flat(t.get("metrics") or {}, "").items()},
        "pruned_by": (t.get("info") or {}).get("pruned_by"),
        "error": error.strip().splitlines()[0] if error.strip() else None,
    }


def study_rows(name: str, storage: str | None = None) -> tuple[list[dict], Any]:
    """The rows of stored study ``name`` in ``storage`` (default: the project database) and its
    ``Study`` row; ``InvalidInput`` when there is none."""
    from hyperfunc_core.settings import get_settings
    from hyperfunc_core.tuning.study_store import SQLStudyStore, find_study

    storage = storage or get_settings().resolved_database_url
    found = find_study(storage, name)
    if found is None:
        raise InvalidInput(f"NAME: no study named {name!r} in {storage}")
    store = SQLStudyStore(storage)
    store.open(name, metric=found.metric, mode=found.mode, strategy=found.strategy, space={}, settings={})
    return [trial_row(t) for t in sorted(store.trials(), key=lambda t: t.number)], found


def trials_dataframe(source: dict | str, storage: str | None = None):
    """The trials as a pandas DataFrame, one row per trial: ``source`` is ``tune()``'s result or a
    study name in ``storage`` (default: the project database). Needs pandas (``pip install -e .[pandas]``)."""
    try:
        import pandas
    except ImportError:
        raise InvalidInput("trials_dataframe: needs pandas; pip install -e .[pandas] (or pandas)") from None
    if isinstance(source, dict):
        rows = [trial_row(t) for t in source.get("trials", [])]
    elif isinstance(source, str):
        rows, _ = study_rows(source, storage)
    else:
        raise InvalidInput(f"source: expected tune()'s result or a study name, got {type(source).__name__}")
    return pandas.DataFrame(rows)


def rows_text(rows: list[dict], fmt: str) -> str:
    """``rows`` as CSV (a header of every column any row has) or as a JSON list."""
    if fmt == "json":
        return json.dumps(rows, indent=1, default=str) + "\n"
    if fmt != "csv":
        raise InvalidInput(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
