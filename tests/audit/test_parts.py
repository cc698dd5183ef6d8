"""audit/parts.py: the recording of a part whose fleet worker was killed is repaired and
logged by the worker that continues the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audit.sessions import emit_turns
from tests.audit.test_recovery import RATE, frames_of, write_cut_wav
from voxroom.audit import events as ev
from voxroom.audit.log import SessionEventLog
from voxroom.audit.parts import recover_lost_part
from voxroom.audit.records import StoredEvent
from voxroom.audit.store import AuditStore, sqlite_url
from voxroom.audit.writer import AuditWriter

THREE = (("user.wav", 1), ("agent.wav", 1), ("stereo.wav", 2))


def cut_recording(folder: Path, participants: tuple[str, ...] = ()) -> None:
    folder.mkdir(parents=True)
    for name, channels in THREE:
        write_cut_wav(folder / name, channels, RATE, RATE // 2)
    for name in participants:
        write_cut_wav(folder / name, 1, RATE // 2, RATE // 4)


async def stored(tmp_path: Path, *parts: list[ev.Event]) -> list[StoredEvent]:
    """The session's stored rows: part 1's events, then each later part's."""
    async with AuditStore(sqlite_url(tmp_path / "audit.db")) as store:
        async with AuditWriter(store) as writer:
            log = SessionEventLog("room")
            writer.attach(log)
            log.emit(ev.SessionStarted(agent="Nova", transport="janus", models={}))
            log.emit(ev.ParticipantJoined(identity="alice", role="user"))
            emit_turns(log, first=1, turns=1)
            for events in parts:
                for event in events:
                    log.emit(event)
        return await store.events("room")


def redispatched(part: int) -> ev.Redispatched:
    return ev.Redispatched(
        reason="worker_lost", from_worker="w1", to_worker="w2", agent="Nova",
        transport="janus", part=part,
    )  # fmt: skip


async def test_a_killed_first_part_is_repaired_and_keyed_by_identity(tmp_path: Path) -> None:
    session = tmp_path / "files" / "room"
    cut_recording(session, ("participant-1-alice.wav",))
    rows = await stored(tmp_path)

    saved = recover_lost_part(session, rows)

    assert saved is not None and saved.start == 0.0
    assert saved.files == {
        "user": "user.wav",
        "agent": "agent.wav",
        "stereo": "stereo.wav",
        "participant:alice": "participant-1-alice.wav",
    }
    assert saved.duration == pytest.approx(1.5)
    for name, _ in THREE:
        assert frames_of(session / name) == (RATE * 3 // 2, RATE * 3 // 2), name
    assert frames_of(session / "participant-1-alice.wav") == (RATE * 3 // 4, RATE * 3 // 4)


async def test_a_killed_later_part_moves_beside_the_first(tmp_path: Path) -> None:
    session = tmp_path / "files" / "room"
    cut_recording(session / "part-2", ("participant-1-bob.wav",))
    part_1 = ev.RecordingSaved(
        files={"user": "user.wav", "agent": "agent.wav", "stereo": "stereo.wav"},
        sample_rate=RATE, duration=4.0,
    )  # fmt: skip
    rows = await stored(
        tmp_path,
        [ev.WorkerLost(worker="w0"), part_1, redispatched(2)],
        [ev.ParticipantJoined(identity="bob", role="user")],
    )
    began = next(row.t for row in rows if row.type == "redispatched")

    saved = recover_lost_part(session, rows)

    assert saved is not None and saved.start == round(began, 3)
    assert saved.files == {
        "user": "part-2-user.wav",
        "agent": "part-2-agent.wav",
        "stereo": "part-2-stereo.wav",
        "participant:bob": "part-2-participant-1-bob.wav",
    }
    assert not (session / "part-2").exists()
    for name in saved.files.values():
        said, held = frames_of(session / name)
        assert said == held > 0, name


async def test_nothing_to_recover(tmp_path: Path) -> None:
    rows = await stored(tmp_path)
    assert recover_lost_part(tmp_path / "files" / "room", rows) is None  # nothing recorded

    session = tmp_path / "files" / "saved"
    cut_recording(session)
    done = ev.RecordingSaved(files={}, sample_rate=RATE, duration=1.0)
    rows = await stored(tmp_path / "other", [done])
    before = (session / "user.wav").read_bytes()
    assert recover_lost_part(session, rows) is None  # the part saved its files itself
    assert (session / "user.wav").read_bytes() == before
