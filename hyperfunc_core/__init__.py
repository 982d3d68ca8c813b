"""hyperfunc: tune, train and evolve AI systems, orchestrated by Prefect.

Importing the package points Prefect at this project's home (unless the user configured
Prefect already) before anything imports Prefect itself.
"""

from hyperfunc_core.settings import Settings, configure_prefect, get_settings

configure_prefect()

__version__ = "0.1.0"

__all__ = ["Settings", "configure_prefect", "get_settings", "__version__"]
