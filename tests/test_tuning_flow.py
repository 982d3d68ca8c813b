"""tune() as a Prefect flow: the seed's quick start, retries, artifacts, display."""

from __future__ import annotations

import asyncio

import pytest

from hyperfunc_core import Choice, Float, ObjectiveResult, tune

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_seed_quick_start_runs_as_a_flow_with_artifacts():
    def objective(ctx, learning_rate: float, optimizer: str) -> ObjectiveResult:
        score = -abs(learning_rate - 0.01) + (0.1 if optimizer == "adam" else 0.0)
        ctx.report(step=0, score=score)
        return ObjectiveResult(score=score)

    result = tune(
        objective=objective,
        space={"learning_rate": Float(0.0001, 0.1, log=True), "optimizer": Choice(["adam", "sgd", "rmsprop"])},
        strategy="random",
        max_trials=12,
        max_concurrent=4,
        study_name="quick-start",
        seed=0,
        show_progress=True,
        show_summary=True,
    )
    assert len(result["trials"]) == 12 and result["counts"] == {"complete": 12}
    assert set(result["best"]) >= {"trial_id", "params", "score", "metrics"}

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterName

    async def check():
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["tune-quick-start"]))
            )
            assert len(runs) == 1 and runs[0].state.is_completed()
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["trials-quick-start"]))
            )
            assert (
                artifacts
                and artifacts[0].type == "table"
                and len(
                    artifacts[0].data
                    if isinstance(artifacts[0].data, list)
                    else __import__("json").loads(artifacts[0].data)
                )
                == 12
            )
            for _ in range(60):  # task runs reach the API through events, a moment after the flow ends
                tasks = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["tune-quick-start"]))
                )
                if len(tasks) == 12:
                    break
                await asyncio.sleep(0.25)
            assert len(tasks) == 12 and {t.name for t in tasks} == {f"trial-{i}" for i in range(12)}
            progress = await client.read_artifacts(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["tune-quick-start"]))
            )
            assert any(a.type == "progress" and float(a.data) == 100.0 for a in progress)

    asyncio.run(check())


def test_failed_trials_end_failed_the_sweep_goes_on_and_the_ui_sees_spec_values_and_plots(tmp_path):
    def sometimes(ctx, x: float) -> float:
        if x > 0.7:
            raise RuntimeError("too far")
        return x

    url = f"sqlite:///{tmp_path / 'ui.db'}"
    result = tune(
        sometimes, {"x": Float(0.0, 1.0)}, strategy="random", max_trials=10, seed=0, study_name="ui-study", storage=url
    )
    failed = {t["number"] for t in result["trials"] if t["state"] == "failed"}
    assert failed and result["counts"] == {"complete": 10 - len(failed), "failed": len(failed)}

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterName

    async def check():
        async with get_client() as client:
            (run,) = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["tune-ui-study"]))
            )
            assert run.state.is_completed() and f"{len(failed)} failed" in run.state.message
            assert run.parameters["study"] == "ui-study" and run.parameters["storage"] == url
            assert run.parameters["spec"]["space"]["params"]["x"] == {
                "type": "float",
                "low": 0.0,
                "high": 1.0,
                "log": False,
            }
            assert run.parameters["spec"]["in_process"] == [
                "objective test_failed_trials_end_failed_the_sweep_goes_on_and_the_ui_sees_spec_values_and_plots.<locals>.sometimes"
            ]
            for _ in range(60):  # task runs reach the API through events, a moment after the flow ends
                tasks = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["tune-ui-study"]))
                )
                if len(tasks) == 10 and all(t.state.is_final() for t in tasks):
                    break
                await asyncio.sleep(0.25)
            states = {int(t.name.split("-")[1]): t.state for t in tasks}
            assert {n for n, st in states.items() if st.is_failed()} == failed
            ok = next(t for t in result["trials"] if t["state"] == "complete")
            assert states[ok["number"]].message.startswith(f"complete: value {ok['value']:.6g}; params {{'x': ")
            (report,) = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["report-ui-study"]))
            )
            assert "](data:image/png;base64," in report.data and "](optimization_history.png)" not in report.data

    asyncio.run(check())


def test_trial_retries_rerun_a_failed_trial():
    attempts: dict[float, int] = {}

    def flaky(ctx, x: float) -> float:
        attempts[x] = attempts.get(x, 0) + 1
        if attempts[x] == 1:
            raise ConnectionError("transient")
        return x

    result = tune(flaky, {"x": Choice([1.0, 2.0])}, strategy="grid", trial_retries=1)
    assert result["counts"] == {"complete": 2} and attempts == {1.0: 2, 2.0: 2}
    failing = tune(lambda ctx, x: 1 / 0, {"x": Choice([1.0])}, strategy="grid", trial_retries=1)
    assert failing["counts"] == {"failed": 1} and "ZeroDivisionError" in failing["trials"][0]["error"]
    assert failing["best"] is None


def test_invalid_input_fails_before_the_flow_starts():
    with pytest.raises(ValueError, match="'lr': Float needs low < high"):
        tune(lambda ctx, lr: lr, {"lr": Float(1.0, 0.5)})
    with pytest.raises(ValueError, match="trial_retries"):
        tune(lambda ctx, lr: lr, {"lr": Float(0.1, 0.5)}, trial_retries=-1)


def test_a_dated_run_starts_a_new_study_named_after_its_start_from_the_stored_spec(tmp_path):
    """``dated=True`` (a schedule's other way to add work): each flow run starts its own study,
    ``<study>-<YYYYmmdd-HHMMSS>``, built from the spec; the named study is left as it was."""
    import re
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tuning_objectives import quadratic

    from flows.tuning import tune_flow
    from hyperfunc_core.launch import run_sweep
    from hyperfunc_core.tuning.sweep import prepare_sweep

    url = f"sqlite:///{tmp_path / 'dated.db'}"
    made = prepare_sweep(quadratic, {"x": Float(0.0, 2.0)}, max_trials=2, storage=url, study_name="nightly", seed=0)
    run_sweep(made, orchestrate=False)
    state = tune_flow(study="nightly", storage=url, spec=made.spec, dated=True, return_state=True)
    assert state.is_completed(), state
    from hyperfunc_core.storage import Study, Trial, session_scope

    with session_scope(url) as session:
        studies = {
            s.name: [t.state for t in session.query(Trial).filter(Trial.study_id == s.id)]
            for s in session.query(Study).all()
        }
    dated = [name for name in studies if name != "nightly"]
    assert len(studies) == 2 and re.fullmatch(r"nightly-\d{8}-\d{6}", dated[0]), studies
    assert studies["nightly"] == ["complete", "complete"] and studies[dated[0]] == ["complete", "complete"]
