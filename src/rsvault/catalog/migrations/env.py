"""Alembic environment: runs against the engine the catalog hands over."""

from __future__ import annotations

from alembic import context

from rsvault.catalog.models import Base

engine = context.config.attributes["connection_engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
