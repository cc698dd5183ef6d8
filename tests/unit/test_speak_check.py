"""The check before speaking: no repeat of an earlier reply, no number no tool returned."""

from __future__ import annotations

from collections.abc import AsyncIterator

from voxroom.agent.generation import ReplyFacts, ReplyWriter
from voxroom.agent.speak_check import REPEAT, RETRY_TEMPERATURE, SpeakCheck, first_piece
from voxroom.audit import events as ev
from voxroom.providers.base import ChatMessage, LLMRequest

from .fakes import FakeAgent, FakeLLM

EARLIER = ("It's a good place to visit.", "Rome is lovely in spring. Bring good shoes.")


def test_first_piece_is_what_speech_would_start_on() -> None:
    assert first_piece("Rome is lovely in spring. Bring good shoes.") == "Rome is lovely in spring."
    assert first_piece("Paris.") == "Paris."
    assert first_piece("") == ""


def test_a_repeat_of_an_earlier_reply_or_its_first_sentence_is_a_problem() -> None:
    check = SpeakCheck(EARLIER, "I'm going to Rome.")
    assert check.problem("It's a GOOD place to visit!", []) == "repeats an earlier reply"
    assert check.problem("Rome is lovely in spring.", []) == "repeats an earlier reply"
    assert check.problem("Have a great trip to Rome.", []) is None
    assert check.problem("", []) is None


def test_restating_the_turns_knowledge_again_is_no_repeat() -> None:
    pool = "The pool is open from 8 am to 9 pm on the roof."
    check = SpeakCheck([pool], "Does the pool open early?", context=pool)
    assert check.problem("The pool is open from 8 am to 9 pm on the roof.", []) is None
    assert SpeakCheck([pool], "Does the pool open early?").problem(pool, []) is not None


def test_a_number_no_tool_returned_is_a_problem_after_a_tool() -> None:
    check = SpeakCheck([], "Book a taxi at 7 pm.")
    results = ["Taxi booked for 7 pm to the airport, confirmation T-107."]
    assert check.problem("Your taxi comes at seven pm.", results) is None
    assert check.problem("Your taxi comes at 9 pm.", results) == "says 9, which it was not given"
    assert check.problem("There are 9 planets.", []) is None  # no tool, no context: no check
    hours = SpeakCheck([], "Can I check out late?", context="Late checkout until 1 pm.")
    assert hours.problem("Yes, until 10 pm.", []) == "says 10, which it was not given"
    assert hours.problem("Yes, until 1 pm.", []) is None


FRESH = (ChatMessage("system", "Be brief."), ChatMessage("user", "I'm going to Rome."))


async def _write(llm: FakeLLM, earlier: tuple[str, ...]) -> tuple[str, list[ev.Event]]:
    events: list[ev.Event] = []
    writer = ReplyWriter(FakeAgent(), llm, events.append)
    said = [ChatMessage("assistant", e) for e in earlier]
    request = LLMRequest([*FRESH[:1], *said, FRESH[1]], temperature=0.0)
    facts = ReplyFacts("I'm going to Rome.", earlier, fresh=FRESH)
    text = "".join([d async for d in writer.text(1, request, facts)])
    return text, events


async def test_a_repeated_reply_is_generated_again_without_the_conversation() -> None:
    llm = FakeLLM("It's a good place to visit.", "Enjoy the pasta in Rome!")
    text, events = await _write(llm, EARLIER)
    assert text == "Enjoy the pasta in Rome!"
    assert [r.temperature for r in llm.requests] == [0.0, 0.0]
    assert llm.requests[1].messages == list(FRESH)  # what it copied is not in it
    requested = [e for e in events if isinstance(e, ev.LLMRequested)]
    assert [e.retry for e in requested] == [None, "repeats an earlier reply"]
    finished = [e.finish_reason for e in events if isinstance(e, ev.LLMResponded)]
    assert finished == ["stop", "stop"]


async def test_the_third_attempt_is_sampled_and_spoken_whatever_it_says() -> None:
    repeat = "It's a good place to visit."
    llm = FakeLLM(repeat, repeat, repeat)
    text, _ = await _write(llm, EARLIER)
    assert text == repeat
    assert [r.temperature for r in llm.requests] == [0.0, 0.0, RETRY_TEMPERATURE]


async def test_a_long_reply_is_checked_on_its_first_sentence_and_streams_on() -> None:
    llm = FakeLLM("Rome is lovely in spring. Bring good shoes.", "Rome has great food. Eat well.")
    text, _ = await _write(llm, EARLIER)
    assert text == "Rome has great food. Eat well."
    fresh = FakeLLM("Enjoy Rome. It has great food.")
    text, _ = await _write(fresh, EARLIER)
    assert text == "Enjoy Rome. It has great food." and len(fresh.requests) == 1


async def test_an_answer_of_no_words_is_generated_again() -> None:
    llm = FakeLLM("", "Rome is lovely.")
    text, events = await _write(llm, ())
    assert text == "Rome is lovely."
    requested = [e for e in events if isinstance(e, ev.LLMRequested)]
    assert [e.retry for e in requested] == [None, "says nothing"]


def test_an_echo_and_an_answer_that_ignores_the_tool_result_are_problems() -> None:
    check = SpeakCheck([], "Thank you, that's all for now.")
    assert check.problem("Thank you, that's all for now.", []) == "echoes the user"
    assert check.problem("Thank you!", []) is None
    booked = ["Taxi booked for 5 am to the train station, confirmation T-113."]
    check = SpeakCheck([], "A taxi to the train station at 5 am.")
    assert check.problem("Your taxi to the train station is booked for 5 am.", booked) is None
    wrong = check.problem("I need a cab to the opera at 5 am.", booked)
    assert wrong == "says little of what the tool returned"


def test_a_line_that_calls_the_agent_by_name_is_the_users_not_its_own() -> None:
    # The room page, 2026-12-05: "Nova, please say hello to Alice." got "Nova, what is the
    # capital of France?": the base model wrote the next user line.
    check = SpeakCheck([], "Nova, please say hello to Alice.", agent_name="Nova")
    assert check.problem("Nova, what is the capital of France?", []) is not None
    assert check.problem("Hello, Alice!", []) is None
    assert check.problem("Nova is my name.", []) is None  # not calling itself


def test_mostly_the_same_words_as_an_earlier_reply_is_a_repeat() -> None:
    check = SpeakCheck(["Pizza is made from milk and melted on top of pizza."], "Fries?")
    assert check.problem("Fries are made from milk and melted on top of pizza.", []) == REPEAT
    assert check.problem("French fries are made from potatoes.", []) is None


async def test_a_short_answer_the_model_gives_again_without_the_conversation_stands() -> None:
    llm = FakeLLM("Red.", "Red.")
    text, _ = await _write(llm, ("Red.",))
    assert text == "Red." and len(llm.requests) == 2


async def test_after_a_tool_the_result_is_spoken_when_no_attempt_says_it() -> None:
    from voxroom import function_tool
    from voxroom.providers.base import ToolCall

    class Taxi(FakeAgent):
        @function_tool
        async def book(self, time: str) -> str:
            """Book."""
            return f"Taxi booked for {time}."

    class Booking(FakeLLM):
        async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
            if not self.requests:
                request.usage.tool_calls.append(ToolCall("c1", "book", '{"time": "7 pm"}'))
            async for delta in super().stream(request):
                yield delta

    llm = Booking("", "I love the opera.", "Opera tonight!", "The opera is great.")
    events: list[ev.Event] = []
    writer = ReplyWriter(Taxi(), llm, events.append)
    request = LLMRequest([ChatMessage("user", "A taxi at 7 pm.")], temperature=0.0)
    facts = ReplyFacts("A taxi at 7 pm.")
    text = "".join([d async for d in writer.text(1, request, facts)])
    assert text == "Taxi booked for 7 pm."
    requested = [e.retry for e in events if isinstance(e, ev.LLMRequested)]
    little = "says little of what the tool returned"
    assert requested == [None, None, little, little]
