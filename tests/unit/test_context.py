"""agent/context.py, agent/timing.py and providers/prompt.py: what the model is shown."""

from __future__ import annotations

import pytest

from voxroom.agent.context import MAX_HISTORY_MESSAGES, ChatContext, UserTurn
from voxroom.agent.timing import TurnTimings
from voxroom.providers.base import ChatMessage
from voxroom.providers.prompt import ASSISTANT_PREFIX, COMPLETION_STOPS, completion_prompt


def test_messages_start_with_instructions_and_examples() -> None:
    context = ChatContext("Be nice.", [("Q1?", "A1."), ("Q2?", "A2.")])

    messages = context.messages_for(UserTurn(1, "Hello?", "chat"))

    assert messages == [
        ChatMessage("system", "Be nice."),
        ChatMessage("user", "Q1?"),
        ChatMessage("assistant", "A1."),
        ChatMessage("user", "Q2?"),
        ChatMessage("assistant", "A2."),
        ChatMessage("user", "Hello?"),
    ]


def test_exchanges_are_recorded_with_the_played_text_and_interruption() -> None:
    context = ChatContext("Be nice.", [])
    context.add_exchange("hi", "Hello there.", interrupted=True)
    context.add_exchange("are you there", "", interrupted=True)  # nothing was heard

    assert context.history == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "Hello there.", interrupted=True),
        ChatMessage("user", "are you there"),
    ]


def test_history_is_capped_but_the_preamble_is_kept() -> None:
    context = ChatContext("Be nice.", [("Q?", "A.")])
    for i in range(20):
        context.add_exchange(f"u{i}", f"a{i}", interrupted=False)

    messages = context.messages_for(UserTurn(21, "now", "voice"))

    assert messages[:3] == [
        ChatMessage("system", "Be nice."),
        ChatMessage("user", "Q?"),
        ChatMessage("assistant", "A."),
    ]
    history = messages[3:-1]
    assert len(history) == MAX_HISTORY_MESSAGES
    assert history[-1] == ChatMessage("assistant", "a19")
    assert messages[-1] == ChatMessage("user", "now")


def test_turn_context_is_shown_once_before_the_user_message() -> None:
    context = ChatContext("Be nice.", [])
    turn = UserTurn(1, "When?", "chat")
    turn.add_context("  Opens at nine. ")
    turn.add_context("   ")  # blank: ignored

    messages = context.messages_for(turn)

    assert messages[-2:] == [
        ChatMessage("system", "Context: Opens at nine."),
        ChatMessage("user", "When?"),
    ]
    assert context.history == []


def test_completion_prompt_formats_a_few_shot_transcript() -> None:
    prompt = completion_prompt(
        [
            ChatMessage("system", "Be nice. "),
            ChatMessage("user", " Hi "),
            ChatMessage("assistant", "Hello.", interrupted=False),
            ChatMessage("user", "Tell me"),
            ChatMessage("assistant", "Once upon", interrupted=True),
            ChatMessage("user", "stop"),
        ]
    )

    assert prompt == (
        "Be nice.\n"
        "\n"
        "User: Hi\n"
        "Assistant: Hello.\n"
        "User: Tell me\n"
        "Assistant: Once upon\n"  # heard words only: a base model imitates any mark
        "User: stop\n"
        "Assistant:"
    )
    assert prompt.endswith(ASSISTANT_PREFIX)
    assert "\nUser:" in COMPLETION_STOPS


def test_turn_metrics_from_timings() -> None:
    timings = TurnTimings(
        turn_id=4,
        speech_end=10.0,
        end_of_turn=10.5,
        transcript_ready=10.6,
        llm_request=10.6,
        llm_first_token=10.75,
        first_sentence=10.9,
        tts_first_chunk=11.0,
        first_audio_sent=11.05,
        speculative_stt=True,
    )

    metrics = timings.metrics()

    assert metrics.turn_id == 4
    assert metrics.eot_wait_ms == pytest.approx(500.0)
    assert metrics.stt_ms == pytest.approx(100.0)
    assert metrics.llm_first_token_ms == pytest.approx(150.0)
    assert metrics.first_sentence_ms == pytest.approx(400.0)
    assert metrics.tts_first_chunk_ms == pytest.approx(100.0)
    assert metrics.total_ms == pytest.approx(1050.0)
    assert metrics.speculative_stt is True


def test_typed_turn_metrics_start_at_the_end_of_turn() -> None:
    metrics = TurnTimings(turn_id=1, end_of_turn=5.0, first_audio_sent=5.3).metrics()

    assert metrics.eot_wait_ms is None
    assert metrics.total_ms == pytest.approx(300.0)
    assert metrics.stt_ms is None
