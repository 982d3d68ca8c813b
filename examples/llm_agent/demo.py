"""Terminal demo of the agent-style runtime: train the sampling θ with ES, then serve questions.

    .venv/bin/python examples/llm_agent/demo.py                    # simulated model, canned questions
    .venv/bin/python examples/llm_agent/demo.py --interactive      # type questions; Ctrl-D or Ctrl-C stops
    .venv/bin/python examples/llm_agent/demo.py --model ollama/llama3.2 --api-base http://localhost:11434

Without ``--model`` a local simulated model answers (it rambles more the hotter it is
sampled), so the demo runs offline. Training runs as a Prefect flow unless ``--local``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arithmetic_agent import TRAIN, ArithmeticAgent, f1_metric  # noqa: E402

from hyperfunc_core.cli.loading import console  # noqa: E402
from hyperfunc_core.hyper.agent_runtime import RunResult  # noqa: E402
from hyperfunc_core.llm import LLMGateway  # noqa: E402

QUESTIONS = ["What is 20 + 22?", "What is 100 + 23?", "What is -5 + 8?", "What is 7 + 0?"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a litellm model string (default: the local simulated model)")
    parser.add_argument("--api-base", help="the model's endpoint, if not the provider's default")
    parser.add_argument("--steps", type=int, default=8, help="ES steps (default 8)")
    parser.add_argument("--requests-per-minute", type=float, default=None, help="pace the model's requests")
    parser.add_argument("--local", action="store_true", help="train without Prefect")
    parser.add_argument("--interactive", action="store_true", help="read questions from the terminal")
    parser.add_argument("questions", nargs="*", help="questions to serve (default: a few sums)")
    args = parser.parse_args(argv)
    out = console()

    server = None
    if args.model is None:
        from hyperfunc_core.testing.llm_server import ScriptedLLMServer
        from hyperfunc_core.testing.sim_models import arithmetic_model

        server = ScriptedLLMServer(responder=lambda body: arithmetic_model(body, delay_s=0.02)).start()
        model, api_base, api_key = "openai/simulated", server.api_base, "offline"
        out.print(f"[dim]simulated model at {server.api_base}[/dim]")
    else:
        model, api_base, api_key = args.model, args.api_base, None
    gateway = LLMGateway(
        model, api_base=api_base, api_key=api_key, max_concurrency=16, requests_per_minute=args.requests_per_minute
    )
    try:
        agent = ArithmeticAgent(llm=gateway)
        before = agent.evaluate(TRAIN, f1_metric)
        run_name = f"llm-agent-demo-{int(time.time())}"
        out.print(f"token F1 before training: {before:.3f}; training {args.steps} ES steps as run {run_name} ...")
        result = agent.optimize(TRAIN, f1_metric, steps=args.steps, run_name=run_name, orchestrate=not args.local)
        out.print(f"token F1 after training:  {result['train_score']:.3f}")

        served = ArithmeticAgent(llm=gateway)  # a fresh system serving the trained θ
        with served.start(trained=run_name, on_result=lambda r: _show(out, r)) as runtime:
            if args.interactive:
                _interactive(runtime, out)
            else:
                for question in args.questions or QUESTIONS:
                    runtime.submit(question=question).result()
        _summary(out, runtime, gateway)
    finally:
        if server is not None:
            server.stop()
    return 0


def _show(out, result: RunResult) -> None:
    tokens = sum(c.meta.get("prompt_tokens", 0) + c.meta.get("completion_tokens", 0) for c in result.calls)
    answer = result.output if result.ok else f"[red]{result.error}[/red]"
    out.print(
        f"  {result.inputs.get('question')!s:<22} -> {answer}   "
        f"[dim]{result.latency_s * 1000:.0f} ms, {len(result.calls)} calls, {tokens} tokens[/dim]"
    )


def _interactive(runtime, out) -> None:
    out.print("Type a question such as 'What is 2 + 3?'; Ctrl-D or Ctrl-C stops.")
    try:
        while True:
            line = input("question> ").strip()
            if line:
                runtime.submit(question=line).result()
    except (EOFError, KeyboardInterrupt):
        out.print("\nstopping ...")


def _summary(out, runtime, gateway: LLMGateway) -> None:
    from rich.table import Table

    table = Table(title=f"calls served ({len(runtime.history())} inputs)")
    for column in ("hyperfunction", "calls", "errors", "retries", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "hyperfunction" else "left")
    for name, s in runtime.call_summary().items():
        table.add_row(
            name,
            str(s.calls),
            str(s.errors),
            str(s.retries),
            f"{s.latency_p50_s * 1000:.0f}",
            f"{s.latency_p99_s * 1000:.0f}",
        )
    out.print(table)
    totals = gateway.usage
    out.print(
        f"LLM requests {totals.requests}, failed attempts {totals.failed_attempts}, "
        f"tokens {totals.total_tokens}, cost ${totals.cost_usd:.4f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
