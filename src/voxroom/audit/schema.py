"""The audit tables as the code reads and writes them: always the latest migration's shape.

Changing a table here needs a new Alembic revision (`schema_migrations/versions`) that brings
existing databases to it.
Types are portable: the same schema on SQLite and PostgreSQL. Times are unix seconds
(doubles), payloads JSON text (hashed byte-for-byte as canonical JSON; see `chain`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

sessions = Table(
    "sessions",
    metadata,
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

events = Table(
    "events",
    metadata,
    Column("session_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("type", String(64), nullable=False),
    Column("ts", Double, nullable=False),
    Column("t", Double, nullable=False),
    Column("turn_id", Integer),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The primary key is the unique (session_id, seq): one chain per session, no duplicates.
    PrimaryKeyConstraint("session_id", "seq", name="pk_events"),
)
