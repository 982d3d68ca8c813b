"""Prefect tasks: thin wrappers around single steps of hyperfunc_core (one module per engine)."""

import hyperfunc_core  # noqa: F401  (configures Prefect before it is imported)
