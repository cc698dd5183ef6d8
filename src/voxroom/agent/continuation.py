"""Continuing here a session that another process began: what is carried over
(`Continuation`), the conversation put back in the model's context, and the events the
continued part's log begins with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from voxroom.agent.context import ChatContext
from voxroom.audit import events as ev


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One thing said earlier in a continued session: a user's final turn or what of a reply
    was heard (`role` "assistant")."""

    turn_id: int | None
    role: Literal["user", "assistant"]
    text: str
    speaker: str | None = None  # the user's display name (rooms)
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Continuation:
    """A session another process began and this one continues (its fleet worker died or was
    drained): the conversation so far and where it comes from. The session then logs
    `redispatched` instead of `session_started`, greets nobody, and numbers turns on."""

    history: Sequence[HistoryLine]
    last_turn_id: int
    reason: Literal["worker_lost", "handoff"]
    from_worker: str
    to_worker: str
    part: int = 2
    last_event_t: float | None = None  # session clock of the last event stored before
    # The lost worker's part of the recording, repaired by the worker continuing it.
    lost_recording: ev.RecordingSaved | None = None

    def restore(self, context: ChatContext) -> None:
        """Put the conversation so far back in the model's context."""
        for line in self.history:
            if line.role == "user" and line.turn_id is not None:
                context.add_user(line.turn_id, line.text, line.speaker)
            elif line.role == "assistant":
                context.add_reply(line.turn_id, line.text, line.interrupted)

    def opening_events(self, agent: str, transport: str, models: dict[str, str]) -> list[ev.Event]:
        """What the continued part's log begins with, in place of `session_started`: after
        a lost worker, its loss and its repaired part of the recording; then `redispatched`."""
        events: list[ev.Event] = []
        if self.reason == "worker_lost":
            events.append(ev.WorkerLost(worker=self.from_worker, last_event_t=self.last_event_t))
            if self.lost_recording is not None:
                events.append(self.lost_recording)
        events.append(
            ev.Redispatched(
                reason=self.reason,
                from_worker=self.from_worker,
                to_worker=self.to_worker,
                agent=agent,
                transport=transport,
                models=models,
                restored_messages=len(self.history),
                part=self.part,
            )
        )
        return events
