"""The price table: lookups, the three kinds of usage, per-turn and per-session totals."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from voxroom.audit import events as ev
from voxroom.audit.cost import ModelPrice, PriceTable, Usage


def llm(
    turn: int,
    prompt: int,
    completion: int,
    model: str = "gpt-4o-mini",
    participant: str | None = None,
) -> ev.LLMResponded:
    return ev.LLMResponded(
        turn_id=turn, provider="openai-compatible", model=model, text="ok",
        finish_reason="stop", prompt_tokens=prompt, completion_tokens=completion,
        duration_ms=10.0, participant=participant,
    )  # fmt: skip


@pytest.fixture
def table(tmp_path: Path) -> PriceTable:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "currency": "EUR",
                "prices": [
                    {"provider": "remote-stt", "stt_per_minute": 0.006},
                    {"provider": "remote-tts", "tts_per_1m_chars": 15.0},
                    {"provider": "openai-compatible", "prompt_per_1m": 1.0},
                    {"provider": "openai-compatible", "model": "big", "prompt_per_1m": 10.0,
                     "completion_per_1m": 30.0},
                ],
            }
        )
    )  # fmt: skip
    return PriceTable.load(path)


def test_packaged_table_prices_local_providers_at_zero() -> None:
    table = PriceTable.load()
    for provider in ("llama.cpp", "faster-whisper", "piper", "espeak-ng"):
        price = table.lookup(provider, "whatever")
        assert price is not None and price.prompt_per_1m == price.stt_per_minute == 0
    assert table.usage_of(llm(1, 1_000_000, 1_000_000, model="gpt-4o-mini")).cost == 0.75


def test_llm_cost_per_million_tokens(table: PriceTable) -> None:
    usage = table.usage_of(llm(1, 2_000, 500, model="big"))
    assert usage.prompt_tokens == 2_000 and usage.completion_tokens == 500
    assert usage.cost == pytest.approx(2_000 * 10 / 1e6 + 500 * 30 / 1e6)
    # Any other model of the provider: its "*" entry.
    assert table.usage_of(llm(1, 3_000_000, 7)).cost == pytest.approx(3.0)


def test_stt_per_minute_and_tts_per_million_characters(table: PriceTable) -> None:
    stt = ev.STTUsage(
        turn_id=1, provider="remote-stt", audio_seconds=90.0, duration_ms=5.0, purpose="final"
    )
    tts = ev.TTSUsage(
        turn_id=1, provider="remote-tts", characters=200_000, audio_seconds=9.0, duration_ms=5.0
    )
    assert table.usage_of(stt).cost == pytest.approx(1.5 * 0.006)
    assert table.usage_of(stt).stt_seconds == 90.0
    assert table.usage_of(tts).cost == pytest.approx(3.0)
    assert table.usage_of(tts).tts_characters == 200_000


def test_per_turn_and_session_totals(table: PriceTable) -> None:
    events = [
        llm(1, 1_000, 0),
        llm(1, 2_000, 0),
        llm(2, 4_000, 0, model="big"),
        ev.StateChanged(state="thinking"),
        ev.TTSUsage(
            turn_id=2, provider="remote-tts", characters=1000, audio_seconds=1.0, duration_ms=1.0
        ),
    ]
    usage = table.summarize(events)
    assert usage.turns[1].cost == pytest.approx(0.003)
    assert usage.turns[2].cost == pytest.approx(0.04 + 0.015)
    assert usage.total.cost == pytest.approx(0.003 + 0.04 + 0.015)
    assert usage.total.prompt_tokens == 7_000 and usage.total.tts_characters == 1000


def test_missing_token_counts_cost_nothing(table: PriceTable) -> None:
    event = llm(1, 0, 0, model="big")
    event.prompt_tokens = event.completion_tokens = None  # e.g. a cancelled stream
    assert table.usage_of(event).cost == 0


def test_unpriced_provider_is_free_and_logged_once(
    table: PriceTable, caplog: pytest.LogCaptureFixture
) -> None:
    event = ev.LLMResponded(
        turn_id=1, provider="mystery", model="m", text="", finish_reason="stop",
        prompt_tokens=10, duration_ms=1.0,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert table.usage_of(event).cost == 0
        assert table.usage_of(event).cost == 0
    assert len([r for r in caplog.records if "no price" in r.message]) == 1


def test_exact_model_wins_over_wildcard_in_any_order() -> None:
    table = PriceTable(
        prices=[
            ModelPrice(provider="p", model="m", prompt_per_1m=2.0),
            ModelPrice(provider="p", prompt_per_1m=1.0),
        ]
    )
    assert table.lookup("p", "m") is table.prices[0]
    assert table.lookup("p", "other") is table.prices[1]
    assert table.lookup("q", "m") is None


def test_invalid_table_says_where(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"prices": [{"provider": "x", "prompt_per_1m": "cheap"}]}')
    with pytest.raises(ValueError, match=r"prices.json is not valid"):
        PriceTable.load(path)


# --- attribution to participants ------------------------------------------------------------
def stt(turn: int, seconds: float, participant: str | None = None) -> ev.STTUsage:
    return ev.STTUsage(
        turn_id=turn, provider="remote-stt", audio_seconds=seconds, duration_ms=5.0,
        purpose="final", participant=participant,
    )  # fmt: skip


def tts(turn: int, characters: int, participant: str | None = None) -> ev.TTSUsage:
    return ev.TTSUsage(
        turn_id=turn, provider="remote-tts", characters=characters, audio_seconds=1.0,
        duration_ms=5.0, participant=participant,
    )  # fmt: skip


def test_usage_is_attributed_to_whoever_started_the_turn(table: PriceTable) -> None:
    events = [
        ev.SessionStarted(agent="concierge", transport="memory"),
        ev.ParticipantJoined(identity="alice@example", role="user"),
        ev.ParticipantJoined(identity="concierge", role="agent"),
        tts(1, 1_000),  # turn 1: the agent's greeting, no user transcript
        stt(2, 60.0),  # turn 2: a noise, transcribed to nothing: still the human's audio
        stt(3, 30.0),
        ev.UserTranscript(turn_id=3, text="book a taxi", final=True),
        llm(3, 2_000, 500, model="big"),
        tts(3, 3_000),
        llm(4, 1_000_000, 0),  # turn 4: typed; its transcript is logged after (order-free)
        ev.UserTranscript(turn_id=4, text="thanks", final=True, source="chat"),
    ]
    usage = table.summarize(events)
    user, agent = usage.participants
    assert (user.identity, agent.identity) == ("alice@example", "concierge")

    assert agent.usage.tts_characters == 1_000
    assert agent.usage.prompt_tokens == agent.usage.completion_tokens == 0
    assert agent.usage.stt_seconds == 0
    assert agent.usage.cost == pytest.approx(1_000 * 15.0 / 1e6)

    assert user.usage.stt_seconds == 90.0
    assert user.usage.prompt_tokens == 1_002_000 and user.usage.completion_tokens == 500
    assert user.usage.tts_characters == 3_000
    expected = 1.5 * 0.006 + (2_000 * 10 + 500 * 30) / 1e6 + 3_000 * 15.0 / 1e6 + 1.0
    assert user.usage.cost == pytest.approx(expected)

    # Every usage event goes to exactly one participant: the parts add up to the session.
    for name in ("prompt_tokens", "completion_tokens", "stt_seconds", "tts_characters", "cost"):
        parts = getattr(user.usage, name) + getattr(agent.usage, name)
        assert parts == pytest.approx(getattr(usage.total, name)), name
    assert usage.by_participant() == [
        {"role": "user", "identity": "alice@example", **user.usage.as_dict()},
        {"role": "agent", "identity": "concierge", **agent.usage.as_dict()},
    ]


def test_sessions_recorded_before_participants_were_named(table: PriceTable) -> None:
    """No participant_joined: the agent is named by session_started, the human by nobody."""
    events = [
        ev.SessionStarted(agent="concierge", transport="memory"),
        ev.UserTranscript(turn_id=1, text="hi", final=True),
        llm(1, 100, 10),
    ]
    usage = table.summarize(events)
    user, agent = usage.participants
    assert user.identity is None
    assert user.usage.prompt_tokens == 100
    assert agent.identity == "concierge"
    assert agent.usage == Usage()


def test_in_a_room_each_person_pays_for_their_own_turns(table: PriceTable) -> None:
    events = [
        ev.SessionStarted(agent="Nova", transport="JanusRoomTransport"),
        ev.ParticipantJoined(identity="Nova", role="agent"),
        ev.ParticipantJoined(identity="ann", role="user", name="Ann"),
        ev.ParticipantJoined(identity="bob", role="user", name="Bob"),
        stt(1, 30.0, participant="ann"),
        ev.UserTranscript(turn_id=1, participant="ann", text="Nova, hi", final=True),
        llm(1, 1_000, 10, participant="ann"),
        tts(1, 100, participant="ann"),
        stt(2, 60.0, participant="bob"),  # Bob talks to Ann: transcribed, not answered
        ev.UserTranscript(turn_id=2, participant="bob", text="Ann, lunch?", final=True),
        tts(3, 50),  # the agent greets someone on its own
    ]
    usage = table.summarize(events)
    ann, bob, agent = usage.participants

    assert (ann.identity, ann.name, bob.identity, agent.identity) == ("ann", "Ann", "bob", "Nova")
    assert (ann.usage.stt_seconds, ann.usage.prompt_tokens, ann.usage.tts_characters) == (
        30.0,
        1_000,
        100,
    )
    assert (bob.usage.stt_seconds, bob.usage.prompt_tokens) == (60.0, 0)
    assert agent.usage.tts_characters == 50
    assert [p["identity"] for p in usage.by_participant()] == ["ann", "bob", "Nova"]
