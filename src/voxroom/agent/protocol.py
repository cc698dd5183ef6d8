"""Data-channel messages (docs/protocol.md) as typed models: one `type` discriminator each."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from voxroom.audit import events as ev

AgentState = Literal["listening", "thinking", "speaking"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- agent → client ----------------------------------------------------------------------
class SessionInfo(_Message):
    type: Literal["session"] = "session"
    session_id: str
    agent: str
    llm: str | None = None  # the model that answers: "<provider>:<model>"


class StateChanged(_Message):
    type: Literal["state"] = "state"
    state: AgentState


class TranscriptMessage(_Message):
    type: Literal["transcript"] = "transcript"
    role: Literal["user", "agent"]
    final: bool
    text: str
    turn_id: int
    interrupted: bool | None = None
    # User captions: who spoke (identity) and their display name.
    participant: str | None = None
    name: str | None = None


class ParticipantMessage(_Message):
    """Someone joined or left the call, as the agent sees it (it hears them from now on)."""

    type: Literal["participant"] = "participant"
    event: Literal["joined", "left"]
    participant: str
    name: str | None = None
    role: str | None = None


class ErrorMessage(_Message):
    type: Literal["error"] = "error"
    message: str


# --- client → agent ----------------------------------------------------------------------
class ChatIn(_Message):
    type: Literal["chat"]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class ModeIn(_Message):
    type: Literal["mode"]
    mode: Literal["hands_free", "push_to_talk"]


class PushToTalkIn(_Message):
    type: Literal["push_to_talk"]
    action: Literal["press", "release"]


class InterruptIn(_Message):
    type: Literal["interrupt"]


ClientMessage = Annotated[ChatIn | ModeIn | PushToTalkIn | InterruptIn, Field(discriminator="type")]
CLIENT_TYPES = frozenset(("chat", "mode", "push_to_talk", "interrupt"))
client_message_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# --- events → client messages --------------------------------------------------------------
_LOG_FIELDS = set(ev.Event.model_fields)  # type, session_id, seq, ts, t


def client_message(event: ev.Event) -> dict[str, object] | None:
    """The data-channel view of a session event (None: the client is not told about it)."""
    message: _Message
    if isinstance(event, ev.AppMessage):
        return event.message
    if isinstance(event, ev.SessionStarted | ev.Redispatched):
        message = SessionInfo(
            session_id=event.session_id, agent=event.agent, llm=event.models.get("llm")
        )
    elif isinstance(event, ev.StateChanged):
        message = StateChanged(state=event.state)
    elif isinstance(event, ev.UserTranscript):
        message = TranscriptMessage(
            role="user",
            final=event.final,
            text=event.text,
            turn_id=event.turn_id,
            participant=event.participant,
            name=event.name,
        )
    elif isinstance(event, ev.AgentSpeech):
        message = TranscriptMessage(
            role="agent",
            final=event.final,
            text=event.played_text,
            turn_id=event.turn_id,
            interrupted=event.interrupted if event.final else None,
        )
    elif isinstance(event, ev.TurnMetricsRecorded):
        # The event *is* the breakdown: send its own fields, minus the log's bookkeeping.
        return {"type": "turn_metrics", **event.model_dump(exclude=_LOG_FIELDS, exclude_none=True)}
    elif isinstance(event, ev.ParticipantJoined) and event.role == "user":
        message = ParticipantMessage(
            event="joined", participant=event.identity, name=event.name, role=event.call_role
        )
    elif isinstance(event, ev.ParticipantLeft):
        message = ParticipantMessage(event="left", participant=event.identity)
    elif isinstance(event, ev.ErrorOccurred):
        message = ErrorMessage(message=event.message)
    else:
        return None
    return message.model_dump(exclude_none=True)
