"""What a session cost: a price table per provider and model, applied to the usage events.

The table is a JSON file (`AuditConfig.prices`; the packaged `prices.json` by default):
local providers at zero, remote ones per 1M prompt/completion tokens, per audio minute of
STT and per 1M characters of TTS. A provider missing from the table costs 0 and is logged
once, so a new remote model shows up in the logs rather than silently as free.

Usage is attributed to a session's participants (`attribute`): each person by identity, and
the agent, from the events alone: no stored column holds it, so sessions recorded before
attribution existed are attributed too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
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
    name: str | None = None  # display name, when the session logged one

    def as_dict(self) -> dict[str, Any]:
        named = {"name": self.name} if self.name else {}
        return {"role": self.role, "identity": self.identity, **named, **self.usage.as_dict()}


@dataclass
class SessionUsage:
    total: Usage = field(default_factory=Usage)
    turns: dict[int, Usage] = field(default_factory=dict)
    # Every usage event is attributed to exactly one participant: they add up to `total`.
    humans: dict[str | None, ParticipantUsage] = field(default_factory=dict)  # join order
    agent: ParticipantUsage = field(default_factory=lambda: ParticipantUsage("agent"))

    def human(self, identity: str | None) -> ParticipantUsage:
        """The person `identity`; None (events from before they carried a participant) is the
        session's one person."""
        if identity is None and len(self.humans) == 1:
            return next(iter(self.humans.values()))
        if identity not in self.humans:
            self.humans[identity] = ParticipantUsage("user", identity)
        return self.humans[identity]

    @property
    def participants(self) -> list[ParticipantUsage]:
        """The people in join order, then the agent."""
        return [*self.humans.values(), self.agent]

    def add(self, turn_id: int | None, usage: Usage, to: ParticipantUsage | None) -> None:
        self.total.add(usage)
        if turn_id is not None:
            self.turns.setdefault(turn_id, Usage()).add(usage)
        if to is not None:
            to.usage.add(usage)

    def by_participant(self) -> list[dict[str, Any]]:
        """The people first, then the agent: role, identity and their usage totals."""
        return [participant.as_dict() for participant in self.participants]


def attribute(
    event: Event, user_turns: Mapping[int, str | None], usage: SessionUsage
) -> ParticipantUsage | None:
    """Whose usage `event` is (None: it uses nothing). Speech-to-text only ever transcribes
    a person's audio, so it is theirs, turn or noise. An LLM response or a synthesized
    sentence belongs to whoever started its turn: the person who spoke or typed in it
    (`user_turns`: turn → its speaker, from the user transcripts), else the agent (greeting,
    `say`)."""
    if isinstance(event, STTUsage):
        return usage.human(event.participant)
    if isinstance(event, LLMResponded | TTSUsage):
        if event.turn_id in user_turns:
            return usage.human(event.participant or user_turns[event.turn_id])
        return usage.agent
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
        usage = SessionUsage()
        # A first pass, so attribution does not depend on the order the events were logged in.
        user_turns: dict[int, str | None] = {}
        for event in events:
            if isinstance(event, UserTranscript):
                user_turns[event.turn_id] = event.participant
            elif isinstance(event, ParticipantJoined) and event.role == "user":
                usage.human(event.identity).name = event.name
            elif isinstance(event, ParticipantJoined):
                usage.agent.identity = event.identity
            elif isinstance(event, SessionStarted) and usage.agent.identity is None:
                usage.agent.identity = event.agent  # sessions recorded before participant_joined
        for event in events:
            to = attribute(event, user_turns, usage)
            usage.add(getattr(event, "turn_id", None), self.usage_of(event), to)
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
