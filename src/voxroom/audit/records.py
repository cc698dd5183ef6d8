"""The two kinds of row the audit store keeps: chained events and per-session summaries."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from voxroom.audit.events import Event, event_adapter


@dataclass(frozen=True)
class StoredEvent:
    """One event as stored: `payload` is the canonical JSON of the (redacted) event, the rest
    are copies of its fields for querying, plus the hash-chain links (see `chain`)."""

    session_id: str
    seq: int
    type: str
    ts: float
    t: float
    turn_id: int | None
    payload: str
    prev_hash: str
    hash: str

    def data(self) -> dict[str, Any]:
        value = json.loads(self.payload)
        if not isinstance(value, dict):
            raise ValueError(f"seq {self.seq}: payload is not a JSON object")
        return value

    def event(self) -> Event | None:
        """The typed event, or None for a type this version does not know (newer writer)."""
        try:
            return event_adapter.validate_json(self.payload)
        except ValidationError:
            return None


@dataclass(frozen=True)
class SessionSummary:
    """Totals kept current at write time, in the same transaction as the events they count.

    `event_count` and `head_hash` anchor the end of the hash chain, so a verifier can tell
    that trailing events were deleted (which a chain alone cannot show)."""

    id: str
    agent: str
    started_at: float  # unix seconds
    ended_at: float | None = None
    end_reason: str | None = None
    turns: int = 0  # agent replies: one final `agent_speech` each, interrupted or not
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stt_seconds: float = 0.0
    tts_characters: int = 0
    cost: float = 0.0  # in the price table's currency, priced when the events were written
    event_count: int = 0  # seq of the last stored event
    head_hash: str = ""  # hash of the last stored event

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
