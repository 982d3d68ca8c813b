"""Ensemble: answer each question with the prediction of the best-scoring generation."""

from __future__ import annotations

import json
from pathlib import Path

from hyperfunc_core.evolution.archive import eval_folder, gen_dir, get_score, load_archive


def ensemble(domain: str, question_id: str, output_dir: str | Path, split: str = "train") -> str | None:
    """The prediction for ``question_id`` of the generation with the best ``domain`` score."""
    data = load_archive(output_dir)
    scored = [(get_score(domain, output_dir, g, split), str(g)) for g in data.archive if data.entry(g).valid_parent]
    scored = [(s, g) for s, g in scored if s is not None]
    if not scored:
        return None
    _, best = max(scored, key=lambda x: x[0])
    path = gen_dir(output_dir, best) / eval_folder(domain, split) / "predictions.json"
    if not path.exists():  # the seed's layout: every split's predictions in <domain>_eval
        path = gen_dir(output_dir, best) / eval_folder(domain) / "predictions.json"
    for row in json.loads(path.read_text()):
        if str(row["questionId"]) == str(question_id):
            return row["prediction"]
    return None
