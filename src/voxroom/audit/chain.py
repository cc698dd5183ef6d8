"""The hash chain over a session's events: any edit, deletion or reordering shows.

Definitions (stable: stored hashes depend on them):

- canonical(event) = UTF-8 of `json.dumps(event, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False, allow_nan=False)`, where `event` is the JSON object of the stored
  (redacted) event with all its fields, `session_id`, `seq`, `ts` and `t` included.
- hash(seq 1) = sha256(GENESIS || canonical(event 1)), hash(seq n) = sha256(hash(seq n-1) ||
  canonical(event n)); hashes are lowercase hex strings, `||` joins their ASCII bytes.

`verify` checks, in seq order, stopping at the first failure, which it names:

1. seqs run 1, 2, 3, … with no gap (a deleted row) and none out of place (a reordering);
2. each payload is a JSON object whose `session_id`, `seq`, `type`, `ts`, `t` and `turn_id`
   equal the row's columns (the columns are what queries filter on, so they must not lie);
3. each row's `prev_hash` is the previous row's `hash` (GENESIS for seq 1);
4. each row's `hash` is the hash of its `prev_hash` and its canonical payload (an edit);
5. with an anchor (`Head`: the last seq and hash the session row records, written in the same
   transaction as the events), the chain ends exactly there: deleting trailing events is
   otherwise invisible;
6. with `expect_end` (the session row says it ended), the last event is `session_ended`.

Whoever can rewrite the whole database can rewrite a consistent chain; to guard against that,
keep the head hash somewhere else (the export or `voxroom audit verify` prints it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voxroom.audit.records import StoredEvent

GENESIS = "0" * 64
_COLUMNS = ("session_id", "seq", "type", "ts", "t", "turn_id")


def canonical(event: Mapping[str, Any]) -> str:
    return json.dumps(
        event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def link_hash(prev_hash: str, canonical_payload: str) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_payload.encode("utf-8")).hexdigest()


def chain_event(event: Mapping[str, Any], prev_hash: str) -> StoredEvent:
    """The stored row for `event` (a JSON object, already redacted) following `prev_hash`."""
    payload = canonical(event)
    turn_id = event.get("turn_id")
    return StoredEvent(
        session_id=str(event["session_id"]),
        seq=int(event["seq"]),
        type=str(event["type"]),
        ts=float(event["ts"]),
        t=float(event["t"]),
        turn_id=turn_id if isinstance(turn_id, int) else None,
        payload=payload,
        prev_hash=prev_hash,
        hash=link_hash(prev_hash, payload),
    )


@dataclass(frozen=True)
class Head:
    """Where the chain should end: the session row's `event_count` and `head_hash`."""

    seq: int
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # events that passed
    head_hash: str  # hash of the last event that passed (GENESIS if none)
    first_bad_seq: int | None = None
    reason: str | None = None

    def message(self) -> str:
        if self.ok:
            return f"intact: {self.checked} events, head {self.head_hash}"
        return f"tampered at seq {self.first_bad_seq}: {self.reason}"


def verify(
    events: Sequence[StoredEvent], head: Head | None = None, expect_end: bool = False
) -> VerifyResult:
    """Check the chain of one session's events, given in the order they were stored."""
    prev = GENESIS
    for index, row in enumerate(events):
        problem = _check(row, index + 1, prev, events[0].session_id)
        if problem is not None:
            return VerifyResult(False, index, prev, *problem)
        prev = row.hash
    checked = len(events)
    problem = _check_end(events, head, expect_end, prev)
    if problem is not None:
        return VerifyResult(False, checked, prev, *problem)
    return VerifyResult(True, checked, prev)


def _check(row: StoredEvent, expected: int, prev: str, session_id: str) -> tuple[int, str] | None:
    if row.seq > expected:
        return expected, f"missing (deleted?): the next stored event is seq {row.seq}"
    if row.seq < expected:
        return row.seq, f"out of order: found where seq {expected} belongs"
    if row.session_id != session_id:
        return row.seq, f"belongs to session {row.session_id!r}, not {session_id!r}"
    try:
        payload = row.data()
    except ValueError as exc:
        return row.seq, f"payload is not a JSON object ({exc})"
    for column in _COLUMNS:
        if payload.get(column) != getattr(row, column):
            return row.seq, f"column {column!r} differs from the hashed event"
    if row.prev_hash != prev:
        return row.seq, (
            f"link broken: prev_hash is not the hash of seq {row.seq - 1} "
            f"(seq {row.seq - 1} or {row.seq} was altered)"
        )
    if link_hash(prev, canonical(payload)) != row.hash:
        return row.seq, "content altered: hash does not match the event"
    return None


def _check_end(
    events: Sequence[StoredEvent], head: Head | None, expect_end: bool, last_hash: str
) -> tuple[int, str] | None:
    checked = len(events)
    if head is not None:
        if head.seq > checked:
            return checked + 1, f"missing: the session records {head.seq} events, {checked} remain"
        if head.seq < checked:
            return head.seq + 1, f"stored after the session's recorded last event (seq {head.seq})"
        if checked and head.hash != last_hash:
            return checked, "the session records another hash for its last event"
    if expect_end and (not events or events[-1].type != "session_ended"):
        return checked + 1, "missing: the session ended but its session_ended event is not stored"
    return None
