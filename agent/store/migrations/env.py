"""Alembic environment: always run with a connection handed in by `agent.store.database`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from agent.store.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded misuse
    raise RuntimeError("run migrations through `agent db upgrade` or the service start-up")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
