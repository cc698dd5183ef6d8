"""The store on both backends (SQLite file, real PostgreSQL): round trip, verification
against tampering in the database itself, listing, retention, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from tests.audit.sessions import EVENTS_PER_TURN, emit_session
from voxroom.audit import schema
from voxroom.audit.chain import Head
from voxroom.audit.export import verify_session
from voxroom.audit.log import SessionEventLog
from voxroom.audit.migrations import LATEST_VERSION, SchemaVersionError, revisions
from voxroom.audit.records import SessionSummary
from voxroom.audit.retention import purge
from voxroom.audit.store import AuditStore, normalize_url
from voxroom.audit.writer import AuditWriter


async def record(store: AuditStore, session_id: str = "s1", turns: int = 2) -> None:
    async with AuditWriter(store) as writer:
        log = SessionEventLog(session_id)
        writer.attach(log)
        emit_session(log, turns=turns)


@asynccontextmanager
async def raw(url: str) -> AsyncIterator[AsyncConnection]:
    """Direct SQL on the database, as someone tampering with it would."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            yield conn
    finally:
        await engine.dispose()


async def test_round_trip(store: AuditStore) -> None:
    await record(store)
    summary = await store.session("s1")
    assert summary is not None
    count = 2 * EVENTS_PER_TURN + 3
    assert summary.agent == "concierge" and summary.end_reason == "peer left"
    assert summary.turns == 2 and summary.event_count == count
    assert (summary.prompt_tokens, summary.completion_tokens) == (2000, 200)
    assert summary.stt_seconds == 3.0 and summary.tts_characters == 20
    assert summary.cost == pytest.approx(2 * (1000 * 0.15 + 100 * 0.6) / 1e6)
    assert summary.ended_at is not None and summary.ended_at >= summary.started_at

    rows = await store.events("s1")
    assert [row.seq for row in rows] == list(range(1, count + 1))
    assert rows[0].type == "session_started" and rows[-1].type == "session_ended"
    transcript = next(row for row in rows if row.type == "user_transcript" and '"final":true'
                      in row.payload)  # fmt: skip
    assert transcript.turn_id == 1
    assert "[EMAIL]" in transcript.payload and "example.com" not in transcript.payload
    typed = transcript.event()
    assert typed is not None and typed.model_dump()["text"] == "hello, turn 1: write to [EMAIL]"
    assert await store.last_hash("s1") == Head(count, rows[-1].hash)
    assert await store.last_hash("nope") is None
    assert (await verify_session(store, "s1")).ok


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason"),
    [
        (
            "UPDATE events SET payload = REPLACE(payload, 'Certainly', 'Sure') WHERE seq = 7",
            7,
            "altered",
        ),
        ("DELETE FROM events WHERE seq = 5", 5, "missing"),
        (
            "UPDATE events SET seq = -4 WHERE seq = 4; UPDATE events SET seq = 4 WHERE seq = 5; "
            "UPDATE events SET seq = 5 WHERE seq = -4",
            4,
            "differs",
        ),
        ("UPDATE events SET ts = ts + 1 WHERE seq = 3", 3, "'ts'"),
        ("DELETE FROM events WHERE seq = 19", 19, "missing"),
        ("DELETE FROM events WHERE seq >= 18", 18, "missing"),
    ],
    ids=["edit", "delete", "reorder", "column", "truncate-last", "truncate-tail"],
)
async def test_tampering_in_the_database_is_named(
    store: AuditStore, db_url: str, tamper: str, bad_seq: int, reason: str
) -> None:
    await record(store)
    async with raw(db_url) as conn:
        for statement in tamper.split(";"):
            await conn.execute(text(statement))
    result = await verify_session(store, "s1")
    assert not result.ok
    assert result.first_bad_seq == bad_seq, result.message()
    assert reason in (result.reason or "")


async def test_list_filters(store: AuditStore) -> None:
    await store.append(
        [],
        [
            SessionSummary(id="a1", agent="alpha", started_at=1000.0),
            SessionSummary(id="a2", agent="alpha", started_at=2000.0),
            SessionSummary(id="b1", agent="beta", started_at=3000.0),
        ],
    )
    assert [s.id for s in await store.list_sessions()] == ["b1", "a2", "a1"]
    assert [s.id for s in await store.list_sessions(agent="alpha")] == ["a2", "a1"]
    assert [s.id for s in await store.list_sessions(since=2000.0)] == ["b1", "a2"]
    assert [s.id for s in await store.list_sessions(until=2000.0)] == ["a1"]
    assert [s.id for s in await store.list_sessions(limit=1)] == ["b1"]
    assert [s.id for s in await store.list_sessions(id_prefix="a")] == ["a2", "a1"]
    assert await store.list_sessions(id_prefix="A") == []  # exact, whatever LIKE does
    assert await store.list_sessions(id_prefix="%") == []  # no wildcards


async def test_upsert_replaces_the_summary(store: AuditStore) -> None:
    await store.append([], [SessionSummary(id="x", agent="a", started_at=1.0, turns=1)])
    await store.append([], [SessionSummary(id="x", agent="a", started_at=1.0, turns=2)])
    summary = await store.session("x")
    assert summary is not None and summary.turns == 2


async def test_purge_deletes_old_sessions_events_and_files(
    store: AuditStore, tmp_path: Path
) -> None:
    await record(store, "old")
    await record(store, "new")
    files = tmp_path / "files"
    for session_id in ("old", "new"):
        (files / session_id).mkdir(parents=True)
        (files / session_id / "stereo.wav").write_bytes(b"RIFF")
    old = await store.session("old")
    assert old is not None
    async with raw(store.url) as conn:  # age "old" by ten days
        await conn.execute(
            schema.sessions.update()
            .where(schema.sessions.c.id == "old")
            .values(started_at=old.started_at - 10 * 86400)
        )
    assert await purge(store, 5, files) == ["old"]
    assert await store.session("old") is None and await store.events("old") == []
    assert not (files / "old").exists() and (files / "new" / "stereo.wav").exists()
    assert await store.count_events("new") > 0
    assert await purge(store, 5, files) == []


async def test_migrations_are_idempotent_and_match_the_schema(db_url: str) -> None:
    for _ in range(2):
        async with AuditStore(db_url) as store:
            assert store.schema_version == LATEST_VERSION
    async with raw(db_url) as conn:
        versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert [v for (v,) in versions] == [LATEST_VERSION]
        shapes = await conn.run_sync(
            lambda sync: {
                name: [(c["name"], c["nullable"]) for c in inspect(sync).get_columns(name)]
                for name in schema.metadata.tables
            }
        )
    for name, table in schema.metadata.tables.items():
        assert shapes[name] == [(c.name, c.nullable) for c in table.columns], name


def test_revisions_form_one_line_from_the_initial_schema() -> None:
    assert revisions()[0] == "0001" and revisions()[-1] == LATEST_VERSION
    assert len(set(revisions())) == len(revisions())


async def test_concurrent_first_opens(db_url: str) -> None:
    stores = [AuditStore(db_url) for _ in range(8)]
    await asyncio.gather(*(store.open() for store in stores))
    for store in stores:
        assert store.schema_version == LATEST_VERSION
        await store.close()


async def test_database_from_a_newer_voxroom_is_refused(db_url: str) -> None:
    async with AuditStore(db_url):
        pass
    async with raw(db_url) as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    with pytest.raises(SchemaVersionError, match="upgrade voxroom"):
        await AuditStore(db_url).open()


async def test_a_database_from_before_alembic_is_adopted(db_url: str) -> None:
    """Made by voxroom's own runner (schema_version 1): stamped, upgraded, data kept."""
    async with AuditStore(db_url) as store:
        await record(store)
    async with raw(db_url) as conn:
        await conn.execute(text("DROP TABLE alembic_version"))
        await conn.execute(
            text("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                 "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
        )  # fmt: skip
        await conn.execute(text("INSERT INTO schema_version VALUES (1, 'initial schema', 0)"))
    async with AuditStore(db_url) as store:
        assert store.schema_version == LATEST_VERSION
        assert await store.count_events() > 0


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "audit.db"
    async with AuditStore(str(path)) as store:
        await record(store)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_urls() -> None:
    assert normalize_url("/x/a.db") == "sqlite+aiosqlite:////x/a.db"
    assert normalize_url("sqlite:////x/a.db") == "sqlite+aiosqlite:////x/a.db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"


async def test_store_must_be_open() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await AuditStore("/tmp/never.db").session("x")
