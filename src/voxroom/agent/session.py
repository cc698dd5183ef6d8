"""AgentSession: wires a transport, the shared models and an Agent into a conversation with
the people in a call: one participant (peer to peer) or many (a room), one engine.

Each participant gets a listener of their own (VAD, endpointing, transcription), so everyone
is heard and every turn is theirs; the agent has one voice. When a turn ends, the room's turn
policy (`policy`) says whether the agent answers; the agent's hook may change that.

Everything that happens is an event on the session's log (`audit.events`); the clients'
captions and state are a view of that log (`protocol.client_message`), as is the audit store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from voxroom.agent import protocol as msg
from voxroom.agent.agent import Agent
from voxroom.agent.context import ChatContext, UserTurn
from voxroom.agent.endpointing import BackchannelFilter
from voxroom.agent.generation import ReplyWriter
from voxroom.agent.listener import SpeechListener
from voxroom.agent.participants import Speaker, SpeakerEvents
from voxroom.agent.policy import PolicyName, TurnFacts, make_policy
from voxroom.agent.reply import Reply, single_text
from voxroom.agent.timing import TurnTimings, now
from voxroom.audit import events as ev
from voxroom.audit.log import SessionEventLog
from voxroom.config import VoxroomConfig
from voxroom.providers.base import LLMRequest, Transcript
from voxroom.providers.factory import ModelSet
from voxroom.transport.base import (
    INBOUND_SAMPLE_RATE,
    ParticipantInfo,
    ParticipantJoined,
    RemoteParticipant,
    Transport,
)

log = logging.getLogger(__name__)

APOLOGY = "Sorry, I can't answer right now. Please try again in a moment."
# (participant identity, mono int16 samples, sample rate): a participant's audio as it arrives
InboundObserver = Callable[[str, np.ndarray, int], None]


class AgentSession:
    def __init__(
        self,
        session_id: str,
        agent: Agent,
        transport: Transport,
        models: ModelSet,
        config: VoxroomConfig,
        event_log: SessionEventLog | None = None,
        *,
        policy: PolicyName | None = None,
        wake_phrases: Sequence[str] = (),
    ) -> None:
        self.id = session_id
        self.agent = agent
        self.transport = transport
        self.log = event_log or SessionEventLog(session_id)
        self._models = models
        self._config = config
        self.context = ChatContext(agent.instructions, agent.examples, agent.tool_examples)
        # Room policy: set at room creation, else the agent's, else by the size of the call.
        chosen = policy or agent.turn_policy or ("addressed" if transport.multiparty else "always")
        self.policy = make_policy(chosen, (agent.name, *agent.wake_phrases, *wake_phrases))
        self.state: msg.AgentState = "listening"
        self.speakers: dict[str, Speaker] = {}
        self._turn_counter = 0
        self._turn_speakers: dict[int, ParticipantInfo] = {}  # whose turn; absent: the agent's
        self._confirmed_turns: set[int] = set()
        self._paused_reply: Reply | None = None  # a reply paused by voices, maybe resumed
        self._pausers: set[str] = set()  # the participants whose voice paused it
        self.backchannels = BackchannelFilter()
        self._writer = ReplyWriter(agent, models.llm, self._emit)
        self._reply: Reply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._reply_generation = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._inbound_observers: list[InboundObserver] = []
        self._finalizers: list[Callable[[], Awaitable[None]]] = []
        self._entered = False
        agent.session = self
        self.log.subscribe(self._forward_to_client)
        transport.on_message(self._on_client_message)

    # --- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Runs until the call ends for the agent (the transport's participant events end:
        the peer left, the room closed) or the task is cancelled."""
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
        self.log.emit(ev.ParticipantJoined(identity=self.agent.name, role="agent"))
        self.log.emit(ev.StateChanged(state=self.state))
        reason = "call ended" if self.transport.multiparty else "peer left"
        try:
            async for change in self.transport.participants():
                if isinstance(change, ParticipantJoined):
                    await self._join(change.participant)
                else:
                    await self._leave(change.identity)
        except asyncio.CancelledError:
            reason = "cancelled"
            raise
        finally:
            # Shielded: a second cancellation must not cut the recording or the final event.
            await asyncio.shield(self._teardown(reason))

    async def _join(self, remote: RemoteParticipant) -> None:
        info = remote.info
        if info.identity in self.speakers:  # the transport keeps identities unique; be safe
            await self._leave(info.identity)
        listener = SpeechListener(
            self._models.vad,
            self._models.stt,
            self._config.turns,
            SpeakerEvents(self, info),
            hints=self.policy.hints,
        )
        speaker = Speaker(remote, listener)
        self.speakers[info.identity] = speaker
        self.log.emit(
            ev.ParticipantJoined(
                identity=info.identity, role="user", name=info.name or None, call_role=info.role
            )
        )
        speaker.task = asyncio.create_task(self._listen(speaker))
        if not self._entered:  # the first person is here: the agent starts (greets)
            self._entered = True
            await self.agent.on_enter()
        await self.agent.on_participant_joined(info)

    async def _listen(self, speaker: Speaker) -> None:
        try:
            await speaker.listener.run(self._observed_inbound(speaker))
        except Exception as exc:  # one participant's broken audio must not end the call
            log.exception("session %s: listener of %s failed", self.id, speaker.info.identity)
            self.on_error(f"listening to {speaker.info.display_name} failed: {exc}")

    async def _leave(self, identity: str) -> None:
        speaker = self.speakers.pop(identity, None)
        if speaker is None:
            return
        if speaker.task is not None:
            speaker.task.cancel()
            await asyncio.gather(speaker.task, return_exceptions=True)
        self.log.emit(ev.ParticipantLeft(identity=identity))
        self.on_voice_lost(identity)  # a voice that paused the agent has gone with them
        await self.agent.on_participant_left(speaker.info)

    async def _teardown(self, reason: str) -> None:
        for identity in list(self.speakers):
            await self._leave(identity)
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

    def observe_inbound(self, observer: InboundObserver) -> None:
        """Call `observer(identity, samples, rate)` with every chunk of every participant's
        audio as it arrives (e.g. to record)."""
        self._inbound_observers.append(observer)

    async def _observed_inbound(self, speaker: Speaker) -> AsyncIterator[np.ndarray]:
        identity = speaker.info.identity
        async for chunk in speaker.remote.inbound_audio():
            for observer in self._inbound_observers:
                observer(identity, chunk, INBOUND_SAMPLE_RATE)
            yield chunk

    @property
    def hearing_voice(self) -> bool:
        """Somebody is speaking now."""
        return any(s.listener.hearing_voice for s in self.speakers.values())

    async def say(self, text: str) -> None:
        """Speak `text` as the agent (not added to the model's context as a user turn)."""
        turn_id = self.new_turn_id()
        await self._start_reply(single_text(text), TurnTimings(turn_id, end_of_turn=now()), None)

    # --- listener events (through SpeakerEvents) ---------------------------------------------
    def new_turn_id(self, speaker: ParticipantInfo | None = None) -> int:
        self._turn_counter += 1
        if speaker is not None:
            self._turn_speakers[self._turn_counter] = speaker
        return self._turn_counter

    def on_voice_onset(self, speaker: str) -> None:
        """A voice over a released reply: silence it at once; words decide whether for good."""
        reply = self._reply
        if reply is None or reply.discarded or not reply.released.is_set():
            return
        if self._paused_reply is None:
            self.transport.audio_out.pause()
            self._paused_reply = reply
        self._pausers.add(speaker)

    def on_voice_lost(self, speaker: str) -> None:
        """`speaker`'s voice turned out to be no turn (a click) or they left: the agent goes
        on once no voice holds it."""
        self._pausers.discard(speaker)
        if not self._pausers:
            self._resume_paused()

    def on_speech_start(self, turn_id: int) -> None:
        if (speaker := self._turn_speakers.get(turn_id)) is not None:
            self.on_voice_onset(speaker.identity)

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
            self._pausers.clear()

    def on_interim(self, turn_id: int, text: str) -> None:
        self._emit(ev.UserTranscript(turn_id=turn_id, text=text, final=False))

    def on_transcribed(
        self, turn_id: int, transcript: Transcript, duration_s: float, purpose: ev.STTPurpose
    ) -> None:
        self._emit(
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
        speaker = self._turn_speakers.get(timings.turn_id)
        if self._paused_reply is not None and speaker is not None and source == "voice":
            if not text or self.backchannels.is_backchannel(text, avg_logprob):
                self.on_voice_lost(speaker.identity)  # "mm-hmm" or a noise: the agent goes on
                return
            self._interrupt()  # real words over the agent: it stops, whoever they were for
        if not text:  # noise that VAD took for speech
            if self._reply is None:
                self._set_state("listening")
            return
        self._emit(
            ev.UserTranscript(
                turn_id=timings.turn_id,
                text=text,
                final=True,
                source=source,
                audio_start=self._session_time(timings.speech_start),
                audio_end=self._session_time(timings.speech_end),
            )
        )
        turn = UserTurn(
            turn_id=timings.turn_id,
            text=text,
            source=source,
            speaker=speaker,
            named=self.transport.multiparty,
        )
        turn.respond = self.policy.should_answer(
            TurnFacts(
                text=text,
                speaker=speaker.identity if speaker else None,
                source=source,
                explicit=timings.explicit,
                started_at=timings.speech_start or timings.end_of_turn or now(),
            )
        )
        await self.agent.on_user_turn(turn)
        self.context.add_user(turn.turn_id, turn.text, turn.speaker_name)
        if not turn.respond:
            if self._reply is None:
                self._set_state("listening")
            return
        await self._start_reply(self._reply_text(turn), timings, answers=turn)

    def on_error(self, message: str, component: str = "session") -> None:
        log.warning("session %s: %s", self.id, message)
        self.log.emit(ev.ErrorOccurred(component=component, message=message))
        self._set_state("listening")

    # --- replies -----------------------------------------------------------------------------
    def _reply_text(self, turn: UserTurn) -> AsyncIterator[str]:
        """The reply to `turn`. Its model input is built when the reply starts generating,
        after any earlier reply has stopped, so the model sees what of that one was heard."""
        stops = [f"\n{s.info.display_name}:" for s in self.speakers.values()] if turn.named else []

        async def text() -> AsyncIterator[str]:
            request = LLMRequest(
                messages=self.context.messages_for(turn),
                max_tokens=self._config.models.llm_max_tokens,
                temperature=(
                    self.agent.temperature
                    if self.agent.temperature is not None
                    else self._config.models.llm_temperature
                ),
                stop=stops,
            )
            async for delta in self._writer.text(turn.turn_id, request):
                yield delta

        return text()

    async def _start_reply(
        self,
        text: AsyncIterator[str],
        timings: TurnTimings,
        answers: UserTurn | None,
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
        self._reply_task = asyncio.create_task(self._run_reply(reply, answers, apology))

    def _record_tts(
        self, turn_id: int, provider: str, sentence: str, audio_s: float, took_s: float
    ) -> None:
        self._emit(
            ev.TTSUsage(
                turn_id=turn_id,
                provider=provider,
                characters=len(sentence),
                audio_seconds=round(audio_s, 3),
                duration_ms=round(took_s * 1e3, 1),
            )
        )

    async def _run_reply(self, reply: Reply, answers: UserTurn | None, apology: bool) -> None:
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
            self._finish_reply(reply, answers, interrupted)
        if failed and apology:  # even the voice is down: say it in captions at least
            self._emit(
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
            if self.hearing_voice:
                continue  # a pause a voice explains: the turn logic decides
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
            self._pausers.clear()
            self.transport.audio_out.resume()

    def _on_sentence_played(self, reply: Reply) -> None:
        if reply is not self._reply:
            return
        turn_id = reply.timings.turn_id
        if len(reply.spoken) == 1:
            self._set_state("speaking")
            self._emit(reply.timings.metrics())
        self._emit(ev.AgentSpeech(turn_id=turn_id, played_text=reply.started_text, final=False))

    def _finish_reply(self, reply: Reply, answers: UserTurn | None, interrupted: bool) -> None:
        if reply is self._paused_reply:
            # The sink is paused only on behalf of a live reply: one that ends (a voice onset
            # can pause a reply that is still winding down from a cancel) must not leave the
            # next reply playing into a paused sink (issue 13).
            self._paused_reply = None
            self._pausers.clear()
            self.transport.audio_out.clear()
        if reply.discarded:  # prepared ahead and never played: no trace in context or captions
            if reply is self._reply:
                self._reply = None
                self._set_state("listening")
            return
        if answers is not None:
            self.context.add_reply(answers.turn_id, reply.heard_text, interrupted)
        if reply.spoken:
            to = answers.speaker.identity if answers and answers.speaker else None
            self.policy.replied(to, reply.heard_text, now())
        self._emit(
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
        self._pausers.clear()
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
    def _on_client_message(self, sender: str, raw: dict[str, Any]) -> None:
        try:
            message = msg.client_message_adapter.validate_python(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            self.log.emit(
                ev.ErrorOccurred(component="protocol", message=f"invalid message: {first['msg']}")
            )
            return
        speaker = self.speakers.get(sender)
        if isinstance(message, msg.ChatIn):
            turn_id = self.new_turn_id(speaker.info if speaker else None)
            timings = TurnTimings(turn_id, end_of_turn=now(), transcript_ready=now())
            self._spawn(self.on_user_turn(message.text, timings, source="chat"))
        elif isinstance(message, msg.InterruptIn):
            self._interrupt()
        elif speaker is None:
            return  # push-to-talk or mode from someone not (or no longer) in the call
        elif isinstance(message, msg.ModeIn):
            speaker.listener.set_mode(message.mode)
        elif isinstance(message, msg.PushToTalkIn):
            listener = speaker.listener
            listener.press() if message.action == "press" else listener.release()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- output helpers ----------------------------------------------------------------------
    def _emit(self, event: ev.Event) -> None:
        """Log `event`; a turn's events carry whose turn it is (and a transcript their name)."""
        if isinstance(event, ev.TurnScoped) and event.participant is None:
            speaker = self._turn_speakers.get(event.turn_id)
            if speaker is not None:
                event.participant = speaker.identity
                if isinstance(event, ev.UserTranscript):
                    event.name = speaker.display_name
        self.log.emit(event)

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
