"""The hash chain: intact chains verify; edits, deletions, reorderings and truncation do not,
and the result names the first bad seq."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from voxroom.audit.chain import GENESIS, Head, canonical, chain_event, verify
from voxroom.audit.records import StoredEvent


def make_chain(n: int = 5, end: bool = True) -> list[StoredEvent]:
    rows: list[StoredEvent] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        kind = "session_ended" if end and seq == n else "user_transcript"
        event = {"type": kind, "session_id": "s", "seq": seq, "ts": 1000.0 + seq, "t": seq / 10}
        if kind == "user_transcript":
            event |= {"turn_id": seq, "text": f"words {seq} — é", "final": True}
        rows.append(chain_event(event, prev))
        prev = rows[-1].hash
    return rows


def edit(row: StoredEvent, **changes: object) -> StoredEvent:
    data = row.data() | changes
    return dataclasses.replace(row, payload=canonical(data))


def test_hash_definition_is_sha256_of_prev_and_canonical_json() -> None:
    row = make_chain(1)[0]
    text = json.dumps(row.data(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row.payload == text  # stored as canonical JSON, no whitespace, keys sorted
    assert row.hash == hashlib.sha256((GENESIS + text).encode()).hexdigest()
    assert row.prev_hash == GENESIS


def test_intact_chain_verifies_with_its_head() -> None:
    rows = make_chain()
    result = verify(rows, head=Head(5, rows[-1].hash), expect_end=True)
    assert result.ok and result.checked == 5 and result.head_hash == rows[-1].hash
    assert result.first_bad_seq is None
    assert verify([]).ok


def test_edited_payload_names_its_seq() -> None:
    rows = make_chain()
    rows[2] = edit(rows[2], text="words 3 (edited)")
    result = verify(rows)
    assert not result.ok and result.first_bad_seq == 3 and result.checked == 2
    assert "altered" in (result.reason or "")


def test_edit_with_recomputed_hash_breaks_the_next_link() -> None:
    rows = make_chain()
    forged = chain_event(rows[2].data() | {"text": "forged"}, rows[1].hash)
    rows[2] = forged
    result = verify(rows)
    assert result.first_bad_seq == 4 and "link broken" in (result.reason or "")


def test_deleted_row_is_a_gap() -> None:
    rows = make_chain()
    del rows[2]
    result = verify(rows)
    assert result.first_bad_seq == 3 and "missing" in (result.reason or "")


def test_deleted_first_row() -> None:
    assert verify(make_chain()[1:]).first_bad_seq == 1


def test_reordered_rows() -> None:
    rows = make_chain()
    rows[1], rows[2] = rows[2], rows[1]
    result = verify(rows)
    assert result.first_bad_seq == 2 and not result.ok


def test_swapped_payloads_keeping_seq_columns() -> None:
    rows = make_chain()
    a, b = rows[1], rows[2]
    rows[1] = dataclasses.replace(a, payload=b.payload, hash=b.hash, prev_hash=b.prev_hash)
    rows[2] = dataclasses.replace(b, payload=a.payload, hash=a.hash, prev_hash=a.prev_hash)
    assert verify(rows).first_bad_seq == 2


def test_column_that_disagrees_with_the_payload() -> None:
    rows = make_chain()
    rows[3] = dataclasses.replace(rows[3], ts=5.0)
    result = verify(rows)
    assert result.first_bad_seq == 4 and "'ts'" in (result.reason or "")


def test_truncated_end_is_caught_by_the_head() -> None:
    rows = make_chain()
    head = Head(5, rows[-1].hash)
    result = verify(rows[:3], head=head)
    assert not result.ok and result.first_bad_seq == 4 and result.checked == 3
    assert verify(rows[:3]).ok  # without an anchor, a shorter chain is a valid chain


def test_truncated_end_is_caught_by_expect_end() -> None:
    rows = make_chain()
    result = verify(rows[:4], expect_end=True)
    assert result.first_bad_seq == 5 and "session_ended" in (result.reason or "")


def test_head_with_another_hash() -> None:
    rows = make_chain()
    assert verify(rows, head=Head(5, "f" * 64)).first_bad_seq == 5
    assert verify(rows, head=Head(4, rows[3].hash)).first_bad_seq == 5


def test_rows_of_another_session() -> None:
    rows = make_chain()
    rows[1] = dataclasses.replace(rows[1], session_id="other")
    assert verify(rows).first_bad_seq == 2


def test_payload_that_is_not_json() -> None:
    rows = make_chain()
    rows[0] = dataclasses.replace(rows[0], payload="{not json")
    result = verify(rows)
    assert result.first_bad_seq == 1 and "JSON" in (result.reason or "")


def test_message() -> None:
    rows = make_chain()
    assert verify(rows).message().startswith("intact: 5 events")
    del rows[1]
    assert verify(rows).message().startswith("tampered at seq 2:")
