"""Archive files, parent selection, ensemble and the family tree: pure logic, no Prefect."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from hyperfunc_core.evolution import (
    ArchiveData,
    ArchiveEntry,
    ensemble,
    get_patch_files,
    get_score,
    is_starting_node,
    load_archive,
    load_gen_metadata,
    parent_weights,
    save_archive,
    save_gen_metadata,
    select_parent,
    update_archive,
)
from hyperfunc_core.evolution.report import family_tree


def entry(gen, parent, score, valid=True):
    return ArchiveEntry(gen, parent, [], {"d": score} if score is not None else {}, {}, valid)


def build(tmp_path, spec):
    data = ArchiveData()
    for gen, parent, score, valid in spec:
        data = update_archive(tmp_path, data, entry(gen, parent, score, valid))
    return data


def test_snapshots_are_appended_and_a_truncated_last_line_is_skipped(tmp_path):
    data = build(tmp_path, [("initial", None, 0.0, True), (1, "initial", 0.7, True), (2, 1, 0.65, True)])
    lines = (tmp_path / "archive.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["archive"] == ["initial"]
    assert load_archive(tmp_path).archive == ["initial", 1, 2]
    with open(tmp_path / "archive.jsonl", "a") as fh:  # a crash in the middle of an append
        fh.write(lines[-1][: len(lines[-1]) // 2])
    assert load_archive(tmp_path).archive == ["initial", 1, 2]
    update_archive(tmp_path, load_archive(tmp_path), entry(3, 1, 0.82))
    assert load_archive(tmp_path).archive == ["initial", 1, 2, 3]  # the next snapshot starts on a line of its own
    assert data.children(1) == 1 and is_starting_node("initial") and is_starting_node(0) and not is_starting_node(1)
    assert load_archive(tmp_path / "nowhere").archive == []


def test_gen_metadata_patch_chain_and_scores(tmp_path):
    save_gen_metadata(tmp_path, 1, {"parent_genid": "initial", "prev_patch_files": [], "curr_patch_files": ["p1"]})
    save_gen_metadata(tmp_path, 2, {"parent_genid": 1, "prev_patch_files": ["p1"], "curr_patch_files": ["p2"]})
    assert get_patch_files(tmp_path, 2) == ["p1", "p2"] and load_gen_metadata(tmp_path, 9) == {}
    report = tmp_path / "gen_2" / "bash_eval" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"averageScore": 0.75, "subset": "train"}))
    assert get_score("bash", tmp_path, 2) == 0.75 and get_score("bash", tmp_path, 2, "test") is None
    assert get_score("bash", tmp_path, 1) is None


def test_parent_selection_weights_validity_and_seeding():
    data = ArchiveData()
    for gen, parent, score, valid in [
        ("initial", None, 0.0, True),
        (1, "initial", 0.9, True),
        (2, "initial", 0.7, True),
        (3, 1, None, False),
        (4, 1, 0.2, True),
        (5, 1, 0.1, True),
    ]:
        data.archive.append(gen)
        data.entries[str(gen)] = entry(gen, parent, score, valid)
    w = parent_weights(data, "score_child_prop")
    assert "3" not in w  # not a valid parent
    assert w["1"] == pytest.approx(0.91 / 4) and w["2"] == pytest.approx(0.71 / 1)  # the seed's example
    assert parent_weights(data, "score_prop")["1"] == pytest.approx(0.91)
    assert select_parent(data, "best") == "1" and select_parent(data, "latest") == "5"
    picks = [select_parent(data, "score_child_prop", random.Random(s)) for s in range(2000)]
    assert picks == [select_parent(data, "score_child_prop", random.Random(s)) for s in range(2000)]
    counts = Counter(picks)
    total_w = sum(w.values())
    assert counts["2"] / 2000 == pytest.approx(w["2"] / total_w, abs=0.04)
    assert set(Counter(select_parent(data, "random", random.Random(s)) for s in range(500))) == {
        "initial",
        "1",
        "2",
        "4",
        "5",
    }
    with pytest.raises(ValueError, match="parent_selection: expected one of"):
        select_parent(data, "tournament")
    broken = ArchiveData(["initial"], {"initial": entry("initial", None, None, False)})
    with pytest.raises(ValueError, match="no valid parent"):
        select_parent(broken)


def test_ensemble_takes_the_best_generations_prediction_and_the_tree_prints(tmp_path):
    build(
        tmp_path,
        [("initial", None, 0.5, True), (1, "initial", 0.9, True), (2, "initial", None, False), (3, 1, 0.6, True)],
    )
    for gen, score, answer in [("initial", 0.5, "a0"), (1, 0.9, "a1"), (3, 0.6, "a3")]:
        folder = tmp_path / f"gen_{gen}" / "calc_eval"
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(json.dumps({"averageScore": score, "subset": "train"}))
        (folder / "predictions.json").write_text(json.dumps([{"questionId": "q1", "prediction": answer, "score": 1}]))
    assert ensemble("calc", "q1", tmp_path) == "a1" and ensemble("calc", "nope", tmp_path) is None
    save_archive(tmp_path, load_archive(tmp_path))
    tree = family_tree(load_archive(tmp_path))
    assert tree.splitlines()[0] == "initial (score: 0.500)"
    assert "├── gen1 (score: 0.900)" in tree and "│   └── gen3 (score: 0.600)" in tree
    assert "└── gen2 (score: n/a)  [not a valid parent" in tree
