"""Continuing a room's session in another worker: its log goes on from the stored head of
its hash chain, and the conversation so far comes back from the audit store (what each
person said, what of the agent's replies was heard)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from voxroom.agent.continuation import Continuation, HistoryLine
from voxroom.audit.log import SessionEventLog
from voxroom.audit.parts import recover_lost_part
from voxroom.audit.records import StoredEvent
from voxroom.audit.store import AuditStore

_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # never a path outside files_dir


@dataclass(frozen=True, slots=True)
class Resumed:
    log: SessionEventLog
    continuation: Continuation
    last_event_t: float | None  # session clock of the last stored event (None: none stored)


async def resume(
    store: AuditStore | None,
    session_id: str,
    *,
    reason: str,
    from_worker: str,
    to_worker: str,
    files_dir: Path | None = None,
) -> Resumed:
    """The log and conversation of `session_id` as the store has them. Without a store (the
    audit trail off) or a stored session, the log starts afresh and nothing is restored.
    After a lost worker, its part of the recording (in the shared `files_dir`) is repaired."""
    summary = await store.session(session_id) if store is not None else None
    rows = await store.events(session_id) if store is not None and summary else []
    if summary is None:
        log = SessionEventLog(session_id)
    else:
        log = SessionEventLog.resume(session_id, summary.event_count, summary.started_at)
    continuation = Continuation(
        history=history(rows),
        last_turn_id=max((row.turn_id or 0 for row in rows), default=0),
        reason="worker_lost" if reason == "worker_lost" else "handoff",
        from_worker=from_worker,
        to_worker=to_worker,
        part=2 + sum(1 for row in rows if row.type == "redispatched"),
        last_event_t=rows[-1].t if rows else None,
        lost_recording=(
            await asyncio.to_thread(recover_lost_part, files_dir / session_id, rows)
            if reason == "worker_lost"
            and files_dir is not None
            and rows
            and _PLAIN_ID.fullmatch(session_id)
            else None
        ),
    )
    return Resumed(log, continuation, rows[-1].t if rows else None)


def history(rows: list[StoredEvent]) -> list[HistoryLine]:
    """Final user transcripts and final agent speech (as played), in the order logged."""
    lines = []
    for row in rows:
        if row.type == "user_transcript":
            data = row.data()
            if data.get("final") and str(data.get("text", "")).strip():
                lines.append(HistoryLine(row.turn_id, "user", str(data["text"]), data.get("name")))
        elif row.type == "agent_speech":
            data = row.data()
            if data.get("final") and str(data.get("played_text", "")).strip():
                lines.append(
                    HistoryLine(
                        row.turn_id,
                        "assistant",
                        str(data["played_text"]),
                        interrupted=bool(data.get("interrupted")),
                    )
                )
    return lines
