"""ES training: the seed's examples, the Prefect flow with its artifacts, and resume after a kill."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "es"))
sys.path.insert(0, str(ROOT / "examples" / "shape_classifier"))

import affine  # noqa: E402
import xor  # noqa: E402


def test_two_composed_lora_matrices_learn_rotation_and_scale(tmp_path):
    system = affine.AffineSystem()
    initial = system.evaluate(affine.TRAIN, affine.mse_metric)
    result = system.optimize(
        affine.TRAIN,
        affine.mse_metric,
        orchestrate=False,
        run_name="affine-test",
        storage=f"sqlite:///{tmp_path / 'es.db'}",
    )
    final = system.evaluate(affine.TRAIN, affine.mse_metric)
    assert final > initial and -final < 0.1
    state = system.get_hp_state()
    learned = state["transform_b"] @ state["transform_a"]
    assert ((learned - affine.TARGET) ** 2).sum().sqrt() < 0.3
    assert result["steps"] == 100 and result["epochs"] == 10 and system.batched_refusal is None


def test_xor_needs_the_composition(tmp_path):
    url = f"sqlite:///{tmp_path / 'es.db'}"
    two = xor.XORSystem()
    two.optimize(xor.TRAIN, xor.neg_bce, orchestrate=False, run_name="xor-two", storage=url)
    one = xor.SingleLayerSystem()
    one.optimize(xor.TRAIN, xor.neg_bce, orchestrate=False, run_name="xor-one", storage=url)
    assert two.evaluate(xor.TRAIN, xor.accuracy) == 1.0
    assert one.evaluate(xor.TRAIN, xor.accuracy) <= 0.75  # no line separates XOR


def test_shape_classifier_reaches_95_percent_on_held_out_images(tmp_path):
    import system as shapes

    model = shapes.ShapeClassifier()
    model.optimize(
        shapes.TRAIN,
        shapes.log_likelihood,
        val=shapes.VAL,
        orchestrate=False,
        run_name="shapes",
        storage=f"sqlite:///{tmp_path / 'es.db'}",
    )
    assert model.evaluate(shapes.VAL, shapes.accuracy) >= 0.95
    assert model.batched_refusal is None


def test_a_metric_that_is_never_finite_fails_the_run_instead_of_finishing(tmp_path):
    from sqlmodel import select

    from hyperfunc_core.hyper.training import NonFiniteScores
    from hyperfunc_core.storage import session_scope
    from hyperfunc_core.storage.models import ESRun

    system = affine.AffineSystem()
    before = {k: v.clone() for k, v in system.get_hp_state().items()}
    url = f"sqlite:///{tmp_path / 'es.db'}"
    with pytest.raises(NonFiniteScores, match="all .* candidates scored non-finite .*check metric_fn"):
        system.optimize(
            affine.TRAIN,
            lambda prediction, expected: float("nan"),
            orchestrate=False,
            run_name="broken-metric",
            storage=url,
            steps=3,
        )
    assert all(torch.equal(before[k], v) for k, v in system.get_hp_state().items())  # θ untouched
    with session_scope(url) as session:
        run = session.exec(select(ESRun).where(ESRun.name == "broken-metric")).one()
        assert run.status.startswith("failed: ES step 0: all") and run.finished_at is not None, run.status


def test_a_torn_last_checkpoint_is_reported_and_the_run_resumes_from_the_one_before(tmp_path):
    url = f"sqlite:///{tmp_path / 'es.db'}"
    options = dict(orchestrate=False, storage=url, steps=30, steps_per_epoch=10)
    clean = affine.AffineSystem()
    clean.optimize(affine.TRAIN, affine.mse_metric, run_name="clean", **options)
    torn = affine.AffineSystem()
    torn.optimize(affine.TRAIN, affine.mse_metric, run_name="torn", **options)
    last = next(Path(os.environ["HYPERFUNC_HOME"]).rglob("torn/epoch-00002.pt"))
    last.write_bytes(last.read_bytes()[:100])  # a torn write

    again = affine.AffineSystem()
    with pytest.warns(RuntimeWarning, match=f"epoch 2 \\({last}\\) cannot be read .*resuming from the epoch before"):
        result = again.optimize(affine.TRAIN, affine.mse_metric, run_name="torn", **options)
    assert result["epochs"] == 3 and len(result["history"]) == 3
    theta, reference = again.get_hp_state(), clean.get_hp_state()
    assert all(torch.equal(theta[k], reference[k]) for k in reference)  # epoch 2 trained again, bit for bit


def test_bad_training_options_fail_before_any_step(tmp_path):
    system = affine.AffineSystem()
    url = f"sqlite:///{tmp_path / 'es.db'}"
    for kwargs, name in [
        ({"steps": 0}, "steps"),
        ({"steps_per_epoch": 0}, "steps_per_epoch"),
        ({"keep": "last"}, "keep"),
        ({"batch_size": 0}, "batch_size"),
    ]:
        with pytest.raises(ValueError, match=name):
            system.optimize(affine.TRAIN, affine.mse_metric, orchestrate=False, storage=url, **kwargs)
    system.optimize(affine.TRAIN, affine.mse_metric, orchestrate=False, storage=url, run_name="same", steps=10)
    changed = affine.AffineSystem()
    with pytest.raises(ValueError, match="other settings.*steps_per_epoch"):
        changed.optimize(
            affine.TRAIN,
            affine.mse_metric,
            orchestrate=False,
            storage=url,
            run_name="same",
            steps=10,
            steps_per_epoch=5,
        )
    with pytest.raises(ValueError, match="other settings.*total_steps .fewer"):
        changed.optimize(affine.TRAIN, affine.mse_metric, orchestrate=False, storage=url, run_name="same", steps=5)
    more = changed.optimize(affine.TRAIN, affine.mse_metric, orchestrate=False, storage=url, run_name="same", steps=20)
    assert more["steps"] == 20 and more["resumed_from_epoch"] == 1  # more steps continue the run
    with pytest.raises(ValueError, match="exists"):
        changed.optimize(
            affine.TRAIN, affine.mse_metric, orchestrate=False, storage=url, run_name="same", steps=10, resume=False
        )


def _job(run_name: str, url: str, out: Path, *, local: bool, crash_after: int = 0) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, CRASH_AFTER_CALLS=str(crash_after))
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    args = [sys.executable, str(ROOT / "tests" / "es_training_job.py"), run_name, url, str(out)] + (
        ["--local"] if local else []
    )
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_killed_training_flow_resumes_from_its_last_epoch_bit_for_bit(tmp_path):
    url = f"sqlite:///{tmp_path / 'es.db'}"
    straight = _job("straight", url, tmp_path / "straight.pt", local=False)
    assert straight.returncode == 0, straight.stderr[-3000:]
    # 16 candidates' scores come in one batched metric call per step (plus one per epoch end):
    # call 30 falls in epoch 2, after epochs 0 and 1 were checkpointed.
    crashed = _job("killed", url, tmp_path / "killed.pt", local=False, crash_after=30)
    assert crashed.returncode == 17, crashed.stderr[-3000:]
    assert not (tmp_path / "killed.pt").exists()
    resumed = _job("killed", url, tmp_path / "killed.pt", local=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = torch.load(tmp_path / "straight.pt"), torch.load(tmp_path / "killed.pt")
    assert b["resumed_from_epoch"] == 2 and a["resumed_from_epoch"] is None
    assert all(torch.equal(a["theta"][k], b["theta"][k]) for k in a["theta"])
    assert [h["train_score"] for h in a["history"]] == [h["train_score"] for h in b["history"]]
    local = _job("local", url, tmp_path / "local.pt", local=True)  # the plain loop computes the same run
    assert local.returncode == 0, local.stderr[-3000:]
    assert all(torch.equal(a["theta"][k], torch.load(tmp_path / "local.pt")["theta"][k]) for k in a["theta"])

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["es-killed-epochs", "es-killed-summary"]))
            )

    found = asyncio.run(artifacts())
    kinds = {a.key: a.type for a in found}
    assert kinds.get("es-killed-epochs") == "table" and kinds.get("es-killed-summary") == "markdown"
    summary = next(a for a in found if a.key == "es-killed-summary")
    assert "train score by epoch" in summary.data and "final train score" in summary.data


@pytest.mark.usefixtures("prefect_harness")
def test_blocks_of_steps_per_task_train_the_same_theta(tmp_path):
    url = f"sqlite:///{tmp_path / 'es.db'}"
    local, flow = affine.AffineSystem(), affine.AffineSystem()
    options = {"steps": 20, "steps_per_epoch": 10, "batch_size": 16, "storage": url}
    local.optimize(affine.TRAIN, affine.mse_metric, orchestrate=False, run_name="blocks-local", **options)
    result = flow.optimize(affine.TRAIN, affine.mse_metric, run_name="blocks-flow", steps_per_task=4, **options)
    assert result["epochs"] == 2 and result["steps"] == 20
    assert all(torch.equal(local.get_hp_state()[k], flow.get_hp_state()[k]) for k in local.get_hp_state())
