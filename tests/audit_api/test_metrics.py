"""Prometheus metrics and OpenTelemetry spans derived from the session events."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.audit_api.conftest import AuditApp
from tests.audit_api.sessions import AGENT_TURNS, USER_TURNS, ScriptedLog, emit_voice_session
from voxroom.audit import events as ev
from voxroom.audit.cost import PriceTable
from voxroom.audit.log import SessionEventLog
from voxroom.server.metrics import METRICS, VoxroomMetrics
from voxroom.server.tracing import EventSpans, otel_observer


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(metrics: VoxroomMetrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def session(metrics: VoxroomMetrics, session_id: str, agent: str = "hotel concierge") -> None:
    log = ScriptedLog(session_id)
    log.subscribe(metrics.observe)
    emit_voice_session(log, agent=agent)


def test_turn_latency_tokens_cost_errors_and_barge_ins() -> None:
    metrics = VoxroomMetrics(PriceTable.load())
    session(metrics, "s1")
    llm = {"provider": "openai-compatible", "model": "gpt-4o-mini"}

    turns = len(USER_TURNS)
    for stage in ("total", "stt", "llm_first_token", "eot_wait", "confirm", "tts_first_chunk"):
        assert value(metrics, "voxroom_turn_latency_seconds_count", stage=stage) == turns, stage
    totals = [
        round((a[1] - u[2]) * 1000, 1) / 1000 for u, a in zip(USER_TURNS, AGENT_TURNS, strict=True)
    ]
    assert value(metrics, "voxroom_turn_latency_seconds_sum", stage="total") == pytest.approx(
        sum(totals)
    )
    # 1.4 s, 0.9 s and 1.0 s: none under 0.75 s, all under 1.5 s.
    assert value(metrics, "voxroom_turn_latency_seconds_bucket", stage="total", le="0.75") == 0
    assert value(metrics, "voxroom_turn_latency_seconds_bucket", stage="total", le="1.5") == 3

    prompt = 150 + sum(180 + 40 * t for t in (1, 2, 3))  # the tool step's request, then 3
    completion = 18 + sum(12 + t for t in (1, 2, 3))
    assert value(metrics, "voxroom_llm_tokens_total", kind="prompt", **llm) == prompt
    assert value(metrics, "voxroom_llm_tokens_total", kind="completion", **llm) == completion
    assert value(metrics, "voxroom_llm_requests_total", **llm) == 4
    assert value(metrics, "voxroom_llm_responses_total", finish_reason="stop", **llm) == 4
    assert value(metrics, "voxroom_llm_time_to_first_token_seconds_count", **llm) == 4

    llm_cost = (prompt * 0.15 + completion * 0.6) / 1e6
    assert value(
        metrics, "voxroom_cost_total", currency="USD", provider="openai-compatible", kind="llm"
    ) == pytest.approx(llm_cost)
    stt_seconds = sum(round(end - start, 2) for _, start, end, _ in USER_TURNS)
    assert value(
        metrics, "voxroom_cost_total", currency="USD", provider="openai-stt", kind="stt"
    ) == pytest.approx(stt_seconds / 60 * 0.006)
    tts_chars = sum(len(a[3]) for a in AGENT_TURNS[:2])  # the third went to espeak-ng: free
    assert value(
        metrics, "voxroom_cost_total", currency="USD", provider="openai-tts", kind="tts"
    ) == pytest.approx(tts_chars * 15.0 / 1e6)
    assert value(metrics, "voxroom_tts_characters_total", provider="espeak-ng") == len(
        AGENT_TURNS[2][3]
    )
    assert value(
        metrics, "voxroom_stt_audio_seconds_total", provider="openai-stt", purpose="final"
    ) == pytest.approx(stt_seconds)

    assert value(metrics, "voxroom_errors_total", component="tts") == 1
    assert value(metrics, "voxroom_barge_ins_total") == 1
    assert value(metrics, "voxroom_agent_replies_total") == 3
    assert value(metrics, "voxroom_user_turns_total", source="voice") == 3
    assert value(metrics, "voxroom_tool_calls_total", tool="book_taxi", outcome="ok") == 1
    assert value(metrics, "voxroom_events_total", type="session_started") == 1


def test_active_sessions_gauge() -> None:
    metrics = VoxroomMetrics()
    a, b = SessionEventLog("a"), SessionEventLog("b")
    for log in (a, b):
        log.subscribe(metrics.observe)
        log.emit(ev.SessionStarted(agent="concierge", transport="memory"))
    assert value(metrics, "voxroom_sessions_active", agent="concierge") == 2
    assert value(metrics, "voxroom_sessions_started_total", agent="concierge") == 2

    a.emit(ev.SessionEnded(reason="peer left"))
    assert value(metrics, "voxroom_sessions_active", agent="concierge") == 1
    assert value(metrics, "voxroom_sessions_ended_total", agent="concierge") == 1
    # An end without a start this observer saw never drives the gauge below zero.
    stray = SessionEventLog("c")
    stray.subscribe(metrics.observe)
    stray.emit(ev.SessionEnded(reason="peer left"))
    assert value(metrics, "voxroom_sessions_active", agent="concierge") == 1


def test_each_app_has_its_own_registry() -> None:
    first, second = VoxroomMetrics(), VoxroomMetrics()  # no "duplicated timeseries" error
    session(first, "s1")
    assert value(first, "voxroom_sessions_started_total", agent="hotel concierge") == 1
    assert value(second, "voxroom_sessions_started_total", agent="hotel concierge") == 0


async def test_metrics_route_serves_the_exposition(audit_app: AuditApp) -> None:
    metrics = audit_app.app[METRICS]
    session(metrics, "s1")
    live = ScriptedLog("s2")
    live.subscribe(metrics.observe)
    live.at(0.0, ev.SessionStarted(agent="help desk", transport="memory"))

    response = await audit_app.client.get("/metrics")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    found = samples(text)
    assert found[("voxroom_sessions_active", (("agent", "help desk"),))] == 1
    assert found[("voxroom_sessions_active", (("agent", "hotel concierge"),))] == 0
    assert found[("voxroom_barge_ins_total", ())] == 1
    assert found[("voxroom_turn_latency_seconds_count", (("stage", "total"),))] == 3
    key = (("kind", "prompt"), ("model", "gpt-4o-mini"), ("provider", "openai-compatible"))
    assert found[("voxroom_llm_tokens_total", key)] > 0
    assert found[("voxroom_errors_total", (("component", "tts"),))] == 1
    assert "# HELP voxroom_turn_latency_seconds" in text
    assert "# TYPE voxroom_cost_total counter" in text
    openmetrics = await audit_app.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await openmetrics.text()).rstrip().endswith("# EOF")


# --- OpenTelemetry ---------------------------------------------------------------------------
class FakeSpan:
    def __init__(self, name: str, parent: FakeSpan | None, start: int, attrs: dict[str, Any]):
        self.name, self.parent, self.start, self.attributes = name, parent, start, dict(attrs)
        self.end_time: int | None = None
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.status: Any = None

    def end(self, end_time: int) -> None:
        self.end_time = end_time

    def add_event(self, name: str, attributes: dict[str, Any], timestamp: int) -> None:
        self.events.append((name, attributes))

    def set_status(self, status: Any) -> None:
        self.status = status

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value


class FakeTracer:
    def __init__(self) -> None:
        self.spans: list[FakeSpan] = []

    def start_span(
        self,
        name: str,
        context: FakeSpan | None = None,
        start_time: int = 0,
        attributes: dict[str, Any] | None = None,
    ) -> FakeSpan:
        span = FakeSpan(name, context, start_time, attributes or {})
        self.spans.append(span)
        return span


def test_spans_from_events() -> None:
    tracer = FakeTracer()
    spans = EventSpans(tracer, in_context=lambda span: span, error_status=lambda d: ("ERROR", d))
    log = ScriptedLog("s1")
    log.subscribe(spans.observe)
    emit_voice_session(log)

    names = [s.name for s in tracer.spans]
    root = tracer.spans[0]
    assert root.name == "voxroom.session" and root.parent is None
    assert names.count("voxroom.llm") == 4 and names.count("voxroom.turn") == 3
    assert names.count("voxroom.stt") == 3 and names.count("voxroom.tts") == 3
    assert names.count("voxroom.tool") == 1
    for span in tracer.spans[1:]:
        assert span.parent is root and span.end_time is not None
        assert span.end_time >= span.start >= root.start, span.name
    assert root.end_time is not None and root.attributes["voxroom.end_reason"] == "peer left"
    llm = next(s for s in tracer.spans if s.name == "voxroom.llm")
    assert llm.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert llm.attributes["gen_ai.usage.input_tokens"] == 150
    turn = next(s for s in tracer.spans if s.name == "voxroom.turn")
    assert turn.end_time is not None
    assert (turn.end_time - turn.start) / 1e9 == pytest.approx(1.4, abs=1e-3)
    assert root.events[0][0] == "error" and root.status[0] == "ERROR"


def test_otel_observer_is_optional() -> None:
    """With the API installed (no SDK) spans are no-ops; without it there is no observer."""
    observer = otel_observer()
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        assert observer is None
        return
    assert observer is not None
    log = ScriptedLog("s1")
    log.subscribe(observer.observe)
    emit_voice_session(log)  # must not raise
