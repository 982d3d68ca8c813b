"""The deployable flows: each engine started from small JSON parameters (see ``deployments/``).

A deployment stores its parameters and a schedule repeats them, so each flow takes plain
values: a ``FILE:NAME`` target (paths relative to the project folder the worker runs in) and
the options the CLI has. The engines' own flows (``tune``, ``es-train``, ``evolution``) run
inside as subflows, so a scheduled run shows the same tasks and artifacts as a manual one.
"""

from __future__ import annotations

from contextlib import nullcontext

from prefect import flow

from hyperfunc_core.jobs import evolve_domain, train_target, tune_target


@flow(name="scheduled-sweep", flow_run_name="sweep-{study_name}", persist_result=False, log_prints=True)
def sweep_job(objective: str = "examples/tuning/branin.py:objective", strategy: str = "bayesian",
              max_trials: int = 20, max_concurrent: int = 2, study_name: str = "branin-scheduled",
              storage: str | None = None, seed: int | None = None) -> dict:
    """A tuning sweep of FILE:OBJECTIVE over FILE's SPACE; a later run of the same study resumes it."""
    result = tune_target(objective, strategy=strategy, max_trials=max_trials, max_concurrent=max_concurrent,
                         study_name=study_name, storage=storage, seed=seed)
    best = result["best"]
    print(f"study {study_name}: best {result['metric']} {best['value'] if best else 'n/a'}; report {result['report']}")
    return {"study_name": study_name, "best": best, "trials": len(result["trials"]), "report": result["report"]}


@flow(name="scheduled-training", flow_run_name="training-{run_name}", persist_result=False, log_prints=True)
def training_job(system: str = "examples/es/affine.py:AffineSystem", steps: int = 30, steps_per_epoch: int = 10,
                 run_name: str = "affine-scheduled", storage: str | None = None) -> dict:
    """ES training of FILE:SYSTEM on FILE's TRAIN and METRIC; a run of the same name resumes it."""
    result = train_target(system, steps=steps, steps_per_epoch=steps_per_epoch, run_name=run_name, storage=storage)
    print(f"ES run {run_name}: train score {result['train_score']}; report {result['report']}")
    return {k: v for k, v in result.items() if k not in ("theta", "history")}


@flow(name="scheduled-evolution", flow_run_name="evolution-{run_name}", persist_result=False, log_prints=True)
def evolution_job(domain: str = "calculator", repo: str = "examples/calculator", generations: int = 2,
                  model: str | None = "offline", api_base: str | None = None, run_name: str = "calculator-scheduled",
                  output: str | None = None, prompts_dir: str | None = "prompts", executor: str = "auto",
                  budget_usd: float | None = None) -> dict:
    """Agent evolution on a built-in domain. ``model="offline"``: the scripted offline model (no LLM needed)."""
    from hyperfunc_core.testing.scripted_agents import offline_model

    offline = model == "offline"
    with (offline_model() if offline else nullcontext({"model": model, "api_base": api_base})) as llm:
        result = evolve_domain(domain, repo, generations=generations, output=output, run_name=run_name,
                               prompts_dir=prompts_dir, executor=executor, budget=budget_usd, **llm)
    print(f"evolution {run_name}: {result.stop_reason}, best generation {result.best_gen} ({result.best_score}); "
          f"report {result.report}")
    return {"run_name": run_name, "stop_reason": result.stop_reason, "best_gen": result.best_gen,
            "best_score": result.best_score, "report": result.report, "output_dir": result.output_dir}
