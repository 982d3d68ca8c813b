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

from hyperfunc_core.validation import InvalidInput


class TargetError(InvalidInput):
    """A ``FILE:NAME`` target that cannot be loaded, or lacks what the job needs."""

    def __init__(self, message: str) -> None:
        super().__init__(f"TARGET: {message}")


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
    """The module of ``FILE:NAME`` (a Python file) or ``module:name`` (an importable module) and its
    attribute NAME (dotted for a class attribute)."""
    path_text, sep, name = str(target).rpartition(":")
    if not sep or not path_text or not name:
        raise TargetError(f"expected FILE:{what.upper()} or module:{what}, e.g. train.py:{what}, got {target!r}")
    path = Path(path_text).resolve()
    if path.is_file():
        module = load_module(path)
    elif path_text.endswith(".py") or "/" in path_text:
        raise TargetError(f"{path_text!r} is not a file")
    else:
        try:
            module = importlib.import_module(path_text)
        except ImportError as exc:
            raise TargetError(f"{path_text!r} is neither a file nor an importable module ({exc})") from None
    found: Any = module
    for part in name.split("."):
        if not hasattr(found, part):
            raise TargetError(f"{path_text} has no {what} named {name!r}")
        found = getattr(found, part)
    return module, found


def code_reference(obj: Any) -> str | None:
    """How a worker in another process finds ``obj`` again: ``FILE:qualname`` for a top-level module
    or script (the worker loads the file, its folder on the path), ``package.module:qualname`` for a
    module inside a package (loading its file alone would break its relative imports); None for what
    has no name (a lambda, a closure, an instance)."""
    import inspect

    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname or not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return None
    if "." in module:
        return f"{module}:{qualname}"
    try:
        source = inspect.getsourcefile(obj)
    except TypeError:
        source = None
    return f"{Path(source).resolve()}:{qualname}" if source else None


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


def train_target(
    target: str,
    train_var: str = "TRAIN",
    metric_var: str = "METRIC",
    options_var: str = "TRAIN_OPTIONS",
    orchestrate: bool = True,
    show_progress: bool = False,
    **overrides: Any,
) -> dict:
    """``optimize()`` FILE's HyperSystem (class, instance or factory) on FILE's TRAIN with FILE's METRIC;
    ``show_progress``: a live bar in this terminal."""
    from hyperfunc_core import launch

    if orchestrate:
        launch.check_task_runner(overrides.get("task_runner") or "thread")
    job = prepare_target_training(target, train_var, metric_var, options_var, **overrides)
    job.show_progress = show_progress
    return launch.run_training(job, orchestrate=orchestrate)


def prepare_target_training(
    target: str,
    train_var: str = "TRAIN",
    metric_var: str = "METRIC",
    options_var: str = "TRAIN_OPTIONS",
    val_var: str = "VAL",
    **overrides: Any,
):
    """The checked ``TrainingJob`` of FILE:SYSTEM, its spec kept with the run so any worker can run it again.
    FILE's ``val_var`` list, where it defines one, is the validation split."""
    from hyperfunc_core.hyper.training import prepare_training

    module, made = load_system(target)
    for name in (train_var, metric_var):
        if not hasattr(module, name):
            raise TargetError(f"{target.rpartition(':')[0]} defines no {name}")
    options = dict(getattr(module, options_var, {}) or {})
    if getattr(module, val_var, None) is not None:
        options.setdefault("val", getattr(module, val_var))
    options.update({k: v for k, v in overrides.items() if v is not None})
    options.setdefault("run_name", f"es-{type(made).__name__}-{int(time.time())}")
    located = _located(target)
    spec = {
        "system": located,
        "train": train_var,
        "metric": metric_var,
        "options_var": options_var,
        "val": val_var,
        "options": _plain({k: v for k, v in overrides.items() if v is not None}),
    }
    return prepare_training(made, getattr(module, train_var), getattr(module, metric_var), spec=spec, **options)


def reopen_training(run_name: str, storage: str | None, spec: dict | None = None, add_steps: int | None = None):
    """The ``TrainingJob`` of a stored ES run, rebuilt from its spec (a retried or scheduled flow run, a
    worker in another process); with ``add_steps``, that many steps beyond its last checkpoint. A run
    not yet in ``storage`` is started from ``spec`` (``{"system": "FILE:NAME", "options": {...}}``)."""
    from sqlmodel import select

    from hyperfunc_core.storage import ESEpoch, ESRun, session_scope

    check_added("add_steps", add_steps)
    done = 0
    with session_scope(storage) as s:
        run = s.exec(select(ESRun).where(ESRun.name == run_name)).first()
        if run is not None:
            spec = dict(run.spec or {})
            last = s.exec(select(ESEpoch).where(ESEpoch.run_id == run.id).order_by(ESEpoch.epoch.desc())).first()
            done = int(last.metrics.get("steps") or 0) if last is not None else 0
    runnable_spec(spec, f"ES run {run_name!r}", storage, "train a FILE:SYSTEM target (hyperfunc train)")
    return training_from_spec(
        spec, run_name=run_name, storage=storage, steps=done + add_steps if add_steps is not None else None
    )


def training_from_spec(spec: dict, **options: Any):
    """The ``TrainingJob`` a stored spec describes, with ``options`` (non-None) over the spec's own."""
    merged = {**(spec.get("options") or {}), **{k: v for k, v in options.items() if v is not None}}
    return prepare_target_training(
        spec["system"],
        spec.get("train", "TRAIN"),
        spec.get("metric", "METRIC"),
        spec.get("options_var", "TRAIN_OPTIONS"),
        spec.get("val", "VAL"),
        **merged,
    )


def check_added(name: str, value: int | None) -> None:
    """``add_trials``/``add_steps``/``add_generations``: None (as the run says) or a positive count."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidInput(f"{name}: expected an integer >= 1 or None, got {value!r}")


def runnable_spec(spec: dict | None, what: str, storage: str | None, remedy: str) -> dict:
    """``spec`` when a worker can run it: refused, saying why, when there is none or it names objects
    of the process that started the run."""
    if not spec:
        raise InvalidInput(
            f"run_name: no {what} with a spec in {storage or 'the project database'}, and no spec to start it from"
        )
    if spec.get("in_process"):
        raise InvalidInput(
            f"{what} was started from Python with things a worker cannot load "
            f"({', '.join(spec['in_process'])}); run it again from that code, or {remedy} so any "
            f"worker can run it"
        )
    return spec


def _located(target: str) -> str:
    """``FILE:NAME`` with FILE made absolute (a worker's folder may differ); ``module:name`` as it is."""
    path_text, _, name = target.rpartition(":")
    return f"{Path(path_text).resolve()}:{name}" if Path(path_text).is_file() else target


def _plain(options: dict) -> dict:
    """The options a replay can pass again (numbers, strings, flags); data and objects are the file's."""
    return {k: v for k, v in options.items() if isinstance(v, (str, int, float, bool)) and k not in ("storage",)}


def evolve_domain(
    domain_name: str,
    repo: str,
    *,
    generations: int = 5,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    output: str | None = None,
    parent_selection: str = "score_child_prop",
    eval_samples: int | None = None,
    eval_repeats: int = 1,
    children: int = 1,
    staged_sample: float | None = None,
    staged_threshold: float = 1.0,
    budget: float | None = None,
    prompts_dir: str | None = None,
    seed: int = 0,
    orchestrate: bool = True,
    run_name: str | None = None,
    executor: str = "auto",
    image: str | None = None,
    show_progress: bool = False,
):
    """``run_generate_loop`` on a built-in domain with the default agents on ``model``."""
    from hyperfunc_core.evolution.loop import run_generate_loop

    config = evolution_config(
        dict(
            domain=domain_name,
            repo=repo,
            generations=generations,
            model=model,
            api_base=api_base,
            output=output,
            parent_selection=parent_selection,
            eval_samples=eval_samples,
            eval_repeats=eval_repeats,
            children=children,
            staged_sample=staged_sample,
            staged_threshold=staged_threshold,
            budget=budget,
            prompts_dir=prompts_dir,
            seed=seed,
            run_name=run_name,
            executor=executor,
            image=image,
        ),
        api_key=api_key,
    )
    return run_generate_loop(config, orchestrate=orchestrate, show_progress=show_progress)


EVOLUTION_SPEC_KEYS = (
    "domain",
    "repo",
    "generations",
    "model",
    "api_base",
    "output",
    "parent_selection",
    "eval_samples",
    "eval_repeats",
    "children",
    "staged_sample",
    "staged_threshold",
    "budget",
    "prompts_dir",
    "seed",
    "run_name",
    "executor",
    "image",
)


def evolution_config(spec: dict, api_key: str | None = None, storage: str | None = None):
    """The ``GenerateLoopConfig`` of an evolution spec (``evolve_domain``'s plain arguments; never the
    API key, which comes from the environment or ``api_key``), the spec kept with the run."""
    from hyperfunc_core.agents import AgentOptions, MetaAgent, TaskAgent, get_framework_tools
    from hyperfunc_core.domains import get_domain
    from hyperfunc_core.evolution.loop import GenerateLoopConfig
    from hyperfunc_core.settings import get_settings

    unknown = sorted(set(spec) - set(EVOLUTION_SPEC_KEYS))
    if unknown:
        raise InvalidInput(
            f"spec: unknown keys {', '.join(unknown)}; expected some of {', '.join(EVOLUTION_SPEC_KEYS)}"
        )
    if not spec.get("domain") or not spec.get("repo"):
        raise InvalidInput(f"spec: expected at least 'domain' and 'repo', got {spec!r}")
    spec = {**spec, "repo": str(Path(spec["repo"]).resolve())}
    options = dict(model=spec.get("model"), api_base=spec.get("api_base"), api_key=api_key)
    run_name = spec.get("run_name")
    out = spec.get("output") or str(get_settings().outputs_dir / "evolution" / (run_name or spec["domain"]))
    image = spec.get("image")
    return GenerateLoopConfig(
        domains=[get_domain(spec["domain"])],
        meta_agent=MetaAgent(AgentOptions(**options)),
        task_agent_factory=lambda tools: TaskAgent(AgentOptions(tools=tools, **options)),
        tools=get_framework_tools(),
        output_dir=out,
        repo_path=spec["repo"],
        max_generations=spec.get("generations", 5),
        parent_selection=spec.get("parent_selection") or "score_child_prop",
        eval_samples=spec.get("eval_samples"),
        eval_repeats=spec.get("eval_repeats") or 1,
        children_per_generation=spec.get("children") or 1,
        staged_sample=spec.get("staged_sample"),
        staged_threshold=spec.get("staged_threshold", 1.0),
        budget_usd=spec.get("budget"),
        prompts_dir=spec.get("prompts_dir"),
        seed=spec.get("seed") or 0,
        run_name=run_name,
        execution_mode=spec.get("executor") or "auto",
        executor_options={"imageName": image} if image else {},
        storage=storage,
        spec=spec,
    )


def stored_evolution_spec(run_name: str, storage: str | None) -> tuple[dict | None, int]:
    """The spec an evolution run was started with, and the highest child number it has archived."""
    from sqlmodel import select

    from hyperfunc_core.storage import EvolutionRun, Generation, session_scope

    with session_scope(storage) as s:
        run = s.exec(select(EvolutionRun).where(EvolutionRun.name == run_name)).first()
        if run is None:
            return None, 0
        gens = s.exec(select(Generation.gen_id).where(Generation.run_id == run.id)).all()
        return dict(run.spec or {}), max((int(g) for g in gens if str(g).isdigit()), default=0)


def reopen_evolution(
    run_name: str,
    storage: str | None,
    spec: dict | None = None,
    add_generations: int | None = None,
    llm: dict | None = None,
):
    """The ``GenerateLoopConfig`` of a stored evolution run, rebuilt from its spec (a retried or scheduled
    flow run, a worker in another process); with ``add_generations``, that many beyond its last one.
    A run not yet stored starts from ``spec``. ``llm`` overrides the model settings (the offline model)."""
    check_added("add_generations", add_generations)
    stored, last = stored_evolution_spec(run_name, storage)
    spec = runnable_spec(
        stored or spec, f"evolution run {run_name!r}", storage, "start it with hyperfunc evolve DOMAIN"
    )
    spec = {**spec, "run_name": run_name}
    if add_generations is not None:  # generations, not children: N children make one generation
        spec["generations"] = -(-last // (spec.get("children") or 1)) + add_generations
    llm = llm or {}
    config = evolution_config({**spec, **{k: v for k, v in llm.items() if k != "api_key"}}, llm.get("api_key"), storage)
    config.spec = spec  # what is stored: the offline model's address is this process's alone
    return config


def offline_or_named_model(spec: dict | None):
    """The scripted offline model's server where a spec asks for ``model: offline`` by name, else nothing."""
    from contextlib import nullcontext

    if (spec or {}).get("model") == "offline":
        from hyperfunc_core.testing.scripted_agents import offline_model

        return offline_model()
    return nullcontext({})
