"""AgentSession: wires one transport, the shared models and an Agent into a conversation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ValidationError

from voxroom.agent import protocol as msg
from voxroom.agent.agent import Agent
from voxroom.agent.context import ChatContext, UserTurn
from voxroom.agent.listener import SpeechListener
from voxroom.agent.reply import Reply, single_text
from voxroom.agent.timing import TurnTimings, now
from voxroom.config import VoxroomConfig
from voxroom.providers.base import LLMRequest
from voxroom.providers.factory import ModelSet
from voxroom.transport.base import Transport

log = logging.getLogger(__name__)


class AgentSession:
    def __init__(
        self,
        session_id: str,
        agent: Agent,
        transport: Transport,
        models: ModelSet,
        config: VoxroomConfig,
    ) -> None:
        self.id = session_id
        self.agent = agent
        self.transport = transport
        self._models = models
        self._config = config
        self.context = ChatContext(agent.instructions, agent.examples)
        self.state: msg.AgentState = "listening"
        self._turn_counter = 0
        self._reply: Reply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._listener = SpeechListener(models.vad, models.stt, config.turns, self)
        agent.session = self
        transport.on_message(self._on_client_message)

    # --- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Runs until the peer's audio ends (disconnect) or the task is cancelled."""
        self._send(msg.SessionInfo(session_id=self.id, agent=self.agent.name))
        self._send(msg.StateChanged(state=self.state))
        try:
            await self.agent.on_enter()
            await self._listener.run(self.transport.inbound_audio())
        finally:
            for task in self._background:
                task.cancel()
            await self._cancel_reply()
            with contextlib.suppress(Exception):
                await self.agent.on_exit()

    async def say(self, text: str) -> None:
        """Speak `text` as the agent (not added to the model's context as a user turn)."""
        turn_id = self.new_turn_id()
        await self._start_reply(single_text(text), TurnTimings(turn_id, end_of_turn=now()), None)

    # --- ListenerEvents ----------------------------------------------------------------------
    def new_turn_id(self) -> int:
        self._turn_counter += 1
        return self._turn_counter

    def on_speech_start(self, turn_id: int) -> None:
        if self._reply_task is not None and not self._reply_task.done():
            self._interrupt()  # barge-in: the user talks over the agent

    def on_interim(self, turn_id: int, text: str) -> None:
        self._send(msg.TranscriptMessage(role="user", final=False, text=text, turn_id=turn_id))

    async def on_user_turn(self, text: str, timings: TurnTimings, source: str = "voice") -> None:
        text = text.strip()
        if not text:  # noise that VAD took for speech
            self._set_state("listening")
            return
        self._send(
            msg.TranscriptMessage(role="user", final=True, text=text, turn_id=timings.turn_id)
        )
        turn = UserTurn(turn_id=timings.turn_id, text=text, source=source)
        await self.agent.on_user_turn(turn)
        request = LLMRequest(
            messages=self.context.messages_for(turn),
            max_tokens=self._config.models.llm_max_tokens,
            temperature=self._config.models.llm_temperature,
        )
        await self._start_reply(self._models.llm.stream(request), timings, turn.text)

    def on_error(self, message: str) -> None:
        log.warning("session %s: %s", self.id, message)
        self._send(msg.ErrorMessage(message=message))
        self._set_state("listening")

    # --- replies -----------------------------------------------------------------------------
    async def _start_reply(
        self, text: AsyncIterator[str], timings: TurnTimings, user_text: str | None
    ) -> None:
        await self._cancel_reply()
        self._set_state("thinking")
        reply = Reply(
            text=text,
            tts=self._models.tts,
            sink=self.transport.audio_out,
            timings=timings,
            on_sentence_played=lambda _: self._on_sentence_played(reply),
        )
        self._reply = reply
        self._reply_task = asyncio.create_task(self._run_reply(reply, user_text))

    async def _run_reply(self, reply: Reply, user_text: str | None) -> None:
        interrupted = False
        try:
            await reply.run()
        except asyncio.CancelledError:
            interrupted = True
            raise
        except Exception as exc:  # a provider failed (ExceptionGroup from the reply's tasks)
            self.on_error(f"reply failed: {_root_cause(exc)}")
            interrupted = True
        finally:
            self._finish_reply(reply, user_text, interrupted)

    def _on_sentence_played(self, reply: Reply) -> None:
        if reply is not self._reply:
            return
        if len(reply.heard) == 1:
            self._set_state("speaking")
            self._send(reply.timings.metrics())
        self._send(
            msg.TranscriptMessage(
                role="agent", final=False, text=reply.heard_text, turn_id=reply.timings.turn_id
            )
        )

    def _finish_reply(self, reply: Reply, user_text: str | None, interrupted: bool) -> None:
        if user_text is not None:
            self.context.add_exchange(user_text, reply.heard_text, interrupted)
        self._send(
            msg.TranscriptMessage(
                role="agent",
                final=True,
                text=reply.heard_text,
                turn_id=reply.timings.turn_id,
                interrupted=interrupted,
            )
        )
        if reply is self._reply:
            self._reply = None
            self._set_state("listening")

    def _interrupt(self) -> None:
        self.transport.audio_out.clear()  # first: silence on the very next 20 ms frame
        if self._reply_task is not None:
            self._reply_task.cancel()

    async def _cancel_reply(self) -> None:
        task, self._reply_task = self._reply_task, None
        if task is not None and not task.done():
            self.transport.audio_out.clear()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- client messages ---------------------------------------------------------------------
    def _on_client_message(self, raw: dict[str, Any]) -> None:
        try:
            message = msg.client_message_adapter.validate_python(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            self._send(msg.ErrorMessage(message=f"invalid message: {first['msg']}"))
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

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- output helpers ----------------------------------------------------------------------
    def _set_state(self, state: msg.AgentState) -> None:
        if state != self.state:
            self.state = state
            self._send(msg.StateChanged(state=state))

    def _send(self, message: BaseModel) -> None:
        self.transport.send(message.model_dump(exclude_none=True))


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
