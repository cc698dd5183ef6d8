"""`AuditService.record`: a room recorded per participant, and the event that lists its files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np

from tests.audit_recording.synthetic import FakeClock, Marker, Side, play
from voxroom.agent.session import AgentSession
from voxroom.audit.config import AuditConfig
from voxroom.audit.events import Event, RecordingSaved
from voxroom.audit.log import SessionEventLog
from voxroom.config import VoxroomConfig
from voxroom.server.audit_service import AuditService
from voxroom.transport.base import AudioSink

InboundObserver = Callable[[str, np.ndarray, int], None]


class FakeSession:
    """What `record` uses of a session: its id, log (on a fake clock), observers, finalizers."""

    def __init__(self, session_id: str, clock: FakeClock) -> None:
        self.id = session_id
        self.log = SessionEventLog(session_id)
        self.log.clock = clock  # type: ignore[method-assign]
        self.events: list[Event] = []
        self.log.subscribe(self.events.append)
        self.inbound: list[InboundObserver] = []
        self.finalizers: list[Callable[[], Awaitable[None]]] = []

    def observe_inbound(self, observer: InboundObserver) -> None:
        self.inbound.append(observer)

    def add_finalizer(self, finalize: Callable[[], Awaitable[None]]) -> None:
        self.finalizers.append(finalize)


class FakeSink:
    def __init__(self) -> None:
        self.observers: list[Callable[[np.ndarray, int], None]] = []

    def observe(self, observer: Callable[[np.ndarray, int], None]) -> None:
        self.observers.append(observer)


async def recorded(tmp_path: Path, per_participant: bool) -> tuple[RecordingSaved, Path]:
    service = AuditService(VoxroomConfig(audit=AuditConfig(dir=tmp_path)))
    clock = FakeClock()
    session, sink = FakeSession("room1", clock), FakeSink()
    service.record(cast(AgentSession, session), cast(AudioSink, sink), per_participant)
    (inbound,), (outbound,) = session.inbound, sink.observers
    people: dict[str, tuple[Side, Any]] = {
        who: (
            Side(16000, 320, True, (Marker(1.0, 500.0 + 400 * n),), seed=n),
            partial(inbound, who),
        )
        for n, who in enumerate(("Alice Smith", "bob"))
    }
    agent = Side(48000, 960, False, (), seed=9)
    play(clock, {**people, "agent": (agent, outbound)}, until=3.0)
    for finalize in session.finalizers:
        await finalize()
    (event,) = session.events
    assert isinstance(event, RecordingSaved)
    return event, service.session_dir("room1")


async def test_a_room_recorded_per_participant_lists_each_participant(tmp_path: Path) -> None:
    event, folder = await recorded(tmp_path, per_participant=True)
    own = {"participant:Alice Smith", "participant:bob"}
    assert set(event.files) == {"user", "agent", "stereo", *own}
    assert event.files["user"] == "user.wav" and event.files["stereo"] == "stereo.wav"
    # Both first heard at 20 ms; the script delivers "Alice Smith" first.
    assert event.files["participant:Alice Smith"] == "participant-1-Alice_Smith.wav"
    assert event.files["participant:bob"] == "participant-2-bob.wav"
    for name in event.files.values():
        assert (folder / name).is_file()
    assert set(event.padded_seconds) == set(event.trimmed_seconds) == {"user", "agent", *own}
    assert event.padded_seconds["user"] == sum(event.padded_seconds[key] for key in own)
    assert (
        event.sample_rate == 16000 and abs(event.duration - 3.0) <= 0.021
    )  # the last agent frame: sent at 3 s


async def test_without_participant_files_the_event_is_as_for_one_person(tmp_path: Path) -> None:
    event, folder = await recorded(tmp_path, per_participant=False)
    assert event.files == {"user": "user.wav", "agent": "agent.wav", "stereo": "stereo.wav"}
    assert set(event.padded_seconds) == set(event.trimmed_seconds) == {"user", "agent"}
    assert sorted(path.name for path in folder.iterdir()) == sorted(event.files.values())
