"""Data-channel messages (docs/protocol.md) as typed models: one `type` discriminator each."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

AgentState = Literal["listening", "thinking", "speaking"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- agent → client ----------------------------------------------------------------------
class SessionInfo(_Message):
    type: Literal["session"] = "session"
    session_id: str
    agent: str


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


class TurnMetrics(_Message):
    type: Literal["turn_metrics"] = "turn_metrics"
    turn_id: int
    eot_wait_ms: float | None = None
    stt_ms: float | None = None
    llm_first_token_ms: float | None = None
    first_sentence_ms: float | None = None
    tts_first_chunk_ms: float | None = None
    total_ms: float | None = None
    speculative_stt: bool = False


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
client_message_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
