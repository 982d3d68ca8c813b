"""OpenTelemetry spans and metrics, checked with the SDK's in-memory exporter and reader."""

from __future__ import annotations

import pytest
import torch

from hyperfunc_core import Example, Float, HyperSystem, TensorParam, hyperfunction
from hyperfunc_core.observability import telemetry

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402


@pytest.fixture
def otel():
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.enable(tracer_provider, MeterProvider(metric_readers=[reader]))
    yield exporter, reader
    telemetry.disable()


def metric_points(reader):
    out = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, point.attributes["kind"], point.attributes["name"], point.attributes["ok"])
                    out[key] = getattr(point, "value", None) if hasattr(point, "value") else point.count
    return out


Vec = TensorParam.create(2)


def test_hyperfunction_llm_trial_and_es_step_spans_and_metrics(otel, llm_server, llm_gateway):
    from hyperfunc_core.launch import run_sweep
    from hyperfunc_core.testing import error, text
    from hyperfunc_core.tuning.sweep import prepare_sweep

    exporter, reader = otel

    @hyperfunction(hp_type=Vec, name="scale_otel")
    def scale(x, hp):
        return x * hp.value[0]

    class S(HyperSystem):
        def run(self, x):
            return scale(x)

    s = S()
    s.evaluate([Example({"x": torch.tensor(1.0)}, torch.tensor(0.0)) for _ in range(3)], lambda p, e: -p.sum())
    llm_server.push(text("hello"), error(500, "down"))
    llm_gateway.complete("hi")
    with pytest.raises(Exception):
        llm_gateway.complete("again")
    run_sweep(prepare_sweep(lambda ctx, x: x, {"x": Float(0, 1)}, max_trials=2, seed=0), orchestrate=False)
    s.optimize(
        [Example({"x": torch.tensor(1.0)}, torch.tensor(0.0))],
        lambda p, e: -(p**2).mean(),
        orchestrate=False,
        steps=2,
        steps_per_epoch=2,
        run_name="otel-es",
        storage="sqlite://",
    )

    spans = exporter.get_finished_spans()
    by_name = {}
    for sp in spans:
        by_name.setdefault(sp.name, []).append(sp)
    assert len(by_name["hyperfunction.call"]) >= 3
    first = by_name["hyperfunction.call"][0].attributes
    assert first["hyperfunc.hyperfunction"] == "scale_otel" and first["hyperfunc.attempts"] == 1
    llm = by_name["llm.completion"]
    assert len(llm) == 2 and llm[0].attributes["hyperfunc.completion_tokens"] >= 1
    assert "LLMError" in llm[1].attributes["hyperfunc.error"]
    assert [sp.attributes["hyperfunc.state"] for sp in by_name["tuning.trial"]] == ["complete", "complete"]
    steps = by_name["es.step"]
    assert [sp.attributes["hyperfunc.step"] for sp in steps] == [0, 1]
    batched = [sp for sp in by_name["hyperfunction.call"] if sp.attributes.get("hyperfunc.batched")]
    step_ids = {sp.context.span_id for sp in steps}
    # each step's population ran as vmapped chunk calls under its step (more than one while the plan is measured)
    assert {sp.parent.span_id for sp in batched if sp.parent is not None and sp.parent.span_id in step_ids} == step_ids

    points = metric_points(reader)
    assert points[("hyperfunc.calls", "llm", llm_gateway.model, True)] == 1
    assert points[("hyperfunc.calls", "llm", llm_gateway.model, False)] == 1
    assert points[("hyperfunc.calls", "trial", "random", True)] == 2
    assert points[("hyperfunc.calls", "es_step", "otel-es", True)] == 2
    assert points[("hyperfunc.call.duration", "hyperfunction", "scale_otel", True)] >= 3


def test_llm_calls_of_staged_hyperfunctions_nest_under_their_call_span(otel, llm_server):
    import sys
    from pathlib import Path

    from hyperfunc_core.llm import LLMGateway
    from hyperfunc_core.testing.sim_models import arithmetic_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "llm_agent"))
    from arithmetic_agent import TRAIN, ArithmeticAgent, f1_metric

    exporter, _ = otel
    llm_server.responder = arithmetic_model
    agent = ArithmeticAgent(llm=LLMGateway("openai/scripted", api_base=llm_server.api_base, api_key="k"))
    agent.discover(TRAIN[:1])
    exporter.clear()
    theta = agent.get_hp_state()
    agent.evaluate_population([theta, theta], TRAIN[:2], f1_metric)
    spans = exporter.get_finished_spans()
    calls = {sp.context.span_id: sp for sp in spans if sp.name == "hyperfunction.call"}
    llm = [sp for sp in spans if sp.name == "llm.completion"]
    assert len(calls) == 8 and len(llm) == 8
    assert all(sp.parent is not None and sp.parent.span_id in calls for sp in llm)  # context crossed the stage gate
    parents = [calls[sp.parent.span_id].attributes for sp in llm]
    assert sorted(
        {(a["hyperfunc.hyperfunction"], a["hyperfunc.stage"], a["hyperfunc.stage_calls"]) for a in parents}
    ) == [("draft", 1, 4), ("polish", 2, 4)]
    assert all(a["hyperfunc.llm_requests"] == 1 and a["hyperfunc.prompt_tokens"] > 0 for a in parents)


def test_each_evolution_generation_is_a_span_with_its_outcome(otel, llm_server, tmp_path):
    from evolution_scripts import make_repo, meta_agent_repairs, responder

    from hyperfunc_core import AgentOptions, GenerateLoopConfig, MetaAgent, TaskAgent, run_generate_loop
    from hyperfunc_core.domains import CalculatorDomain

    exporter, _ = otel
    llm_server.responder = responder(meta_agent_repairs)
    options = dict(model="openai/gpt-4o-mini", api_base=llm_server.api_base, api_key="k")
    run_generate_loop(
        GenerateLoopConfig(
            domains=[CalculatorDomain()],
            meta_agent=MetaAgent(AgentOptions(**options)),
            task_agent_factory=lambda tools: TaskAgent(AgentOptions(tools=tools, **options)),
            output_dir=str(tmp_path / "out"),
            repo_path=str(make_repo(tmp_path)),
            storage=f"sqlite:///{tmp_path}/db.sqlite",
            max_generations=2,
        ),
        orchestrate=False,
    )
    spans = {
        sp.attributes["hyperfunc.gen_id"]: sp
        for sp in exporter.get_finished_spans()
        if sp.name == "evolution.generation"
    }
    assert set(spans) == {"initial", "1"}
    assert spans["initial"].attributes["hyperfunc.score"] == 0.5
    assert spans["1"].attributes["hyperfunc.score"] == 1.0 and spans["1"].attributes["hyperfunc.parent_id"] == "initial"
    llm = [sp for sp in exporter.get_finished_spans() if sp.name == "llm.completion"]
    assert llm and all(sp.parent is not None for sp in llm)  # every agent call inside its generation's span


def test_telemetry_off_records_nothing_and_yields_none():
    telemetry.disable()
    with telemetry.span("anything", a=1) as current:
        assert current is None
    telemetry.record("x", "y", 0.1, True)  # no provider, no error
