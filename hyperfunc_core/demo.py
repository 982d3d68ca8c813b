"""``hyperfunc demo``: a short run of each engine on the embedded defaults, then where to look.

1. a Bayesian sweep of the Branin function (``examples/tuning/branin.py``),
2. ES training of two composed 2x2 matrices (``examples/es/affine.py``),
3. agent evolution of the calculator agent (``examples/calculator``) with the configured model,
   else the local model (``scripts/setup.sh --local``) on a few tasks per split, else the scripted
   offline model, said out loud (``model_choice``).

Each is the same Prefect flow a user or a deployment runs, stored in this project's database
under a name unique to this demo, and writes its report under ``$HYPERFUNC_HOME/runs``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hyperfunc_core.model_choice import LOCAL, SCRIPTED, chosen_model
from hyperfunc_core.validation import InvalidInput

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass
class DemoResult:
    name: str
    reports: dict[str, str] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)
    model: str = ""  # which kind of model the evolution ran on: configured, local or scripted

    @property
    def offline(self) -> bool:
        return self.model == SCRIPTED


LOCAL_TASKS_PER_SPLIT = 3  # a CPU model answers in seconds: a few tasks keep the demo to minutes


def run_demo(
    trials: int = 30,
    steps: int = 40,
    generations: int = 2,
    offline: bool = False,
    say: Callable[[str], None] = print,
    name: str | None = None,
) -> DemoResult:
    from hyperfunc_core.jobs import evolve_domain, train_target, tune_target

    examples = PROJECT_DIR / "examples"
    if not (examples / "calculator" / "calculator_tool.py").exists():
        raise FileNotFoundError(f"demo: the examples are not at {examples}; run the demo from a clone of the project")
    for label, value in (("trials", trials), ("steps", steps), ("generations", generations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"{label}: expected an integer >= 1, got {value!r}")
    name = name or f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    result = DemoResult(name)

    say(f"[1/3] Tuning sweep: Bayesian search of the Branin function, {trials} trials (study {name}-branin)")
    sweep = tune_target(
        f"{examples / 'tuning' / 'branin.py'}:objective",
        max_trials=trials,
        study_name=f"{name}-branin",
        show_progress=True,
    )
    best = sweep["best"]
    result.reports["sweep"] = sweep["report"]
    result.summary["sweep"] = (
        f"best Branin value {best['value']:.4f} (optimum 0.3979) at {best['params']}" if best else "no finished trial"
    )

    say(f"[2/3] ES training: two composed 2x2 matrices learn rotate-then-scale, {steps} steps (run {name}-affine)")
    trained = train_target(
        f"{examples / 'es' / 'affine.py'}:AffineSystem",
        steps=steps,
        steps_per_epoch=10,
        run_name=f"{name}-affine",
        show_progress=True,
    )
    first = trained["history"][0]["train_score"] if trained["history"] else None
    result.reports["training"] = trained["report"]
    result.summary["training"] = f"train score (negative MSE) {first:.4f} after epoch 0 -> {trained['train_score']:.4f}"

    say("[3/3] Agent evolution: the MetaAgent rewrites the calculator agent")
    with chosen_model(offline=offline, scripted_fallback=True, say=say) as choice:
        result.model = choice.kind
        samples = LOCAL_TASKS_PER_SPLIT if choice.kind == LOCAL else None
        detail = f", on {samples} tasks of each split (train, validation, test)" if samples else ""
        say(f"      with {choice.description}{detail}")
        evolved = evolve_domain(
            "calculator",
            str(examples / "calculator"),
            generations=generations,
            prompts_dir="prompts",
            run_name=f"{name}-calculator",
            eval_samples=samples,
            show_progress=True,
            **choice.options,
        )
    result.reports["evolution"] = evolved.report
    result.summary["evolution"] = (
        f"{evolved.stop_reason}; best generation {evolved.best_gen} (validation {evolved.best_score}, "
        f"test {(evolved.test or {}).get('score', 'n/a')}); LLM cost ${evolved.cost_usd:.4f}; "
        f"agent code ran in {evolved.execution}"
    )
    return result
