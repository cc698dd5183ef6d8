"""The durable audit store: SQLite (embedded default) or PostgreSQL, one schema, async.

SQLite runs in WAL mode with synchronous=NORMAL: a committed batch survives a killed process
(only an OS crash or power loss can lose the last commits), and readers (the CLI, the viewer)
never block the writer. Writes take the lock up front (`BEGIN IMMEDIATE`), so two processes
writing the same file wait for each other instead of failing midway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Select

from voxroom.audit import schema
from voxroom.audit.chain import Head
from voxroom.audit.migrations import migrate
from voxroom.audit.records import SessionSummary, StoredEvent

_BEGIN = "voxroom_sqlite_begin"  # execution option: how the SQLite transaction begins
# busy_timeout first: switching a new file to WAL takes a write lock, and connections opening
# the same new file at once failed with "database is locked" without a busy handler set.
_SQLITE_PRAGMAS = ("busy_timeout=10000", "journal_mode=WAL", "synchronous=NORMAL")
_ID_CHUNK = 500  # ids per … IN (…): under every SQLite's bound-variable limit


class AuditStoreError(RuntimeError):
    pass


def default_url(audit_dir: Path) -> str:
    return sqlite_url(audit_dir / "audit.db")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.expanduser().absolute()}"


def normalize_url(db: str) -> str:
    """A SQLAlchemy async URL for a file path or a URL given with or without its driver."""
    if "://" not in db:
        return sqlite_url(Path(db))
    scheme, rest = db.split("://", 1)
    if scheme == "sqlite":
        scheme = "sqlite+aiosqlite"
    elif scheme in ("postgresql", "postgres"):
        scheme = "postgresql+asyncpg"
    return f"{scheme}://{rest}"


class AuditStore:
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.backend = make_url(self.url).get_backend_name()
        if self.backend not in ("sqlite", "postgresql"):
            raise AuditStoreError(
                f"unsupported audit database {self.backend!r}: use SQLite or "
                "PostgreSQL (postgresql+asyncpg://…)"
            )
        self._engine: AsyncEngine | None = None
        self.schema_version = ""  # the Alembic revision, once open

    # --- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect and bring the schema up to date (idempotent; safe from several processes)."""
        if self._engine is not None:
            return
        url = make_url(self.url)
        if self.backend == "sqlite":
            if url.database and url.database != ":memory:":
                parent = Path(url.database).parent
                await asyncio.to_thread(parent.mkdir, parents=True, exist_ok=True)
            self._engine = create_async_engine(url)
            _configure_sqlite(self._engine)
        else:
            self._engine = create_async_engine(url, pool_pre_ping=True)
        try:
            async with self._write() as conn:
                self.schema_version = await migrate(conn)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    async def __aenter__(self) -> AuditStore:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- writing -----------------------------------------------------------------------------
    async def append(
        self, events: Sequence[StoredEvent], sessions: Sequence[SessionSummary] = ()
    ) -> None:
        """Insert chained events and upsert session summaries in ONE transaction, so a
        session's head (`event_count`, `head_hash`) always matches its stored events."""
        if not events and not sessions:
            return
        async with self._write() as conn:
            for summary in sessions:
                await conn.execute(self._upsert(summary))
            if events:
                await conn.execute(schema.events.insert(), [asdict(row) for row in events])

    async def purge_older_than(self, days: float, now: float | None = None) -> list[str]:
        """Delete sessions started more than `days` ago with their events; return their ids
        (the caller removes the sessions' files)."""
        cutoff = (time.time() if now is None else now) - days * 86400
        sessions, events = schema.sessions, schema.events
        async with self._write() as conn:
            found = await conn.execute(select(sessions.c.id).where(sessions.c.started_at < cutoff))
            ids = [str(row[0]) for row in found]
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = ids[start : start + _ID_CHUNK]
                await conn.execute(events.delete().where(events.c.session_id.in_(chunk)))
                await conn.execute(sessions.delete().where(sessions.c.id.in_(chunk)))
        return ids

    # --- reading -----------------------------------------------------------------------------
    async def last_hash(self, session_id: str) -> Head | None:
        """Seq and hash of the session's last stored event (None: no events yet)."""
        events = schema.events
        query = (
            select(events.c.seq, events.c.hash)
            .where(events.c.session_id == session_id)
            .order_by(events.c.seq.desc())
            .limit(1)
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else Head(int(row.seq), str(row.hash))

    async def session(self, session_id: str) -> SessionSummary | None:
        query = select(schema.sessions).where(schema.sessions.c.id == session_id)
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else SessionSummary(**row)

    async def list_sessions(
        self,
        agent: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
        id_prefix: str | None = None,
    ) -> list[SessionSummary]:
        """Newest first. `since`/`until` bound `started_at` (unix seconds, until exclusive)."""
        sessions = schema.sessions
        query: Select[Any] = select(sessions).order_by(sessions.c.started_at.desc()).limit(limit)
        if agent is not None:
            query = query.where(sessions.c.agent == agent)
        if since is not None:
            query = query.where(sessions.c.started_at >= since)
        if until is not None:
            query = query.where(sessions.c.started_at < until)
        if id_prefix:
            query = query.where(sessions.c.id.startswith(id_prefix, autoescape=True))
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        found = [SessionSummary(**row) for row in rows]
        # SQLite's LIKE ignores ASCII case; ids are compared exactly.
        return [s for s in found if s.id.startswith(id_prefix)] if id_prefix else found

    async def open_sessions(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are stored sessions with no end recorded (primary-key lookups)."""
        sessions = schema.sessions
        found: set[str] = set()
        async with self._read() as conn:
            for start in range(0, len(ids), _ID_CHUNK):
                query = select(sessions.c.id).where(
                    sessions.c.id.in_(ids[start : start + _ID_CHUNK]), sessions.c.ended_at.is_(None)
                )
                found.update(str(row[0]) for row in await conn.execute(query))
        return found

    async def events(self, session_id: str) -> list[StoredEvent]:
        events = schema.events
        query = select(events).where(events.c.session_id == session_id).order_by(events.c.seq)
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [StoredEvent(**row) for row in rows]

    async def count_events(self, session_id: str | None = None) -> int:
        query = select(func.count()).select_from(schema.events)
        if session_id is not None:
            query = query.where(schema.events.c.session_id == session_id)
        async with self._read() as conn:
            return int((await conn.execute(query)).scalar_one())

    # --- internals ---------------------------------------------------------------------------
    def _connect(self) -> AsyncConnection:
        if self._engine is None:
            raise AuditStoreError("the audit store is not open: await store.open() first")
        return self._engine.connect()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._connect() as conn:
            yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._connect() as conn:
            await conn.execution_options(**{_BEGIN: "IMMEDIATE"})
            async with conn.begin():
                yield conn

    def _upsert(self, summary: SessionSummary) -> Any:
        values = summary.as_dict()
        insert = sqlite_insert if self.backend == "sqlite" else pg_insert
        statement = insert(schema.sessions).values(values)
        updates = {key: statement.excluded[key] for key in values if key != "id"}
        return statement.on_conflict_do_update(index_elements=["id"], set_=updates)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL and busy timeout on every connection; SQLAlchemy emits BEGIN itself, because the
    sqlite3 module would otherwise start transactions late and skip them for DDL (so a
    migration would not be atomic)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(_BEGIN, 'DEFERRED')}")
