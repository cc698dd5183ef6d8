"""Export a session (summary, per-turn usage, chained events) as JSON or JSONL, and verify a
session in the store or an exported file.

Each exported event keeps its chain links, so an export verifies on its own:
`{"seq": 3, "prev_hash": "…", "hash": "…", "event": {…the stored event…}}`.
JSONL has one record a line: first `{"record": "session", …}`, then `{"record": "event", …}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from voxroom.audit.chain import Head, VerifyResult, canonical, verify
from voxroom.audit.cost import PriceTable
from voxroom.audit.events import Event
from voxroom.audit.records import SessionSummary, StoredEvent
from voxroom.audit.store import AuditStore

FORMAT = "voxroom-audit/1"
ExportFormat = Literal["json", "jsonl"]


class SessionNotFound(LookupError):
    pass


async def load_session(
    store: AuditStore, session_id: str
) -> tuple[SessionSummary, list[StoredEvent]]:
    summary = await store.session(session_id)
    if summary is None:
        raise SessionNotFound(f"no audited session {session_id!r}")
    return summary, await store.events(session_id)


async def verify_session(store: AuditStore, session_id: str) -> VerifyResult:
    """Verify a stored session's chain against its own head (catches trailing deletions)."""
    summary, rows = await load_session(store, session_id)
    return verify_rows(summary, rows)


def verify_rows(summary: SessionSummary, rows: Sequence[StoredEvent]) -> VerifyResult:
    head = Head(summary.event_count, summary.head_hash)
    return verify(rows, head=head, expect_end=summary.ended_at is not None)


def export_records(
    summary: SessionSummary, rows: Sequence[StoredEvent], prices: PriceTable | None = None
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The session record and the event records. With `prices`, the session record also
    has usage and cost per turn and per participant (priced now, from the stored usage
    events)."""
    session: dict[str, Any] = {"format": FORMAT, "session": summary.as_dict()}
    if prices is not None:
        usage = prices.summarize(typed_events(rows))
        session["currency"] = prices.currency
        session["usage_by_turn"] = {str(k): v.as_dict() for k, v in sorted(usage.turns.items())}
        session["usage_by_participant"] = usage.by_participant()
    records = (
        {"seq": row.seq, "prev_hash": row.prev_hash, "hash": row.hash, "event": row.data()}
        for row in rows
    )
    return session, records


def write_export(
    summary: SessionSummary,
    rows: Sequence[StoredEvent],
    out: TextIO,
    fmt: ExportFormat = "json",
    prices: PriceTable | None = None,
) -> None:
    session, records = export_records(summary, rows, prices)
    if fmt == "jsonl":
        out.write(_line({"record": "session", **session}))
        for record in records:
            out.write(_line({"record": "event", **record}))
        return
    json.dump({**session, "events": list(records)}, out, ensure_ascii=False, indent=1)
    out.write("\n")


def read_export(path: Path) -> tuple[SessionSummary, list[StoredEvent]]:
    """Parse a JSON or JSONL export back into what the store holds."""
    text = path.read_text("utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:  # JSONL: several documents
        whole = None
    if isinstance(whole, dict) and "record" not in whole:
        session, records = whole, whole["events"]
    else:
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        session, records = lines[0], [line for line in lines[1:] if line["record"] == "event"]
    if session.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} export")
    summary = SessionSummary(**session["session"])
    return summary, [_row(record) for record in records]


def verify_export(path: Path) -> VerifyResult:
    summary, rows = read_export(path)
    return verify_rows(summary, rows)


def _row(record: dict[str, Any]) -> StoredEvent:
    event = record["event"]
    turn_id = event.get("turn_id")
    return StoredEvent(
        session_id=event.get("session_id", ""),
        seq=record["seq"],
        type=event.get("type", ""),
        ts=event.get("ts", 0.0),
        t=event.get("t", 0.0),
        turn_id=turn_id if isinstance(turn_id, int) else None,
        payload=canonical(event),
        prev_hash=record["prev_hash"],
        hash=record["hash"],
    )


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def typed_events(rows: Sequence[StoredEvent]) -> list[Event]:
    return [event for row in rows if (event := row.event()) is not None]
