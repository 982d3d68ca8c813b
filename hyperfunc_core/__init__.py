"""hyperfunc: tune, train and evolve AI systems, orchestrated by Prefect.

Importing the package points Prefect at this project's home (unless the user configured
Prefect already) before anything imports Prefect itself.
"""

from hyperfunc_core.settings import Settings, configure_prefect, get_settings

configure_prefect()

from hyperfunc_core.tuning import (  # noqa: E402  (after Prefect is configured)
    Bool,
    Choice,
    Float,
    Int,
    ObjectiveResult,
    Strategy,
    TrialContext,
    register_strategy,
    trials_dataframe,
    tune,
)

__version__ = "0.1.0"

# ES training names import torch: loaded on first use, so `import hyperfunc_core` stays quick.
_LAZY = {
    **{
        name: "hyperfunc_core.hyper"
        for name in (
            "CallRecord",
            "CallSummary",
            "EvaluationError",
            "EvaluationReport",
            "Example",
            "HPType",
            "HyperFunction",
            "HyperFunctionError",
            "HyperSystem",
            "LMParam",
            "LoRAWeight",
            "MaxCallsExceeded",
            "MeanOverExamples",
            "TensorParam",
            "acall_llm",
            "call_llm",
            "hyperfunction",
            "summarize_calls",
        )
    },
    **{
        name: "hyperfunc_core.es"
        for name in ("CEM", "CMAES", "ESConfig", "ESHybridSystemOptimizer", "OpenAIES", "PGPE", "Restarts", "SNES")
    },
    **{
        name: "hyperfunc_core.agents"
        for name in ("AgentOptions", "MetaAgent", "TaskAgent", "Tool", "get_framework_tools", "scaffold_prompts")
    },
    **{
        name: "hyperfunc_core.domains"
        for name in (
            "Domain",
            "DomainConfig",
            "DomainTask",
            "EvalResult",
            "ReportSummary",
            "get_domain",
            "human_feedback_evaluator",
            "llm_judge_evaluator",
            "run_harness",
            "static_evaluator",
        )
    },
    **{
        name: "hyperfunc_core.evolution"
        for name in (
            "ArchiveData",
            "ArchiveEntry",
            "ensemble",
            "get_patch_files",
            "get_score",
            "is_starting_node",
            "load_archive",
            "load_gen_metadata",
            "save_archive",
            "save_gen_metadata",
            "select_parent",
            "update_archive",
        )
    },
    **{name: "hyperfunc_core.evolution.loop" for name in ("GenerateLoopConfig", "run_generate_loop")},
    **{name: "hyperfunc_core.executors" for name in ("Executor", "create_executor")},
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hyperfunc_core' has no attribute {name!r}")


__all__ = [
    "Bool",
    "Choice",
    "Float",
    "Int",
    "ObjectiveResult",
    "Settings",
    "Strategy",
    "TrialContext",
    "__version__",
    "configure_prefect",
    "get_settings",
    "register_strategy",
    "trials_dataframe",
    "tune",
    *_LAZY,
]
