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
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxroom.agent import protocol as msg
from voxroom.agent.agent import Agent
from voxroom.agent.client_messages import ClientMessages
from voxroom.agent.context import ChatContext, UserTurn
from voxroom.agent.continuation import Continuation
from voxroom.agent.endpointing import BackchannelFilter
from voxroom.agent.generation import ReplyFacts, ReplyWriter
from voxroom.agent.listener import HeardSpeech, SpeechListener
from voxroom.agent.participants import Speaker, SpeakerEvents
from voxroom.agent.policy import PolicyName, TurnFacts, make_policy
from voxroom.agent.reply import Reply, single_text
from voxroom.agent.timing import TurnTimings, now
from voxroom.agent.voice import AgentVoice
from voxroom.audit import events as ev
from voxroom.audit.log import SessionEventLog
from voxroom.config import VoxroomConfig
from voxroom.providers.base import LLMRequest, Transcript
from voxroom.providers.factory import ModelSet
from voxroom.providers.sharing import AGENTS_SPEAKING, SESSIONS_RUNNING
from voxroom.transport.base import (
    INBOUND_SAMPLE_RATE,
    ParticipantInfo,
    ParticipantJoined,
    RemoteParticipant,
    Transport,
)

log = logging.getLogger(__name__)

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
        continued: Continuation | None = None,
    ) -> None:
        self.id = session_id
        self.agent = agent
        self.transport = transport
        self.log = event_log or SessionEventLog(session_id)
        self._models = models
        self._config = config
        self.context = ChatContext(
            agent.instructions, agent.examples, agent.tool_examples, agent.history_messages
        )
        # Room policy: set at room creation, else the agent's, else by the size of the call.
        chosen = policy or agent.turn_policy or ("addressed" if transport.multiparty else "always")
        self.policy = make_policy(chosen, (agent.name, *agent.wake_phrases, *wake_phrases))
        self.state: msg.AgentState = "listening"
        self._counted_speaking = False
        self.speakers: dict[str, Speaker] = {}
        self._turn_counter = 0
        self._turn_speakers: dict[int, ParticipantInfo] = {}  # whose turn; absent: the agent's
        self.backchannels = BackchannelFilter()
        self._writer = ReplyWriter(agent, models.llm, self._emit, self.context.add_tool_round)
        self.voice = AgentVoice(
            transport.audio_out,
            models.tts,
            config.turns,
            emit=self._emit,
            set_state=self._set_state,
            hearing_voice=lambda: self.hearing_voice,
            finished=self._reply_finished,
            failed=lambda message: self.on_error(message, component="reply"),
        )
        self._background: set[asyncio.Task[Any]] = set()
        self._inbound_observers: list[InboundObserver] = []
        self._finalizers: list[Callable[[], Awaitable[None]]] = []
        self._entered = False
        self.continued = continued
        self._handoff: ev.HandedOff | None = None  # set: it stops here to go on elsewhere
        if continued is not None:
            continued.restore(self.context)
            self._turn_counter = continued.last_turn_id
            self._entered = True  # greeted already, in the part before
        agent.session = self
        self._clients = ClientMessages(self, self._spawn)
        self.log.subscribe(self._clients.forward)
        transport.on_message(self._clients.received)

    # --- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Runs until the call ends for the agent (the transport's participant events end:
        the peer left, the room closed) or the task is cancelled."""
        models = self._models
        used = {
            "vad": type(models.vad).__name__,
            "stt": models.stt.name,
            "llm": f"{models.llm.name}:{models.llm.model}",
            "tts": models.tts.name,
        }
        transport = type(self.transport).__name__
        if self.continued is not None:
            for event in self.continued.opening_events(self.agent.name, transport, used):
                self.log.emit(event)
        else:
            started = ev.SessionStarted(agent=self.agent.name, transport=transport, models=used)
            self.log.emit(started)
        self.log.emit(ev.ParticipantJoined(identity=self.agent.name, role="agent"))
        self.log.emit(ev.StateChanged(state=self.state))
        self._spawn(self._writer.prepare(self.context.preamble))
        reason = "call ended" if self.transport.multiparty else "peer left"
        with SESSIONS_RUNNING.running():  # the LLM engine counts calls (llm_threads)
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

    def hand_off(self, worker: str, reason: str = "drain") -> None:
        """End this part of the session without ending the session: when the call ends for
        the agent here, `handed_off` is logged instead of `session_ended` (another worker
        continues it). The caller then closes the transport."""
        self._handoff = ev.HandedOff(worker=worker, reason=reason)

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
            language=info.language,
            english=self.agent.english_transcripts,
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
        await self.voice.close()
        self._count_speaking(False)
        with contextlib.suppress(Exception):
            await self.agent.on_exit()
        for finalize in self._finalizers:
            try:
                await finalize()
            except Exception:  # e.g. a full disk: report it, still close the log
                log.exception("session %s: finalizer failed", self.id)
        if self._handoff is not None:
            self.log.emit(self._handoff)
        else:
            self.log.emit(ev.SessionEnded(reason=reason))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
    def models(self) -> ModelSet:
        """The process's shared models (apps call them too: a translator's STT, an LLM)."""
        return self._models

    @property
    def files_dir(self) -> Path | None:
        """The session's folder in the audit trail (recordings; an app's files, such as the
        browser agent's screenshots), purged with the session; None when auditing is off."""
        audit = self._config.audit
        return audit.files_dir(self._config.models.cache_dir) / self.id if audit.enabled else None

    def set_language(self, identity: str, language: str | None) -> bool:
        """Hear `identity` in `language` (ISO 639-1; None: the configured default) from their
        next turn on, e.g. after they chose it in the page. False: no such participant."""
        speaker = self.speakers.get(identity)
        if speaker is None:
            return False
        speaker.listener.language = language
        return True

    @property
    def hearing_voice(self) -> bool:
        """Somebody is speaking now."""
        return any(s.listener.hearing_voice for s in self.speakers.values())

    def send(
        self,
        message: dict[str, Any],
        *,
        roles: Collection[str] | None = None,
        to: Collection[str] | None = None,
    ) -> None:
        """Send an app message (a JSON object with a `type`) to the people with one of
        `roles`, and/or the identities `to`; to everyone when both are None. It is logged
        (`app_message`, audience included) like everything the agent says."""
        audience = (
            None if roles is None and to is None else sorted(self._clients.audience(roles, to))
        )
        self.log.emit(ev.AppMessage(message=message, audience=audience))

    async def say(self, text: str) -> None:
        """Speak `text` as the agent (not added to the model's context as a user turn)."""
        turn_id = self.new_turn_id()
        await self.voice.say(single_text(text), TurnTimings(turn_id, end_of_turn=now()), None)

    # --- listener events (through SpeakerEvents) ---------------------------------------------
    def new_turn_id(self, speaker: ParticipantInfo | None = None) -> int:
        self._turn_counter += 1
        if speaker is not None:
            self._turn_speakers[self._turn_counter] = speaker
        return self._turn_counter

    def on_voice_onset(self, speaker: str) -> None:
        self.voice.onset(speaker)

    def on_voice_lost(self, speaker: str) -> None:
        self.voice.voice_lost(speaker)

    def on_speech_start(self, turn_id: int) -> None:
        if (speaker := self._turn_speakers.get(turn_id)) is not None:
            self.voice.onset(speaker.identity)

    def on_long_speech(self, turn_id: int) -> None:
        if self.voice.paused:
            self.voice.interrupt()  # too long for a backchannel: a real barge-in

    def on_turn_confirmed(self, turn_id: int) -> None:
        self.voice.confirmed(turn_id)

    def reply_heard(self, turn_id: int) -> bool:
        return self.voice.heard(turn_id)

    def on_turn_merged(self, turn_id: int) -> None:
        self.voice.merged(turn_id)

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
        heard: HeardSpeech | None = None,
        source: ev.TurnSource = "voice",
    ) -> None:
        text = text.strip()
        avg_logprob = heard.avg_logprob if heard is not None else None
        speaker = self._turn_speakers.get(timings.turn_id)
        if self.voice.paused and speaker is not None and source == "voice":
            if not text or self.backchannels.is_backchannel(text, avg_logprob):
                self.voice.voice_lost(speaker.identity)  # "mm-hmm" or a noise: it goes on
                return
            self.voice.interrupt()  # real words over the agent: it stops, whoever they were for
        if not text:  # noise that VAD took for speech
            if self.voice.reply is None:
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
            audio=heard.audio if heard is not None else None,
            language=heard.language if heard is not None else None,
            english=heard.english if heard is not None else None,
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
            if self.voice.reply is None:
                self._set_state("listening")
            return
        await self.voice.say(self._reply_text(turn), timings, answers=turn)

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
            facts = ReplyFacts(
                self.context.user_words(turn),
                tuple(self.context.replies(asked_again=turn)),
                " ".join(turn.context),
                tuple(self.context.messages_for(turn, history=False)),
            )
            async for delta in self._writer.text(turn.turn_id, request, facts):
                yield delta

        return text()

    def _reply_finished(self, reply: Reply, answers: UserTurn | None, interrupted: bool) -> None:
        """What of a reply was heard enters the model's context, after the turn it answers."""
        if answers is not None:
            self.context.add_reply(answers.turn_id, reply.heard_text, interrupted)
        if reply.spoken:
            to = answers.speaker.identity if answers and answers.speaker else None
            self.policy.replied(to, reply.heard_text, now())

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
            self._count_speaking(state == "speaking")
            self.log.emit(ev.StateChanged(state=state))

    def _count_speaking(self, speaking: bool) -> None:
        """For the LLM engine's threads (providers/llm_threads.py)."""
        if speaking != self._counted_speaking:
            AGENTS_SPEAKING.add(1 if speaking else -1)
            self._counted_speaking = speaking

    def _session_time(self, monotonic: float | None) -> float | None:
        return None if monotonic is None else round(self.log.to_session_time(monotonic), 3)
