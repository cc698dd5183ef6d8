"""Realistic sessions for the audit tests, emitted through a real SessionEventLog."""

from __future__ import annotations

from voxroom.audit import events as ev
from voxroom.audit.log import SessionEventLog


def emit_session(
    log: SessionEventLog, turns: int = 2, end: bool = True, agent: str = "concierge"
) -> None:
    """A voice session: transcripts with PII, LLM calls, speech, usage, metrics."""
    log.emit(ev.SessionStarted(agent=agent, transport="memory", models={"llm": "x"}))
    log.emit(ev.StateChanged(state="listening"))
    emit_turns(log, first=1, turns=turns)
    if end:
        log.emit(ev.SessionEnded(reason="peer left"))


def emit_turns(log: SessionEventLog, first: int, turns: int) -> None:
    """`turns` voice turns of the human, numbered from `first`: EVENTS_PER_TURN events each."""
    for turn in range(first, first + turns):
        text = f"hello, turn {turn}: write to guest{turn}@example.com"
        log.emit(ev.UserTranscript(turn_id=turn, text="hello", final=False))
        log.emit(
            ev.STTUsage(
                turn_id=turn, provider="faster-whisper", audio_seconds=1.5, duration_ms=80.0,
                purpose="final",
            )
        )  # fmt: skip
        log.emit(ev.UserTranscript(turn_id=turn, text=text, final=True, audio_start=0.5))
        log.emit(
            ev.LLMRequested(
                turn_id=turn, provider="openai-compatible", model="gpt-4o-mini",
                messages=[{"role": "user", "content": text}], parameters={"max_tokens": 64},
            )
        )  # fmt: skip
        log.emit(
            ev.LLMResponded(
                turn_id=turn, provider="openai-compatible", model="gpt-4o-mini",
                text="Certainly.", finish_reason="stop", prompt_tokens=1000,
                completion_tokens=100, ttft_ms=120.0, duration_ms=300.0,
            )
        )  # fmt: skip
        log.emit(
            ev.TTSUsage(
                turn_id=turn, provider="piper", characters=10, audio_seconds=0.8,
                duration_ms=40.0,
            )
        )  # fmt: skip
        log.emit(ev.TurnMetricsRecorded(turn_id=turn, total_ms=650.0))
        log.emit(ev.AgentSpeech(turn_id=turn, played_text="Certainly.", final=True))


EVENTS_PER_TURN = 8
