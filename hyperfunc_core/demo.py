"""``hyperfunc demo``: a short run of each engine on the embedded defaults, then where to look.

1. a Bayesian sweep of the Branin function (``examples/tuning/branin.py``),
2. ES training of two composed 2x2 matrices (``examples/es/affine.py``),
3. agent evolution of the calculator agent (``examples/calculator``) with the configured
   model, or, when none is configured, the scripted offline model, said out loud.

Each is the same Prefect flow a user or a deployment runs, stored in this project's database
under a name unique to this demo, and writes its report under ``$HYPERFUNC_HOME/runs``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from hyperfunc_core.validation import InvalidInput

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass
class DemoResult:
    name: str
    reports: dict[str, str] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)
    offline: bool = False


def model_is_configured() -> bool:
    """True when HYPERFUNC_MODEL (or the settings file) names a model, not just the built-in default."""
    from hyperfunc_core.settings import get_settings

    return "model" in get_settings().model_fields_set


def run_demo(
    trials: int = 30,
    steps: int = 40,
    generations: int = 2,
    offline: bool | None = None,
    say: Callable[[str], None] = print,
    name: str | None = None,
) -> DemoResult:
    from hyperfunc_core.jobs import evolve_domain, train_target, tune_target
    from hyperfunc_core.settings import get_settings
    from hyperfunc_core.testing.scripted_agents import offline_model

    examples = PROJECT_DIR / "examples"
    if not (examples / "calculator" / "calculator_tool.py").exists():
        raise FileNotFoundError(f"demo: the examples are not at {examples}; run the demo from a clone of the project")
    for label, value in (("trials", trials), ("steps", steps), ("generations", generations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"{label}: expected an integer >= 1, got {value!r}")
    name = name or f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    result = DemoResult(name)
    settings = get_settings()

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

    result.offline = (not model_is_configured()) if offline is None else offline
    if result.offline:
        say(
            "[3/3] Agent evolution with the SCRIPTED OFFLINE MODEL: no model is configured, so a local scripted "
            "server plays the MetaAgent and the TaskAgent. To use a real one: export HYPERFUNC_MODEL=openai/gpt-4o-mini "
            "(any litellm model string) and its key (OPENAI_API_KEY, or HYPERFUNC_LLM_API_KEY), then run the demo again."
        )
    else:
        say(f"[3/3] Agent evolution with {settings.model}: the MetaAgent rewrites the calculator agent")
    with offline_model() if result.offline else nullcontext({}) as llm:
        evolved = evolve_domain(
            "calculator",
            str(examples / "calculator"),
            generations=generations,
            prompts_dir="prompts",
            run_name=f"{name}-calculator",
            show_progress=True,
            **llm,
        )
    result.reports["evolution"] = evolved.report
    result.summary["evolution"] = (
        f"{evolved.stop_reason}; best generation {evolved.best_gen} (validation {evolved.best_score}, "
        f"test {(evolved.test or {}).get('score', 'n/a')}); LLM cost ${evolved.cost_usd:.4f}; "
        f"agent code ran in {evolved.execution}"
    )
    return result
