"""A reply's text: LLM steps with tool round trips in between, every request and response on
the session's event log (the audit trail holds the full model input and output).

Two checks stand between the model and the user: a tool with side effects runs only when
the user's words ask for it (`tool_guard`), and a reply's first piece is looked at before it
is spoken and generated again if it fails (`speak_check`: a repeat, an echo, silence, a
number nobody gave).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from voxroom.agent.agent import Agent
from voxroom.agent.chunking import SentenceChunker
from voxroom.agent.speak_check import NOTHING, RETRY_TEMPERATURE, SpeakCheck, speakable
from voxroom.agent.timing import now
from voxroom.agent.tool_guard import refusal
from voxroom.agent.tools import ToolResult, Tools, agent_tools, run_tool, side_effects_of
from voxroom.audit import events as ev
from voxroom.providers.base import (
    LLM,
    ChatMessage,
    LLMRequest,
    LLMUsage,
    ProviderError,
    ToolCall,
    ToolSpec,
)

log = logging.getLogger(__name__)

Emit = Callable[[ev.Event], object]


@dataclasses.dataclass(frozen=True, slots=True)
class ReplyFacts:
    """What a reply is checked against: the user's words that may ask for an action (the
    turn's, and the turn's before when the agent's last reply asked something), the agent's
    earlier replies in the session, and the knowledge the app added for the turn."""

    asked: str
    earlier_replies: tuple[str, ...] = ()
    context: str = ""
    # The turn's model input without the earlier conversation, for a second attempt.
    fresh: tuple[ChatMessage, ...] | None = None


# (turn, the assistant message with the calls, the tool messages with their results)
ToolRound = Callable[[int, ChatMessage, list[ChatMessage]], None]


class ReplyWriter:
    def __init__(
        self, agent: Agent, llm: LLM, emit: Emit, on_tool_round: ToolRound | None = None
    ) -> None:
        self._agent = agent
        self._llm = llm
        self._emit = emit
        self._on_tool_round = on_tool_round  # tools ran: for the chat context

    async def prepare(self, preamble: list[ChatMessage]) -> None:
        """Let the model read what every request will start with (with the tools the first
        step offers) before the first question comes. Best effort: a failure here is the
        first request's to report."""
        request = LLMRequest(preamble, tools=_offered(agent_tools(self._agent), 0, self._agent))
        try:
            await self._llm.prepare(request)
        except ProviderError as exc:
            log.info("the model could not read the session's instructions ahead: %s", exc)

    async def text(
        self, turn_id: int, request: LLMRequest, facts: ReplyFacts = ReplyFacts("")
    ) -> AsyncIterator[str]:
        """The reply's text, streamed: LLM steps with tool round trips in between, up to the
        agent's step limit (the last step offers no tools, so the model has to answer). A
        step whose calls were all refused, or named tools the agent does not have, is
        followed by one that answers in words, from the conversation without its tool calls
        (a base model that sees calls calls again).
        An empty delta marks the model's first token while the first piece is held for the
        check. Without `facts`, no tool with side effects runs."""
        tools = agent_tools(self._agent)
        max_steps = self._agent.max_tool_steps
        check = SpeakCheck(
            facts.earlier_replies, facts.asked, facts.context, agent_name=self._agent.name
        )
        messages = request.messages
        fresh = list(facts.fresh) if facts.fresh is not None else request.messages
        results: list[str] = []  # what this turn's tools returned
        for step in range(max_steps + 1):
            offered = _offered(tools, step, self._agent)
            step_request = dataclasses.replace(
                request, messages=messages, tools=offered, usage=LLMUsage()
            )
            said: list[str] = []
            used: list[LLMRequest] = []
            this_turn = [*fresh, *messages[len(request.messages) :]]
            checked = self._checked(turn_id, step_request, this_turn, step, check, results, used)
            async for delta in checked:
                said.append(delta)
                yield delta
            spoken = used[-1]
            calls = spoken.usage.tool_calls
            if not calls or not spoken.tools:  # a call nobody offered is not run
                return
            ran = [await self._run(turn_id, call, tools, facts.asked) for call in calls]
            if all(r.refused or r.call.name not in tools for r in ran):
                words = dataclasses.replace(
                    request, messages=_without_tools(request.messages), usage=LLMUsage()
                )
                fresh_words = _without_tools(fresh)
                checked = self._checked(turn_id, words, fresh_words, step + 1, check, results, used)
                async for delta in checked:
                    yield delta
                return
            results += [r.output for r in ran if not r.error]
            outputs = [ChatMessage("tool", r.output, tool_call_id=r.call.id) for r in ran]
            if self._on_tool_round is not None:  # what was said before is in the reply's text
                self._on_tool_round(
                    turn_id, ChatMessage("assistant", "", tool_calls=tuple(calls)), outputs
                )
            messages = [
                *messages,
                ChatMessage("assistant", "".join(said), tool_calls=tuple(calls)),
                *outputs,
            ]

    async def _run(
        self,
        turn_id: int,
        call: ToolCall,
        tools: Tools,
        asked: str,
    ) -> ToolResult:
        """Run `call`, unless it is a tool with side effects the user did not ask for."""
        found = tools.get(call.name)
        effects = side_effects_of(found[1]) if found is not None else None
        why = refusal(call, effects, asked) if effects is not None else None
        if why is not None:
            result = ToolResult(call, why, error=True, duration_ms=0.0, refused=True)
        else:
            result = await run_tool(call, tools)
        self._emit(
            ev.ToolCalled(
                turn_id=turn_id,
                call_id=call.id,
                name=call.name,
                arguments=call.arguments,
                output=result.output,
                error=result.error,
                duration_ms=result.duration_ms,
                refused=result.refused,
            )
        )
        return result

    async def _checked(
        self,
        turn_id: int,
        request: LLMRequest,
        fresh: list[ChatMessage],
        step: int,
        check: SpeakCheck,
        results: list[str],
        used: list[LLMRequest],
    ) -> AsyncIterator[str]:
        """One step's text, its first piece held until `check` passed it (`speak_check`
        says what fails and what is done then). `used` gets the request whose text was
        spoken (its usage holds the step's tool calls)."""
        attempts = [
            request,
            dataclasses.replace(request, messages=fresh, usage=LLMUsage()),
            dataclasses.replace(
                request,
                messages=fresh,
                usage=LLMUsage(),
                temperature=max(request.temperature, RETRY_TEMPERATURE),
            ),
        ]
        fallback = " ".join(results) if results and all(map(speakable, results)) else None
        first: str | None = None  # the first attempt's first piece
        retry: str | None = None
        for index, attempt in enumerate(attempts):
            last = index == len(attempts) - 1
            used.append(attempt)
            pieces, held, passed = SentenceChunker(), "", False
            piece, problem = None, None
            stream = self._audited(turn_id, attempt, step, retry)
            try:
                async for delta in stream:
                    if passed:
                        yield delta
                        continue
                    if not held and index == 0:
                        yield ""  # the model's first token, for the turn's timings
                    held += delta
                    if done := pieces.push(delta):
                        piece = done[0]
                        problem = _judged(check, piece, results, first)
                        if problem and (not last or fallback is not None):
                            break
                        passed = True
                        yield held
            finally:
                await stream.aclose()
            if passed:
                return
            if piece is None:
                piece = pieces.flush() or ""
                problem = _judged(check, piece, results, first)
                if problem is None and not held.strip():
                    if not (attempt.tools and attempt.usage.tool_calls):
                        problem = NOTHING  # no words and no call that will run
            if problem is None or (last and fallback is None):
                if held:
                    yield held
                return
            if last and fallback is not None:
                # The model would not say what the tools returned: the results say it.
                used.append(dataclasses.replace(attempt, usage=LLMUsage()))
                yield fallback
                return
            first = piece if first is None else first
            retry = problem
            if problem == NOTHING and not results:  # it only tried calls it may not make
                attempts[index + 1 :] = [
                    dataclasses.replace(a, messages=_without_tools(a.messages), tools=[])
                    for a in attempts[index + 1 :]
                ]

    async def _audited(
        self, turn_id: int, request: LLMRequest, step: int, retry: str | None = None
    ) -> AsyncGenerator[str, None]:
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
                retry=retry,
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


def _offered(tools: Tools, step: int, agent: Agent) -> list[ToolSpec]:
    """The tools a step offers: all of them, except on the last step (it has to answer)."""
    return [spec for spec, _ in tools.values()] if step < agent.max_tool_steps else []


def _without_tools(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The conversation without its exchanges that called tools (tool examples, turns that
    booked something): the user's words, the calls, the results and the answer after them.
    Kept as words, a booking would teach the model to confirm one without making it."""
    dropped: set[int] = set()
    for index, message in enumerate(messages):
        if not message.tool_calls or index in dropped:
            continue
        start = next((i for i in range(index - 1, -1, -1) if messages[i].role == "user"), index)
        end = index + 1
        while end < len(messages) and messages[end].role == "tool":
            end += 1
        if end < len(messages) and messages[end].role == "assistant":
            end += 1  # the answer after the results (and any further calls are in it)
        dropped.update(range(start, end))
    return [m for i, m in enumerate(messages) if i not in dropped and m.role != "tool"]


def _judged(check: SpeakCheck, piece: str, results: list[str], first: str | None) -> str | None:
    """`check`'s problem with `piece`; on a later attempt, a short repeat the model says
    again without the conversation stands (it is its answer, not a copy)."""
    problem = check.problem(piece, results)
    if problem is not None and first is not None and check.stands(piece, first, problem):
        return None
    return problem
