"""agent/context.py, agent/timing.py and providers/prompt.py: what the model is shown."""

from __future__ import annotations

import pytest

from voxroom.agent.context import HISTORY_MESSAGES, ChatContext, UserTurn
from voxroom.agent.timing import TurnTimings
from voxroom.providers.base import ChatMessage
from voxroom.providers.llm_parallel import StopText
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
    context.add_user(1, "hi")
    context.add_reply(1, "Hello there.", interrupted=True)
    context.add_user(2, "are you there")
    context.add_reply(2, "", interrupted=True)  # nothing was heard

    assert context.history == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "Hello there.", interrupted=True),
        ChatMessage("user", "are you there"),
    ]


def test_a_merged_turn_replaces_its_earlier_text() -> None:
    context = ChatContext("Be nice.", [])
    context.add_user(1, "Wait.")
    context.add_user(1, "Wait, stop, I have a question.")

    assert context.history == [ChatMessage("user", "Wait, stop, I have a question.")]


def test_a_reply_goes_right_after_the_turn_it_answers() -> None:
    """In a group call others may speak while the agent answers: the model still reads the
    answer under the question, and names on the people's lines."""
    context = ChatContext("Be nice.", [])
    context.add_user(1, "Nova, what time is it?", speaker="Ann")
    context.add_user(2, "I think it's late.", speaker="Bob")
    context.add_reply(1, "It is nine.", interrupted=False)
    context.add_reply(None, "Welcome, Carla.", interrupted=False)  # said unprompted

    assert context.history == [
        ChatMessage("user", "Nova, what time is it?", speaker="Ann"),
        ChatMessage("assistant", "It is nine."),
        ChatMessage("user", "I think it's late.", speaker="Bob"),
        ChatMessage("assistant", "Welcome, Carla."),
    ]
    prompt = completion_prompt(context.history)
    assert "Ann: Nova, what time is it?\nAssistant: It is nine.\nBob: I think" in prompt


def test_the_turn_being_answered_is_last_even_when_already_recorded() -> None:
    context = ChatContext("Be nice.", [])
    context.add_user(1, "hi")
    context.add_user(2, "Nova?", speaker="Ann")
    turn = UserTurn(1, "hi", "voice")

    assert context.messages_for(turn)[-2:] == [
        ChatMessage("user", "Nova?", speaker="Ann"),
        ChatMessage("user", "hi"),
    ]


def test_history_is_capped_but_the_preamble_is_kept() -> None:
    context = ChatContext("Be nice.", [("Q?", "A.")])
    shown = []
    for i in range(20):
        messages = context.messages_for(UserTurn(i, f"u{i}", "voice"))
        assert messages[:3] == [
            ChatMessage("system", "Be nice."),
            ChatMessage("user", "Q?"),
            ChatMessage("assistant", "A."),
        ]
        assert messages[-1] == ChatMessage("user", f"u{i}")
        history = messages[3:-1]
        assert history[-1:] in ([], [ChatMessage("assistant", f"a{i - 1}")])
        shown.append(len(history))
        context.add_user(i, f"u{i}")
        context.add_reply(i, f"a{i}", interrupted=False)
    # The window keeps its start until it is full, then keeps the newest third: the prompt
    # the model read last turn is the start of this turn's (llama.cpp reuses it).
    assert max(shown) == HISTORY_MESSAGES
    assert shown[:8] == [0, 2, 4, 6, 2, 4, 6, 2]


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


def test_a_line_break_ends_a_completion_at_once() -> None:
    # Every turn of the prompt is one line: the line break after "Paris." ends the reply,
    # without waiting for the "User:" the model would write next (two tokens, ~90 ms).
    text = StopText(COMPLETION_STOPS)
    assert text.push(b" Paris") == " Paris"
    assert text.push(b".") == "."
    assert text.push(b"\n") == ""
    assert text.stopped
    # ... also before the name of another person in a group call, which no stop names.
    text = StopText(COMPLETION_STOPS)
    assert text.push(b" Berlin.\nBob: and") == " Berlin."


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


def test_tool_rounds_stay_with_their_turn_and_the_window_never_starts_inside_one() -> None:
    from voxroom.providers.base import ToolCall

    context = ChatContext("Be nice.", [])
    call = ChatMessage("assistant", "", tool_calls=(ToolCall("c1", "book_taxi", "{}"),))
    result = ChatMessage("tool", "Taxi booked for 7 pm.", tool_call_id="c1")
    for turn in (1, 2):
        context.add_user(turn, f"u{turn}")
        context.add_reply(turn, f"a{turn}", interrupted=False)
    context.add_user(3, "A taxi at 7 pm, please.")
    context.add_tool_round(3, call, [result])
    context.add_reply(3, "Your taxi is booked for 7 pm.", interrupted=False)

    assert context.history[-4:] == [
        ChatMessage("user", "A taxi at 7 pm, please."),
        call,
        result,
        ChatMessage("assistant", "Your taxi is booked for 7 pm."),
    ]
    assert context.replies() == ["a1", "a2", "Your taxi is booked for 7 pm."]
    # Eight messages: the window keeps the newest two, which would start at the tool result.
    shown = context.messages_for(UserTurn(4, "Bye.", "chat"))[1:-1]
    assert shown == [ChatMessage("assistant", "Your taxi is booked for 7 pm.")]
    assert ChatContext("Be nice.", [], history_messages=0).messages_for(
        UserTurn(1, "Hi.", "chat")
    ) == [ChatMessage("system", "Be nice."), ChatMessage("user", "Hi.")]


def test_a_reply_to_the_same_question_asked_before_is_no_earlier_reply_to_avoid() -> None:
    # Asked again (not heard, forgotten), the same answer is right: the check against
    # repeats must not make the model write it again.
    context = ChatContext("Be nice.", [])
    context.add_user(1, "What is the capital of France?")
    context.add_reply(1, "Paris.", interrupted=False)
    context.add_user(2, "How many legs does a spider have?")
    context.add_reply(2, "Eight.", interrupted=False)

    again = UserTurn(3, "what is the capital of france", "voice")
    other = UserTurn(3, "What is the capital of Spain?", "voice")

    assert context.replies(again) == ["Eight."]
    assert context.replies(other) == ["Paris.", "Eight."]
    assert context.replies() == ["Paris.", "Eight."]
