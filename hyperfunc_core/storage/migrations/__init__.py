"""Alembic migrations of the experiment tables (``storage/engine.py`` runs them when a database opens)."""
