"""The three engines started from plain values: what the CLI, the deployments and the demo run.

A job names its code by ``FILE:NAME`` (a tuning objective or a HyperSystem with the data
its file defines) or, for evolution, a built-in domain and a repository, so its parameters
are small JSON values a Prefect deployment can store and a schedule can repeat.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any


class TargetError(ValueError):
    """A ``FILE:NAME`` target that cannot be loaded, or lacks what the job needs."""


def load_module(path: Path, name: str | None = None) -> ModuleType:
    """Import the Python file ``path`` as module ``name`` (default: its stem), its folder on sys.path
    so the file's own imports and process trials find it."""
    name = name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_target(target: str, what: str) -> tuple[ModuleType, Any]:
    """Import FILE as a module and return it with its attribute NAME."""
    path_text, sep, name = str(target).rpartition(":")
    if not sep or not path_text or not name:
        raise TargetError(f"expected FILE:{what.upper()}, e.g. train.py:{what}, got {target!r}")
    path = Path(path_text).resolve()
    if not path.is_file():
        raise TargetError(f"{path_text!r} is not a file")
    module = load_module(path)
    if not hasattr(module, name):
        raise TargetError(f"{path_text} has no {what} named {name!r}")
    return module, getattr(module, name)


def tune_target(target: str, space_var: str = "SPACE", options_var: str = "TUNE_OPTIONS", **overrides: Any) -> dict:
    """``tune()`` FILE's objective over FILE's space; ``overrides`` (non-None) win over FILE's options."""
    from hyperfunc_core.settings import get_settings
    from hyperfunc_core.tuning import tune

    module, objective = load_target(target, "objective")
    if not hasattr(module, space_var):
        raise TargetError(f"{target.rpartition(':')[0]} defines no search space named {space_var!r}")
    options = dict(getattr(module, options_var, {}) or {})
    options.update({k: v for k, v in overrides.items() if v is not None})
    options.setdefault("storage", get_settings().resolved_database_url)
    return tune(objective, getattr(module, space_var), **options)


def load_system(target: str) -> tuple[ModuleType, Any]:
    """FILE's module and the HyperSystem that FILE:SYSTEM is (an instance) or makes (a class or factory)."""
    from hyperfunc_core.hyper import HyperSystem

    module, made = load_target(target, "system")
    if not isinstance(made, HyperSystem):
        if not callable(made):
            raise TargetError(f"{target} is neither a HyperSystem nor a way to make one")
        made = made()
        if not isinstance(made, HyperSystem):
            raise TargetError(f"{target} made a {type(made).__name__}, not a HyperSystem")
    return module, made


def train_target(target: str, train_var: str = "TRAIN", metric_var: str = "METRIC", options_var: str = "TRAIN_OPTIONS",
                 orchestrate: bool = True, **overrides: Any) -> dict:
    """``optimize()`` FILE's HyperSystem (class, instance or factory) on FILE's TRAIN with FILE's METRIC."""
    module, made = load_system(target)
    for name in (train_var, metric_var):
        if not hasattr(module, name):
            raise TargetError(f"{target.rpartition(':')[0]} defines no {name}")
    options = dict(getattr(module, options_var, {}) or {})
    options.update({k: v for k, v in overrides.items() if v is not None})
    options.setdefault("run_name", f"es-{type(made).__name__}-{int(time.time())}")
    from hyperfunc_core.history.inputs import record_training_inputs

    record_training_inputs(options["run_name"], {"target": str(Path(target.rpartition(":")[0]).resolve()) + ":" +
                                                 target.rpartition(":")[2], "train_var": train_var,
                                                 "metric_var": metric_var, "options": _plain(options)})
    return made.optimize(getattr(module, train_var), getattr(module, metric_var), orchestrate=orchestrate, **options)


def _plain(options: dict) -> dict:
    """The options a replay can pass again (numbers, strings, flags); data and objects are the file's."""
    return {k: v for k, v in options.items() if isinstance(v, (str, int, float, bool)) and k not in ("storage",)}


def evolve_domain(domain_name: str, repo: str, *, generations: int = 5, model: str | None = None,
                  api_base: str | None = None, api_key: str | None = None, output: str | None = None,
                  parent_selection: str = "score_child_prop", eval_samples: int | None = None,
                  budget: float | None = None, prompts_dir: str | None = None, seed: int = 0,
                  orchestrate: bool = True, run_name: str | None = None, executor: str = "auto",
                  image: str | None = None):
    """``run_generate_loop`` on a built-in domain with the default agents on ``model``."""
    from hyperfunc_core.agents import AgentOptions, MetaAgent, TaskAgent, get_framework_tools
    from hyperfunc_core.domains import get_domain
    from hyperfunc_core.evolution.loop import GenerateLoopConfig, run_generate_loop
    from hyperfunc_core.settings import get_settings

    options = dict(model=model, api_base=api_base, api_key=api_key)
    out = output or str(get_settings().outputs_dir / "evolution" / (run_name or domain_name))
    config = GenerateLoopConfig(domains=[get_domain(domain_name)], meta_agent=MetaAgent(AgentOptions(**options)),
                                task_agent_factory=lambda tools: TaskAgent(AgentOptions(tools=tools, **options)),
                                tools=get_framework_tools(), output_dir=out, repo_path=repo,
                                max_generations=generations, parent_selection=parent_selection,
                                eval_samples=eval_samples, budget_usd=budget, prompts_dir=prompts_dir, seed=seed,
                                run_name=run_name, execution_mode=executor,
                                executor_options={"imageName": image} if image else {})
    return run_generate_loop(config, orchestrate=orchestrate)
