"""Prometheus metrics derived from the session events (the same events the audit trail stores).

`VoxroomMetrics.observe` is a session-log subscriber: attach it to every session's
`SessionEventLog`, and `GET /metrics` serves the text exposition format. It runs inside
`emit`, so it only updates counters (no I/O, no locks held for long). Each app owns its own
`CollectorRegistry`, never the process-global one, so several apps (tests) can coexist.

Durations are in seconds (Prometheus' base unit): a turn's `total_ms` is observed as
`voxroom_turn_latency_seconds{stage="total"}`. Costs are priced with the audit price table,
so they agree with the stored session totals.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from voxroom.audit.cost import PriceTable
from voxroom.audit.events import (
    AgentSpeech,
    ErrorOccurred,
    Event,
    HandedOff,
    LLMRequested,
    LLMResponded,
    Redispatched,
    SessionEnded,
    SessionStarted,
    STTUsage,
    ToolCalled,
    TTSUsage,
    TurnMetricsRecorded,
    UserTranscript,
)
from voxroom.providers import sharing

# Turn stages, as `turn_metrics` fields (…_ms) → the `stage` label.
TURN_STAGES = (
    "eot_wait",
    "confirm",
    "stt",
    "llm_first_token",
    "first_sentence",
    "tts_first_chunk",
    "total",
)
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
PROVIDER_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class VoxroomMetrics:
    def __init__(
        self, prices: PriceTable | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        self.prices = prices or PriceTable.load()
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._agents: dict[str, str] = {}  # live session id → agent name (label of its end)
        r = self.registry
        self.events = Counter("voxroom_events", "Session events, by type.", ["type"], registry=r)
        self.sessions_started = Counter(
            "voxroom_sessions_started", "Sessions started.", ["agent"], registry=r
        )
        self.sessions_ended = Counter(
            "voxroom_sessions_ended", "Sessions ended.", ["agent"], registry=r
        )
        self.sessions_active = Gauge(
            "voxroom_sessions_active", "Sessions running now.", ["agent"], registry=r
        )
        self.user_turns = Counter(
            "voxroom_user_turns", "Final user turns, by source (voice or chat).", ["source"],
            registry=r,
        )  # fmt: skip
        self.agent_replies = Counter(
            "voxroom_agent_replies", "Agent replies that ended (played, whole or in part).",
            registry=r,
        )  # fmt: skip
        self.barge_ins = Counter(
            "voxroom_barge_ins", "Agent replies cut off by the user (interrupted).", registry=r
        )
        self.turn_latency = Histogram(
            "voxroom_turn_latency_seconds",
            "Per-turn latency breakdown (turn_metrics), by stage; total = end of user speech "
            "to first agent audio.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_requests = Counter(
            "voxroom_llm_requests", "LLM requests.", ["provider", "model"], registry=r
        )
        self.llm_responses = Counter(
            "voxroom_llm_responses", "LLM responses, by finish reason.",
            ["provider", "model", "finish_reason"], registry=r,
        )  # fmt: skip
        self.llm_tokens = Counter(
            "voxroom_llm_tokens", "LLM tokens, kind = prompt | completion.",
            ["provider", "model", "kind"], registry=r,
        )  # fmt: skip
        self.llm_ttft = Histogram(
            "voxroom_llm_time_to_first_token_seconds", "LLM time to first token.",
            ["provider", "model"], buckets=PROVIDER_BUCKETS, registry=r,
        )  # fmt: skip
        self.llm_duration = Histogram(
            "voxroom_llm_duration_seconds", "LLM request duration.",
            ["provider", "model"], buckets=PROVIDER_BUCKETS, registry=r,
        )  # fmt: skip
        self.stt_audio = Counter(
            "voxroom_stt_audio_seconds", "Audio seconds transcribed.", ["provider", "purpose"],
            registry=r,
        )  # fmt: skip
        self.stt_duration = Histogram(
            "voxroom_stt_duration_seconds", "STT request duration.", ["provider", "purpose"],
            buckets=PROVIDER_BUCKETS, registry=r,
        )  # fmt: skip
        self.tts_characters = Counter(
            "voxroom_tts_characters", "Characters synthesized.", ["provider"], registry=r
        )
        self.tts_audio = Counter(
            "voxroom_tts_audio_seconds", "Audio seconds synthesized.", ["provider"], registry=r
        )
        self.cost = Counter(
            "voxroom_cost", "What sessions cost (audit price table), kind = llm | stt | tts.",
            ["currency", "provider", "kind"], registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "voxroom_errors", "Errors reported by sessions, by component.", ["component"],
            registry=r,
        )  # fmt: skip
        self.tool_calls = Counter(
            "voxroom_tool_calls",
            "Tool calls, outcome = ok | error | refused (side effects nobody asked for).",
            ["tool", "outcome"],
            registry=r,
        )  # fmt: skip
        # How the process's shared models serve sessions at once (STT batch sizes, LLM
        # generations per decode step): measured by the providers, process-wide.
        r.register(_SharingCollector())
        self.tool_duration = Histogram(
            "voxroom_tool_duration_seconds", "Tool call duration.", ["tool"],
            buckets=PROVIDER_BUCKETS, registry=r,
        )  # fmt: skip

    def observe(self, event: Event) -> None:
        """Count one event (a SessionEventLog subscriber)."""
        self.events.labels(event.type).inc()
        if isinstance(event, SessionStarted):
            self._agents[event.session_id] = event.agent
            self.sessions_started.labels(event.agent).inc()
            self.sessions_active.labels(event.agent).inc()
        elif isinstance(event, Redispatched):  # continued here: active again, not new
            self._agents[event.session_id] = event.agent
            self.sessions_active.labels(event.agent).inc()
        elif isinstance(event, SessionEnded | HandedOff):
            agent = self._agents.pop(event.session_id, None)
            if agent is not None:
                if isinstance(event, SessionEnded):
                    self.sessions_ended.labels(agent).inc()
                self.sessions_active.labels(agent).dec()
        elif isinstance(event, UserTranscript):
            if event.final:
                self.user_turns.labels(event.source).inc()
        elif isinstance(event, AgentSpeech):
            if event.final:
                self.agent_replies.inc()
                if event.interrupted:
                    self.barge_ins.inc()
        elif isinstance(event, TurnMetricsRecorded):
            for stage in TURN_STAGES:
                value = getattr(event, f"{stage}_ms")
                if value is not None:
                    self.turn_latency.labels(stage).observe(max(0.0, value) / 1000)
        elif isinstance(event, LLMRequested):
            self.llm_requests.labels(event.provider, event.model).inc()
        elif isinstance(event, LLMResponded):
            self._llm_response(event)
        elif isinstance(event, STTUsage):
            self.stt_audio.labels(event.provider, event.purpose).inc(event.audio_seconds)
            seconds = event.duration_ms / 1000
            self.stt_duration.labels(event.provider, event.purpose).observe(seconds)
            self._cost(event, event.provider, "stt")
        elif isinstance(event, TTSUsage):
            self.tts_characters.labels(event.provider).inc(event.characters)
            self.tts_audio.labels(event.provider).inc(event.audio_seconds)
            self._cost(event, event.provider, "tts")
        elif isinstance(event, ErrorOccurred):
            self.errors.labels(event.component).inc()
        elif isinstance(event, ToolCalled):
            outcome = "refused" if event.refused else "error" if event.error else "ok"
            self.tool_calls.labels(event.name, outcome).inc()
            self.tool_duration.labels(event.name).observe(event.duration_ms / 1000)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition the `Accept` header asks for (OpenMetrics or, by default, the
        Prometheus text format 0.0.4), and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    # --- internals ---------------------------------------------------------------------------
    def _llm_response(self, event: LLMResponded) -> None:
        provider, model = event.provider, event.model
        self.llm_responses.labels(provider, model, event.finish_reason).inc()
        if event.prompt_tokens:
            self.llm_tokens.labels(provider, model, "prompt").inc(event.prompt_tokens)
        if event.completion_tokens:
            self.llm_tokens.labels(provider, model, "completion").inc(event.completion_tokens)
        if event.ttft_ms is not None:
            self.llm_ttft.labels(provider, model).observe(event.ttft_ms / 1000)
        self.llm_duration.labels(provider, model).observe(event.duration_ms / 1000)
        self._cost(event, provider, "llm")

    def _cost(self, event: Event, provider: str, kind: str) -> None:
        cost = self.prices.usage_of(event).cost
        if cost > 0:
            self.cost.labels(self.prices.currency, provider, kind).inc(cost)


class _SharingCollector(Collector):
    """`providers.sharing`'s histograms, served with the app's own metrics."""

    def collect(self) -> Iterable[Metric]:
        return sharing.REGISTRY.collect()


METRICS = web.AppKey("metrics", VoxroomMetrics)


def add_metrics_route(app: web.Application, metrics: VoxroomMetrics) -> None:
    """`GET /metrics`. Unauthenticated, like most scrape targets: it holds aggregates only
    (no session ids, no text); keep it off public interfaces with the usual network rules."""
    app[METRICS] = metrics
    app.router.add_get("/metrics", serve_metrics)


async def serve_metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render(request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})
