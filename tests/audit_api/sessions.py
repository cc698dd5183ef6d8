"""A scripted, realistic voice session for the audit API and viewer tests.

The events go through a real SessionEventLog (and so through the audit writer, redaction and
the hash chain) on a scripted session clock, and the recordings are WAV files whose sound
sits exactly where the events say: user speech on the left, agent speech on the right.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np

from voxroom.audit import events as ev
from voxroom.audit.log import SessionEventLog

RATE = 16_000
DURATION_S = 16.5
SYSTEM_PROMPT = (
    "You are the concierge of the Harbor Hotel. Answer in one or two short sentences.\n"
    "Context (hotel knowledge base): breakfast 7-10 am in the Garden Room; "
    "airport taxis take 35 minutes; late checkout until 1 pm on request."
)
TAXI_TOOL = {
    "type": "function",
    "function": {
        "name": "book_taxi",
        "description": "Book a taxi for the guest.",
        "parameters": {
            "type": "object",
            "properties": {"time": {"type": "string"}, "destination": {"type": "string"}},
            "required": ["time", "destination"],
        },
    },
}
TAXI_ARGUMENTS = '{"time": "5 pm", "destination": "the airport"}'
PARAMETERS = {"max_tokens": 64, "temperature": 0.6, "stop": []}
# (turn, user speech start, end, text), (agent speech start, end, planned, played, interrupted)
USER_TURNS = [
    (1, 1.0, 3.2, "Can you book me a taxi to the airport at five?"),
    (2, 8.0, 9.6, "When is breakfast served?"),
    (3, 12.3, 13.5, "Thanks, that's all."),
]
AGENT_TURNS = [
    (1, 4.6, 7.4, "Your taxi to the airport is booked for 5 pm.", None, False),
    (
        2,
        10.5,
        12.0,
        "Breakfast is served from 7 to 10 in the Garden Room. On weekends it runs until 11.",
        "Breakfast is served from 7 to 10",
        True,
    ),
    (3, 14.5, 16.0, "You're welcome, have a pleasant trip!", None, False),
]


class ScriptedLog(SessionEventLog):
    """A SessionEventLog whose clock is set by the script, not by the wall."""

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.now = 0.0
        super().subscribe(self._stamp)  # first: every later subscriber sees the fixed stamp

    def _stamp(self, event: ev.Event) -> None:
        event.ts = self.started_at + event.t  # the wall clock agrees with the script

    def clock(self) -> float:
        return self.now

    def at(self, t: float, event: ev.Event) -> ev.Event:
        self.now = t
        return self.emit(event)


def emit_voice_session(log: ScriptedLog, agent: str = "hotel concierge") -> None:
    """Three voice turns: a tool call, a barge-in, a provider error, then the recording."""
    log.at(0.0, ev.SessionStarted(agent=agent, transport="P2PTransport", models={
        "llm": "openai-compatible:gpt-4o-mini", "stt": "openai-stt", "tts": "openai-tts",
    }))  # fmt: skip
    log.at(0.01, ev.TrackStarted(participant="user", kind="audio", direction="inbound"))
    log.at(0.01, ev.TrackStarted(participant="agent", kind="audio", direction="outbound"))
    log.at(0.02, ev.StateChanged(state="listening"))
    history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    for (turn, start, end, text), agent_turn in zip(USER_TURNS, AGENT_TURNS, strict=True):
        _, speak_at, speak_end, planned, played, interrupted = agent_turn
        log.at(start + 0.6, ev.UserTranscript(turn_id=turn, text=text[:12], final=False))
        log.at(end + 0.2, ev.STTUsage(
            turn_id=turn, provider="openai-stt", audio_seconds=round(end - start, 2),
            duration_ms=180.0, purpose="final",
        ))  # fmt: skip
        log.at(end + 0.2, ev.UserTranscript(
            turn_id=turn, text=text, final=True, audio_start=start, audio_end=end
        ))  # fmt: skip
        log.at(end + 0.21, ev.StateChanged(state="thinking"))
        history.append({"role": "user", "content": text})
        t = end + 0.21
        step = 0
        if turn == 1:
            t = _tool_step(log, turn, t, history)
            step = 1
        log.at(t, ev.LLMRequested(
            turn_id=turn, provider="openai-compatible", model="gpt-4o-mini",
            messages=[_message(m) for m in history], parameters=PARAMETERS, tools=[TAXI_TOOL],
            step=step,
        ))  # fmt: skip
        log.at(t + 0.55, ev.LLMResponded(
            turn_id=turn, provider="openai-compatible", model="gpt-4o-mini", text=planned,
            finish_reason="stop", prompt_tokens=180 + 40 * turn, completion_tokens=12 + turn,
            ttft_ms=240.0 + 30 * turn, duration_ms=550.0, step=step,
        ))  # fmt: skip
        if turn == 3:
            log.at(t + 0.6, ev.ErrorOccurred(
                component="tts", message="openai-tts timed out after 2.0 s; fell back to espeak-ng"
            ))  # fmt: skip
        tts_provider = "espeak-ng" if turn == 3 else "openai-tts"
        log.at(speak_at - 0.05, ev.TTSUsage(
            turn_id=turn, provider=tts_provider, characters=len(planned),
            audio_seconds=round(speak_end - speak_at, 2), duration_ms=120.0,
        ))  # fmt: skip
        log.at(speak_at, ev.StateChanged(state="speaking"))
        log.at(speak_at, ev.TurnMetricsRecorded(
            turn_id=turn, eot_wait_ms=300.0, confirm_ms=120.0, stt_ms=180.0,
            llm_first_token_ms=240.0 + 30 * turn + (250 if turn == 1 else 0),
            first_sentence_ms=560.0 + (250 if turn == 1 else 0), tts_first_chunk_ms=140.0,
            total_ms=round((speak_at - end) * 1000, 1),
        ))  # fmt: skip
        log.at(speak_at, ev.AgentSpeech(turn_id=turn, played_text=played or planned, final=False))
        log.at(speak_end, ev.AgentSpeech(
            turn_id=turn, played_text=played or planned, final=True, planned_text=planned,
            interrupted=interrupted,
        ))  # fmt: skip
        log.at(speak_end, ev.StateChanged(state="listening"))
        history.append({"role": "assistant", "content": played or planned})
    log.at(DURATION_S, ev.RecordingSaved(
        files={"user": "user.wav", "agent": "agent.wav", "stereo": "stereo.wav"},
        sample_rate=RATE, duration=DURATION_S,
    ))  # fmt: skip
    log.at(DURATION_S, ev.SessionEnded(reason="peer left"))


def _tool_step(log: ScriptedLog, turn: int, t: float, history: list[dict[str, Any]]) -> float:
    """The model asks for a tool; the tool runs; its result goes back into the context."""
    log.at(t, ev.LLMRequested(
        turn_id=turn, provider="openai-compatible", model="gpt-4o-mini",
        messages=[_message(m) for m in history], parameters=PARAMETERS, tools=[TAXI_TOOL],
    ))  # fmt: skip
    call = {"id": "call_1", "name": "book_taxi", "arguments": TAXI_ARGUMENTS}
    log.at(t + 0.4, ev.LLMResponded(
        turn_id=turn, provider="openai-compatible", model="gpt-4o-mini", text="",
        finish_reason="stop", prompt_tokens=150, completion_tokens=18, ttft_ms=390.0,
        duration_ms=400.0, tool_calls=[call],
    ))  # fmt: skip
    result = "Taxi booked for 5 pm to the airport, confirmation T-118."
    log.at(t + 0.45, ev.ToolCalled(
        turn_id=turn, call_id="call_1", name="book_taxi", arguments=TAXI_ARGUMENTS,
        output=result, error=False, duration_ms=42.0,
    ))  # fmt: skip
    history.append({"role": "assistant", "content": "", "tool_calls": [call]})
    history.append({"role": "tool", "tool_call_id": "call_1", "content": result})
    return t + 0.46


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """A chat message as the session logs it (ChatMessage as a dict)."""
    return {
        "role": message["role"],
        "content": message["content"],
        "tool_calls": list(message.get("tool_calls", [])),
        "tool_call_id": message.get("tool_call_id"),
        "interrupted": False,
    }


# --- recordings ------------------------------------------------------------------------------
def _speech(seconds: float, freq: float) -> np.ndarray:
    """A syllable-like tone (4 Hz amplitude pulses), at -12 dBFS peak."""
    n = round(seconds * RATE)
    time = np.arange(n) / RATE
    envelope = 0.5 - 0.5 * np.cos(2 * np.pi * 4 * time)
    return 0.25 * envelope * np.sin(2 * np.pi * freq * time)


def recording(duration: float = DURATION_S) -> tuple[np.ndarray, np.ndarray]:
    """(user, agent) tracks: sound exactly where the scripted events place speech."""
    user = np.zeros(round(duration * RATE))
    agent = np.zeros_like(user)
    for _, start, end, _ in USER_TURNS:
        user[round(start * RATE) : round(end * RATE)] = _speech(end - start, 220.0)[
            : round(end * RATE) - round(start * RATE)
        ]
    for _, start, end, *_ in AGENT_TURNS:
        agent[round(start * RATE) : round(end * RATE)] = _speech(end - start, 330.0)[
            : round(end * RATE) - round(start * RATE)
        ]
    return user, agent


def write_wav(path: Path, *channels: np.ndarray) -> None:
    pcm = np.stack(channels, axis=1) if len(channels) > 1 else channels[0]
    data = (np.clip(pcm, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(data.tobytes())


def write_recordings(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    user, agent = recording()
    write_wav(folder / "user.wav", user)
    write_wav(folder / "agent.wav", agent)
    write_wav(folder / "stereo.wav", user, agent)
