"""Versioned schema migrations, applied in order when a store opens.

Each step is numbered; `schema_version` records the ones applied, so opening is idempotent
and several processes may open the same database at once (PostgreSQL: an advisory lock;
SQLite: the caller's `BEGIN IMMEDIATE`). Steps are frozen once released: never edit one,
append the next. To change the schema:

1. append `Migration(2, "what changes", _step_2)` where `_step_2(conn)` runs the DDL
   (e.g. `conn.execute(text("ALTER TABLE sessions ADD COLUMN transport VARCHAR(64)"))`);
2. make `schema.py` match what the steps produce (a test checks they agree).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

# Any constant shared by all voxroom processes: serializes concurrent migrations (PostgreSQL).
_LOCK_KEY = 0x766F78726F6F6D  # "voxroom"


class SchemaVersionError(RuntimeError):
    """The database was migrated by a newer voxroom than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    # A frozen copy of the first schema (not `schema.metadata`, which follows later steps).
    md = MetaData()
    Table(
        "sessions",
        md,
        Column("id", String(128), primary_key=True),
        Column("agent", String(255), nullable=False),
        Column("started_at", Double, nullable=False),
        Column("ended_at", Double),
        Column("end_reason", Text),
        Column("turns", Integer, nullable=False),
        Column("prompt_tokens", BigInteger, nullable=False),
        Column("completion_tokens", BigInteger, nullable=False),
        Column("stt_seconds", Double, nullable=False),
        Column("tts_characters", BigInteger, nullable=False),
        Column("cost", Double, nullable=False),
        Column("event_count", BigInteger, nullable=False),
        Column("head_hash", String(64), nullable=False),
        Index("ix_sessions_started_at", "started_at"),
        Index("ix_sessions_agent_started_at", "agent", "started_at"),
    )
    Table(
        "events",
        md,
        Column("session_id", String(128), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("type", String(64), nullable=False),
        Column("ts", Double, nullable=False),
        Column("t", Double, nullable=False),
        Column("turn_id", Integer),
        Column("payload", Text, nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        PrimaryKeyConstraint("session_id", "seq", name="pk_events"),
    )
    md.create_all(conn)


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "initial schema: sessions, events", _initial),)
LATEST_VERSION = MIGRATIONS[-1].version

schema_version = Table(
    "schema_version",
    MetaData(),
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_at", Double, nullable=False),
)


def upgrade(conn: Connection) -> int:
    """Apply the steps this database lacks, in order; return its version (inside one
    transaction on both backends: DDL is transactional on SQLite and PostgreSQL)."""
    schema_version.create(conn, checkfirst=True)
    current = conn.execute(select(func.max(schema_version.c.version))).scalar() or 0
    if current > LATEST_VERSION:
        raise SchemaVersionError(
            f"the audit database is at schema version {current}, this voxroom knows up to "
            f"{LATEST_VERSION}: upgrade voxroom (or point it at another database)"
        )
    for step in MIGRATIONS:
        if step.version > current:
            step.apply(conn)
            conn.execute(
                schema_version.insert().values(
                    version=step.version, description=step.description, applied_at=time.time()
                )
            )
    return LATEST_VERSION


async def migrate(conn: AsyncConnection) -> int:
    """Run `upgrade` on `conn`, which must be in a write transaction."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    return await conn.run_sync(upgrade)
