"""AgentSession: wires one transport, the shared models and an Agent into a conversation.

Everything that happens is an event on the session's log (`audit.events`); the client's
captions and state are a view of that log (`protocol.client_message`), as is the audit store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import numpy as np
from pydantic import ValidationError

from voxroom.agent import protocol as msg
from voxroom.agent.agent import Agent
from voxroom.agent.context import ChatContext, UserTurn
from voxroom.agent.endpointing import BackchannelFilter
from voxroom.agent.listener import SpeechListener
from voxroom.agent.reply import Reply, single_text
from voxroom.agent.timing import TurnTimings, now
from voxroom.agent.tools import agent_tools, run_tool
from voxroom.audit import events as ev
from voxroom.audit.log import SessionEventLog
from voxroom.config import VoxroomConfig
from voxroom.providers.base import ChatMessage, LLMRequest, LLMUsage, Transcript
from voxroom.providers.factory import ModelSet
from voxroom.transport.base import INBOUND_SAMPLE_RATE, AudioObserver, Transport

log = logging.getLogger(__name__)

APOLOGY = "Sorry, I can't answer right now. Please try again in a moment."


class AgentSession:
    def __init__(
        self,
        session_id: str,
        agent: Agent,
        transport: Transport,
        models: ModelSet,
        config: VoxroomConfig,
        event_log: SessionEventLog | None = None,
        participant: str | None = None,
    ) -> None:
        self.id = session_id
        self.agent = agent
        # The human's identity (the token's subject) for the audit trail; None: not known.
        self.participant = participant
        self.transport = transport
        self.log = event_log or SessionEventLog(session_id)
        self._models = models
        self._config = config
        self.context = ChatContext(agent.instructions, agent.examples, agent.tool_examples)
        self.state: msg.AgentState = "listening"
        self._turn_counter = 0
        self._confirmed_turns: set[int] = set()
        self._paused_reply: Reply | None = None  # a reply paused by user voice, maybe resumed
        self.backchannels = BackchannelFilter()
        self._reply: Reply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._reply_generation = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._inbound_observers: list[AudioObserver] = []
        self._finalizers: list[Callable[[], Awaitable[None]]] = []
        self._listener = SpeechListener(models.vad, models.stt, config.turns, self)
        agent.session = self
        self.log.subscribe(self._forward_to_client)
        transport.on_message(self._on_client_message)

    # --- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Runs until the peer's audio ends (disconnect) or the task is cancelled."""
        models = self._models
        self.log.emit(
            ev.SessionStarted(
                agent=self.agent.name,
                transport=type(self.transport).__name__,
                models={
                    "vad": type(models.vad).__name__,
                    "stt": models.stt.name,
                    "llm": f"{models.llm.name}:{models.llm.model}",
                    "tts": models.tts.name,
                },
            )
        )
        if self.participant is not None:
            self.log.emit(ev.ParticipantJoined(identity=self.participant, role="user"))
        self.log.emit(ev.ParticipantJoined(identity=self.agent.name, role="agent"))
        self.log.emit(ev.StateChanged(state=self.state))
        reason = "peer left"
        try:
            await self.agent.on_enter()
            await self._listener.run(self._observed_inbound())
        except asyncio.CancelledError:
            reason = "cancelled"
            raise
        finally:
            # Shielded: a second cancellation must not cut the recording or the final event.
            await asyncio.shield(self._teardown(reason))

    async def _teardown(self, reason: str) -> None:
        for task in self._background:
            task.cancel()
        await self._cancel_reply()
        with contextlib.suppress(Exception):
            await self.agent.on_exit()
        for finalize in self._finalizers:
            try:
                await finalize()
            except Exception:  # e.g. a full disk: report it, still close the log
                log.exception("session %s: finalizer failed", self.id)
        self.log.emit(ev.SessionEnded(reason=reason))

    def add_finalizer(self, finalize: Callable[[], Awaitable[None]]) -> None:
        """Run `finalize` when the session ends, before `session_ended` is logged."""
        self._finalizers.append(finalize)

    def observe_inbound(self, observer: AudioObserver) -> None:
        """Call `observer` with every chunk of user audio as it arrives (e.g. to record)."""
        self._inbound_observers.append(observer)

    async def _observed_inbound(self) -> AsyncIterator[np.ndarray]:
        async for chunk in self.transport.inbound_audio():
            for observer in self._inbound_observers:
                observer(chunk, INBOUND_SAMPLE_RATE)
            yield chunk

    async def say(self, text: str) -> None:
        """Speak `text` as the agent (not added to the model's context as a user turn)."""
        turn_id = self.new_turn_id()
        await self._start_reply(single_text(text), TurnTimings(turn_id, end_of_turn=now()), None)

    # --- ListenerEvents ----------------------------------------------------------------------
    def new_turn_id(self) -> int:
        self._turn_counter += 1
        return self._turn_counter

    def on_voice_onset(self) -> None:
        """Voice over a released reply: silence it at once; words decide whether for good."""
        reply = self._reply
        if reply is None or reply.discarded or not reply.released.is_set():
            return
        if self._paused_reply is None:
            self.transport.audio_out.pause()
            self._paused_reply = reply

    def on_voice_lost(self) -> None:
        self._resume_paused()

    def on_speech_start(self, turn_id: int) -> None:
        self.on_voice_onset()

    def on_long_speech(self, turn_id: int) -> None:
        if self._paused_reply is not None:
            self._interrupt()  # too long for a backchannel: a real barge-in

    def on_turn_confirmed(self, turn_id: int) -> None:
        self._confirmed_turns.add(turn_id)
        if self._reply is not None and self._reply.turn_id == turn_id:
            self._reply.release()

    def reply_heard(self, turn_id: int) -> bool:
        reply = self._reply
        if reply is not None and reply.turn_id == turn_id and not reply.spoken:
            return False  # ready or in the making, but not a sound of it played yet
        return turn_id in self._confirmed_turns

    def on_turn_merged(self, turn_id: int) -> None:
        """The user went on speaking: the held reply was never heard and is dropped."""
        if self._reply is not None and self._reply.turn_id == turn_id:
            self._reply.discarded = True
            self._interrupt()

    def _resume_paused(self) -> None:
        if self._paused_reply is not None:
            resume = self._config.turns.resume_after_false_interruption
            if self._paused_reply is self._reply and resume:
                self.transport.audio_out.resume()
            else:
                self._interrupt()
            self._paused_reply = None

    def on_interim(self, turn_id: int, text: str) -> None:
        self.log.emit(ev.UserTranscript(turn_id=turn_id, text=text, final=False))

    def on_transcribed(
        self, turn_id: int, transcript: Transcript, duration_s: float, purpose: ev.STTPurpose
    ) -> None:
        self.log.emit(
            ev.STTUsage(
                turn_id=turn_id,
                provider=transcript.provider or self._models.stt.name,
                purpose=purpose,
                audio_seconds=round(transcript.audio_seconds, 3),
                duration_ms=round(duration_s * 1e3, 1),
            )
        )

    async def on_user_turn(
        self,
        text: str,
        timings: TurnTimings,
        avg_logprob: float | None = None,
        source: ev.TurnSource = "voice",
    ) -> None:
        text = text.strip()
        if self._paused_reply is not None:
            if not text or self.backchannels.is_backchannel(text, avg_logprob):
                self._resume_paused()  # "mm-hmm" or a noise: the agent goes on
                return
            self._interrupt()
        if not text:  # noise that VAD took for speech
            if self._reply is None:
                self._set_state("listening")
            return
        self.log.emit(
            ev.UserTranscript(
                turn_id=timings.turn_id,
                text=text,
                final=True,
                source=source,
                audio_start=self._session_time(timings.speech_start),
                audio_end=self._session_time(timings.speech_end),
            )
        )
        turn = UserTurn(turn_id=timings.turn_id, text=text, source=source)
        await self.agent.on_user_turn(turn)
        request = LLMRequest(
            messages=self.context.messages_for(turn),
            max_tokens=self._config.models.llm_max_tokens,
            temperature=(
                self.agent.temperature
                if self.agent.temperature is not None
                else self._config.models.llm_temperature
            ),
        )
        await self._start_reply(self._reply_text(turn.turn_id, request), timings, turn.text)

    def on_error(self, message: str, component: str = "session") -> None:
        log.warning("session %s: %s", self.id, message)
        self.log.emit(ev.ErrorOccurred(component=component, message=message))
        self._set_state("listening")

    # --- replies -----------------------------------------------------------------------------
    async def _reply_text(self, turn_id: int, request: LLMRequest) -> AsyncIterator[str]:
        """The reply's text: LLM steps with tool round trips in between, up to a step limit
        (the last step offers no tools, so the model has to answer in words)."""
        tools = agent_tools(self.agent)
        max_steps = self.agent.max_tool_steps
        messages = request.messages
        for step in range(max_steps + 1):
            offered = [spec for spec, _ in tools.values()] if step < max_steps else []
            step_request = dataclasses.replace(
                request, messages=messages, tools=offered, usage=LLMUsage()
            )
            said: list[str] = []
            async for delta in self._audited_llm(turn_id, step_request, step):
                said.append(delta)
                yield delta
            calls = step_request.usage.tool_calls
            if not calls:
                return
            results = [await run_tool(call, tools) for call in calls]
            for result in results:
                self.log.emit(
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

    async def _audited_llm(
        self, turn_id: int, request: LLMRequest, step: int
    ) -> AsyncIterator[str]:
        """One LLM request, with the full request and the response recorded as events."""
        llm = self._models.llm
        self.log.emit(
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
            if request.usage.cache is not None:
                self.log.emit(
                    ev.CacheLookup(
                        turn_id=turn_id,
                        result=request.usage.cache,
                        similarity=request.usage.cache_similarity,
                        lookup_ms=request.usage.cache_lookup_ms,
                    )
                )
            served_provider, _, served_model = (request.usage.served_by or "").partition(":")
            self.log.emit(
                ev.LLMResponded(
                    turn_id=turn_id,
                    provider=served_provider or llm.name,
                    model=served_model or llm.model,
                    text="".join(parts),
                    finish_reason=finish,
                    prompt_tokens=request.usage.prompt_tokens,
                    completion_tokens=request.usage.completion_tokens,
                    ttft_ms=round((first - started) * 1e3, 1) if first else None,
                    duration_ms=round((now() - started) * 1e3, 1),
                    tool_calls=[dataclasses.asdict(c) for c in request.usage.tool_calls],
                    step=step,
                )
            )

    async def _start_reply(
        self,
        text: AsyncIterator[str],
        timings: TurnTimings,
        user_text: str | None,
        apology: bool = False,
    ) -> None:
        self._reply_generation += 1
        generation = self._reply_generation
        await self._cancel_reply()
        if generation != self._reply_generation:
            return  # a newer turn arrived while the old reply wound down: it answers instead
        self._set_state("thinking")
        turn_id = timings.turn_id
        reply = Reply(
            text=text,
            tts=self._models.tts,
            sink=self.transport.audio_out,
            timings=timings,
            on_sentence_played=lambda _: self._on_sentence_played(reply),
            on_synthesized=functools.partial(self._record_tts, turn_id),
        )
        if timings.speech_end is None or timings.turn_id in self._confirmed_turns:
            reply.release()  # typed turns, say(), or a spoken turn already certain: play now
        self._reply = reply
        self._reply_task = asyncio.create_task(self._run_reply(reply, user_text, apology))

    def _record_tts(
        self, turn_id: int, provider: str, sentence: str, audio_s: float, took_s: float
    ) -> None:
        self.log.emit(
            ev.TTSUsage(
                turn_id=turn_id,
                provider=provider,
                characters=len(sentence),
                audio_seconds=round(audio_s, 3),
                duration_ms=round(took_s * 1e3, 1),
            )
        )

    async def _run_reply(self, reply: Reply, user_text: str | None, apology: bool) -> None:
        interrupted = failed = False
        guard = asyncio.create_task(self._guard_playout(reply))
        try:
            await reply.run()
        except asyncio.CancelledError:
            interrupted = True
            raise
        except Exception as exc:  # a provider failed (ExceptionGroup from the reply's tasks)
            self.on_error(f"reply failed: {_root_cause(exc)}", component="reply")
            interrupted = failed = True
        finally:
            guard.cancel()
            self._finish_reply(reply, user_text, interrupted)
        if failed and apology:  # even the voice is down: say it in captions at least
            self.log.emit(
                ev.AgentSpeech(
                    turn_id=reply.timings.turn_id,
                    played_text=APOLOGY,
                    final=True,
                    planned_text=APOLOGY,
                    interrupted=False,
                )
            )
        elif failed and not reply.spoken:  # every provider failed: tell the user, by voice
            timings = TurnTimings(reply.timings.turn_id, end_of_turn=now())
            self._spawn(self._start_reply(single_text(APOLOGY), timings, None, apology=True))

    async def _guard_playout(self, reply: Reply) -> None:
        """A reply with audio in the sink must be heard. If none of it plays for
        `reply_stall_ms` while nobody speaks, whatever kept it silent is a bug: report it
        (an error event: audit trail, client, /metrics) and play the reply."""
        stall_s = self._config.turns.reply_stall_ms / 1000
        await reply.queued.wait()
        while True:
            await asyncio.sleep(stall_s)
            if reply.spoken or reply is not self._reply:
                return
            if self._listener.hearing_voice:
                continue  # a pause the user's voice explains: the turn logic decides
            self.log.emit(
                ev.ErrorOccurred(
                    component="playout",
                    message=(
                        f"the reply to turn {reply.turn_id} was ready for {stall_s:g} s but "
                        "played nothing: playout resumed"
                    ),
                )
            )
            self._paused_reply = None
            self.transport.audio_out.resume()

    def _on_sentence_played(self, reply: Reply) -> None:
        if reply is not self._reply:
            return
        turn_id = reply.timings.turn_id
        if len(reply.spoken) == 1:
            self._set_state("speaking")
            self.log.emit(reply.timings.metrics())
        self.log.emit(ev.AgentSpeech(turn_id=turn_id, played_text=reply.started_text, final=False))

    def _finish_reply(self, reply: Reply, user_text: str | None, interrupted: bool) -> None:
        if reply is self._paused_reply:
            # The sink is paused only on behalf of a live reply: one that ends (a voice onset
            # can pause a reply that is still winding down from a cancel) must not leave the
            # next reply playing into a paused sink (issue 13).
            self._paused_reply = None
            self.transport.audio_out.clear()
        if reply.discarded:  # prepared ahead and never played: no trace in context or captions
            if reply is self._reply:
                self._reply = None
                self._set_state("listening")
            return
        if user_text is not None:
            self.context.add_exchange(user_text, reply.heard_text, interrupted)
        self.log.emit(
            ev.AgentSpeech(
                turn_id=reply.timings.turn_id,
                played_text=reply.heard_text,
                final=True,
                planned_text=" ".join(reply.generated),
                interrupted=interrupted,
            )
        )
        if reply is self._reply:
            self._reply = None
            self._set_state("listening")

    def _interrupt(self) -> None:
        self.transport.audio_out.clear()  # first: silence on the very next 20 ms frame
        self._paused_reply = None
        if self._reply_task is not None:
            self._reply_task.cancel()

    async def _cancel_reply(self) -> None:
        task = self._reply_task
        if task is not None and not task.done():
            self.transport.audio_out.clear()
            task.cancel()
            # asyncio.wait, not `await task`: a cancellation aimed at *us* must propagate.
            await asyncio.wait({task})
        if self._reply_task is task:
            self._reply_task = None

    # --- client messages ---------------------------------------------------------------------
    def _on_client_message(self, raw: dict[str, Any]) -> None:
        try:
            message = msg.client_message_adapter.validate_python(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            self.log.emit(
                ev.ErrorOccurred(component="protocol", message=f"invalid message: {first['msg']}")
            )
            return
        if isinstance(message, msg.ChatIn):
            timings = TurnTimings(self.new_turn_id(), end_of_turn=now(), transcript_ready=now())
            self._spawn(self.on_user_turn(message.text, timings, source="chat"))
        elif isinstance(message, msg.ModeIn):
            self._listener.set_mode(message.mode)
        elif isinstance(message, msg.PushToTalkIn):
            self._listener.press() if message.action == "press" else self._listener.release()
        elif isinstance(message, msg.InterruptIn):
            self._interrupt()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- output helpers ----------------------------------------------------------------------
    def _set_state(self, state: msg.AgentState) -> None:
        if state != self.state:
            self.state = state
            self.log.emit(ev.StateChanged(state=state))

    def _forward_to_client(self, event: ev.Event) -> None:
        if (message := msg.client_message(event)) is not None:
            self.transport.send(message)

    def _session_time(self, monotonic: float | None) -> float | None:
        return None if monotonic is None else round(self.log.to_session_time(monotonic), 3)


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
