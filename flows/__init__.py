"""Prefect flows that compose the tasks of each engine (one module per engine)."""

import hyperfunc_core  # noqa: F401  (configures Prefect before it is imported)
