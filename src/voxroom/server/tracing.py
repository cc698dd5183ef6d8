"""Optional OpenTelemetry spans, derived from the session events like the metrics.

Only when `opentelemetry` (the API package) is importable: `otel_observer()` returns None
otherwise, and nothing here is imported. Spans go wherever the application's OpenTelemetry
SDK sends them (with the API alone they are no-ops, at next to no cost).

One trace per session: a `voxroom.session` span from `session_started` to `session_ended`,
with children placed by each event's session clock `t` (on the wall clock of the session's
start, as the audit store does) and the durations the events carry: `voxroom.turn`
(turn_metrics: end of user speech → first agent audio), `voxroom.llm` (llm_request →
llm_response, GenAI attributes), `voxroom.stt`, `voxroom.tts` and `voxroom.tool` (tool calls).
Errors become span events and mark the session span as failed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from voxroom.audit.events import (
    ErrorOccurred,
    Event,
    LLMRequested,
    LLMResponded,
    SessionEnded,
    SessionStarted,
    STTUsage,
    ToolCalled,
    TTSUsage,
    TurnMetricsRecorded,
)

log = logging.getLogger(__name__)

TRACER_NAME = "voxroom"
_TURN_STAGES = ("eot_wait_ms", "confirm_ms", "stt_ms", "llm_first_token_ms", "total_ms")


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class EventSpans:
    """A SessionEventLog subscriber that turns events into spans of `tracer`.

    `in_context(span)` makes the parent context for a child span (OpenTelemetry's
    `trace.set_span_in_context`); `error_status` builds a failed status (or None)."""

    def __init__(
        self,
        tracer: Any,
        in_context: Callable[[Any], Any],
        error_status: Callable[[str], Any] | None = None,
    ) -> None:
        self._tracer = tracer
        self._in_context = in_context
        self._error_status = error_status
        self._sessions: dict[str, tuple[Any, float]] = {}  # id → (open span, wall clock at t=0)
        self._llm: dict[tuple[str, int | None], LLMRequested] = {}  # awaiting their response

    def observe(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            origin = event.ts - event.t
            span = self._tracer.start_span(
                "voxroom.session",
                start_time=_ns(event.ts),
                attributes={
                    "voxroom.session_id": event.session_id,
                    "voxroom.agent": event.agent,
                    "voxroom.transport": event.transport,
                    **{f"voxroom.model.{k}": v for k, v in event.models.items()},
                },
            )
            self._sessions[event.session_id] = span, origin
            return
        if event.session_id not in self._sessions:  # started before this observer was attached
            return
        session, origin = self._sessions[event.session_id]
        now = origin + event.t  # this event's wall time, on the session clock
        if isinstance(event, SessionEnded):
            self._end_session(event, session, now)
        elif isinstance(event, LLMRequested):
            self._llm[(event.session_id, event.turn_id)] = event
        elif isinstance(event, LLMResponded):
            self._llm_span(event, session, origin)
        elif isinstance(event, TurnMetricsRecorded) and event.total_ms is not None:
            attributes: dict[str, Any] = {"voxroom.turn_id": event.turn_id}
            for key in _TURN_STAGES:
                if (value := getattr(event, key)) is not None:
                    attributes[f"voxroom.{key}"] = value
            self._child(session, "voxroom.turn", now - event.total_ms / 1000, now, attributes)
        elif isinstance(event, STTUsage):
            self._child(session, "voxroom.stt", now - event.duration_ms / 1000, now, {
                "voxroom.turn_id": event.turn_id, "voxroom.provider": event.provider,
                "voxroom.audio_seconds": event.audio_seconds, "voxroom.purpose": event.purpose,
            })  # fmt: skip
        elif isinstance(event, TTSUsage):
            self._child(session, "voxroom.tts", now - event.duration_ms / 1000, now, {
                "voxroom.turn_id": event.turn_id, "voxroom.provider": event.provider,
                "voxroom.characters": event.characters,
                "voxroom.audio_seconds": event.audio_seconds,
            })  # fmt: skip
        elif isinstance(event, ErrorOccurred):
            session.add_event(
                "error",
                attributes={"voxroom.component": event.component, "message": event.message},
                timestamp=_ns(now),
            )
            if self._error_status is not None:
                session.set_status(self._error_status(f"{event.component}: {event.message}"))
        elif isinstance(event, ToolCalled):
            self._child(session, "voxroom.tool", now - event.duration_ms / 1000, now, {
                "voxroom.turn_id": event.turn_id, "voxroom.tool": event.name,
                "voxroom.tool_call_id": event.call_id, "voxroom.error": event.error,
            })  # fmt: skip

    # --- internals ---------------------------------------------------------------------------
    def _child(
        self, parent: Any, name: str, start: float, end: float, attributes: dict[str, Any]
    ) -> Any:
        span = self._tracer.start_span(
            name,
            context=self._in_context(parent),
            start_time=_ns(start),
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
        span.end(end_time=_ns(max(start, end)))
        return span

    def _llm_span(self, event: LLMResponded, session: Any, origin: float) -> None:
        request = self._llm.pop((event.session_id, event.turn_id), None)
        end = origin + event.t
        start = origin + request.t if request is not None else end - event.duration_ms / 1000
        self._child(session, "voxroom.llm", start, end, {
            "voxroom.turn_id": event.turn_id,
            "gen_ai.system": event.provider,
            "gen_ai.request.model": event.model,
            "gen_ai.response.finish_reasons": [event.finish_reason],
            "gen_ai.usage.input_tokens": event.prompt_tokens,
            "gen_ai.usage.output_tokens": event.completion_tokens,
            "voxroom.ttft_ms": event.ttft_ms,
            "voxroom.step": event.step,
            "voxroom.tool_calls": len(event.tool_calls),
            "voxroom.messages": len(request.messages) if request is not None else None,
        })  # fmt: skip

    def _end_session(self, event: SessionEnded, session: Any, now: float) -> None:
        session.set_attribute("voxroom.end_reason", event.reason)
        session.end(end_time=_ns(now))
        del self._sessions[event.session_id]
        for key in [k for k in self._llm if k[0] == event.session_id]:
            del self._llm[key]


def otel_observer(tracer_name: str = TRACER_NAME) -> EventSpans | None:
    """An EventSpans on the global tracer provider, or None without `opentelemetry`."""
    try:
        trace = importlib.import_module("opentelemetry.trace")
    except ImportError:
        return None

    def error_status(description: str) -> Any:
        return trace.Status(trace.StatusCode.ERROR, description)

    log.info("OpenTelemetry found: session events become spans of tracer %r", tracer_name)
    return EventSpans(trace.get_tracer(tracer_name), trace.set_span_in_context, error_status)
