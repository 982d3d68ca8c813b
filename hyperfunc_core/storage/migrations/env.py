"""Alembic's environment: migrations run on the connection ``storage/engine.py`` hands over."""

from alembic import context
from sqlmodel import SQLModel

from hyperfunc_core.storage import models  # noqa: F401 - registers the tables

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
