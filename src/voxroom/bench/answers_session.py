"""A conversation with the real engine fed typed turns, in this process: an `AgentSession`
over the memory transport, the configured LLM, and a voice that takes no time.

Each turn is a `chat` message as the data channel delivers it (`MemoryTransport.deliver`), so
it goes the way a typed turn in the playground goes: the agent's hook, the chat context, the
reply writer with its tool round trips and checks, sentence chunking, the voice. Only speech
is left out: synthesis returns a short silence at once and the sink plays it out at once, so
what is measured is the answer's text and the time to its first sentence (`first_sentence_ms`,
the engine's own figure: the turn arrived → the first sentence was ready to be spoken).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np

from voxroom.agent.agent import Agent
from voxroom.agent.session import AgentSession
from voxroom.audit import events as ev
from voxroom.config import VoxroomConfig
from voxroom.providers.base import LLM, STT, TTS, VAD, SpeechAudio, Transcript
from voxroom.providers.factory import ModelSet
from voxroom.transport.base import AudioObserver, AudioSink, Marker, ParticipantInfo
from voxroom.transport.memory import MemoryTransport

USER = "bench-user"
TURN_TIMEOUT_S = 120.0  # a reply not finished by then: the run stops with an error
_SILENCE_RATE = 16_000


@dataclass(slots=True)
class Answer:
    """What the agent did with one typed turn."""

    text: str  # what it said (as heard: all of it, nothing interrupts here)
    first_sentence_ms: float | None  # None: it said nothing
    tools: list[ev.ToolCalled] = field(default_factory=list)
    failed: str | None = None  # the reply failed (e.g. the model timed out): why
    retries: list[str] = field(default_factory=list)  # why the check before speaking held it


class InstantSink(AudioSink):
    """Plays everything out at once: markers fire on the loop's next turn, in order."""

    def __init__(self) -> None:
        self._played = 0.0
        self._observers: list[AudioObserver] = []

    def push(self, samples: np.ndarray, sample_rate: int) -> None:
        for observer in self._observers:
            observer(samples, sample_rate)
        self._played += samples.size / sample_rate

    def mark(self, on_played: Marker) -> None:
        asyncio.get_running_loop().call_soon(on_played)

    def clear(self) -> float:
        return 0.0

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    @property
    def queued_seconds(self) -> float:
        return 0.0

    @property
    def played_seconds(self) -> float:
        return self._played

    def observe(self, observer: AudioObserver) -> None:
        self._observers.append(observer)


class SilentVoice(TTS):
    """50 ms of silence per sentence, at once (no speech is measured here)."""

    name = "silent"

    async def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
        yield SpeechAudio(np.zeros(_SILENCE_RATE // 20, np.int16), _SILENCE_RATE)


class TypedOnly(STT):
    """Typed turns only: nothing is spoken to this session."""

    name = "typed-only"

    async def transcribe(
        self,
        samples: np.ndarray,
        hints: Sequence[str] = (),
        language: str | None = None,
        *,
        english: bool = False,
    ) -> Transcript:
        raise RuntimeError("a typed-turn session heard audio")


def typed_models(llm: LLM, vad: VAD) -> ModelSet:
    return ModelSet(vad=vad, stt=TypedOnly(), llm=llm, tts=SilentVoice())


class TypedSession:
    """`async with TypedSession(...) as chat: answer = await chat.ask("…")`."""

    def __init__(
        self, session_id: str, agent: Agent, models: ModelSet, config: VoxroomConfig
    ) -> None:
        self._transport = MemoryTransport(InstantSink())
        self._transport.keep_sent = False
        self._session = AgentSession(session_id, agent, self._transport, models, config)
        self._events: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._session.log.subscribe(self._events.put_nowait)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TypedSession:
        self._transport.join(ParticipantInfo(USER))
        self._task = asyncio.create_task(self._session.run())
        await self._until(
            lambda e: isinstance(e, ev.ParticipantJoined) and e.identity == USER, TURN_TIMEOUT_S
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self._transport.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=10)

    async def ask(self, text: str) -> Answer:
        """Type `text`; returns once the agent's reply to it has ended."""
        self._transport.deliver(USER, {"type": "chat", "text": text})
        heard = await self._until(
            lambda e: isinstance(e, ev.UserTranscript) and e.final, TURN_TIMEOUT_S
        )
        turn_id = heard.turn_id if isinstance(heard, ev.TurnScoped) else -1
        answer = Answer(text="", first_sentence_ms=None)
        while True:
            event = await self._until(
                lambda e: (
                    (isinstance(e, ev.TurnScoped) and e.turn_id == turn_id)
                    or (isinstance(e, ev.ErrorOccurred) and e.component == "reply")
                ),
                TURN_TIMEOUT_S,
            )
            if isinstance(event, ev.ToolCalled):
                answer.tools.append(event)
            elif isinstance(event, ev.ErrorOccurred):
                answer.failed = event.message
            elif isinstance(event, ev.LLMRequested) and event.retry:
                answer.retries.append(event.retry)
            elif isinstance(event, ev.TurnMetricsRecorded):
                answer.first_sentence_ms = event.first_sentence_ms
            elif isinstance(event, ev.AgentSpeech) and event.final:
                answer.text = event.played_text
                return answer

    async def _until(self, wanted: Callable[[ev.Event], bool], timeout: float) -> ev.Event:
        """The next event `wanted(event)` accepts (earlier ones are dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self._events.get()
                if wanted(event):
                    return event
