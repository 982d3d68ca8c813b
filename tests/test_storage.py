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
        s.add(
            Generation(
                run_id=run.id,
                gen_id="1",
                parent_id="initial",
                score=0.75,
                patch_files=["gen_1/a.diff"],
                prompt_tokens=120,
                cost_usd=0.002,
            )
        )
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
    with pytest.raises(ValueError, match="storage: expected a database URL"):
        normalize_url("experiments.db")


def test_bad_storage_urls_fail_before_any_work_and_make_no_folder(tmp_path):
    from hyperfunc_core import Float, tune

    calls = []

    def objective(ctx, x):
        calls.append(x)
        return x

    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for url, message in [
        (
            "mysql://user:secret@db.example/x",
            "scheme 'mysql', which hyperfunc does not support; expected sqlite:///PATH.db",
        ),
        (f"sqlite:///{tmp_path}/missing/dir/x.db", "folder .*missing/dir of the SQLite database .* does not exist"),
        (f"sqlite:///{a_file}/x.db", f"{a_file} is a file, not a folder"),
        (f"sqlite:///{tmp_path}", "is a folder; the SQLite URL must name a file"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            tune(objective, {"x": Float(0, 1)}, max_trials=2, storage=url, study_name="s")
        assert "secret" not in str(info.value)
    assert calls == [] and not (tmp_path / "missing").exists()


@pytest.mark.slow
def test_many_processes_creating_one_new_database_at_once_all_succeed(tmp_path):
    import multiprocessing
    import time

    context = multiprocessing.get_context("spawn")
    with context.Pool(6) as pool:
        pool.map(_warm, range(6))  # the workers are up and have imported the storage code
        for round_ in range(3):
            url = f"sqlite:///{tmp_path / f'race{round_}.db'}"
            start = time.time() + 1.0
            outcomes = pool.starmap(_open_at, [(url, start)] * 6)
            assert outcomes == ["ok"] * 6, outcomes


def _warm(_: int) -> None:
    import hyperfunc_core.storage  # noqa: F401


def _open_at(url: str, start: float) -> str:
    import time

    from hyperfunc_core.storage import get_engine as engine_for

    time.sleep(max(0.0, start - time.time()))  # every process opens the new database at the same moment
    try:
        engine_for(url)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the test reports what failed
        return f"{type(exc).__name__}: {exc}"[:300]


def test_a_database_made_before_migrations_is_upgraded_in_place(tmp_path):
    import sqlite3

    from hyperfunc_core.storage.engine import dispose_engines

    path = tmp_path / "old.db"
    get_engine(f"sqlite:///{path}")
    with session_scope(f"sqlite:///{path}") as s:
        s.add(Study(name="kept", metric="loss", mode="min"))
    dispose_engines()
    old = sqlite3.connect(path)  # as the previous version left it: no version table, no heartbeat column
    old.execute("DROP TABLE alembic_version")
    old.execute("ALTER TABLE trial DROP COLUMN heartbeat_at")
    old.execute("ALTER TABLE esrun DROP COLUMN spec")
    old.execute("ALTER TABLE evolutionrun DROP COLUMN spec")
    old.commit()
    old.close()

    get_engine(f"sqlite:///{path}")
    upgraded = sqlite3.connect(path)
    assert upgraded.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003_run_spec",)]
    assert "heartbeat_at" in [row[1] for row in upgraded.execute("PRAGMA table_info(trial)")]
    assert "spec" in [row[1] for row in upgraded.execute("PRAGMA table_info(esrun)")]
    assert upgraded.execute("SELECT name, metric FROM study").fetchall() == [("kept", "loss")]
    upgraded.close()
