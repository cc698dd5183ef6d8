"""A reply's text: LLM steps with tool round trips in between, every request and response on
the session's event log (the audit trail holds the full model input and output)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

from voxroom.agent.agent import Agent
from voxroom.agent.timing import now
from voxroom.agent.tools import agent_tools, run_tool
from voxroom.audit import events as ev
from voxroom.providers.base import LLM, ChatMessage, LLMRequest, LLMUsage

Emit = Callable[[ev.Event], object]


class ReplyWriter:
    def __init__(self, agent: Agent, llm: LLM, emit: Emit) -> None:
        self._agent = agent
        self._llm = llm
        self._emit = emit

    async def text(self, turn_id: int, request: LLMRequest) -> AsyncIterator[str]:
        """The reply's text, streamed: LLM steps with tool round trips in between, up to the
        agent's step limit (the last step offers no tools, so the model has to answer)."""
        tools = agent_tools(self._agent)
        max_steps = self._agent.max_tool_steps
        messages = request.messages
        for step in range(max_steps + 1):
            offered = [spec for spec, _ in tools.values()] if step < max_steps else []
            step_request = dataclasses.replace(
                request, messages=messages, tools=offered, usage=LLMUsage()
            )
            said: list[str] = []
            async for delta in self._audited(turn_id, step_request, step):
                said.append(delta)
                yield delta
            calls = step_request.usage.tool_calls
            if not calls:
                return
            results = [await run_tool(call, tools) for call in calls]
            for result in results:
                self._emit(
                    ev.ToolCalled(
                        turn_id=turn_id,
                        call_id=result.call.id,
                        name=result.call.name,
                        arguments=result.call.arguments,
                        output=result.output,
                        error=result.error,
                        duration_ms=result.duration_ms,
                    )
                )
            messages = [
                *messages,
                ChatMessage("assistant", "".join(said), tool_calls=tuple(calls)),
                *(ChatMessage("tool", r.output, tool_call_id=r.call.id) for r in results),
            ]

    async def _audited(self, turn_id: int, request: LLMRequest, step: int) -> AsyncIterator[str]:
        """One LLM request, with the full request and the response recorded as events."""
        llm = self._llm
        self._emit(
            ev.LLMRequested(
                turn_id=turn_id,
                provider=llm.name,
                model=llm.model,
                messages=[m.as_dict() for m in request.messages],
                parameters=request.parameters(),
                tools=[spec.openai() for spec in request.tools],
                step=step,
            )
        )
        started, first, parts = now(), None, []
        finish: ev.FinishReason = "error"
        try:
            async for delta in llm.stream(request):
                first = first or now()
                parts.append(delta)
                yield delta
            finish = request.usage.finish_reason or "stop"
        except (asyncio.CancelledError, GeneratorExit):
            finish = "cancelled"
            raise
        finally:
            usage = request.usage
            if usage.cache is not None:
                self._emit(
                    ev.CacheLookup(
                        turn_id=turn_id,
                        result=usage.cache,
                        similarity=usage.cache_similarity,
                        lookup_ms=usage.cache_lookup_ms,
                    )
                )
            served_provider, _, served_model = (usage.served_by or "").partition(":")
            self._emit(
                ev.LLMResponded(
                    turn_id=turn_id,
                    provider=served_provider or llm.name,
                    model=served_model or llm.model,
                    text="".join(parts),
                    finish_reason=finish,
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    ttft_ms=round((first - started) * 1e3, 1) if first else None,
                    duration_ms=round((now() - started) * 1e3, 1),
                    tool_calls=[dataclasses.asdict(c) for c in usage.tool_calls],
                    step=step,
                )
            )
