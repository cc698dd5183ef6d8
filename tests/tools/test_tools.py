"""Function tools: schemas from hints/docstrings, defensive parsing and execution, the loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from enum import Enum
from typing import Any, Literal

import pytest

from voxroom import Agent, function_tool
from voxroom.agent.tools import agent_tools, run_tool, tool_spec
from voxroom.providers.base import ChatMessage, LLMRequest, ToolCall
from voxroom.providers.llm_openai import _StreamedCalls
from voxroom.providers.prompt import CallExtractor, completion_prompt, parse_call


class Size(Enum):
    SMALL = "small"
    LARGE = "large"


class Shop(Agent):
    @function_tool
    async def order(
        self,
        item: str,
        count: int,
        size: Size,
        note: str | None = None,
        speed: Literal["slow", "fast"] = "slow",
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Order an item for the customer.

        Args:
            item: what to order
            count (int): how many
        """
        return {"item": item, "count": count, "size": size}

    @function_tool
    async def explode(self) -> str:
        """Always fails."""
        raise RuntimeError("boom")

    @function_tool
    async def hang(self) -> str:
        """Never returns."""
        await asyncio.sleep(3600)
        return "never"


def test_schema_comes_from_type_hints_and_docstring() -> None:
    spec = tool_spec(Shop.order)
    assert spec.name == "order" and spec.description == "Order an item for the customer."
    props = spec.parameters["properties"]
    assert props["item"] == {"type": "string", "description": "what to order"}
    assert props["count"] == {"type": "integer", "description": "how many"}
    assert props["size"] == {"enum": ["small", "large"]}
    assert props["note"] == {"type": "string"}
    assert props["speed"] == {"enum": ["slow", "fast"]}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert spec.parameters["required"] == ["item", "count", "size"]
    assert spec.openai()["function"]["name"] == "order"


def test_function_tool_rejects_sync_functions() -> None:
    with pytest.raises(TypeError):
        function_tool(lambda: None)  # type: ignore[arg-type]


async def test_tool_failures_become_messages_for_the_model() -> None:
    tools = agent_tools(Shop())
    assert set(tools) == {"order", "explode", "hang"}

    async def call(name: str, args: str) -> tuple[str, bool]:
        result = await run_tool(ToolCall("c1", name, args), tools)
        return result.output, result.error

    assert (await call("order", '{"item": "tea", "count": 2, "size": "small"}'))[1] is False
    output, error = await call("nope", "{}")
    assert error and "no tool named 'nope'" in output
    output, error = await call("order", "{not json")
    assert error and "not valid JSON" in output
    output, error = await call("order", "[1, 2]")
    assert error and "JSON object" in output
    output, error = await call("order", '{"item": "tea", "colour": "red"}')
    assert error and "colour" in output and "count" in output
    output, error = await call("explode", "{}")
    assert error and "RuntimeError: boom" in output


async def test_a_hanging_tool_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("voxroom.agent.tools.TOOL_TIMEOUT_S", 0.05)
    result = await run_tool(ToolCall("c1", "hang", "{}"), agent_tools(Shop()))
    assert result.error and "timed out" in result.output


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ('{"name": "order", "arguments": {"item": "tea"}}', "order", {"item": "tea"}),
        ('{"name": "order", "parameters": {"item": "tea"}}</call>', "order", {"item": "tea"}),
        ('order{"item": "tea"}', "order", {"item": "tea"}),
        ('order("item": "tea")', "order", {"item": "tea"}),
        ('{"name": "order", "arguments": {"item": "te', "order", {}),
    ],
)
def test_loosely_written_calls_are_parsed(text: str, name: str, arguments: dict[str, str]) -> None:
    call = parse_call(text, "c9")
    assert call is not None and call.name == name and call.id == "c9"
    assert json.loads(call.arguments) == arguments


def test_gibberish_is_not_a_call() -> None:
    assert parse_call("!!!", "c1") is None


def test_call_extractor_never_speaks_the_call_markup() -> None:
    extractor = CallExtractor()
    spoken = "".join(
        extractor.push(d) for d in ["Let me ", "check. <ca", 'll>{"name": ', '"order"}']
    )
    rest, call = extractor.finish(0)
    assert spoken + rest == "Let me check. "
    assert call is not None and call.name == "order"
    plain = CallExtractor()
    assert plain.push("a < b and <c") + plain.finish(0)[0] == "a < b and <c"


def test_openai_streamed_tool_calls_are_reassembled() -> None:
    calls = _StreamedCalls()
    calls.add({"index": 0, "id": "call_a", "function": {"name": "order", "arguments": '{"it'}})
    calls.add({"index": 0, "function": {"arguments": 'em": "tea"}'}})
    calls.add({"index": 1, "id": "call_b", "function": {"name": "explode"}})
    assert calls.complete() == [
        ToolCall("call_a", "order", '{"item": "tea"}'),
        ToolCall("call_b", "explode", "{}"),
    ]


def test_completion_prompt_lists_tools_and_renders_calls() -> None:
    call = ToolCall("c1", "order", '{"item": "tea"}')
    prompt = completion_prompt(
        [
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Tea please."),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", "ordered", tool_call_id="c1"),
        ],
        [tool_spec(Shop.order)],
    )
    assert "- order(item, count, size, note, speed, tags): Order an item" in prompt
    assert '<call>{"name": "order", "arguments": {"item": "tea"}}</call>' in prompt
    assert prompt.endswith("Tool result: ordered\nAssistant:")


class ScriptedLLM:
    """Answers step 0 with a tool call, then in words (a fake LLM for the loop's logic)."""

    name, model = "scripted", "scripted"

    def __init__(self) -> None:
        self.requests: list[LLMRequest] = []

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        self.requests.append(request)
        if request.tools and len(self.requests) == 1:
            request.usage.tool_calls.append(ToolCall("c1", "order", '{"item": "tea"}'))
            yield "One moment. "
            return
        yield "Your tea is ordered."


async def test_the_session_runs_tools_and_feeds_results_back() -> None:
    from voxroom.agent.generation import ReplyWriter
    from voxroom.audit import events as ev

    llm = ScriptedLLM()
    recorded: list[ev.Event] = []
    writer = ReplyWriter(Shop(), llm, recorded.append)
    request = LLMRequest([ChatMessage("user", "Tea please.")])
    text = "".join([d async for d in writer.text(1, request)])
    assert text == "One moment. Your tea is ordered."
    second = llm.requests[1].messages
    assert second[-2].tool_calls[0].name == "order" and second[-1].role == "tool"
    assert "missing" in second[-1].content  # count and size were not given: the model is told
    tool_events = [e for e in recorded if isinstance(e, ev.ToolCalled)]
    assert tool_events and tool_events[0].error is True
    assert [e.step for e in recorded if isinstance(e, ev.LLMRequested)] == [0, 1]
