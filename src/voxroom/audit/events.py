"""Every event a session records, as typed models with one `type` discriminator.

The audit store, the client's captions and state, and the metrics all read these events:
one source of truth, never separate plumbing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    # Filled in by the log when the event is appended:
    session_id: str = ""
    seq: int = 0
    ts: float = 0.0  # wall clock, unix seconds
    t: float = 0.0  # session clock: seconds since the session started (aligns recordings)


class SessionStarted(Event):
    type: Literal["session_started"] = "session_started"
    agent: str
    transport: str
    models: dict[str, str] = Field(default_factory=dict)


class SessionEnded(Event):
    type: Literal["session_ended"] = "session_ended"
    reason: str
    # Set when start-up recovery closed a session its dead server left open (reason
    # "server_crashed"): unix seconds of the recovery. The event's own ts and t are then the
    # session's last sign of life (its last stored event or the end of its recording).
    recovered_at: float | None = None


class WorkerLost(Event):
    """The fleet worker running this session stopped answering mid-call (killed, crashed, cut
    off). Logged by the worker that continues the session, before the lost part's repaired
    `recording_saved` and `redispatched`: the same session id and hash chain go on, one
    session, not two broken halves."""

    type: Literal["worker_lost"] = "worker_lost"
    worker: str  # the lost worker's id
    last_event_t: float | None = None  # session clock of its last stored event


class HandedOff(Event):
    """A draining worker stopped the session to let another worker continue it (its last
    event there; `redispatched` follows, from the next worker)."""

    type: Literal["handed_off"] = "handed_off"
    worker: str
    reason: str  # "drain"


class Redispatched(Event):
    """The session goes on in another worker process: its agent has rejoined the room with
    the conversation so far (rebuilt from this audit trail). Takes the place of
    `session_started` for the continued part."""

    type: Literal["redispatched"] = "redispatched"
    reason: Literal["worker_lost", "handoff"]
    from_worker: str
    to_worker: str
    agent: str
    transport: str
    models: dict[str, str] = Field(default_factory=dict)
    restored_messages: int = 0  # user turns and agent replies put back in the model's context
    part: int = 2  # which part of the session this is (its recording's folder: part-<n>/)


ParticipantRole = Literal["user", "agent"]


class ParticipantJoined(Event):
    """Who takes part: each person (`role="user"`, the identity of their token) and the agent
    (`role="agent"`, its name). Usage is attributed to them (`cost.attribute`): each person's
    audio and turns, the agent's own turns (greetings, `say`)."""

    type: Literal["participant_joined"] = "participant_joined"
    identity: str
    role: ParticipantRole
    name: str | None = None  # display name
    call_role: str | None = None  # the person's role in the call, from their token ("customer")


class ParticipantLeft(Event):
    type: Literal["participant_left"] = "participant_left"
    identity: str


class TrackStarted(Event):
    type: Literal["track_started"] = "track_started"
    participant: str
    kind: Literal["audio", "video"]
    direction: Literal["inbound", "outbound"]


class StateChanged(Event):
    type: Literal["state_changed"] = "state_changed"
    state: Literal["listening", "thinking", "speaking"]


class TurnScoped(Event):
    """Something that belongs to a turn. `participant`: the identity of the person whose turn
    it is (None: the agent's own turn: a greeting, `say()`); the session fills it in."""

    turn_id: int
    participant: str | None = None


class UserTranscript(TurnScoped):
    type: Literal["user_transcript"] = "user_transcript"
    name: str | None = None  # the speaker's display name
    text: str
    final: bool
    source: TurnSource = "voice"
    audio_start: float | None = None  # session-clock seconds of the utterance
    audio_end: float | None = None


class AgentSpeech(TurnScoped):
    """Agent text as it is played (final=False: progress) and once the turn ends (final=True)."""

    type: Literal["agent_speech"] = "agent_speech"
    played_text: str
    final: bool
    planned_text: str | None = None  # everything generated, when final
    interrupted: bool = False


class LLMRequested(TurnScoped):
    type: Literal["llm_request"] = "llm_request"
    provider: str
    model: str
    messages: list[dict[str, Any]]
    parameters: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] = Field(default_factory=list)  # schemas offered to the model
    step: int = 0  # 0 for the first request of a turn, +1 per tool round trip
    # Set when this request redoes the step: why the check before speaking held back the
    # text before (agent/speak_check.py; e.g. "repeats an earlier reply").
    retry: str | None = None


FinishReason = Literal["stop", "length", "cancelled", "error"]


class LLMResponded(TurnScoped):
    type: Literal["llm_response"] = "llm_response"
    provider: str
    model: str
    text: str
    finish_reason: FinishReason
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    duration_ms: float
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    step: int = 0


class CacheLookup(TurnScoped):
    """The response cache was asked for this request (only when the cache is on)."""

    type: Literal["cache_lookup"] = "cache_lookup"
    result: Literal["exact", "semantic", "miss"]
    similarity: float | None = None
    lookup_ms: float | None = None


class ToolCalled(TurnScoped):
    type: Literal["tool_call"] = "tool_call"
    call_id: str
    name: str
    arguments: str  # as the model wrote it (may be malformed: that is part of the record)
    output: str
    error: bool
    duration_ms: float
    # Not run: a tool with side effects that the user's words did not ask for (`output` says
    # why; agent/tool_guard.py). `error` is set too.
    refused: bool = False


STTPurpose = Literal["final", "interim", "speculative"]
TurnSource = Literal["voice", "chat"]


class STTUsage(TurnScoped):
    type: Literal["stt_usage"] = "stt_usage"
    provider: str
    audio_seconds: float
    duration_ms: float
    purpose: STTPurpose


class TTSUsage(TurnScoped):
    type: Literal["tts_usage"] = "tts_usage"
    provider: str
    characters: int
    audio_seconds: float
    duration_ms: float


class TurnMetricsRecorded(TurnScoped):
    type: Literal["turn_metrics"] = "turn_metrics"
    eot_wait_ms: float | None = None
    confirm_ms: float | None = None  # end of speech → turn certain enough to play the reply
    stt_ms: float | None = None
    llm_first_token_ms: float | None = None
    first_sentence_ms: float | None = None
    tts_first_chunk_ms: float | None = None
    total_ms: float | None = None
    speculative_stt: bool = False


class RecordingSaved(Event):
    """The session's audio files; sample n of each file is session clock `start` + n /
    sample_rate."""

    type: Literal["recording_saved"] = "recording_saved"
    files: dict[str, str]  # {"user": …, "agent": …, "stereo": …}, relative to the session folder
    # A session continued by another worker records each part in its own folder (part-2/, …):
    # the session clock at the part's first sample (0 for the first part).
    start: float = 0.0
    sample_rate: int
    duration: float
    padded_seconds: dict[str, float] = Field(default_factory=dict)
    trimmed_seconds: dict[str, float] = Field(default_factory=dict)


class AppMessage(Event):
    """A message an agent sent to clients besides captions (a copilot's suggestion, a
    summary): what, and to whom (identities; None: everyone)."""

    type: Literal["app_message"] = "app_message"
    message: dict[str, Any]
    audience: list[str] | None = None


class ErrorOccurred(Event):
    type: Literal["error"] = "error"
    component: str
    message: str


class BrowserTaskStarted(TurnScoped):
    """The browser agent took a task from the turn `turn_id` (its model calls are that turn's
    `llm_request`/`llm_response` events)."""

    type: Literal["browser_task_started"] = "browser_task_started"
    task_id: int
    task: str
    url: str | None = None  # where it starts
    confirm: bool = False  # each action waits for people's approval
    allowed: list[str] = Field(default_factory=list)  # the domain allow-list


class BrowserStepTaken(TurnScoped):
    """One step of a browser task: the page, what the model was offered and said, what was
    done. Typed secrets are masked ("••••") in `action`, `raw_output` and `prompt`."""

    type: Literal["browser_step"] = "browser_step"
    task_id: int
    step: int
    url: str
    title: str = ""
    screenshot: str | None = None  # PNG in the session's files (the audit API serves it)
    screenshot_sha256: str | None = None
    candidates: list[dict[str, Any]] = Field(default_factory=list)  # id, text, score; best first
    prompt: str = ""  # the last question asked (whole requests: the llm_request events)
    raw_output: str = ""
    action: dict[str, Any] | None = None  # kind, element, text, value
    result: Literal["done", "finished", "failed", "refused", "rejected", "invalid"]
    detail: str = ""
    problems: list[str] = Field(default_factory=list)  # how the answer was read
    timings: dict[str, float] = Field(default_factory=dict)  # observe/rank/choose/act/step ms


class BrowserTaskEnded(TurnScoped):
    type: Literal["browser_task_ended"] = "browser_task_ended"
    task_id: int
    status: Literal["done", "stopped", "step_limit", "no_progress", "failed"]
    steps: int
    reason: str = ""


AnyEvent = Annotated[
    SessionStarted
    | SessionEnded
    | ParticipantJoined
    | ParticipantLeft
    | TrackStarted
    | StateChanged
    | UserTranscript
    | AgentSpeech
    | LLMRequested
    | LLMResponded
    | CacheLookup
    | ToolCalled
    | STTUsage
    | TTSUsage
    | TurnMetricsRecorded
    | RecordingSaved
    | AppMessage
    | ErrorOccurred
    | WorkerLost
    | HandedOff
    | Redispatched
    | BrowserTaskStarted
    | BrowserStepTaken
    | BrowserTaskEnded,
    Field(discriminator="type"),
]
event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
