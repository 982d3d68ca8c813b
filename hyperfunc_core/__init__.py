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
    tune,
)

__version__ = "0.1.0"

__all__ = [
    "Bool", "Choice", "Float", "Int", "ObjectiveResult", "Settings", "Strategy", "TrialContext", "__version__",
    "configure_prefect", "get_settings", "register_strategy", "tune",
]
