"""Alembic's environment: migrate the connection `voxroom.audit.migrations` hands over, inside
its transaction (one transaction for all the steps, on SQLite and PostgreSQL alike)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from voxroom.audit import schema

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the audit store migrates itself when it opens (voxroom.audit.migrations): "
        "there is no database URL to run these from the command line"
    )
context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
)
with context.begin_transaction():
    context.run_migrations()
