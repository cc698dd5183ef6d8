"""AuditWriter: moves events from session logs into the store without blocking anyone.

The log calls `submit` synchronously inside `emit`; it only puts the event on a queue. One
writer task drains the queue in batches — after `flush_interval` from the first waiting
event, or at once when `batch_size` are waiting — redacts and chains them on its own thread
(regexes and hashing over whole LLM contexts are CPU work), then commits the batch and the
touched sessions' summaries in one transaction. A killed process therefore loses at most
the last flush interval of events.

If the database is unreachable the batch is retried with backoff while new events queue up
(at most `max_pending`; beyond that events are dropped and counted, which `verify` will
later show as a seq gap rather than hiding it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from voxroom.audit.chain import GENESIS, chain_event
from voxroom.audit.config import AuditConfig
from voxroom.audit.cost import PriceTable, Usage
from voxroom.audit.events import AgentSpeech, Event, HandedOff, SessionEnded, SessionStarted
from voxroom.audit.log import SessionEventLog
from voxroom.audit.records import SessionSummary, StoredEvent
from voxroom.audit.redact import RedactionPolicy, Redactor
from voxroom.audit.store import AuditStore

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_BACKOFF_S = 5.0


class AuditWriter:
    def __init__(
        self,
        store: AuditStore,
        redaction: RedactionPolicy | None = None,
        prices: PriceTable | None = None,
        flush_interval: float = 0.2,
        batch_size: int = 256,
        max_pending: int = 100_000,
        close_timeout: float = 10.0,
    ) -> None:
        self._store = store
        self._redactor = Redactor(redaction)
        self._prices = prices or PriceTable.load()
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._close_timeout = close_timeout
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._wake = asyncio.Event()  # write now: a full batch is waiting, or flush/close asked
        self._progress = asyncio.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._give_up_at: float | None = None
        self._sessions: dict[str, SessionSummary] = {}  # live sessions: chain head and totals
        self.enqueued = 0
        self.processed = 0  # written, or given up on (counted in `lost`)
        self.dropped = 0  # refused: queue full or writer closed
        self.lost = 0  # accepted, not stored: store failed until close, bad event, duplicate seq
        self.batches = 0

    @classmethod
    def from_config(cls, store: AuditStore, config: AuditConfig) -> AuditWriter:
        return cls(
            store,
            redaction=config.redaction,
            prices=PriceTable.load(config.prices),
            flush_interval=config.flush_interval_ms / 1000,
            batch_size=config.batch_size,
        )

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voxroom-audit")
        self._task = asyncio.create_task(self._run(), name="voxroom-audit-writer")

    async def flush(self) -> None:
        """Return once every event submitted before this call is stored (or given up on)."""
        target = self.enqueued
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(
                lambda: self.processed >= target or self._task is None or self._task.done()
            )

    async def close(self) -> None:
        """Store everything queued, then stop. Gives up `close_timeout` after a store failure."""
        if self._task is None or self._closing:
            return
        self._closing = True
        self._give_up_at = asyncio.get_running_loop().time() + self._close_timeout
        self._queue.put_nowait(None)
        self._wake.set()
        try:
            await self._task
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            if self.lost or self.dropped:
                log.error("audit: %d events lost, %d dropped", self.lost, self.dropped)

    async def __aenter__(self) -> AuditWriter:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- intake (on the emitting path: must stay cheap) --------------------------------------
    def attach(self, event_log: SessionEventLog) -> None:
        """Store every event `event_log` emits from now on. Attach before the session's first
        event: a chain that starts after seq 1 does not verify."""
        event_log.subscribe(self.submit)

    def submit(self, event: Event) -> None:
        loop = self._loop
        if loop is None or self._closing:
            self._refuse(event, "the audit writer is not running")
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(event)
        else:  # emitted from another thread: hand over to the writer's loop
            loop.call_soon_threadsafe(self._enqueue, event)

    def _enqueue(self, event: Event) -> None:
        if self._closing:  # handed over from a thread while closing: the queue is sealed
            self._refuse(event, "the audit writer is closed")
            return
        if self._queue.qsize() >= self._max_pending:
            self._refuse(event, f"{self._max_pending} events already wait (store too slow?)")
            return
        self._queue.put_nowait(event)
        self.enqueued += 1
        if self._queue.qsize() >= self._batch_size:
            self._wake.set()

    def _refuse(self, event: Event, why: str) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.error(
                "audit: dropped %s seq %d of %s: %s (%d dropped so far)",
                event.type,
                event.seq,
                event.session_id,
                why,
                self.dropped,
            )

    # --- the writer task ---------------------------------------------------------------------
    async def _run(self) -> None:
        stop = False
        try:
            while not stop:
                first = await self._queue.get()
                if first is None:
                    break
                if not self._wake.is_set():
                    try:
                        async with asyncio.timeout(self._flush_interval):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
                self._wake.clear()
                batch = [first]
                while len(batch) < self._batch_size and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                await self._write(batch)
        finally:
            async with self._progress:
                self._progress.notify_all()

    async def _write(self, batch: list[Event]) -> None:
        stored = 0
        try:
            for session_id in dict.fromkeys(event.session_id for event in batch):
                if session_id not in self._sessions:
                    seed = functools.partial(self._seed, session_id)
                    self._sessions[session_id] = await self._retry(seed, "read")
            loop = asyncio.get_running_loop()
            rows, summaries = await loop.run_in_executor(self._executor, self._prepare, batch)
            await self._retry(lambda: self._store.append(rows, summaries), "write")
            stored = len(rows)
            self.batches += 1
            for summary in summaries:
                if summary.ended_at is not None:
                    self._sessions.pop(summary.id, None)  # ended: its state is in the store
            for event in batch:  # continued by another writer: re-read its head if it returns
                if isinstance(event, HandedOff):
                    self._sessions.pop(event.session_id, None)
        except IntegrityError:
            # Another writer stored these seqs already: re-read the sessions' heads next time.
            log.exception("audit: batch conflicts with stored events; skipped")
            for event in batch:
                self._sessions.pop(event.session_id, None)
        except _GaveUp:
            for event in batch:
                self._sessions.pop(event.session_id, None)
        except Exception:  # a bug here must not stop the trail for every later event
            log.exception("audit: batch of %d events failed", len(batch))
            for event in batch:
                self._sessions.pop(event.session_id, None)
        finally:
            self.lost += len(batch) - stored
            self.processed += len(batch)
            async with self._progress:
                self._progress.notify_all()

    async def _seed(self, session_id: str) -> SessionSummary:
        """Continue a session the store already has (another writer, or one re-attached)."""
        summary = await self._store.session(session_id)
        return summary or SessionSummary(id=session_id, agent="", started_at=0.0)

    async def _retry(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        delay = 0.1
        loop = asyncio.get_running_loop()
        while True:
            try:
                return await operation()
            except IntegrityError:
                raise
            except Exception as exc:
                if self._give_up_at is not None and loop.time() + delay > self._give_up_at:
                    log.error("audit: giving up a batch: %s failed: %s", what, exc)
                    raise _GaveUp from exc
                log.warning("audit: store %s failed (%s); retrying in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)

    # --- on the writer's thread --------------------------------------------------------------
    def _prepare(self, batch: list[Event]) -> tuple[list[StoredEvent], list[SessionSummary]]:
        rows: list[StoredEvent] = []
        touched: dict[str, SessionSummary] = {}
        for event in batch:
            summary = self._sessions[event.session_id]
            if event.seq <= summary.event_count:
                log.warning("audit: %s seq %d already stored; skipped", event.session_id, event.seq)
                continue
            try:
                # Through JSON text: non-finite floats become null, as in any JSON export.
                data = self._redactor.event(json.loads(event.model_dump_json()))
                row = chain_event(data, summary.head_hash or GENESIS)
                summary = self._tally(summary, event, row)
            except Exception:  # one unstorable event must not take the batch with it
                log.exception("audit: cannot store %s seq %d", event.type, event.seq)
                continue
            rows.append(row)
            self._sessions[event.session_id] = touched[event.session_id] = summary
        return rows, list(touched.values())

    def _tally(self, summary: SessionSummary, event: Event, row: StoredEvent) -> SessionSummary:
        usage: Usage = self._prices.usage_of(event)
        agent, started_at, turns = summary.agent, summary.started_at, summary.turns
        ended_at, end_reason = summary.ended_at, summary.end_reason
        if started_at == 0.0 or isinstance(event, SessionStarted):
            started_at = event.ts - event.t  # the session clock's zero, in wall time
        if isinstance(event, SessionStarted):
            agent = self._redactor.text(event.agent)
        elif isinstance(event, SessionEnded):
            ended_at, end_reason = event.ts, self._redactor.text(event.reason)
        elif isinstance(event, AgentSpeech) and event.final:
            turns += 1
        return dataclasses.replace(
            summary,
            agent=agent,
            started_at=started_at,
            ended_at=ended_at,
            end_reason=end_reason,
            turns=turns,
            prompt_tokens=summary.prompt_tokens + usage.prompt_tokens,
            completion_tokens=summary.completion_tokens + usage.completion_tokens,
            stt_seconds=summary.stt_seconds + usage.stt_seconds,
            tts_characters=summary.tts_characters + usage.tts_characters,
            cost=summary.cost + usage.cost,
            event_count=row.seq,
            head_hash=row.hash,
        )


class _GaveUp(Exception):
    pass
