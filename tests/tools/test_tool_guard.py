"""A tool with side effects runs only when the user's words ask for it (agent/tool_guard.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from voxroom import Agent, function_tool
from voxroom.agent.context import ChatContext, UserTurn
from voxroom.agent.generation import ReplyFacts, ReplyWriter
from voxroom.agent.tool_guard import SideEffects, refusal
from voxroom.agent.tools import side_effects_of
from voxroom.audit import events as ev
from voxroom.providers.base import ChatMessage, LLMRequest, ToolCall


class Hotel(Agent):
    def __init__(self) -> None:
        self.booked: list[tuple[str, str]] = []

    @function_tool(side_effects=True, asked_by=("taxi", "cab"))
    async def book_taxi(self, time: str, destination: str) -> str:
        """Book a taxi."""
        self.booked.append((time, destination))
        return f"Taxi booked for {time} to {destination}."

    @function_tool
    async def weather(self) -> str:
        """Today's weather."""
        return "Sunny, 24 degrees."


def _call(arguments: str, name: str = "book_taxi") -> ToolCall:
    return ToolCall("c1", name, arguments)


TAXI = SideEffects(("taxi", "cab"))


def test_a_tool_declares_its_side_effects() -> None:
    assert side_effects_of(Hotel.book_taxi) == TAXI
    assert side_effects_of(Hotel().book_taxi) == TAXI  # bound, as the engine sees it
    assert side_effects_of(Hotel.weather) is None
    assert SideEffects.of("book_taxi") == SideEffects(("book", "taxi"))  # the default
    with pytest.raises(TypeError):
        function_tool(asked_by=("x",))(Hotel.weather)


def test_words_that_ask_for_it_and_say_its_arguments_let_it_run() -> None:
    args = '{"time": "7 pm", "destination": "the airport"}'
    assert refusal(_call(args), TAXI, "Please get me a taxi to the airport at 7 pm.") is None
    assert refusal(_call(args), TAXI, "A cab to the airport at seven PM!") is None
    spelled = '{"time": "7:00 pm", "destination": "airport"}'
    assert refusal(_call(spelled), TAXI, "I need a cab to the airport at 7 pm.") is None


def test_a_call_nobody_asked_for_is_refused() -> None:
    args = '{"time": "7 am", "destination": "the garden room"}'
    why = refusal(_call(args), TAXI, "When is breakfast served?")
    assert why is not None and why.startswith("not run: the user did not ask for book_taxi")


def test_an_argument_the_user_did_not_say_is_refused() -> None:
    args = '{"time": "9 pm", "destination": "the airport"}'
    why = refusal(_call(args), TAXI, "Book a taxi to the airport at 7 pm.")
    assert why is not None and "'9'" in why and "(time)" in why


def test_a_follow_up_to_the_agents_question_counts_with_the_turn_it_answered() -> None:
    context = ChatContext("Be brief.", [])
    context.add_user(1, "I need a taxi, please.")
    context.add_reply(1, "Where to, and at what time?", interrupted=False)
    follow_up = UserTurn(2, "The airport at 7 pm.", "chat")
    assert context.user_words(follow_up) == "I need a taxi, please. The airport at 7 pm."
    context.add_user(2, follow_up.text)
    context.add_reply(2, "Your taxi is booked.", interrupted=False)
    later = UserTurn(3, "When is breakfast?", "chat")
    assert context.user_words(later) == "When is breakfast?"  # the agent asked nothing


class CallingLLM:
    """Calls book_taxi at the first step, then answers in words."""

    name, model = "calling", "calling"

    def __init__(self, arguments: str) -> None:
        self.arguments = arguments
        self.requests: list[LLMRequest] = []

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        self.requests.append(request)
        if len(self.requests) == 1:
            request.usage.tool_calls.append(_call(self.arguments))
            return
        yield "Breakfast is served from 7 to 10 am."


async def _reply(agent: Hotel, llm: CallingLLM, said: str) -> tuple[str, list[ev.Event]]:
    events: list[ev.Event] = []
    writer = ReplyWriter(agent, llm, events.append)  # type: ignore[arg-type]
    request = LLMRequest([ChatMessage("user", said)])
    text = "".join([d async for d in writer.text(1, request, ReplyFacts(said))])
    return text, events


async def test_the_engine_does_not_run_a_refused_call_and_the_model_answers_in_words() -> None:
    agent, llm = Hotel(), CallingLLM('{"time": "7 am", "destination": "garden room"}')
    text, events = await _reply(agent, llm, "When is breakfast served?")
    assert agent.booked == []  # nothing booked
    assert text == "Breakfast is served from 7 to 10 am."
    [called] = [e for e in events if isinstance(e, ev.ToolCalled)]
    assert called.refused and called.error and called.output.startswith("not run")
    # After a refusal the model answers in words, from the conversation without tool calls.
    words = llm.requests[1]
    assert words.tools == [] and words.messages == [
        ChatMessage("user", "When is breakfast served?")
    ]


async def test_the_engine_runs_a_call_the_user_asked_for() -> None:
    agent, llm = Hotel(), CallingLLM('{"time": "7 pm", "destination": "the airport"}')
    _, events = await _reply(agent, llm, "Book me a taxi to the airport at 7 pm.")
    assert agent.booked == [("7 pm", "the airport")]
    [called] = [e for e in events if isinstance(e, ev.ToolCalled)]
    assert not called.refused and not called.error


async def test_without_facts_no_tool_with_side_effects_runs() -> None:
    agent, llm = Hotel(), CallingLLM('{"time": "7 pm", "destination": "the airport"}')
    writer = ReplyWriter(agent, llm, lambda event: None)  # type: ignore[arg-type]
    request = LLMRequest([ChatMessage("user", "Book me a taxi to the airport at 7 pm.")])
    _ = [d async for d in writer.text(1, request)]
    assert agent.booked == []


def test_the_words_only_view_drops_every_exchange_that_called_tools() -> None:
    from voxroom.agent.generation import _without_tools

    call = ChatMessage("assistant", "", tool_calls=(_call("{}"),))
    messages = [
        ChatMessage("system", "Be a concierge."),
        ChatMessage("user", "A taxi at 6 pm."),  # a tool example
        call,
        ChatMessage("tool", "Taxi booked for 6 pm.", tool_call_id="c1"),
        ChatMessage("assistant", "Your taxi is booked for 6 pm."),
        ChatMessage("user", "Hello!"),
        ChatMessage("assistant", "Good evening."),
        ChatMessage("user", "When is breakfast?"),
    ]
    assert _without_tools(messages) == [
        ChatMessage("system", "Be a concierge."),
        ChatMessage("user", "Hello!"),
        ChatMessage("assistant", "Good evening."),
        ChatMessage("user", "When is breakfast?"),
    ]
