"""AuditWriter with a real SessionEventLog: batching, timing, threads, failures, resumption."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.audit.sessions import emit_session
from voxroom.audit import events as ev
from voxroom.audit.export import verify_session
from voxroom.audit.log import SessionEventLog
from voxroom.audit.store import AuditStore, sqlite_url
from voxroom.audit.writer import AuditWriter


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[AuditStore]:
    async with AuditStore(sqlite_url(tmp_path / "audit.db")) as store:
        yield store


def state(n: int) -> ev.StateChanged:
    return ev.StateChanged(state=("listening", "thinking", "speaking")[n % 3])


async def test_emit_only_queues_and_batches_are_large(sqlite_store: AuditStore) -> None:
    async with AuditWriter(sqlite_store, batch_size=256) as writer:
        log = SessionEventLog("s")
        writer.attach(log)
        started = time.perf_counter()
        for n in range(1000):
            log.emit(state(n))
        emitting = time.perf_counter() - started
        # Nothing touched the store yet: emit never awaits, the writer task has not run.
        assert await sqlite_store.count_events() == 0 and writer.enqueued == 1000
        assert emitting < 1.0
        await writer.flush()
        assert await sqlite_store.count_events("s") == 1000
        assert writer.batches == 4  # 256 + 256 + 256 + 232
    assert (await verify_session(sqlite_store, "s")).ok


async def test_a_lone_event_is_stored_within_the_flush_interval(sqlite_store: AuditStore) -> None:
    async with AuditWriter(sqlite_store, flush_interval=0.2) as writer:
        log = SessionEventLog("s")
        writer.attach(log)
        log.emit(state(0))
        await asyncio.sleep(0.05)
        assert await sqlite_store.count_events() == 0  # waiting for more to batch with
        deadline = time.monotonic() + 2.0
        while await sqlite_store.count_events() == 0:
            assert time.monotonic() < deadline, "not stored within 2 s"
            await asyncio.sleep(0.02)
        assert writer.batches == 1


async def test_sessions_interleaved_and_summaries(sqlite_store: AuditStore) -> None:
    async with AuditWriter(sqlite_store) as writer:
        logs = [SessionEventLog(f"s{n}") for n in range(3)]
        for log in logs:
            writer.attach(log)
        for log in logs:
            emit_session(log, turns=1, end=False)
        await writer.flush()
        for log in logs:
            log.emit(ev.SessionEnded(reason="done"))
    for log in logs:
        summary = await sqlite_store.session(log.session_id)
        assert summary is not None and summary.end_reason == "done" and summary.turns == 1
        assert (await verify_session(sqlite_store, log.session_id)).ok


async def test_events_emitted_on_another_thread(sqlite_store: AuditStore) -> None:
    async with AuditWriter(sqlite_store) as writer:
        log = SessionEventLog("s")
        writer.attach(log)
        await asyncio.to_thread(lambda: [log.emit(state(n)) for n in range(20)])
        await asyncio.sleep(0)  # let the handed-over events land on the queue
        await writer.flush()
    assert await sqlite_store.count_events("s") == 20


async def test_store_outage_is_retried(tmp_path: Path) -> None:
    store = AuditStore(sqlite_url(tmp_path / "audit.db"))  # not open yet: every write fails
    async with AuditWriter(store, flush_interval=0.05) as writer:
        log = SessionEventLog("s")
        writer.attach(log)
        for n in range(5):
            log.emit(state(n))
        await asyncio.sleep(0.4)
        assert writer.processed == 0
        await store.open()
        await asyncio.wait_for(writer.flush(), 10)
    assert writer.lost == 0 and await store.count_events("s") == 5
    await store.close()


async def test_close_gives_up_on_a_dead_store(tmp_path: Path) -> None:
    store = AuditStore(sqlite_url(tmp_path / "audit.db"))  # never opened
    writer = AuditWriter(store, close_timeout=0.5)
    await writer.start()
    log = SessionEventLog("s")
    writer.attach(log)
    log.emit(state(0))
    started = time.monotonic()
    await writer.close()
    assert time.monotonic() - started < 5
    assert writer.lost == 1


async def test_overflow_drops_and_the_gap_shows(sqlite_store: AuditStore) -> None:
    async with AuditWriter(sqlite_store, max_pending=10, batch_size=1000) as writer:
        log = SessionEventLog("s")
        writer.attach(log)
        for n in range(15):
            log.emit(state(n))
        assert writer.dropped == 5
        await writer.flush()
        for n in range(3):
            log.emit(state(n))
    result = await verify_session(sqlite_store, "s")
    assert not result.ok and result.first_bad_seq == 11


async def test_after_close_events_are_refused(sqlite_store: AuditStore) -> None:
    writer = AuditWriter(sqlite_store)
    log = SessionEventLog("s")
    writer.attach(log)
    log.emit(state(0))  # not started
    await writer.start()
    await writer.close()
    log.emit(state(1))
    assert writer.dropped == 2 and await sqlite_store.count_events() == 0


async def test_another_writer_continues_a_stored_session(sqlite_store: AuditStore) -> None:
    log = SessionEventLog("s")
    async with AuditWriter(sqlite_store) as first:
        first.attach(log)
        for n in range(5):
            log.emit(state(n))
    async with AuditWriter(sqlite_store) as second:
        sixth = log.emit(state(5))  # the first writer is closed and refuses it
        second.submit(sixth)
        second.submit(sixth)  # a duplicate seq is skipped, not a conflict
        second.attach(log)
        for n in range(6, 10):
            log.emit(state(n))
    rows = await sqlite_store.events("s")
    assert [row.seq for row in rows] == list(range(1, 11))
    assert (await verify_session(sqlite_store, "s")).ok
