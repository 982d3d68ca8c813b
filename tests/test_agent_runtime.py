"""HyperSystem.start(): the long-running agent runtime, against the scripted LLM server."""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from hyperfunc_core import HyperSystem, TensorParam, hyperfunction
from hyperfunc_core.llm import LLMGateway
from hyperfunc_core.testing.sim_models import arithmetic_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "llm_agent"))
from arithmetic_agent import TRAIN, ArithmeticAgent, f1_metric  # noqa: E402

Gain = TensorParam.create(1)


@hyperfunction(hp_type=Gain, name="runtime_gain")
def gain(x, hp):
    if x < 0:
        raise ValueError("negative input")
    return float(x * hp.value[0])


class Doubler(HyperSystem):
    def run(self, x):
        return gain(x)


def doubler(value: float = 2.0) -> Doubler:
    s = Doubler()
    s.register_hyperfunction(gain, torch.tensor([value]))
    return s


def test_submit_ask_records_and_a_failure_does_not_stop_the_loop():
    seen = []
    with doubler().start(on_result=seen.append, workers=2) as rt:
        assert rt.ask(x=3.0) == 6.0
        futures = [rt.submit(x=float(i)) for i in (-1, 1, 2)]
        results = [f.result(5) for f in futures]
        assert [r.ok for r in results] == [False, True, True] and "negative input" in results[0].error
        assert [r.output for r in results[1:]] == [2.0, 4.0]
        with pytest.raises(RuntimeError, match="run failed: ValueError: negative input"):
            rt.ask(x=-5.0)
    assert not rt.running and len(seen) == 5
    records = rt.call_history()
    assert len(records) == 5 and sum(not r.ok for r in records) == 2
    summary = rt.call_summary()["runtime_gain"]
    assert summary.calls == 5 and summary.errors == 2
    with pytest.raises(RuntimeError, match="not running"):
        rt.submit(x=1.0)


def test_theta_changes_take_effect_from_the_next_input_only():
    s = doubler(2.0)
    release = threading.Event()

    class Slow(Doubler):
        def run(self, x):
            release.wait(5)
            return gain(x)

    slow = Slow()
    slow.register_hyperfunction(gain, torch.tensor([2.0]))
    with slow.start() as rt:
        first = rt.submit(x=1.0)
        time.sleep(0.1)  # the first run has started with gain 2
        slow.set_hp_state({"runtime_gain": torch.tensor([10.0])})
        release.set()
        assert first.result(5).output == 2.0
        assert rt.ask(x=1.0) == 10.0
    assert s.get_hp_state()["runtime_gain"].item() == 2.0


def test_queue_source_ends_on_none_and_iterable_source_ends_when_exhausted():
    q: queue.Queue = queue.Queue()
    outputs = []
    rt = doubler().start(q, on_result=lambda r: outputs.append(r.output))
    for i in range(5):
        q.put({"x": float(i)})
    q.put(None)
    assert rt.wait(10) and not rt.running
    assert sorted(outputs) == [0.0, 2.0, 4.0, 6.0, 8.0]

    rt = doubler(3.0).start(({"x": float(i)} for i in range(4)))
    assert rt.wait(10)
    assert [r.output for r in rt.history()] == [0.0, 3.0, 6.0, 9.0]
    rt = doubler().start(["not a dict"])
    assert rt.wait(10) and "inputs: expected a dict" in rt.history()[0].error


def test_stop_without_draining_cancels_what_is_queued():
    release = threading.Event()

    class Blocking(Doubler):
        def run(self, x):
            release.wait(5)
            return gain(x)

    b = Blocking()
    b.register_hyperfunction(gain, torch.tensor([1.0]))
    rt = b.start()
    running = rt.submit(x=1.0)
    time.sleep(0.1)
    queued = [rt.submit(x=float(i)) for i in range(3)]
    threading.Timer(0.2, release.set).start()
    rt.stop(drain=False)
    assert running.result(5).output == 1.0 and all(f.cancelled() for f in queued)


def test_bad_options_fail_fast():
    s = doubler()
    with pytest.raises(ValueError, match="workers: expected an integer >= 1"):
        s.start(workers=0)
    with pytest.raises(ValueError, match="source: expected a queue.Queue or an iterable"):
        s.start(source={"x": 1})
    with pytest.raises(ValueError, match="reload_every_s"):
        s.start(reload_every_s=0)


@pytest.mark.slow
def test_loads_theta_from_the_latest_finished_training_run_and_follows_new_ones(llm_server, tmp_path):
    llm_server.responder = arithmetic_model
    storage = f"sqlite:///{tmp_path / 'runs.db'}"

    def gw() -> LLMGateway:
        return LLMGateway("openai/scripted", api_base=llm_server.api_base, api_key="k", max_concurrency=32)

    with pytest.raises(ValueError, match="no finished ES run"):
        ArithmeticAgent(llm=gw()).start(trained=True, storage=storage)

    trainer = ArithmeticAgent(llm=gw())
    trainer.optimize(TRAIN, f1_metric, steps=8, run_name="agent-v1", storage=storage, orchestrate=False)
    trained_theta = trainer.get_hp_state()

    served = ArithmeticAgent(llm=gw())  # a fresh system, as in another process: nothing registered yet
    with served.start(trained=True, storage=storage, reload_every_s=0.2) as rt:
        assert rt.theta_from == "agent-v1"
        answer = rt.ask(question="What is 20 + 22?", timeout=30)
        assert answer == "42"  # a cooled-down θ: no filler words
        for name, value in trained_theta.items():
            assert torch.equal(served.get_hp_state()[name], value)
        assert len(rt.history()[-1].calls) == 2 and rt.history()[-1].theta_from == "agent-v1"

        hot = ArithmeticAgent(llm=gw())  # a newer run finishes while the runtime serves
        hot.discover(TRAIN[:1])
        hot.optimize(
            TRAIN[:1], lambda p, e: -f1_metric(p, e), steps=1, run_name="agent-v2", storage=storage, orchestrate=False
        )
        deadline = time.monotonic() + 10
        while rt.theta_from != "agent-v2" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rt.theta_from == "agent-v2"
        assert torch.equal(served.get_hp_state()["draft"], hot.get_hp_state()["draft"])


@pytest.mark.slow
def test_the_terminal_demo_runs(tmp_path):
    import os
    import subprocess

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HYPERFUNC_HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect")}
    done = subprocess.run(
        [sys.executable, str(root / "examples/llm_agent/demo.py"), "--local", "--steps", "3", "--interactive"],
        input="What is 40 + 2?\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "token F1 before training: 0.400" in done.stdout
    assert "What is 40 + 2?" in done.stdout and "-> 42" in done.stdout
    assert "calls served (1 inputs)" in done.stdout and "stopping" in done.stdout
