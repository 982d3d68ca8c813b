"""Every tensor a hyperfunction or a metric receives is on the system's device, on every path.

CI has no GPU: the ``meta`` device stands in for a second device (tensors with shapes and no
data, so a stray CPU tensor meeting one is caught by the device checks below). On a machine
with CUDA the same tests run on ``cuda`` too, plus a whole training run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from hyperfunc_core import Example, HyperSystem, TensorParam, hyperfunction
from hyperfunc_core.es import ESConfig
from hyperfunc_core.hyper.placement import examples_on
from hyperfunc_core.hyper.training import es_step, initial_state, prepare_training

DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])
SEEN: list[tuple[str, torch.device]] = []

Weights = TensorParam.create(3, 4)


@hyperfunction(hp_type=Weights, name="project")
def project(x, bias, hp):
    SEEN.extend([("x", x.device), ("bias", bias.device), ("theta", hp.value.device)])
    return x @ hp.value + bias


class Projection(HyperSystem):
    """``run`` makes a tensor of its own on the CPU: the hyperfunction still gets it on the device."""

    def run(self, x, tag=None):
        return project(x, torch.zeros(4))


def metric(preds, expected):
    SEEN.extend([("preds", preds.device), ("expected", expected.device)])
    return 0.0  # a meta tensor holds no numbers to score; the paths, not the values, are under test


def examples(tagged: bool = False) -> list[Example]:
    gen = torch.Generator().manual_seed(0)
    return [
        Example({"x": torch.randn(3, generator=gen), **({"tag": "t"} if tagged else {})}, torch.randn(4, generator=gen))
        for _ in range(6)
    ]


def only_on(device: str) -> None:
    assert SEEN, "nothing was recorded"
    elsewhere = [(what, d) for what, d in SEEN if d.type != torch.device(device).type]
    assert not elsewhere, f"tensors off {device}: {elsewhere[:5]}"
    SEEN.clear()


@pytest.mark.parametrize("device", DEVICES)
def test_evaluate_discover_and_both_population_paths_keep_every_tensor_on_the_device(device):
    SEEN.clear()
    system = Projection(device=device)
    system.evaluate(examples(), metric)  # discovery and the one-at-a-time path
    only_on(device)
    candidates = torch.randn(5, 12)  # on the CPU, as ES would not make them
    assert system.evaluate_population(candidates, examples(), metric) == [0.0] * 5
    assert system.batched_refusal is None
    only_on(device)
    mixed = Projection(device=device)  # a string input: not batchable, candidates run one by one
    mixed.evaluate_population([{"project": torch.randn(3, 4)}] * 3, examples(tagged=True), metric)
    assert mixed.batched_refusal is not None and "tag" in mixed.batched_refusal
    only_on(device)


@pytest.mark.parametrize("device", DEVICES)
def test_an_es_step_draws_noise_and_scores_on_the_device_with_data_moved_once(device, tmp_path):
    SEEN.clear()
    system = Projection(system_optimizer=ESConfig(pop_size=8, sigma=0.1), device=device)
    job = prepare_training(system, examples(), metric, run_name="device", storage=f"sqlite:///{tmp_path / 'es.db'}")
    assert all(e.inputs["x"].device.type == torch.device(device).type for e in job.train)
    assert all(a is b for a, b in zip(examples_on(job.train, system.device), job.train))  # not moved again
    state = initial_state(job)
    state, metrics = es_step(job, state)
    assert state.theta.device.type == torch.device(device).type and metrics["failed_candidates"] == 0
    only_on(device)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_whole_training_run_on_cuda_learns_and_checkpoints(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "es"))
    import affine

    system = affine.AffineSystem(device="cuda")
    before = system.evaluate(affine.TRAIN, affine.mse_metric)
    result = system.optimize(
        affine.TRAIN, affine.mse_metric, orchestrate=False, run_name="cuda", storage=f"sqlite:///{tmp_path / 'es.db'}"
    )
    assert system.evaluate(affine.TRAIN, affine.mse_metric) > before and result["epochs"] == 10
    assert all(t.device.type == "cuda" for t in system.get_hp_state().values())
