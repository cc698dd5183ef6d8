"""What a session cost: a price table per provider and model, applied to the usage events.

The table is a JSON file (`AuditConfig.prices`; the packaged `prices.json` by default):
local providers at zero, remote ones per 1M prompt/completion tokens, per audio minute of
STT and per 1M characters of TTS. A provider missing from the table costs 0 and is logged
once, so a new remote model shows up in the logs rather than silently as free.

Usage is attributed to a session's participants by role (`attribute`), from the events alone:
no stored column holds it, so sessions recorded before attribution existed are attributed too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Container, Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from voxroom.audit.events import (
    Event,
    LLMResponded,
    ParticipantJoined,
    ParticipantRole,
    SessionStarted,
    STTUsage,
    TTSUsage,
    UserTranscript,
)

log = logging.getLogger(__name__)

ANY_MODEL = "*"


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str  # the provider's `name` as events carry it, e.g. "llama.cpp"
    model: str = ANY_MODEL  # exact model name, or "*" for any model of the provider
    prompt_per_1m: float = 0.0  # per million prompt tokens
    completion_per_1m: float = 0.0  # per million completion tokens
    stt_per_minute: float = 0.0  # per minute of audio transcribed
    tts_per_1m_chars: float = 0.0  # per million characters synthesized
    note: str = ""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stt_seconds: float = 0.0
    tts_characters: int = 0
    cost: float = 0.0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.stt_seconds += other.stt_seconds
        self.tts_characters += other.tts_characters
        self.cost += other.cost

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ParticipantUsage:
    role: ParticipantRole
    identity: str | None = None  # None: the session names nobody (recorded before it did)
    usage: Usage = field(default_factory=Usage)

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "identity": self.identity, **self.usage.as_dict()}


def _participants() -> dict[ParticipantRole, ParticipantUsage]:
    return {"user": ParticipantUsage("user"), "agent": ParticipantUsage("agent")}


@dataclass
class SessionUsage:
    total: Usage = field(default_factory=Usage)
    turns: dict[int, Usage] = field(default_factory=dict)
    # Every usage event is attributed to exactly one of the two: they add up to `total`.
    participants: dict[ParticipantRole, ParticipantUsage] = field(default_factory=_participants)

    def add(self, turn_id: int | None, usage: Usage, role: ParticipantRole | None = None) -> None:
        self.total.add(usage)
        if turn_id is not None:
            self.turns.setdefault(turn_id, Usage()).add(usage)
        if role is not None:
            self.participants[role].usage.add(usage)

    def by_participant(self) -> list[dict[str, Any]]:
        """The human first, then the agent: role, identity and their usage totals."""
        return [participant.as_dict() for participant in self.participants.values()]


def attribute(event: Event, user_turns: Container[int]) -> ParticipantRole | None:
    """Whose usage `event` is (None: it uses nothing). Speech-to-text only ever transcribes
    the human's audio, so it is theirs, turn or noise. An LLM response or a synthesized
    sentence belongs to whoever started its turn: the human if they spoke or typed in it
    (`user_turns`: the turns with a user transcript), else the agent (greeting, `say`)."""
    if isinstance(event, STTUsage):
        return "user"
    if isinstance(event, LLMResponded | TTSUsage):
        return "user" if event.turn_id in user_turns else "agent"
    return None


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = "USD"
    prices: list[ModelPrice]
    _unpriced: set[tuple[str, str]] = PrivateAttr(default_factory=set)

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The table in `path`, or the packaged default. Read once at start-up."""
        if path is None:
            text = resources.files("voxroom.audit").joinpath("prices.json").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        try:
            return cls.model_validate(json.loads(text))
        except (ValueError, TypeError) as exc:
            where = path or "packaged prices.json"
            raise ValueError(f"price table {where} is not valid: {exc}") from exc

    def lookup(self, provider: str, model: str | None = None) -> ModelPrice | None:
        """The exact (provider, model) entry, else the provider's "*" entry."""
        wildcard = None
        for price in self.prices:
            if price.provider != provider:
                continue
            if model is not None and price.model == model:
                return price
            if price.model == ANY_MODEL:
                wildcard = price
        return wildcard

    def usage_of(self, event: Event) -> Usage:
        """Usage and cost that one event accounts for (zero for events that use nothing)."""
        if isinstance(event, LLMResponded):
            prompt, completion = event.prompt_tokens or 0, event.completion_tokens or 0
            price = self._price(event.provider, event.model)
            cost = (prompt * price.prompt_per_1m + completion * price.completion_per_1m) / 1e6
            return Usage(prompt_tokens=prompt, completion_tokens=completion, cost=cost)
        if isinstance(event, STTUsage):
            price = self._price(event.provider, None)
            cost = event.audio_seconds / 60 * price.stt_per_minute
            return Usage(stt_seconds=event.audio_seconds, cost=cost)
        if isinstance(event, TTSUsage):
            price = self._price(event.provider, None)
            cost = event.characters * price.tts_per_1m_chars / 1e6
            return Usage(tts_characters=event.characters, cost=cost)
        return Usage()

    def summarize(self, events: Iterable[Event]) -> SessionUsage:
        """Per-turn, per-participant and per-session totals of a session's events."""
        events = list(events)
        # A first pass, so attribution does not depend on the order the events were logged in.
        user_turns = {event.turn_id for event in events if isinstance(event, UserTranscript)}
        usage = SessionUsage()
        agent = usage.participants["agent"]
        for event in events:
            if isinstance(event, ParticipantJoined):
                usage.participants[event.role].identity = event.identity
            elif isinstance(event, SessionStarted) and agent.identity is None:
                agent.identity = event.agent  # sessions recorded before participant_joined
            role = attribute(event, user_turns)
            usage.add(getattr(event, "turn_id", None), self.usage_of(event), role)
        return usage

    def _price(self, provider: str, model: str | None) -> ModelPrice:
        price = self.lookup(provider, model)
        if price is not None:
            return price
        key = (provider, model or ANY_MODEL)
        if key not in self._unpriced:
            self._unpriced.add(key)
            log.warning("no price for provider %r model %r: counted as 0", provider, key[1])
        return ModelPrice(provider=provider)
