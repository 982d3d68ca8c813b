"""Persistent studies: resume on SQLite and PostgreSQL, processes sharing one study, crash and resume."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import postgres_url_or_skip

from hyperfunc_core import Choice, Float, Int
from hyperfunc_core.launch import run_sweep
from hyperfunc_core.tuning.sweep import prepare_sweep

TESTS = Path(__file__).parent


def read_log(path: Path) -> list[tuple[int, int]]:
    return (
        [tuple(int(v) for v in line.split(",")[:2]) for line in path.read_text().splitlines()] if path.exists() else []
    )


def test_study_resumes_and_reuses_finished_trials(database_url, tmp_path, monkeypatch):
    from tuning_objectives import logged

    log = tmp_path / "calls.log"
    monkeypatch.setenv("TUNING_LOG", str(log))
    space = {"a": Int(0, 9), "b": Int(0, 9)}
    first = run_sweep(
        prepare_sweep(
            logged, space, strategy="random", max_trials=5, storage=database_url, study_name="resume-me", seed=1
        ),
        orchestrate=False,
    )
    assert len(first["trials"]) == 5 and len(read_log(log)) == 5
    second = run_sweep(
        prepare_sweep(
            logged, space, strategy="random", max_trials=8, storage=database_url, study_name="resume-me", seed=2
        ),
        orchestrate=False,
    )
    assert second["resumed_trials"] == 5 and len(second["trials"]) == 8
    assert len(read_log(log)) == 8  # only the three new trials ran
    assert [t["trial_id"] for t in second["trials"][:5]] == [t["trial_id"] for t in first["trials"]]
    with pytest.raises(ValueError, match="study_name 'resume-me': exists with metric='score', mode='max'"):
        prepare_sweep(logged, space, storage=database_url, study_name="resume-me", mode="min")
    for other in ({"a": Int(0, 9), "c": Int(0, 9)}, {"a": Int(0, 9), "b": Int(0, 99)}):
        with pytest.raises(ValueError, match="exists with another space .*('c' is new; 'b' is gone|'b' was .*99)"):
            prepare_sweep(logged, other, strategy="bayesian", storage=database_url, study_name="resume-me")
    assert len(read_log(log)) == 8  # refused before any trial


def test_reports_are_stored_as_they_happen(database_url):
    from sqlmodel import select
    from tuning_objectives import quadratic

    from hyperfunc_core.storage import Trial, TrialReport, session_scope

    run_sweep(
        prepare_sweep(quadratic, {"x": Float(0, 2)}, max_trials=2, storage=database_url, study_name="rep"),
        orchestrate=False,
    )
    with session_scope(database_url) as s:
        assert len(s.exec(select(TrialReport)).all()) == 6
        assert {t.state for t in s.exec(select(Trial)).all()} == {"complete"}


def _worker(url: str, log: Path, study: str, extra_env: dict | None = None) -> subprocess.Popen:
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from hyperfunc_core import Int\n"
        "from hyperfunc_core.launch import run_sweep\n"
        "from hyperfunc_core.tuning.sweep import prepare_sweep\n"
        "from tuning_objectives import logged\n"
        "run_sweep(prepare_sweep(logged, {'a': Int(0, 3), 'b': Int(0, 5)}, strategy='grid', max_concurrent=2,\n"
        "            storage=%r, study_name=%r), orchestrate=False)\n"
    ) % (str(TESTS), url, study)
    env = dict(os.environ, TUNING_LOG=str(log), TRIAL_SLEEP="0.05", **(extra_env or {}))
    return subprocess.Popen([sys.executable, "-c", code], env=env)


@pytest.mark.postgres
def test_processes_share_a_postgres_study_without_repeating_a_grid_point(tmp_path):
    from sqlmodel import SQLModel, select

    from hyperfunc_core.storage import Trial, get_engine, session_scope

    url = postgres_url_or_skip()
    SQLModel.metadata.drop_all(get_engine(url))
    SQLModel.metadata.create_all(get_engine(url))
    log = tmp_path / "calls.log"
    workers = [_worker(url, log, "shared-grid") for _ in range(3)]
    assert [w.wait(timeout=180) for w in workers] == [0, 0, 0]
    calls = read_log(log)
    assert len(calls) == 24 and len(set(calls)) == 24  # every point of the 4 x 6 grid exactly once
    pids = {line.split(",")[2] for line in log.read_text().splitlines()}
    assert len(pids) >= 2  # the work really was shared
    with session_scope(url) as s:
        rows = s.exec(select(Trial)).all()
        assert len(rows) == 24 and {r.state for r in rows} == {"complete"}
        assert sorted(r.number for r in rows) == list(range(24))


def test_crash_mid_sweep_then_resume_loses_and_reruns_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    log = tmp_path / "calls.log"
    crashed = _worker(url, log, "crashy", {"CRASH_AT": "23"})  # a=2, b=3 kills the process
    assert crashed.wait(timeout=180) == 17
    before = read_log(log)
    assert (2, 3) in before and 0 < len(before) < 24
    from hyperfunc_core.tuning.study_store import SQLStudyStore

    store = SQLStudyStore(url)
    store.open("crashy", metric="score", mode="max", strategy="grid", space={}, settings={})
    finished_before = {(t.params["a"], t.params["b"]) for t in store.trials() if t.state == "complete"}
    assert len(finished_before) >= 10 and (2, 3) not in finished_before
    resumed = _worker(url, log, "crashy")
    assert resumed.wait(timeout=180) == 0
    after = read_log(log)[len(before) :]
    assert not finished_before & set(after)  # no finished trial ran again
    assert set(before) | set(after) == {(a, b) for a in range(4) for b in range(6)}
    states = [t.state for t in store.trials()]
    assert states.count("complete") == 24
    assert set(states) - {"complete"} <= {"interrupted"}  # trials cut short by the crash say so


def _random_worker(url: str, log: Path, study: str) -> subprocess.Popen:
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from hyperfunc_core import Int\n"
        "from hyperfunc_core.launch import run_sweep\n"
        "from hyperfunc_core.tuning.sweep import prepare_sweep\n"
        "from tuning_objectives import logged\n"
        "r = run_sweep(prepare_sweep(logged, {'a': Int(0, 99), 'b': Int(0, 99)}, strategy='random', max_trials=40,\n"
        "                storage=%r, study_name=%r), orchestrate=False)\n"
        "print('DONE', sum(t['state'] == 'complete' for t in r['trials']))\n"
    ) % (str(TESTS), url, study)
    env = dict(os.environ, TUNING_LOG=str(log), TRIAL_SLEEP="0.2")
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_survivor_finishes_the_budget_when_a_process_sharing_the_study_is_killed(tmp_path):
    import signal
    import time

    from hyperfunc_core.tuning.study_store import SQLStudyStore

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    log = tmp_path / "calls.log"
    doomed, survivor = _random_worker(url, log, "shared"), _random_worker(url, log, "shared")
    deadline = time.monotonic() + 120
    while sum(pid == doomed.pid for *_, pid in _pids(log)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(doomed.pid, signal.SIGKILL)  # mid-trial: every trial sleeps 0.2 s after it is logged
    doomed.wait()
    out, _ = survivor.communicate(timeout=180)
    assert survivor.returncode == 0 and "DONE 40" in out, out
    store = SQLStudyStore(url)
    store.open("shared", metric="score", mode="max", strategy="random", space={}, settings={})
    states = [t.state for t in store.trials()]
    assert states.count("complete") == 40 and states.count("running") == 0
    assert states.count("interrupted") == 1  # the killed process's trial, reclaimed


def _pids(log: Path) -> list[tuple[int, int, int]]:
    return [tuple(int(v) for v in line.split(",")) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_trial_whose_heartbeat_stopped_on_another_host_is_reclaimed(tmp_path):
    from datetime import timedelta

    from sqlmodel import select
    from tuning_objectives import quadratic

    from hyperfunc_core.storage import Trial, session_scope, utcnow
    from hyperfunc_core.tuning.study_store import SQLStudyStore

    url = f"sqlite:///{tmp_path / 'beats.db'}"
    run_sweep(
        prepare_sweep(
            quadratic, {"x": Int(0, 9)}, strategy="random", max_trials=3, storage=url, study_name="beats", seed=0
        ),
        orchestrate=False,
    )
    with session_scope(url) as s:
        study_id = s.exec(select(Trial.study_id)).first()
        s.add(
            Trial(
                study_id=study_id,
                number=3,
                trial_id="trial_elsewhere",
                params={"x": 5},
                worker="elsewhere:1",
                heartbeat_at=utcnow() - timedelta(minutes=10),
            )
        )
        s.add(
            Trial(
                study_id=study_id,
                number=4,
                trial_id="trial_alive",
                params={"x": 6},
                worker="elsewhere:2",
                heartbeat_at=utcnow(),
            )
        )
    store = SQLStudyStore(url)
    store.open("beats", metric="score", mode="max", strategy="random", space={}, settings={})
    assert store.recover_interrupted() == 1
    rows = {t.trial_id: t for t in store.trials()}
    assert rows["trial_elsewhere"].state == "interrupted" and "no heartbeat for 600 s" in rows["trial_elsewhere"].error
    assert rows["trial_alive"].state == "running"  # its heartbeat is fresh

    mine = store.claim({"x": 7}, {}, None, 10)
    with session_scope(url) as s:
        before = s.exec(select(Trial.heartbeat_at).where(Trial.trial_id == mine.trial_id)).one()
    assert before is not None and store.beat() == 1
    with session_scope(url) as s:
        assert s.exec(select(Trial.heartbeat_at).where(Trial.trial_id == mine.trial_id)).one() >= before


def test_a_study_holding_an_infinite_value_from_an_older_version_resumes_under_bayesian(tmp_path):
    from sqlmodel import select
    from tuning_objectives import quadratic

    from hyperfunc_core.storage import Trial, session_scope

    url = f"sqlite:///{tmp_path / 'old.db'}"
    space = {"x": Float(-2.0, 2.0)}
    run_sweep(
        prepare_sweep(quadratic, space, strategy="bayesian", max_trials=6, storage=url, study_name="old", seed=0),
        orchestrate=False,
    )
    with session_scope(url) as s:  # as an older version stored it: a "complete" trial valued +inf
        row = s.exec(select(Trial).where(Trial.number == 2)).one()
        row.value = row.score = float("inf")
        s.add(row)
    resumed = run_sweep(
        prepare_sweep(quadratic, space, strategy="bayesian", max_trials=10, storage=url, study_name="old", seed=1),
        orchestrate=False,
    )
    assert len(resumed["trials"]) == 10 and resumed["counts"].get("complete") == 10
    assert resumed["best"]["value"] != float("inf")  # the broken value is never the best


def test_a_study_keeps_its_spec_and_a_worker_rebuilds_it_or_says_why_it_cannot(tmp_path):
    from tuning_objectives import quadratic

    from hyperfunc_core.tuning.spec import InProcessOnly
    from hyperfunc_core.tuning.sweep import reopen_sweep

    url = f"sqlite:///{tmp_path / 'spec.db'}"
    space = {"x": Int(0, 9), "opt": {"name": Choice(["a", "b"])}, "fixed": 3}
    run_sweep(
        prepare_sweep(
            quadratic, {"x": Int(0, 9)}, strategy="random", max_trials=3, storage=url, study_name="named", seed=0
        ),
        orchestrate=False,
    )
    again = reopen_sweep("named", url, add_trials=2)  # what a retried or scheduled flow run does
    assert again.setup.objective is not quadratic and again.setup.objective.__qualname__ == "quadratic"
    assert again.max_trials == 5 and again.replayed == 3 and again.spec["options"]["strategy"] == "random"
    prepare_sweep(lambda ctx, **p: p["x"], space, max_trials=2, storage=url, study_name="closure")
    with pytest.raises(InProcessOnly, match="study .closure. was started from Python .*<locals>.<lambda>"):
        reopen_sweep("closure", url)
    with pytest.raises(ValueError, match="add_trials: expected an integer >= 1"):
        reopen_sweep("named", url, add_trials=0)


def test_a_study_without_a_name_resumes_under_its_objectives_name_and_a_changed_space_is_refused(tmp_path, monkeypatch):
    """The seed guide's persistent study (storage, no study_name) run twice: the second run resumes."""
    import logging

    from tuning_objectives import logged

    said: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("hyperfunc.tuning")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    monkeypatch.setenv("TUNING_LOG", str(tmp_path / "calls.log"))
    url = f"sqlite:///{tmp_path / 'experiments.db'}"
    space = {"a": Int(0, 9), "b": Int(0, 9)}
    try:
        first = run_sweep(prepare_sweep(logged, space, max_trials=4, storage=url, seed=1), orchestrate=False)
        second = run_sweep(prepare_sweep(logged, space, max_trials=6, storage=url, seed=1), orchestrate=False)
        assert first["study_name"] == second["study_name"] == "tuning_objectives.logged"
        assert second["resumed_trials"] == 4 and len(second["trials"]) == 6
        assert len(read_log(tmp_path / "calls.log")) == 6
        assert "starting study 'tuning_objectives.logged' in its storage" in said
        assert "resuming study 'tuning_objectives.logged' in its storage: 4 finished trials reused" in said
        with pytest.raises(ValueError, match="study_name 'tuning_objectives.logged': exists with another space .*b"):
            prepare_sweep(logged, {"a": Int(0, 9), "b": Int(0, 5)}, storage=url)
        anonymous = prepare_sweep(lambda ctx, a: a, {"a": Int(0, 3)}, storage=url)
        assert anonymous.study_name.startswith("study_") and "pass study_name= to resume it later" in said[-1]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_grid_over_a_float_without_a_resolution_uses_five_points_and_says_so():
    from tuning_objectives import quadratic

    result = run_sweep(prepare_sweep(quadratic, {"x": Float(0.1, 2.0, log=True)}, strategy="grid"), orchestrate=False)
    xs = sorted(t["params"]["x"] for t in result["trials"])
    assert len(xs) == 5 and xs[0] == pytest.approx(0.1) and xs[-1] == pytest.approx(2.0)
    assert xs[2] == pytest.approx((0.1 * 2.0) ** 0.5)  # log=True: the middle point is the geometric mean
    assert result["notes"] == [
        "grid: x at the default 5 points per axis (5 points in all); strategy_kwargs={'resolution': N} sets another"
    ]
    fine = run_sweep(
        prepare_sweep(quadratic, {"x": Float(0, 1)}, strategy="grid", strategy_kwargs={"resolution": 3}),
        orchestrate=False,
    )
    assert len(fine["trials"]) == 3 and fine["notes"] == []


def test_enqueued_configurations_run_first_and_once_and_a_warm_start_feeds_another_studys_trials(tmp_path, monkeypatch):
    from tuning_objectives import logged

    monkeypatch.setenv("TUNING_LOG", str(tmp_path / "calls.log"))
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = {"a": Int(0, 9), "b": Int(0, 9)}
    known = [{"a": 9, "b": 9}, {"a": 0}]  # the second leaves b to be sampled
    first = run_sweep(
        prepare_sweep(logged, space, max_trials=5, storage=url, study_name="queued", seed=1, enqueue=known),
        orchestrate=False,
    )
    trials = first["trials"]
    assert trials[0]["params"] == {"a": 9, "b": 9} and trials[1]["params"]["a"] == 0
    assert [t["info"].get("source") for t in trials[:2]] == ["enqueued", "enqueued"] and len(trials) == 5
    again = prepare_sweep(logged, space, max_trials=7, storage=url, study_name="queued", seed=1, enqueue=known)
    assert again.queue == []  # both ran already: a resumed study runs neither again
    for enqueue, says in [
        ({"a": 1}, "enqueue: expected a list of parameter dicts"),
        ([{"a": 10}], r"enqueue\[0\]\['a'\]: 10 is outside"),
        ([{"c": 1}], r"enqueue\[0\]: unknown parameters \['c'\]"),
    ]:
        with pytest.raises(ValueError, match=says):
            prepare_sweep(logged, space, storage=url, study_name="bad", enqueue=enqueue)

    warm = prepare_sweep(
        logged, space, strategy="bayesian", max_trials=3, storage=url, study_name="warm", warm_start="queued", seed=2
    )
    assert warm.warm_started == 5 and len(warm.setup.strategy.trials) == 5  # learnt before its first ask
    result = run_sweep(warm, orchestrate=False)
    assert result["warm_start_trials"] == 5 and len(result["trials"]) == 3  # not counted as this study's
    for kwargs, says in [
        ({"warm_start": "nope", "storage": url}, "warm_start: no study named 'nope'"),
        ({"warm_start": "queued", "storage": None}, "warm_start: needs storage="),
        ({"warm_start": "queued", "storage": url, "mode": "min"}, "warm_start: study 'queued' monitors"),
    ]:
        with pytest.raises(ValueError, match=says):
            prepare_sweep(logged, space, study_name="w2", **kwargs)
