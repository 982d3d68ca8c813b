"""The experiment tables on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from hyperfunc_core.storage import (
    ESEpoch,
    ESRun,
    EvolutionRun,
    Generation,
    Study,
    Trial,
    TrialReport,
    describe_url,
    get_engine,
    normalize_url,
    session_scope,
)


def test_study_trials_and_reports_round_trip(database_url):
    with session_scope(database_url) as s:
        study = Study(name="sweep", metric="val_loss", mode="min", space={"lr": {"type": "float", "low": 1e-4}})
        s.add(study)
        s.flush()
        trial = Trial(study_id=study.id, number=0, trial_id="t-0", params={"lr": 0.01, "model": {"layers": 2}})
        s.add(trial)
        s.flush()
        s.add_all([TrialReport(trial_id=trial.id, step=i, metrics={"val_loss": 1.0 / (i + 1)}) for i in range(3)])
    with session_scope(database_url) as s:
        trial = s.exec(select(Trial)).one()
        assert trial.params == {"lr": 0.01, "model": {"layers": 2}}
        reports = s.exec(select(TrialReport).where(TrialReport.trial_id == trial.id).order_by(TrialReport.step)).all()
        assert [r.metrics["val_loss"] for r in reports] == pytest.approx([1.0, 0.5, 1 / 3])
        assert s.exec(select(Study)).one().mode == "min"


def test_trial_numbers_and_param_keys_are_unique_per_study(database_url):
    with session_scope(database_url) as s:
        study = Study(name="grid")
        s.add(study)
        s.flush()
        s.add(Trial(study_id=study.id, number=0, trial_id="a", param_key="k1"))
    with pytest.raises(IntegrityError):
        with session_scope(database_url) as s:
            s.add(Trial(study_id=1, number=0, trial_id="b", param_key="k2"))
    with pytest.raises(IntegrityError):
        with session_scope(database_url) as s:
            s.add(Trial(study_id=1, number=1, trial_id="c", param_key="k1"))
    with session_scope(database_url) as s:  # no key: any number of random trials may share nothing
        s.add(Trial(study_id=1, number=1, trial_id="d"))
        s.add(Trial(study_id=1, number=2, trial_id="e"))
    with session_scope(database_url) as s:
        assert len(s.exec(select(Trial)).all()) == 3


def test_evolution_and_es_tables(database_url):
    with session_scope(database_url) as s:
        run = EvolutionRun(name="evo", output_dir="/tmp/evo", config={"max_generations": 3})
        es = ESRun(name="es", output_dir="/tmp/es", seed=7)
        s.add_all([run, es])
        s.flush()
        s.add(Generation(run_id=run.id, gen_id="initial", valid_parent=True, score=0.5, patch_files=[]))
        s.add(Generation(run_id=run.id, gen_id="1", parent_id="initial", score=0.75, patch_files=["gen_1/a.diff"],
                         prompt_tokens=120, cost_usd=0.002))
        s.add(ESEpoch(run_id=es.id, epoch=0, metrics={"loss": 0.3}, checkpoint_path="/tmp/es/epoch_0.pt"))
    with session_scope(database_url) as s:
        gens = s.exec(select(Generation).order_by(Generation.id)).all()
        assert [g.gen_id for g in gens] == ["initial", "1"]
        assert gens[1].patch_files == ["gen_1/a.diff"] and gens[1].prompt_tokens == 120
        assert s.exec(select(ESEpoch)).one().metrics == {"loss": 0.3}
    with pytest.raises(IntegrityError):
        with session_scope(database_url) as s:
            s.add(ESEpoch(run_id=1, epoch=0))


def test_failed_session_rolls_back(database_url):
    with pytest.raises(RuntimeError):
        with session_scope(database_url) as s:
            s.add(Study(name="lost"))
            s.flush()
            raise RuntimeError("boom")
    with session_scope(database_url) as s:
        assert s.exec(select(Study)).all() == []


def test_url_forms():
    assert normalize_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert "secret" not in describe_url("postgresql://u:secret@h/db")
    with pytest.raises(ValueError, match="database url"):
        normalize_url("experiments.db")


def test_sqlite_default_lives_under_home(tmp_path, monkeypatch):
    from hyperfunc_core.settings import reload_settings

    monkeypatch.setenv("HYPERFUNC_HOME", str(tmp_path / "home"))
    try:
        settings = reload_settings()
        assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'home' / 'hyperfunc.db'}"
        get_engine()
        assert (tmp_path / "home" / "hyperfunc.db").exists()
    finally:
        monkeypatch.undo()
        reload_settings()


def test_a_study_listing_counts_states_and_skips_infinite_values_for_the_best(database_url):
    from hyperfunc_core.history.runs import list_runs
    from hyperfunc_core.tuning.study_store import list_studies

    with session_scope(database_url) as s:
        study = Study(name="listed", metric="score", mode="max")
        s.add(study)
        s.flush()
        for number, (state, value) in enumerate([("complete", 0.3), ("complete", float("inf")), ("complete", 0.7),
                                                 ("failed", None), ("running", None)]):
            s.add(Trial(study_id=study.id, number=number, trial_id=f"t-{number}", state=state, value=value))
    (row,) = list_studies(database_url)
    assert row["counts"] == {"complete": 3, "failed": 1, "running": 1} and row["best"] == 0.7
    (run,) = list_runs(database_url, with_prefect=False)
    assert (run.name, run.status, run.best) == ("listed", "running", 0.7)
    assert run.detail == "random, score (max), 3 complete, 1 failed, 1 running"
